// The failure a dead-lettered job leaves in its execution's log, and the way
// a later delivery of the job continues past it. Internal.
//
// A job dies in the queue in two ways: a worker fails its last attempt
// (`JobQueue.fail` answers "dead"), or its lease expires after its last
// attempt and the `reserve` of some worker buries it (no handler runs for
// it: its holder is gone). Either way the worker node that learns of it
// (JobLoop → ExecutionJobHandler.dead) records EXECUTION_FAILED with a
// retryable error naming the job, the queue's reason and
// `oao queue requeue <jobId>`: a client polling the execution sees that it
// will not progress by itself, and how to revive it.
//
// The failure is recorded only while the execution is QUEUED or RUNNING (a
// final status stays, and NEEDS_DECISION waits for an operator), under a
// claim on the execution (`_ownership.ts`) and conditional on the log as read
// (`expectedSeq`), so that it lands on no live run:
// - after a failed last attempt the claim is taken as a runner takes it: a
//   runner holding it (an `oao resume`) is left alone, it records an outcome;
// - after an expired lease the claim is taken over, as a reclaim does: the
//   holder the queue gave up on is fenced out before the log is read.
// Two nodes noticing the same death record one failure: the second finds the
// execution FAILED, or is fenced out, or its conditional append is refused.
//
// The event carries `deadLetter: { jobId, attempts, cause }`. A delivery of
// that job after `JobQueue.requeueDead` finds it as the last outcome of the
// log and continues: an execution that had started is resumed with
// `RunOptions.retry` (EXECUTION_RETRIED, then a resume from its log:
// completed tool calls are not run again); one that never started is put
// back to QUEUED (EXECUTION_RETRIED) and started.
import { ExecutionNotFoundError, StaleVersionError } from "../errors.ts";
import type { ErrorInfo } from "../errors.ts";
import type { AppendOptions, EventStore, StoredEvent } from "../events/event_store.ts";
import { truncateText } from "../limits.ts";
import { type ExecutionView, projectExecution } from "../orchestrator/execution_view.ts";
import { indexEntry } from "../orchestrator/_index_entries.ts";
import type { ExecutionClaim, Ownership } from "../orchestrator/_ownership.ts";
import type { DeadJob } from "../queue/job_queue.ts";

/** The code of the error recorded for a dead-lettered job. */
export const JOB_DEAD_LETTERED = "JOB_DEAD_LETTERED";

/** How a job died: its last attempt failed, or its lease expired after it. */
export type DeadCause = "failed" | "expired";

/** What recording a dead job's failure needs from its worker node. */
export interface DeadLetterHost {
  readonly store: EventStore;
  readonly ownership: Ownership;
  readonly retentionSeconds: number | undefined;
}

/** What {@linkcode recordDeadLetter} did: recorded, or why not. */
export type DeadLetterOutcome =
  | { recorded: true }
  | { recorded: false; why: string };

/** Most characters of the queue's reason kept in the recorded message. */
const MAX_REASON = 4_096;
/** Conditional appends refused (the log grew meanwhile) before giving up. */
const MAX_STALE_READS = 3;

/**
 * The message of a dead-lettered job's failure: the job, its attempts, how
 * to revive it, and the queue's reason (the last error or the lost lease).
 *
 * @param job The dead job.
 * @returns The message.
 */
export function deadLetterMessage(job: DeadJob): string {
  const attempts = `${job.attempts} attempt${job.attempts === 1 ? "" : "s"}`;
  const reason = truncateText(job.lastError || "no error was recorded", MAX_REASON);
  return `Job "${job.jobId}" of execution "${job.spec.executionId}" was dead-lettered after ` +
    `${attempts} and no worker will run it: fix the cause, then re-enqueue it with ` +
    `\`oao queue requeue ${job.jobId}\` to continue the execution from its log. ` +
    `The queue's reason: ${reason}`;
}

/**
 * Records EXECUTION_FAILED (retryable) for a dead job's execution, unless it
 * is no longer QUEUED or RUNNING.
 *
 * @param host Event store, claims and retention of the worker node.
 * @param job The dead job.
 * @param cause How it died (`expired`: the claim is taken over).
 * @returns Whether it was recorded, and why not.
 * @throws {FencedError} When another runner took the execution meanwhile.
 * @throws {StoreUnavailableError} When the event store cannot be reached.
 */
