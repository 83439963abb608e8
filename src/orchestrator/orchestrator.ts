/**
 * The orchestrator: register agents and tools, run tasks as governed,
 * audited, recoverable executions, and get reports.
 *
 * @example The monolithic setup of the deployment guide, in TypeScript
 * ```ts
 * import { defineTool, Orchestrator } from "@oao/runtime";
 * import { RedisEventStore, RedisPersistenceAdapter } from "@oao/runtime/redis";
 * import assert from "node:assert/strict";
 *
 * const redisUrl = Deno.env.get("REDIS_URL"); // default redis://localhost:6379
 * const persistence = new RedisPersistenceAdapter({ redisUrl, keyPrefix: "oao-example:" });
 * const eventStore = new RedisEventStore({ redisUrl, keyPrefix: "oao-example:" });
 * const orchestrator = new Orchestrator({
 *   persistence,
 *   eventStore,
 *   retentionSeconds: 60,
 *   tools: [defineTool({ name: "process_item", run: (args: { item: number }) => args.item + 1 })],
 * });
 * orchestrator.registerAgent({
 *   name: "bench", // plans, calls "process_item" in EXECUTE, reviews
 *   module: new URL("../../actors/bench_agent.ts", import.meta.url),
 * });
 * const report = await orchestrator.run("bench", { item: 1 });
 * assert.equal(report.status, "SUCCESS");
 * assert.deepEqual(report.stateHistory.map((s) => s.state), ["INIT", "PLAN", "EXECUTE", "REVIEW", "TERMINATE"]);
 * await orchestrator.close();
 * await Promise.all([persistence.close(), eventStore.close()]); // the caller's to close
 * ```
 *
 * @module
 */
import { getLogger } from "@logtape/logtape";
import type { ActorSystem } from "../actor/actor_system.ts";
import { type Clock, systemClock } from "../clock.ts";
import type { EventStore, StoredEvent } from "../events/event_store.ts";
import { InMemoryEventStore } from "../events/in_memory_event_store.ts";
import { type Limits, resolveLimits } from "../limits.ts";
import { EventBus } from "../observability/event_bus.ts";
import { InMemoryPersistenceAdapter } from "../persistence/in_memory_persistence_adapter.ts";
import type { PersistenceAdapter } from "../persistence/persistence_adapter.ts";
import { Tracer } from "../tracing/tracer.ts";
import type { AgentRuntime } from "./agent_runtime.ts";
import type { ApprovalDecision, RecordedApproval } from "./approvals.ts";
import { type ExecutionList, type ExecutionListFilter, listExecutions } from "./execution_list.ts";
import type { ExecutionReport } from "./execution_report.ts";
import { type ExecutionView, projectExecution } from "./execution_view.ts";
import {
  type AgentRegistration,
  checkRetentionSeconds,
  type OrchestratorOptions,
  resolveClaimTtlMs,
  resolvePassivateAfterMs,
  type RunOptions,
  type StartedExecution,
} from "./orchestrator_options.ts";
import { type StrictPolicy, toPolicy } from "./policy.ts";
import { resolveRetryPolicy } from "./retry_policy.ts";
import { defineTool, type ToolDefinition } from "./tool.ts";
import type { StartedWorkflow, WorkflowReport, WorkflowSpec } from "./workflow.ts";
import { AgentRegistry } from "./_agent_registry.ts";
import { createAgentRuntimes } from "./_agent_runtimes.ts";
import { serveAgents } from "./_agent_services.ts";
import { decideApproval } from "./_approvals.ts";
import { type Decision, recordDecision } from "./_decisions.ts";
import { ExecutionStarter } from "./_execution_starter.ts";
import { ModelHost } from "./_model_host.ts";
import { Ownership } from "./_ownership.ts";
import type { ResolvedAgent } from "./_run_host.ts";
import { RunningExecutions } from "./_running_executions.ts";
import { sendSignal } from "./_signals.ts";
import type { TextDelta } from "./_text_deltas.ts";
import { WakeBus } from "./_wake_bus.ts";
import { RunningWorkflows } from "./_running_workflows.ts";

export type {
  AgentIsolation,
  AgentRegistration,
  OrchestratorOptions,
  RunOptions,
  SandboxMode,
  StartedExecution,
} from "./orchestrator_options.ts";
export { reportFromView } from "./execution_report.ts";
export { newExecutionId } from "./_execution_starter.ts";

