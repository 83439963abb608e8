// Runs one leased job as an execution: the JobHandler of WorkerNode. Internal.
//
// Per lease: the node first claims the execution (`_ownership.ts`), so that
// no other runner — a CLI resume, another process — runs it at the same time;
// a later delivery (reclaim, retry, hand-back) takes the claim over from the
// runner whose lease the queue gave up on. A first delivery starts the
// execution (unless a cancellation was requested while it was queued), or
// resumes it when it is a continuation (`_continuation.ts`); any
// later delivery records RETRY_ATTEMPTED for a reclaim or a retry and resumes
// the execution from its log (or starts it, if no worker got as far as
// EXECUTION_STARTED). An execution that stops to wait for an operator's
// decision (NEEDS_DECISION) completes its job: `oao resolve` or an API node's
// decision route continues it (the latter with a continuation job), a
// retry would only stop it again. Every write carries the claim's fencing token. A
// FencedError anywhere means another runner owns the execution now: the job
// is dropped without reporting. When the lease is lost (or the job handed back
// at shutdown) the claim is revoked (the log fenced with its token + 1) before
// the run is aborted, so that its cancellation is not recorded either.
//
// A job the queue dead-letters leaves its execution FAILED (retryable), and a
// delivery of it after `oao queue requeue` continues past that failure: see
// `_dead_letter_failure.ts`.
import type { Logger } from "@logtape/logtape";
import { systemClock } from "../clock.ts";
import {
  ExecutionBusyError,
  ExecutionCancelledError,
  FencedError,
  toErrorInfo,
} from "../errors.ts";
import type { AppendOptions, EventStore, StoredEvent } from "../events/event_store.ts";
import type { Orchestrator, RunOptions, StartedExecution } from "../orchestrator/orchestrator.ts";
import type { PolicyLimits } from "../orchestrator/policy.ts";
import { parseTraceparent } from "../tracing/trace_context.ts";
import type { ActiveJob, JobHandler, JobOutcome } from "./job_loop.ts";
import { CANCEL_KEY, CANCEL_REQUESTED, cancelRequest } from "../orchestrator/_queue_markers.ts";
import { indexEntry } from "../orchestrator/_index_entries.ts";
import { CONTINUE_OPTION } from "./_continuation.ts";
import { type ExecutionClaim, Ownership } from "../orchestrator/_ownership.ts";
import type { DeadJob } from "../queue/job_queue.ts";
import {
  type DeadCause,
  deadLetterFailure,
  recordDeadLetter,
  reviveQueued,
} from "./_dead_letter_failure.ts";

const FINAL = new Set(["EXECUTION_COMPLETED", "EXECUTION_FAILED", "EXECUTION_CANCELLED"]);

/** What an execution job needs from its worker node. */
export interface ExecutionJobHost {
  orchestrator: Orchestrator;
  nodeId: string;
  agents: ReadonlySet<string>;
  retentionSeconds: number | undefined;
  log: Logger;
}

/** The job handler of a worker node: each job is one execution. */
export class ExecutionJobHandler implements JobHandler {
  readonly #host: ExecutionJobHost;
  readonly #store: EventStore;
  readonly #ownership: Ownership;
  readonly #claims = new Map<string, ExecutionClaim>();

  constructor(host: ExecutionJobHost) {
    this.#host = host;
    this.#store = host.orchestrator.eventStore;
    this.#ownership = new Ownership(this.#store, { clock: systemClock, log: host.log });
  }

