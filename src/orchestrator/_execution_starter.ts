// How an execution starts running in this process: a new one; one resumed
// from its log (its process died, or it failed for a retryable cause and a
// retry was asked for), which must still have the hash of its specification;
// or the log of a fork, written for a resume. Each run holds a claim on its
// execution from before its first write to its end (RunningExecutions).
// Internal.
import { ExecutionBusyError, ExecutionHashMismatchError } from "../errors.ts";
import type { AppendOptions, StoredEvent } from "../events/event_store.ts";
import { newSpanId, parseTraceparent } from "../tracing/trace_context.ts";
import { canonicalJson } from "./canonical_json.ts";
import { reportFromView } from "./execution_report.ts";
import { type ExecutionView, projectExecution } from "./execution_view.ts";
import type { RunOptions, StartedExecution } from "./orchestrator_options.ts";
import type { StrictPolicy } from "./policy.ts";
import type { AgentRegistry } from "./_agent_registry.ts";
import { assertJsonWithin } from "./_boundary.ts";
import { crashedSpans } from "./_crashed_spans.ts";
import { ExecutionRun } from "./_execution.ts";
import { type HashedSpec, hashExecution, recordedPolicy } from "./_execution_hash.ts";
import { assertForkable, writeForkLog } from "./_fork.ts";
import { indexEntry } from "./_index_entries.ts";
import { assertDependencies, assertId } from "./_inputs.ts";
import type { ExecutionClaim } from "./_ownership.ts";
import type { ResolvedAgent, RunHost } from "./_run_host.ts";
import type { RunExtras, RunningExecutions } from "./_running_executions.ts";

// What a run starts from, besides what the run options give it.
type RunInit = ConstructorParameters<typeof ExecutionRun>[1];

/**
 * A new execution id: time-ordered and unique.
 *
 * @returns `exec-<base36 time>-<random>`.
 */
export function newExecutionId(): string {
  return `exec-${Date.now().toString(36)}-${newSpanId().slice(0, 10)}`;
}

/** What an {@linkcode ExecutionStarter} starts executions with. */
export interface StarterOptions {
  /** What each run gets from the orchestrator. */
  readonly host: RunHost;
  /** The registered agents. */
  readonly agents: AgentRegistry;
  /** The executions running here. */
  readonly runs: RunningExecutions;
  /** The default policy. */
  readonly policy: StrictPolicy;
}

/** Starts, resumes and forks the executions of one orchestrator. */
export class ExecutionStarter {
  readonly #host: RunHost;
  readonly #agents: AgentRegistry;
  readonly #runs: RunningExecutions;
  readonly #policy: StrictPolicy;

  /** @param options The run host, agents, running executions and default policy. */
  constructor(options: StarterOptions) {
    this.#host = options.host;
    this.#agents = options.agents;
    this.#runs = options.runs;
    this.#policy = options.policy;
  }