/** The result of {@linkcode Orchestrator.replay}: everything, rebuilt from events only. */
export interface ReplayResult {
  /** The rebuilt execution. */
  view: ExecutionView;
  /** The events, in order. */
  timeline: StoredEvent[];
}

/** Runs agents as governed executions. */
export class Orchestrator {
  /** The observability stream: execution and runtime events. */
  readonly events: EventBus;
  /** The actor system: runtime events, and the agents' workers in `"thread"` mode. */
  readonly system: ActorSystem;
  /** Where agent workers run: this process, or sandbox processes. */
  readonly sandbox: "thread" | "process";
  readonly #agentRuntime: AgentRuntime;
  /** The audit log. */
  readonly eventStore: EventStore;
  /** Snapshots. */
  readonly persistence: PersistenceAdapter;
  readonly #clock: Clock;
  readonly #policy: StrictPolicy;
  readonly #retention: number | undefined;
  readonly #limits: Limits;
  readonly #wakes: WakeBus;
  readonly #models: ModelHost;
  readonly #log = getLogger(["oao", "orchestrator"]);
  readonly #agents = new AgentRegistry(this.#log);
  readonly #tools = new Map<string, ToolDefinition<unknown, unknown>>();
  readonly #ownership: Ownership;
  readonly #runs: RunningExecutions;
  readonly #starter: ExecutionStarter;
  readonly #workflows: RunningWorkflows;
  #closed = false;