  async run(job: ActiveJob): Promise<JobOutcome> {
    const { lease } = job;
    const { spec } = lease;
    const { orchestrator, agents, nodeId } = this.#host;
    if (!agents.has(spec.agent)) {
      return {
        type: "fail",
        error: `Worker node "${nodeId}" cannot run agent "${spec.agent}" (it runs: ${
          [...agents].map((a) => `"${a}"`).join(", ") || "none"
        })`,
      };
    }
    const id = spec.executionId;
    // A job an API node enqueued to continue a started execution (after a
    // decision, or on a resume request): resumed from its log.
    const continuation = spec.options?.[CONTINUE_OPTION] === true;
    let claim: ExecutionClaim | undefined;
    try {
      claim = await this.#ownership.acquire(id, { takeOver: lease.reason !== "new" });
      this.#claims.set(lease.jobId, claim);
      if (job.signal.aborted) return { type: "lost" };
      let started = false;
      let cancel: string | undefined;
      // The failure this job's dead-lettering recorded, when it was requeued since.
      let deadLetter: StoredEvent | undefined;
      if (lease.reason === "new") {
        cancel = await cancelRequest(this.#store, id);
        started = continuation;
      } else {
        if (lease.reason !== "requeued") await this.#recordRetry(job, claim.token);
        const events = await this.#store.readRange(id);
        started = events.some((e) => e.type === "EXECUTION_STARTED");
        cancel = _cancelReason(events);
        deadLetter = deadLetterFailure(events, lease.jobId);
      }
      if (job.signal.aborted) return { type: "lost" };
      if (!started && cancel !== undefined) {
        await this.#recordCancelled(job, cancel, claim.token);
        return { type: "complete", detail: { executionId: id, status: "CANCELLED" } };
      }
      if (deadLetter && !started) {
        await reviveQueued(this.#store, deadLetter, {
          agent: spec.agent,
          token: claim.token,
          retentionSeconds: this.#host.retentionSeconds,
        });
      }
      const options = this.#runOptions(job, claim);
      // Continues past the failure (EXECUTION_RETRIED), from the log.
      if (deadLetter && started) options.retry = true;
      const execution: StartedExecution = started
        ? await orchestrator.startResume(id, options)
        : await orchestrator.start(spec.agent, spec.task, options);
      if (started && cancel !== undefined) orchestrator.cancel(id, cancel || undefined);
      const report = await execution.done;
      if (report.status === "NEEDS_DECISION") {
        // A waiting state, not a failure: the job is done, and the execution
        // goes on where an operator decides (`oao resolve`), not by a retry.
        if (await this.#decisionRequired(id, report.decision?.callId)) {
          return { type: "complete", detail: report };
        }
        return {
          type: "fail",
          error:
            `Execution "${id}" ended NEEDS_DECISION but its DECISION_REQUIRED event is not in the log`,
        };
      }
      if (!(await this.#finalRecorded(id))) {
        return {
          type: "fail",
          error: `Execution "${id}" ended ${report.status} but its final event is not in the log${
            report.error ? ` (${report.error.message})` : ""
          }`,
        };
      }
      return { type: "complete", detail: report };
    } catch (error) {
      const taken = error instanceof FencedError || error instanceof ExecutionBusyError;
      if (taken && job.state === "running" && continuation) {
        // A continuation another runner got ahead of (the execution's own job,
        // reclaimed or retried): that runner continues it. Left to expire and
        // be reclaimed, this job would take the execution back from it, and
        // the two would fence each other until one died in the queue.
        this.#host.log.info(
          "Continuation job {jobId} dropped: execution {executionId} is run by another runner ({message})",
          { jobId: lease.jobId, executionId: id, message: toErrorInfo(error).message },
        );
        return { type: "complete", detail: { executionId: id, dropped: true } };
      }
      if (taken || job.state !== "running") {
        return { type: "lost", error: toErrorInfo(error).message };
      }
      return { type: "fail", error: toErrorInfo(error).message };
    } finally {
      if (this.#claims.get(lease.jobId) === claim) this.#claims.delete(lease.jobId);
      await claim?.release();
    }
  }

  async stop(job: ActiveJob): Promise<boolean> {
    // Fence out this lease's writes first: the abort that follows must not
    // record EXECUTION_CANCELLED in a log another worker continues.
    try {
      await this.#claims.get(job.lease.jobId)?.revoke();
      return true;
    } catch (error) {
      this.#host.log.warn(
        "Cannot fence execution {executionId} of job {jobId}: {message}; it stops at its next write",
        {
          executionId: job.lease.spec.executionId,
          jobId: job.lease.jobId,
          message: toErrorInfo(error).message,
        },
      );
      return false;
    }
  }