  /**
   * Starts a new execution (`Orchestrator.start`).
   *
   * @throws {UnknownAgentError} When no agent has that name.
   * @throws {TypeError} When the task or the dependencies are not JSON, the
   *   execution id is invalid or taken, or the policy's `requireApproval`
   *   names a tool that is not registered.
   * @throws {ValueTooLargeError} When the task or the dependencies are too large.
   */
  async start(agent: string, task: unknown, options: RunOptions): Promise<StartedExecution> {
    const { limits } = this.#host;
    this.#agents.resolve(agent);
    canonicalJson(task ?? null);
    assertJsonWithin(task ?? null, "The task", limits.maxValueBytes);
    const { dependencies } = options;
    if (dependencies !== undefined) assertDependencies(dependencies, limits.maxValueBytes);
    const executionId = assertId(options.executionId ?? newExecutionId(), "executionId");
    if (this.#runs.has(executionId)) {
      throw new TypeError(`Execution "${executionId}" already exists`);
    }
    const claim = await this.#runs.claim(executionId, options);
    try {
      if (await this.#started(executionId)) {
        throw new TypeError(`Execution "${executionId}" already exists`);
      }
      const policy = options.policy ? this.#policy.with(options.policy) : this.#policy;
      policy.checkTools(this.#host.toolNames());
      const resolved = await this.#agents.resolveVersioned(agent);
      const hash = await this.hash(resolved, { task, policy, dependencies });
      const init = { executionId, agent: resolved, task, policy, hash };
      return this.#launch(dependencies ? { ...init, dependencies } : init, options, claim);
    } catch (error) {
      await claim?.release();
      throw error;
    }
  }

  /**
   * Continues an execution from its log (`Orchestrator.startResume`).
   *
   * @throws {ExecutionNotFoundError} When there is no such execution.
   * @throws {ExecutionHashMismatchError} When the agent, its version, the tools or the policy changed.
   * @throws {ExecutionBusyError} When another runner (in this or another process) runs it.
   */
  async resume(executionId: string, options: RunOptions): Promise<StartedExecution> {
    if (this.#runs.has(executionId)) {
      throw new ExecutionBusyError(executionId, "this process", 0);
    }
    const claim = await this.#runs.claim(executionId, options);
    try {
      const { events, view } = await this.#read(executionId, options, claim);
      if (view.status !== "RUNNING") {
        await claim?.release();
        return { executionId, done: Promise.resolve(reportFromView(view)) };
      }
      if (parseTraceparent(view.traceparent)?.sampled) {
        this.#host.tracer.exportFinished(crashedSpans(events, view.agent));
      }
      const resolved = await this.#agents.resolveVersioned(view.agent);
      const policy = recordedPolicy(view.policy, options.policy);
      const { task, dependencies } = view;
      const hash = await this.hash(resolved, { task, policy, dependencies });
      if (hash !== view.hash) throw new ExecutionHashMismatchError(executionId, view.hash, hash);
      const init = { executionId, agent: resolved, task, policy, hash, view };
      return this.#launch(dependencies ? { ...init, dependencies } : init, options, claim);
    } catch (error) {
      await claim?.release();
      throw error;
    }
  }

  /**
   * Writes the log of a fork of `executionId` (`Orchestrator.startFork`),
   * for the caller to resume.
   *
   * @returns The fork's id.
   * @throws {RangeError} When `fromStep` is not a completed step.
   * @throws {TypeError} When the new id is invalid or taken (nothing is written then).
   * @throws {ExecutionNotFoundError} When there is no such execution.
   */
  async fork(executionId: string, options: RunOptions & { fromStep: number }): Promise<string> {
    const { eventStore } = this.#host;
    assertId(executionId, "executionId");
    const newId = assertId(options.executionId ?? newExecutionId(), "executionId of the fork");
    const events = await eventStore.readRange(executionId);
    const source = projectExecution(executionId, events);
    const { fromStep } = options;
    assertForkable(source, fromStep);
    const resolved = await this.#agents.resolveVersioned(source.agent);
    const policy = recordedPolicy(source.policy, options.policy);
    const { dependencies } = source;
    const hash = await this.hash(resolved, { task: source.task, policy, dependencies });
    if (this.#runs.has(newId) || (await eventStore.count(newId)) > 0) {
      throw new TypeError(`Execution "${newId}" already exists`);
    }
    await writeForkLog(eventStore, events, {
      from: executionId,
      to: newId,
      fromStep,
      hash,
      policy: policy.limits,
      retentionSeconds: this.#host.retentionSeconds,
    });
    return newId;
  }

  /**
   * The execution hash of an execution of `agent`; the dependencies of a
   * workflow task are part of it (left out when there are none, so other
   * executions keep their hash).
   *
   * @returns 64 hex characters.
   */
  async hash(agent: ResolvedAgent, spec: Omit<HashedSpec, "registeredTools">): Promise<string> {
    return await hashExecution(agent, { ...spec, registeredTools: this.#host.toolNames() });
  }

  // Runs an execution here, under its claim, with what the run options give it.
  #launch(
    init: Omit<RunInit, keyof RunExtras>,
    options: RunOptions,
    claim: ExecutionClaim | undefined,
  ): StartedExecution {
    const run = new ExecutionRun(this.#host, { ...init, ...this.#runs.extras(options, claim) });
    return { executionId: run.executionId, done: this.#runs.track(run, claim) };
  }

  // Whether an execution's log holds EXECUTION_STARTED. A queued execution's
  // log may hold what the API node and earlier deliveries wrote before it
  // started (EXECUTION_QUEUED, CANCEL_REQUESTED, RETRY_ATTEMPTED).
  async #started(executionId: string): Promise<boolean> {
    const { eventStore } = this.#host;
    if ((await eventStore.count(executionId)) === 0) return false;
    const events = await eventStore.readRange(executionId);
    return events.some((e) => e.type === "EXECUTION_STARTED");
  }

  // The log and view of an execution to resume. With `retry`, one that
  // FAILED with a retryable error is recorded as EXECUTION_RETRIED first.
  async #read(
    executionId: string,
    options: RunOptions,
    claim: ExecutionClaim | undefined,
  ): Promise<{ events: StoredEvent[]; view: ExecutionView }> {
    const { eventStore } = this.#host;
    let events = await eventStore.readRange(executionId);
    let view = projectExecution(executionId, events);
    if (options.retry && view.status === "FAILED" && view.error?.retryable) {
      await eventStore.appendEvent(executionId, {
        type: "EXECUTION_RETRIED",
        data: { error: view.error },
      }, {
        ...appendOptions(claim?.token ?? options.fencingToken, this.#host.retentionSeconds),
        index: indexEntry("EXECUTION_RETRIED", { agent: view.agent, createdAt: view.startedAt })!,
      });
      events = await eventStore.readRange(executionId);
      view = projectExecution(executionId, events);
    }
    return { events, view };
  }
}

// What a runner's write carries: its fencing token, and the retention of the
// execution's log.
function appendOptions(
  token: number | undefined,
  retentionSeconds: number | undefined,
): AppendOptions {
  const options: AppendOptions = {};
  if (token !== undefined) options.fencingToken = token;
  if (retentionSeconds !== undefined) options.expire = retentionSeconds;
  return options;
}