  /**
   * @param options Stores, default policy, retries, agents and tools.
   * @throws {TypeError | RangeError} Naming an invalid option.
   */
  constructor(options: OrchestratorOptions = {}) {
    this.#clock = options.clock ?? systemClock;
    const tracer = options.tracer ?? new Tracer();
    this.persistence = options.persistence ??
      new InMemoryPersistenceAdapter({ clock: this.#clock });
    this.eventStore = options.eventStore ?? new InMemoryEventStore({ clock: this.#clock });
    this.events = options.bus ?? new EventBus();
    this.#policy = toPolicy(options.policy);
    const retry = resolveRetryPolicy(options.retry);
    this.#limits = resolveLimits(options.limits);
    this.#retention = checkRetentionSeconds(options.retentionSeconds);
    const passivateAfterMs = resolvePassivateAfterMs(options.passivateAfterMs);
    this.#wakes = new WakeBus(this.eventStore, this.#log);
    this.#models = new ModelHost(options.models, this.#clock);
    this.#ownership = new Ownership(this.eventStore, {
      clock: this.#clock,
      log: this.#log,
      ttlMs: resolveClaimTtlMs(options.claimTtlMs),
    });
    const shared = {
      persistence: this.persistence,
      eventStore: this.eventStore,
      bus: this.events,
      clock: this.#clock,
      tracer,
      limits: this.#limits,
    };
    const runtimes = createAgentRuntimes(options, shared);
    this.system = runtimes.system;
    this.sandbox = runtimes.sandbox;
    this.#agentRuntime = runtimes.agents;
    this.#runs = new RunningExecutions({
      eventStore: this.eventStore,
      ownership: this.#ownership,
      tracer,
    });
    this.#starter = new ExecutionStarter({
      host: {
        ...shared,
        system: this.#agentRuntime,
        retry,
        retentionSeconds: this.#retention,
        log: this.#log,
        passivateAfterMs,
        models: this.#models,
        wakes: this.#wakes,
        tool: (name) => this.#tools.get(name),
        toolNames: () => [...this.#tools.keys()],
      },
      agents: this.#agents,
      runs: this.#runs,
      policy: this.#policy,
    });
    this.#workflows = new RunningWorkflows(this, {
      clock: this.#clock,
      retentionSeconds: this.#retention,
      maxValueBytes: this.#limits.maxValueBytes,
    });
    serveAgents(this.#agentRuntime, {
      limits: this.#limits,
      clock: this.#clock,
      run: (executionId) => this.#runs.get(executionId),
    });
    this.events.subscribe((event) => {
      if (event.executionId) this.#runs.get(event.executionId)?.onRuntimeEvent(event);
    });
    for (const tool of options.tools ?? []) this.registerTool(tool);
    for (const agent of options.agents ?? []) this.registerAgent(agent);
  }

  /** Registered agents. */
  get agents(): AgentRegistration[] {
    return this.#agents.registrations;
  }

  /** Registered tools. */
  get tools(): ToolDefinition<unknown, unknown>[] {
    return [...this.#tools.values()];
  }

  /** The default policy. */
  get policy(): StrictPolicy {
    return this.#policy;
  }

  /** Ids of the executions running in this process. */
  get running(): string[] {
    return this.#runs.ids;
  }

  /**
   * Registers an agent by name.
   *
   * @param registration Name, module, permissions, version, tools, peers.
   * @returns This orchestrator.
   * @throws {TypeError} Naming the invalid field, when the name is taken, or
   *   when the module is a local file that does not exist (naming the path tried).
   */
  registerAgent(registration: AgentRegistration): this {
    this.#agents.register(registration);
    return this;
  }

  /**
   * Registers a tool.
   *
   * @param tool The tool.
   * @returns This orchestrator.
   * @throws {TypeError} When the tool is invalid or its name is taken.
   */
  registerTool<A, R>(tool: ToolDefinition<A, R>): this {
    defineTool(tool);
    if (this.#tools.has(tool.name)) {
      throw new TypeError(`A tool named "${tool.name}" is already registered`);
    }
    this.#tools.set(tool.name, tool as unknown as ToolDefinition<unknown, unknown>);
    return this;
  }

  /**
   * Runs a task with an agent and waits for the report.
   *
   * @param agent Registered agent name.
   * @param task The task (JSON).
   * @param options Execution id, policy overrides, trace parent, fencing token, signal.
   * @returns The report (status `SUCCESS`, `FAILED` or `CANCELLED`).
   * @throws {UnknownAgentError} When no agent has that name.
   * @throws {TypeError} When the task is not JSON, the execution id is taken,
   *   or the policy's `requireApproval` names a tool that is not registered.
   * @throws {ValueTooLargeError} When the task is over the `maxValueBytes` limit.
   */
  async run(agent: string, task: unknown, options: RunOptions = {}): Promise<ExecutionReport> {
    return await (await this.start(agent, task, options)).done;
  }

  /**
   * Starts an execution and returns its id at once (the report comes later).
   *
   * @param agent Registered agent name.
   * @param task The task (JSON).
   * @param options As for {@linkcode Orchestrator.run}.
   * @returns The id and a promise of the report.
   * @throws {UnknownAgentError} When no agent has that name.
   * @throws {TypeError} When the task or the dependencies are not JSON, the
   *   execution id is invalid (1–200 letters, digits, `_`, `.`, `-`) or taken,
   *   or the policy's `requireApproval` names a tool that is not registered.
   */
  async start(agent: string, task: unknown, options: RunOptions = {}): Promise<StartedExecution> {
    this.#assertOpen();
    return await this.#starter.start(agent, task, options);
  }

  /**
   * Continues an execution whose process died: state, counters and history
   * are rebuilt from the event log; the first incomplete step runs again
   * (its completed tool calls are answered from the log, not re-run).
   *
   * @param executionId The execution.
   * @param options Policy overrides (must match: they are part of the hash), trace, fencing token.
   * @returns The report; at once if the execution had already finished.
   * @throws {ExecutionNotFoundError} When there is no such execution.
   * @throws {ExecutionHashMismatchError} When the agent, its version, the tools or the policy changed.
   * @throws {ExecutionBusyError} When another runner (in this or another process) runs it.
   */
  async resume(executionId: string, options: RunOptions = {}): Promise<ExecutionReport> {
    return await (await this.startResume(executionId, options)).done;
  }

  /**
   * Like {@linkcode Orchestrator.resume}, returning at once.
   *
   * @param executionId The execution.
   * @param options As for `resume`.
   * @returns The id and a promise of the report.
   */
  async startResume(executionId: string, options: RunOptions = {}): Promise<StartedExecution> {
    this.#assertOpen();
    return await this.#starter.resume(executionId, options);
  }

  /**
   * Records an operator's decision on the tool call an execution waits for
   * (status `NEEDS_DECISION`: a non-idempotent call whose outcome a crash
   * left unknown). Resume the execution afterwards: the call is answered with
   * `succeeded`'s result, fails with `failed`'s reason, or runs again.
   *
   * @param executionId The execution.
   * @param callId The call's id (`report.decision.callId`), or 8+ first characters of it.
   * @param decision `{ succeeded: <JSON result> }`, `{ failed: "<reason>" }` or `{ rerun: true }`.
   * @param options Who decided (recorded in the audit log).
   * @returns Once recorded.
   * @throws {ExecutionNotFoundError} When there is no such execution.
   * @throws {TypeError} When it waits for no decision, for one on another call, or the decision is malformed.
   * @throws {ExecutionBusyError} When another runner holds it.
   */
  async resolve(
    executionId: string,
    callId: string,
    decision: Decision,
    options: { by?: string } = {},
  ): Promise<void> {
    this.#assertOpen();
    await recordDecision(this.eventStore, executionId, {
      callId,
      decision,
      by: options.by,
      ownership: this.#ownership,
      maxValueBytes: this.#limits.maxValueBytes,
      retentionSeconds: this.#retention,
      log: this.#log,
    });
  }

  /**
   * Sends a signal to an execution: recorded in its log at once (durable),
   * taken by the agent's `ctx.waitForSignal(name)` in whichever process runs
   * the execution, or when it is resumed. Signals of one name are taken in
   * order, each once.
   *
   * @param executionId The execution.
   * @param name 1–100 letters, digits, `_`, `.`, `:` or `-`.
   * @param payload JSON, at most 64 KiB. @default {null}
   * @returns The sequence number of its `SIGNAL_RECEIVED` event.
   * @throws {ExecutionNotFoundError} When there is no such execution.
   * @throws {ExecutionFinishedError} When it already finished, or finished
   *   while the signal was sent (a signal never lands after the end).
   * @throws {TypeError} When the name or the payload is invalid.
   * @throws {ValueTooLargeError} When the payload is over 64 KiB.
   * @throws {StoreUnavailableError} When its log kept growing between every read and append.
   */
  async signal(executionId: string, name: string, payload: unknown = null): Promise<number> {
    return await sendSignal(this.eventStore, executionId, {
      name,
      payload,
      retentionSeconds: this.#retention,
      wakeHere: this.#runs.has(executionId) ? () => this.#wakes.notify(executionId) : undefined,
    });
  }

  /**
   * Passes the text deltas of the streamed model calls (`ctx.streamText`) of
   * the executions this orchestrator runs to `listener`, as they arrive.
   * Deltas are a live view, never journaled one by one: the completed answer
   * is in the log (`MODEL_CALL_COMPLETED`). Other processes on the same
   * stores follow them with `GET /executions/:id/stream`.
   *
   * @param listener Gets each delta; its errors are ignored.
   * @returns Stops passing deltas to it.
   *
   * @example
   * ```ts
   * import { Orchestrator } from "../../mod.ts";
   * const orchestrator = new Orchestrator();
   * const stop = orchestrator.watchTextDeltas((delta) => console.log(delta.executionId, delta.text));
   * stop();
   * await orchestrator.close();
   * ```
   */
  watchTextDeltas(listener: (delta: TextDelta) => void): () => void {
    return this.#models.watchDeltas(listener);
  }

  /**
   * Records a person's decision on a tool call that waits for approval (the
   * policy's `requireApproval`, or a tool defined with `requireApproval:
   * true`): one append to its log, from any process that shares the stores.
   * Approved, the tool runs; denied, the agent's call fails with
   * `ApprovalDeniedError`. The first decision on a call counts.
   *
   * @param executionId The execution.
   * @param callId The call's id (`waitingFor.callId` of its status), or 8+ first characters of it.
   * @param decision `{ decision: "approve" | "deny", reason?: string }`.
   * @param options Who decided (recorded in the audit log). @default {{ by: "an operator" }}
   * @returns The decision as recorded.
   * @throws {ExecutionNotFoundError} When there is no such execution.
   * @throws {ExecutionFinishedError} When it already finished.
   * @throws {ApprovalNotFoundError} When it waits for no approval of that call.
   * @throws {ApprovalAlreadyDecidedError} When the call was decided (or timed out) already.
   * @throws {TypeError} When the decision is neither approve nor deny, or the reason is invalid.
   * @throws {StoreUnavailableError} When its log kept growing between every read and append.
   */
  async decideApproval(
    executionId: string,
    callId: string,
    decision: ApprovalDecision,
    options: { by?: string } = {},
  ): Promise<RecordedApproval> {
    return await decideApproval(this.eventStore, executionId, callId, {
      decision,
      by: options.by ?? "an operator",
      retentionSeconds: this.#retention,
    });
  }

  /**
   * Rebuilds an execution and its timeline from events, with no side
   * effects: no agent code and no tool runs.
   *
   * @param executionId The execution.
   * @returns The rebuilt view and the timeline.
   * @throws {ExecutionNotFoundError} When there is no such execution.
   */
  async replay(executionId: string): Promise<ReplayResult> {
    const timeline = await this.eventStore.readRange(executionId);
    return { view: projectExecution(executionId, timeline), timeline };
  }

  /**
   * The current view of an execution (status, step, totals, report when done).
   *
   * @param executionId The execution.
   * @returns The view.
   * @throws {ExecutionNotFoundError} When there is no such execution.
   */
  async status(executionId: string): Promise<ExecutionView> {
    return projectExecution(executionId, await this.eventStore.readRange(executionId));
  }

  /**
   * Starts a new execution sharing the history of `executionId` up to and
   * including step `fromStep`, continuing from the state after that step.
   * Tool calls of the shared steps are answered from the copied log.
   *
   * @param executionId The execution to fork.
   * @param options `fromStep` (a completed step) and run options for the new execution.
   * @returns The new execution's report.
   * @throws {RangeError} When `fromStep` is not a completed step.
   * @throws {TypeError} When the new id is invalid or taken (nothing is written then).
   * @throws {ExecutionNotFoundError} When there is no such execution.
   */
  async fork(
    executionId: string,
    options: RunOptions & { fromStep: number },
  ): Promise<ExecutionReport> {
    return await (await this.startFork(executionId, options)).done;
  }

  /**
   * Like {@linkcode Orchestrator.fork}, returning at once.
   *
   * @param executionId The execution to fork.
   * @param options `fromStep` and run options.
   * @returns The new id and a promise of the report.
   * @throws {RangeError} When `fromStep` is not a completed step.
   * @throws {TypeError} When the new id is invalid or taken (nothing is written then).
   * @throws {ExecutionNotFoundError} When there is no such execution.
   */
  async startFork(
    executionId: string,
    options: RunOptions & { fromStep: number },
  ): Promise<StartedExecution> {
    this.#assertOpen();
    const forked = await this.#starter.fork(executionId, options);
    return await this.startResume(forked, options);
  }

  /**
   * Lists executions on this orchestrator's event store (every process on
   * the same stores), newest first, a page at a time: those still running or
   * waiting (`status: ["QUEUED", "RUNNING", "NEEDS_DECISION"]`), those
   * waiting for an approval (`waitingFor: "approval"`), one agent's… Entries
   * leave the listing with their log's retention.
   *
   * @example
   * ```ts ignore
   * let cursor: string | undefined;
   * do {
   *   const page = await orchestrator.listExecutions({ status: ["RUNNING", "NEEDS_DECISION"], cursor });
   *   for (const e of page.executions) console.log(e.executionId, e.status, e.waitingFor ?? "");
   *   cursor = page.nextCursor;
   * } while (cursor);
   * ```
   *
   * @param filter Status, agent, waitingFor, creation time range, cursor and page size (≤ 500).
   * @returns A page of executions and, unless it is the last, `nextCursor`.
   * @throws {TypeError} When a status or waitingFor value is unknown, or the cursor is not one.
   * @throws {RangeError} When `limit` or a time bound is out of range.
   * @throws {StoreUnavailableError} When the store stays unreachable.
   */
  listExecutions(filter: ExecutionListFilter = {}): Promise<ExecutionList> {
    return listExecutions(this.eventStore, filter);
  }

  /**
   * Cancels an execution running in this process.
   *
   * @param executionId The execution.
   * @param reason Recorded with the cancellation.
   * @returns `true` if it was running here.
   */
  cancel(executionId: string, reason?: string): boolean {
    const run = this.#runs.get(executionId);
    if (!run) return false;
    run.cancel(reason);
    return true;
  }

  /**
   * The execution hash: SHA-256 of the canonical specification (task, agent
   * name and version, policy limits, the tools the agent may use).
   *
   * @param agent The resolved agent.
   * @param task The task.
   * @param policy The policy.
   * @returns 64 hex characters.
   */
  async executionHash(agent: ResolvedAgent, task: unknown, policy: StrictPolicy): Promise<string> {
    return await this.#starter.hash(agent, { task, policy, dependencies: undefined });
  }

  /**
   * Runs a workflow (a DAG of tasks, each an execution) to the end. Each
   * task's agent gets the task's `input` as `ctx.task` and the outputs of
   * its dependencies as `ctx.dependencies`.
   *
   * @param spec Tasks, dependencies, concurrency and failure policy.
   * @returns The workflow report.
   * @throws {TypeError | RangeError} Naming an invalid field, a duplicate task,
   *   an unknown dependency, a cycle, or a taken id; nothing is written then.
   * @throws {UnknownAgentError} When a task names an unregistered agent.
   */
  async runWorkflow(spec: WorkflowSpec): Promise<WorkflowReport> {
    return await (await this.startWorkflow(spec)).done;
  }

  /**
   * Like {@linkcode Orchestrator.runWorkflow}, returning once the workflow
   * is validated and its start recorded.
   *
   * @param spec Tasks, dependencies, concurrency and failure policy.
   * @param options `admit`: waits for a place before each task starts and
   *   returns its release (a node's admission control: see `LocalBackend`).
   * @returns The workflow id and a promise of the report.
   * @throws {TypeError | RangeError} As for `runWorkflow`; nothing is written then.
   * @throws {UnknownAgentError} When a task names an unregistered agent.
   */
  async startWorkflow(
    spec: WorkflowSpec,
    options: { admit?: () => Promise<() => void> } = {},
  ): Promise<StartedWorkflow> {
    this.#assertOpen();
    return await this.#workflows.start(spec, options.admit);
  }

  /**
   * Continues a workflow whose process died: completed tasks are not run
   * again; tasks that were running are resumed. A workflow that already
   * finished is not run again: its recorded report is returned.
   *
   * @param workflowId The workflow.
   * @param options `admit`: waits for a place before a task's execution runs
   *   here and returns its release, as for {@linkcode Orchestrator.startWorkflow}
   *   (a task waiting for another runner's execution holds none).
   * @returns The workflow report.
   * @throws {ExecutionNotFoundError} When no such workflow was recorded.
   * @throws {TypeError} When the id is invalid or the workflow runs in this process.
   */
  async resumeWorkflow(
    workflowId: string,
    options: { admit?: () => Promise<() => void> } = {},
  ): Promise<WorkflowReport> {
    this.#assertOpen();
    return await this.#workflows.resume(workflowId, options.admit);
  }

  /**
   * Cancels a workflow: its running tasks are cancelled and its pending ones
   * never start; it ends `CANCELLED`. The request is recorded in the
   * workflow's log, so a workflow running in another process sharing the
   * stores is cancelled too (within a second), and one whose process died
   * ends cancelled when it is resumed.
   *
   * @param workflowId The workflow.
   * @param reason Recorded with the cancellation. @default {"cancelled on request"}
   * @returns `false` when there is no such workflow or it already finished.
   * @throws {TypeError} When the id is invalid.
   */
  async cancelWorkflow(workflowId: string, reason = "cancelled on request"): Promise<boolean> {
    return await this.#workflows.cancel(workflowId, reason);
  }

  /**
   * Cancels running executions, stops their agents and the actor system.
   * Stores passed in the options stay open: closing them is the caller's job.
   * Idempotent.
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    const workflows = this.#workflows.cancelAll("the orchestrator is shutting down");
    const runs = this.#runs.cancelAll("the orchestrator is shutting down");
    await Promise.allSettled([...runs, ...workflows]);
    if (this.#agentRuntime !== this.system) {
      await this.#agentRuntime.shutdown("orchestrator closed");
    }
    await this.system.shutdown("orchestrator closed");
    this.#ownership.close();
    this.#wakes.close();
  }

  /**
   * Closes the orchestrator, as {@linkcode Orchestrator.close} does: for
   * `await using orchestrator = new Orchestrator(…)`.
   *
   * @returns Resolves once it is closed.
   */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  /**
   * Resolves an agent registration (and its peers).
   *
   * @param name Registered agent name.
   * @returns The agent; its `version` is the registered one, else the one its
   *   module declares once an execution of it has read it, else `"0.0.0"`.
   * @throws {UnknownAgentError} When no agent has that name.
   * @throws {TypeError} When its peers form a cycle.
   */
  resolveAgent(name: string): ResolvedAgent {
    return this.#agents.resolve(name);
  }

  #assertOpen(): void {
    if (this.#closed) throw new TypeError("The orchestrator is closed");
  }
}