  /**
   * Records a dead job's execution as FAILED (retryable), naming the job and
   * how to re-enqueue it, unless it is final already or another runner has it.
   * Never rejects: what it did is logged.
   *
   * @param job The dead job.
   * @param cause How it died (`expired`: the execution is taken over).
   */
  async dead(job: DeadJob, cause: DeadCause): Promise<void> {
    const { log, retentionSeconds } = this.#host;
    const props = {
      jobId: job.jobId,
      executionId: job.spec.executionId,
      attempts: job.attempts,
      reason: job.lastError,
    };
    try {
      const host = { store: this.#store, ownership: this.#ownership, retentionSeconds };
      const outcome = await recordDeadLetter(host, job, cause);
      if (outcome.recorded) {
        log.warn(
          "Job {jobId} was dead-lettered after {attempts} attempts ({reason}): execution {executionId} recorded FAILED (retryable); `oao queue requeue {jobId}` continues it",
          props,
        );
      } else {
        log.info(
          "Job {jobId} was dead-lettered after {attempts} attempts ({reason}); execution {executionId} left as it is: {why}",
          { ...props, why: outcome.why },
        );
      }
    } catch (error) {
      const message = toErrorInfo(error).message;
      if (error instanceof ExecutionBusyError || error instanceof FencedError) {
        log.info(
          "Job {jobId} was dead-lettered; execution {executionId} has another runner, which records its outcome: {message}",
          { ...props, message },
        );
        return;
      }
      log.error(
        "Job {jobId} was dead-lettered, but its failure cannot be recorded in execution {executionId}: {message}",
        { ...props, message },
      );
    }
  }

  /**
   * Cancels a running execution whose cancellation was requested.
   *
   * @returns Whether it was cancelled here.
   */
  async checkCancel(job: ActiveJob): Promise<boolean> {
    const id = job.lease.spec.executionId;
    if (!this.#host.orchestrator.running.includes(id)) return false;
    const reason = await cancelRequest(this.#store, id);
    if (reason === undefined || job.state !== "running") return false;
    return this.#host.orchestrator.cancel(id, reason || undefined);
  }

  #runOptions(job: ActiveJob, claim: ExecutionClaim): RunOptions {
    const { spec } = job.lease;
    const options: RunOptions = { executionId: spec.executionId, fencingToken: claim.token };
    options.signal = AbortSignal.any([job.signal, claim.lost]);
    const trace = parseTraceparent(spec.traceparent, spec.tracestate);
    if (trace) options.trace = trace;
    const policy = spec.options?.policy;
    if (policy && typeof policy === "object") options.policy = policy as Partial<PolicyLimits>;
    return options;
  }

  async #recordRetry(job: ActiveJob, token: number): Promise<void> {
    const { lease } = job;
    const data: Record<string, unknown> = {
      reason: lease.reason,
      attempt: lease.attempt,
      jobId: lease.jobId,
      consumer: lease.consumer,
      token: lease.token,
    };
    if (lease.previousConsumer !== undefined) data.previousConsumer = lease.previousConsumer;
    await this.#store.appendEvent(lease.spec.executionId, {
      type: "RETRY_ATTEMPTED",
      data,
    }, this.#appendOptions(token));
    // Each value is its own placeholder (a text line quotes every string
    // value): `("reclaimed" from "node-1")`, never a value holding the words.
    const props = {
      executionId: lease.spec.executionId,
      attempt: lease.attempt,
      reason: lease.reason,
      nodeId: this.#host.nodeId,
    };
    const previousConsumer = lease.previousConsumer;
    if (previousConsumer === undefined) {
      this.#host.log.warn(
        "RETRY_ATTEMPTED execution {executionId} attempt {attempt} ({reason}) on {nodeId}",
        props,
      );
    } else {
      this.#host.log.warn(
        "RETRY_ATTEMPTED execution {executionId} attempt {attempt} ({reason} from {previousConsumer}) on {nodeId}",
        { ...props, previousConsumer },
      );
    }
  }

  async #recordCancelled(job: ActiveJob, reason: string, token: number): Promise<void> {
    const id = job.lease.spec.executionId;
    const { stack: _stack, ...error } = toErrorInfo(
      new ExecutionCancelledError(id, reason || undefined),
    );
    // The entry keeps the creation time of its queued state.
    const createdAt = Date.now();
    await this.#store.appendEvent(id, {
      type: "EXECUTION_CANCELLED",
      data: { error, durationMs: 0, beforeStart: true },
    }, {
      ...this.#appendOptions(token),
      index: indexEntry("EXECUTION_CANCELLED", { agent: job.lease.spec.agent, createdAt })!,
    });
  }

  async #finalRecorded(executionId: string): Promise<boolean> {
    const last = await this.#store.latest(executionId);
    if (last && FINAL.has(last.type)) return true;
    const events = await this.#store.readRange(executionId);
    return events.some((e) => FINAL.has(e.type));
  }

  async #decisionRequired(executionId: string, callId: string | undefined): Promise<boolean> {
    const events = await this.#store.readRange(executionId);
    return events.some((e) =>
      e.type === "DECISION_REQUIRED" && (e.data as { key?: unknown } | undefined)?.key === callId
    );
  }

  #appendOptions(token: number): AppendOptions {
    const options: AppendOptions = { fencingToken: token };
    if (this.#host.retentionSeconds !== undefined) options.expire = this.#host.retentionSeconds;
    return options;
  }
}

function _cancelReason(events: readonly StoredEvent[]): string | undefined {
  const request = events.findLast((e) => e.type === CANCEL_REQUESTED || e.key === CANCEL_KEY);
  if (!request) return undefined;
  const reason = (request.data as { reason?: unknown } | undefined)?.reason;
  return typeof reason === "string" ? reason : "";
}