export async function recordDeadLetter(
  host: DeadLetterHost,
  job: DeadJob,
  cause: DeadCause,
): Promise<DeadLetterOutcome> {
  const id = job.spec.executionId;
  const claim = await host.ownership.acquire(id, { takeOver: cause === "expired" });
  try {
    for (let reads = 1;; reads++) {
      const events = await host.store.readRange(id);
      const view = _viewOf(id, events);
      if (!view) return { recorded: false, why: "its log is gone" };
      if (view.status !== "QUEUED" && view.status !== "RUNNING") {
        return { recorded: false, why: `it is already ${view.status}` };
      }
      try {
        await _appendFailure(host, job, { cause, view, claim, lastSeq: events.at(-1)!.seq });
        return { recorded: true };
      } catch (error) {
        if (!(error instanceof StaleVersionError) || reads >= MAX_STALE_READS) throw error;
      }
    }
  } finally {
    await claim.release();
  }
}

/**
 * The failure recorded for the dead-lettering of `jobId`, when it is the last
 * outcome of the log (nothing completed, cancelled, failed or retried it
 * since): a delivery of that job then continues past it.
 *
 * @param events The execution's log.
 * @param jobId The job being delivered.
 * @returns The EXECUTION_FAILED event, or `undefined`.
 */
export function deadLetterFailure(
  events: readonly StoredEvent[],
  jobId: string,
): StoredEvent | undefined {
  const last = events.findLast((e) => OUTCOMES.has(e.type));
  if (last?.type !== "EXECUTION_FAILED") return undefined;
  const deadLetter = (last.data as { deadLetter?: { jobId?: unknown } } | undefined)?.deadLetter;
  return deadLetter?.jobId === jobId ? last : undefined;
}

/**
 * Puts an execution that was dead-lettered before it started back to QUEUED
 * (EXECUTION_RETRIED), for the delivery that starts it.
 *
 * @param store The event store.
 * @param failure The event {@linkcode deadLetterFailure} found.
 * @param options The execution's agent, the claim's token, the retention.
 * @throws {FencedError} When another runner took the execution meanwhile.
 */
export async function reviveQueued(
  store: EventStore,
  failure: StoredEvent,
  options: { agent: string; token: number; retentionSeconds: number | undefined },
): Promise<void> {
  const { error } = (failure.data ?? {}) as { error?: unknown };
  const append: AppendOptions = {
    fencingToken: options.token,
    // Queued again, not running: the index says what the view says.
    index: indexEntry("EXECUTION_QUEUED", { agent: options.agent, createdAt: failure.time })!,
  };
  if (options.retentionSeconds !== undefined) append.expire = options.retentionSeconds;
  await store.appendEvent(failure.executionId, {
    type: "EXECUTION_RETRIED",
    data: { error, jobId: _deadJobId(failure) },
  }, append);
}

/** Events after which a log's outcome changed: a final event, or a retry of a failure. */
const OUTCOMES = new Set([
  "EXECUTION_COMPLETED",
  "EXECUTION_FAILED",
  "EXECUTION_CANCELLED",
  "EXECUTION_RETRIED",
]);

function _viewOf(id: string, events: readonly StoredEvent[]): ExecutionView | undefined {
  if (events.length === 0) return undefined;
  try {
    return projectExecution(id, events);
  } catch (error) {
    if (error instanceof ExecutionNotFoundError) return undefined;
    throw error;
  }
}

async function _appendFailure(
  host: DeadLetterHost,
  job: DeadJob,
  at: { cause: DeadCause; view: ExecutionView; claim: ExecutionClaim; lastSeq: number },
): Promise<void> {
  const { view } = at;
  const error: ErrorInfo = {
    name: "JobDeadLetteredError",
    message: deadLetterMessage(job),
    code: JOB_DEAD_LETTERED,
  };
  const options: AppendOptions = {
    fencingToken: at.claim.token,
    expectedSeq: at.lastSeq,
    index: indexEntry("EXECUTION_FAILED", { agent: view.agent, createdAt: view.startedAt })!,
  };
  if (host.retentionSeconds !== undefined) options.expire = host.retentionSeconds;
  await host.store.appendEvent(job.spec.executionId, {
    type: "EXECUTION_FAILED",
    data: {
      error,
      retryable: true,
      durationMs: view.activeMs,
      deadLetter: { jobId: job.jobId, attempts: job.attempts, cause: at.cause },
    },
  }, options);
}

function _deadJobId(failure: StoredEvent): string | undefined {
  const jobId = (failure.data as { deadLetter?: { jobId?: unknown } } | undefined)?.deadLetter
    ?.jobId;
  return typeof jobId === "string" ? jobId : undefined;
}
