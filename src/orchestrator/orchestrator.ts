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
import { WakeBus } from "./_wake_bus.ts";
import { ActorSystem, resolveModule } from "../actor/actor_system.ts";
import {
  canStartSandbox,
  ProcessAgentSystem,
  type ProcessSandboxOptions,
} from "../sandbox/process_agent_system.ts";
import type { AgentRuntime } from "./agent_runtime.ts";
import type { WorkerPoolOptions } from "../actor/_worker_pool.ts";
import type { PermissionsSpec } from "../actor/permissions.ts";
import { normalizePermissions } from "../actor/permissions.ts";
import { type Clock, systemClock } from "../clock.ts";
import {
  ExecutionBusyError,
  ExecutionHashMismatchError,
  ExecutionNotFoundError,
  UnknownAgentError,
} from "../errors.ts";
import type { AppendOptions, EventStore, StoredEvent, Totals } from "../events/event_store.ts";
import { type Limits, resolveLimits } from "../limits.ts";
import { InMemoryEventStore } from "../events/in_memory_event_store.ts";
import { EventBus } from "../observability/event_bus.ts";
import { InMemoryPersistenceAdapter } from "../persistence/in_memory_persistence_adapter.ts";
import type { PersistenceAdapter } from "../persistence/persistence_adapter.ts";
import { newSpanId, parseTraceparent, type TraceContext } from "../tracing/trace_context.ts";
import { Tracer } from "../tracing/tracer.ts";
import { MODEL_SERVICE, TOOL_SERVICE, type ToolCallRequest, WAIT_SERVICE } from "./agent.ts";
import { validateWaitRequest } from "./_wait_boundary.ts";
import { sendSignal } from "./_signals.ts";
import { decideApproval } from "./_approvals.ts";
import type { ApprovalDecision, RecordedApproval } from "./approvals.ts";
import type { ModelOptions } from "./model_options.ts";
import { ModelHost } from "./_model_host.ts";
import type { TextDelta } from "./_text_deltas.ts";
import { validateModelServiceRequest } from "./_model_boundary.ts";
import { canonicalJson, sha256Hex } from "./canonical_json.ts";
import type { ExecutionReport } from "./execution_report.ts";
import { type ExecutionView, projectExecution } from "./execution_view.ts";
import { DEFAULT_POLICY, type PolicyLimits, StrictPolicy, toPolicy } from "./policy.ts";
import { resolveRetryPolicy, type RetryPolicy } from "./retry_policy.ts";
import { defineTool, type ToolDefinition } from "./tool.ts";
import { ExecutionRun, type ResolvedAgent, type RunHost } from "./_execution.ts";
import { assertJsonWithin, validateToolCallRequest } from "./_boundary.ts";
import type { StartedWorkflow, WorkflowReport, WorkflowSpec } from "./workflow.ts";
import {
  loadWorkflow,
  prepareWorkflow,
  requestWorkflowCancel,
  type WorkflowHost,
  WorkflowRun,
} from "./_workflow_run.ts";
import { assertDependencies, assertId } from "./_inputs.ts";
import { type Decision, decisionKey, matchPending, validateDecision } from "./_decisions.ts";
import { crashedSpans } from "./_crashed_spans.ts";
import { DEFAULT_CLAIM_TTL_MS, type ExecutionClaim, Ownership } from "./_ownership.ts";
import { assertAgentModuleExists, declaredAgentVersion } from "./_agent_module.ts";
import { indexEntry } from "./_index_entries.ts";
import { type ExecutionList, type ExecutionListFilter, listExecutions } from "./execution_list.ts";

/** An agent as registered: by name, with its module and the permissions it is granted. */
export interface AgentRegistration {
  /** Name jobs and API requests use. Letters, digits, `_`, `.`, `-`. */
  name: string;
  /**
   * The agent module: a `URL` (`new URL("./agent.ts", import.meta.url)`), a
   * URL string (`import.meta.resolve("./agent.ts")`), or a path, relative to
   * the working directory. A local module that does not exist is refused at
   * registration.
   */
  module: string | URL;
  /** Deno permissions of the agent's worker. @default {"none"} */
  permissions?: PermissionsSpec;
  /**
   * Version, part of the execution hash.
   * @default {the `version` of the module's `defineAgent({...})` (read from its bundle before its first execution), else "0.0.0"}
   */
  version?: string;
  /** Tools the agent may call. @default {every registered tool} */
  tools?: string[];
  /** Other registered agents started alongside it in each execution, reachable with `ctx.peer(name)`. @default {[]} */
  peers?: string[];
  /** What it does (shown by the command line and the API). */
  description?: string;
  /**
   * Where its executions run. `"pool"`: in warm workers shared by executions
   * of this agent (same module and permissions), each with its own context
   * and state; module-level globals are shared within a worker. `"execution"`:
   * a worker of its own for each execution (no sharing at all, ~10 MB and
   * ~25 ms to start each). @default {"pool"}
   */
  isolation?: AgentIsolation;
  /**
   * Executions of this agent a node runs at once (a `LocalBackend`'s
   * admission: more wait as `QUEUED`, behind the node's own limit).
   * @default {no limit of its own}
   */
  maxRunning?: number;
}

/** Where an agent's executions run: pooled workers, or a worker per execution. */
export type AgentIsolation = "pool" | "execution";

/** Options of an {@linkcode Orchestrator}. */
export interface OrchestratorOptions {
  /** Snapshots of agent and workflow state. @default {in memory} */
  persistence?: PersistenceAdapter;
  /** The audit log. @default {in memory} */
  eventStore?: EventStore;
  /** Default policy of executions. @default {new StrictPolicy()} */
  policy?: StrictPolicy | Partial<PolicyLimits>;
  /** Retry policy of failing steps. @default {3 attempts, 100 ms doubling to 5 s, ±20 %} */
  retry?: Partial<RetryPolicy>;
  /** Retention of execution logs in seconds. @default {the event store's (7 days)} */
  retentionSeconds?: number;
  /** Agents to register. */
  agents?: AgentRegistration[];
  /** Tools to register. */
  tools?: ToolDefinition<never, unknown>[];
  /** Time source. @default {systemClock} */
  clock?: Clock;
  /** Tracer. @default {disabled} */
  tracer?: Tracer;
  /** Event bus (the observability stream). @default {a new bus} */
  bus?: EventBus;
  /**
   * A step that waits on the host (a tool call) this long gives its worker
   * back: the execution is passivated, and activated again, its step run
   * again with its calls answered from the log, when the wait is over.
   * `Infinity` keeps every execution in its worker. Executions of agents
   * with peers are never passivated. @default {1000}
   */
  passivateAfterMs?: number;
  /**
   * How long a runner's claim on an execution holds without renewal (it is
   * renewed every third of it while the execution runs here). Another
   * process that resumes the execution is refused with `ExecutionBusyError`
   * until then, unless this process is seen to have died on the same machine.
   * @default {15000}
   */
  claimTtlMs?: number;
  /** Options of the actor system the agents run in. */
  actorSystem?: {
    heartbeatMs?: number;
    heartbeatTimeoutMs?: number;
    name?: string;
    /** Bounds of the pooled workers agents run in. */
    pool?: WorkerPoolOptions;
  };
  /**
   * Size limits on what agents send (step results, tool calls, errors) and on
   * recorded events; also given to the actor system.
   * @default {DEFAULT_LIMITS}
   */
  limits?: Partial<Limits>;
  /**
   * Where agent workers run: `"thread"`, in this process; `"process"`, in
   * sandbox processes (one per agent group), where code that never yields or
   * exhausts its heap costs that process and never this one (needs the
   * `run` permission); `"auto"`, a sandbox process when this process may start
   * one, else a thread. An object sets the sandbox processes' heap limit.
   * @default {"thread"}
   */
  sandbox?: SandboxMode | ({ mode: "process" | "auto" } & ProcessSandboxOptions);
  /**
   * How agents' model calls (`ctx.generateText`) are made: provider keys and
   * base URLs, prices, per-provider rate limits, attempts and time limits.
   * The model layer is loaded on the first model call.
   * @default {providers from their environment variables, the built-in prices, no rate limits}
   */
  models?: ModelOptions;
}

/** Where agent workers run; see {@linkcode OrchestratorOptions.sandbox}. */
export type SandboxMode = "thread" | "process" | "auto";

/** Options of {@linkcode Orchestrator.run} and {@linkcode Orchestrator.start}. */
export interface RunOptions {
  /** Execution id. @default {a new unique id} */
  executionId?: string;
  /** Policy limits overriding the orchestrator's. */
  policy?: Partial<PolicyLimits>;
  /**
   * Parent trace context (an API request's, a job's).
   * @default {the tracer's active context (the active OpenTelemetry span's, with `createTracingFromEnv`), else a new trace}
   */
  trace?: TraceContext;
  /** W3C `traceparent` of the parent, when `trace` is not given. */
  traceparent?: string;
  /**
   * Fencing token of a claim the caller holds on the execution (worker
   * nodes claim it before they run it): the orchestrator then takes no claim
   * of its own, and writes with an older token are rejected. Without it the
   * orchestrator claims the execution for the run, and refuses with
   * `ExecutionBusyError` when another runner holds it.
   */
  fencingToken?: number;
  /** Cancels the execution. */
  signal?: AbortSignal;
  /**
   * `resume` only: continue an execution that `FAILED` because of its
   * environment (its error is `retryable`: a missing permission, the store
   * unreachable, a worker that could not start) once the cause is fixed.
   * Recorded as EXECUTION_RETRIED. @default {false}
   */
  retry?: boolean;
  /**
   * Outputs of the tasks this execution depends on, by name, given to the
   * agent as `ctx.dependencies` (workflows set it for their tasks). JSON;
   * part of the execution hash. @default {{}}
   */
  dependencies?: Record<string, unknown>;
}

/** An execution started in the background. */
export interface StartedExecution {
  /** Its id. */
  executionId: string;
  /** Settles with the report. */
  done: Promise<ExecutionReport>;
}

/** The result of {@linkcode Orchestrator.replay}: everything, rebuilt from events only. */
export interface ReplayResult {
  /** The rebuilt execution. */
  view: ExecutionView;
  /** The events, in order. */
  timeline: StoredEvent[];
}

const NAME = /^[A-Za-z0-9_.-]+$/;

// Measured (bench/density_bench.ts): passivating and activating again costs
// about a millisecond of host time; a second of waiting is long enough that
// model calls and quick tools keep their worker, and short enough that
// executions waiting on slow tools, people or timers hold none.
const DEFAULT_PASSIVATE_AFTER_MS = 1_000;

// The sandbox processes' options, or undefined for threads in this process.
function resolveSandbox(
  option: OrchestratorOptions["sandbox"],
): ProcessSandboxOptions | undefined {
  const { mode, ...rest } = typeof option === "object" && option !== null
    ? option
    : { mode: option ?? "thread" };
  if (mode !== "thread" && mode !== "process" && mode !== "auto") {
    throw new TypeError(
      `Invalid sandbox ${JSON.stringify(mode)}: expected "thread", "process" or "auto"`,
    );
  }
  if (mode === "thread") return undefined;
  const possible = canStartSandbox();
  if (possible === true) return rest;
  if (mode === "process") {
    throw new TypeError(`Cannot run agents in sandbox processes: ${possible}`);
  }
  return undefined;
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
  readonly #tracer: Tracer;
  readonly #policy: StrictPolicy;
  readonly #retry: RetryPolicy;
  readonly #retention: number | undefined;
  readonly #limits: Limits;
  readonly #passivateAfterMs: number;
  readonly #wakes: WakeBus;
  readonly #models: ModelHost;
  readonly #agents = new Map<string, AgentRegistration>();
  // Versions the agent modules declare (`defineAgent({ version })`), by module
  // and import grant (one bundle each), for agents registered without one.
  readonly #declared = new Map<string, string>();
  readonly #declaring = new Map<string, Promise<void>>();
  readonly #tools = new Map<string, ToolDefinition<unknown, unknown>>();
  readonly #runs = new Map<string, ExecutionRun>();
  readonly #settled = new Map<string, Promise<unknown>>();
  readonly #workflows = new Map<string, { run: WorkflowRun; done: Promise<unknown> }>();
  readonly #log = getLogger(["oao", "orchestrator"]);
  readonly #ownership: Ownership;
  #closed = false;

  /**
   * @param options Stores, default policy, retries, agents and tools.
   * @throws {TypeError | RangeError} Naming an invalid option.
   */
  constructor(options: OrchestratorOptions = {}) {
    this.#clock = options.clock ?? systemClock;
    this.#tracer = options.tracer ?? new Tracer();
    this.persistence = options.persistence ??
      new InMemoryPersistenceAdapter({ clock: this.#clock });
    this.eventStore = options.eventStore ?? new InMemoryEventStore({ clock: this.#clock });
    this.events = options.bus ?? new EventBus();
    this.#policy = toPolicy(options.policy);
    this.#retry = resolveRetryPolicy(options.retry);
    this.#limits = resolveLimits(options.limits);
    if (options.retentionSeconds !== undefined && !(options.retentionSeconds > 0)) {
      throw new RangeError(
        `Invalid retentionSeconds ${
          JSON.stringify(options.retentionSeconds)
        }: expected a positive number`,
      );
    }
    this.#retention = options.retentionSeconds;
    const passivateAfterMs = options.passivateAfterMs ?? DEFAULT_PASSIVATE_AFTER_MS;
    if (typeof passivateAfterMs !== "number" || !(passivateAfterMs >= 0)) {
      throw new RangeError(
        `Invalid passivateAfterMs ${
          JSON.stringify(passivateAfterMs)
        }: expected a number of ms >= 0 (or Infinity)`,
      );
    }
    this.#passivateAfterMs = passivateAfterMs;
    this.#wakes = new WakeBus(this.eventStore, this.#log);
    this.#models = new ModelHost(options.models, this.#clock);
    const claimTtlMs = options.claimTtlMs ?? DEFAULT_CLAIM_TTL_MS;
    if (!Number.isInteger(claimTtlMs) || claimTtlMs < 3 || claimTtlMs > 2 ** 31 - 1) {
      throw new RangeError(
        `Invalid claimTtlMs ${JSON.stringify(claimTtlMs)}: expected an integer from 3 to ${
          2 ** 31 - 1
        } ms`,
      );
    }
    this.#ownership = new Ownership(this.eventStore, {
      clock: this.#clock,
      log: this.#log,
      ttlMs: claimTtlMs,
    });
    this.system = new ActorSystem({
      name: options.actorSystem?.name ?? "oao",
      persistence: this.persistence,
      eventStore: this.eventStore,
      bus: this.events,
      clock: this.#clock,
      tracer: this.#tracer,
      limits: this.#limits,
      ...(options.actorSystem?.heartbeatMs ? { heartbeatMs: options.actorSystem.heartbeatMs } : {}),
      ...(options.actorSystem?.heartbeatTimeoutMs
        ? { heartbeatTimeoutMs: options.actorSystem.heartbeatTimeoutMs }
        : {}),
      ...(options.actorSystem?.pool ? { pool: options.actorSystem.pool } : {}),
    });
    const sandbox = resolveSandbox(options.sandbox);
    this.sandbox = sandbox ? "process" : "thread";
    this.#agentRuntime = sandbox
      ? new ProcessAgentSystem({
        ...sandbox,
        bus: this.events,
        tracer: this.#tracer,
        limits: { ...this.#limits },
        ...(options.actorSystem?.heartbeatMs
          ? { heartbeatMs: options.actorSystem.heartbeatMs }
          : {}),
        ...(options.actorSystem?.heartbeatTimeoutMs
          ? { heartbeatTimeoutMs: options.actorSystem.heartbeatTimeoutMs }
          : {}),
      })
      : this.system;
    this.#agentRuntime.registerService(
      TOOL_SERVICE,
      (payload, caller) => this.#onToolCall(payload, caller),
    );
    this.#agentRuntime.registerService(
      MODEL_SERVICE,
      (payload, caller) => this.#onModelCall(payload, caller),
    );
    this.#agentRuntime.registerService(
      WAIT_SERVICE,
      (payload, caller) => this.#onWait(payload, caller),
    );
    this.events.subscribe((event) => {
      if (event.executionId) this.#runs.get(event.executionId)?.onRuntimeEvent(event);
    });
    for (const tool of options.tools ?? []) this.registerTool(tool);
    for (const agent of options.agents ?? []) this.registerAgent(agent);
  }

  /** Registered agents. */
  get agents(): AgentRegistration[] {
    return [...this.#agents.values()];
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
    return [...this.#runs.keys()];
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
    if (typeof registration !== "object" || registration === null) {
      throw new TypeError(
        `Invalid agent registration ${JSON.stringify(registration)}: expected an object`,
      );
    }
    if (typeof registration.name !== "string" || !NAME.test(registration.name)) {
      throw new TypeError(
        `Invalid agent name ${
          JSON.stringify(registration.name)
        }: expected letters, digits, "_", "." or "-"`,
      );
    }
    if (this.#agents.has(registration.name)) {
      throw new TypeError(`An agent named "${registration.name}" is already registered`);
    }
    const module = resolveModule(registration.module);
    normalizePermissions(registration.permissions, `permissions of agent "${registration.name}"`);
    const isolation = registration.isolation;
    if (isolation !== undefined && isolation !== "pool" && isolation !== "execution") {
      throw new TypeError(
        `Invalid isolation ${JSON.stringify(isolation)} of agent "${registration.name}": ` +
          `expected "pool" or "execution"`,
      );
    }
    const { maxRunning } = registration;
    if (maxRunning !== undefined && (!Number.isInteger(maxRunning) || maxRunning < 1)) {
      throw new RangeError(
        `Invalid maxRunning ${JSON.stringify(maxRunning)} of agent "${registration.name}": ` +
          `expected an integer >= 1`,
      );
    }
    if (registration.version !== undefined && typeof registration.version !== "string") {
      const version = JSON.stringify(registration.version);
      throw new TypeError(
        `Invalid version ${version} of agent "${registration.name}": expected a string`,
      );
    }
    assertAgentModuleExists(registration.name, registration.module, module);
    this.#agents.set(registration.name, { ...registration });
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
   * @throws {TypeError} When the task is not JSON or the execution id is taken.
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
   * @throws {TypeError} When the task or the dependencies are not JSON, or
   *   the execution id is invalid (1–200 letters, digits, `_`, `.`, `-`) or taken.
   */
  async start(agent: string, task: unknown, options: RunOptions = {}): Promise<StartedExecution> {
    this.#assertOpen();
    this.#resolveAgent(agent);
    canonicalJson(task ?? null);
    assertJsonWithin(task ?? null, "The task", this.#limits.maxValueBytes);
    const { dependencies } = options;
    if (dependencies !== undefined) assertDependencies(dependencies, this.#limits.maxValueBytes);
    const executionId = assertId(options.executionId ?? newExecutionId(), "executionId");
    if (this.#runs.has(executionId)) {
      throw new TypeError(`Execution "${executionId}" already exists`);
    }
    const claim = await this.#claim(executionId, options);
    try {
      if (await this.#started(executionId)) {
        throw new TypeError(`Execution "${executionId}" already exists`);
      }
      const policy = options.policy ? this.#policy.with(options.policy) : this.#policy;
      const resolved = await this.#resolveAgentVersioned(agent);
      const hash = await this.#hash(resolved, task, policy, dependencies);
      const run = new ExecutionRun(this.#runHost(), {
        executionId,
        agent: resolved,
        task,
        ...(dependencies ? { dependencies } : {}),
        policy,
        hash,
        ...this.#runExtras(options, claim),
      });
      return { executionId, done: this.#track(run, claim) };
    } catch (error) {
      await claim?.release();
      throw error;
    }
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
    if (this.#runs.has(executionId)) {
      throw new ExecutionBusyError(executionId, "this process", 0);
    }
    const claim = await this.#claim(executionId, options);
    try {
      let events = await this.eventStore.readRange(executionId);
      let view = projectExecution(executionId, events);
      if (options.retry && view.status === "FAILED" && view.error?.retryable) {
        await this.eventStore.appendEvent(executionId, {
          type: "EXECUTION_RETRIED",
          data: { error: view.error },
        }, {
          ...this.#appendOptions(claim?.token ?? options.fencingToken),
          index: indexEntry("EXECUTION_RETRIED", { agent: view.agent, createdAt: view.startedAt })!,
        });
        events = await this.eventStore.readRange(executionId);
        view = projectExecution(executionId, events);
      }
      if (view.status !== "RUNNING") {
        await claim?.release();
        return { executionId, done: Promise.resolve(reportFromView(view)) };
      }
      if (parseTraceparent(view.traceparent)?.sampled) {
        this.#tracer.exportFinished(crashedSpans(events, view.agent));
      }
      const resolved = await this.#resolveAgentVersioned(view.agent);
      const policy = new StrictPolicy({ ...recordedLimits(view.policy), ...options.policy });
      const hash = await this.#hash(resolved, view.task, policy, view.dependencies);
      if (hash !== view.hash) throw new ExecutionHashMismatchError(executionId, view.hash, hash);
      const run = new ExecutionRun(this.#runHost(), {
        executionId,
        agent: resolved,
        task: view.task,
        ...(view.dependencies ? { dependencies: view.dependencies } : {}),
        policy,
        hash,
        view,
        ...this.#runExtras(options, claim),
      });
      return { executionId, done: this.#track(run, claim) };
    } catch (error) {
      await claim?.release();
      throw error;
    }
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
    const checked = validateDecision(decision, this.#limits.maxValueBytes);
    const claim = await this.#ownership.acquire(executionId);
    try {
      const view = projectExecution(executionId, await this.eventStore.readRange(executionId));
      const pending = matchPending(executionId, view.decision, callId);
      const by = (options.by ?? "an operator").slice(0, 200);
      await this.eventStore.appendEvent(executionId, {
        type: "DECISION_RECORDED",
        step: pending.step,
        key: decisionKey(pending.callId),
        data: { tool: pending.tool, key: pending.callId, ...checked, by },
      }, {
        ...this.#appendOptions(claim.token),
        index: indexEntry("DECISION_RECORDED", { agent: view.agent, createdAt: view.startedAt })!,
      });
      this.#log.warn("Decision on call {callId} of execution {executionId}: {decision} by {by}", {
        executionId,
        callId: pending.callId.slice(0, 12),
        decision: checked.decision,
        by,
      });
    } finally {
      await claim.release();
    }
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
   * @throws {ExecutionFinishedError} When it already finished.
   * @throws {TypeError} When the name or the payload is invalid.
   * @throws {ValueTooLargeError} When the payload is over 64 KiB.
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
    assertId(executionId, "executionId");
    const newId = assertId(options.executionId ?? newExecutionId(), "executionId of the fork");
    const events = await this.eventStore.readRange(executionId);
    const source = projectExecution(executionId, events);
    const { fromStep } = options;
    if (!source.completed.has(fromStep)) {
      throw new RangeError(
        `Cannot fork "${executionId}" from step ${
          JSON.stringify(fromStep)
        }: it is not a completed step (completed: ${
          [...source.completed.keys()].join(", ") || "none"
        })`,
      );
    }
    const resolved = await this.#resolveAgentVersioned(source.agent);
    const policy = new StrictPolicy({ ...recordedLimits(source.policy), ...options.policy });
    const hash = await this.#hash(resolved, source.task, policy, source.dependencies);
    if (this.#runs.has(newId) || (await this.eventStore.count(newId)) > 0) {
      throw new TypeError(`Execution "${newId}" already exists`);
    }
    const cut = events.findIndex((e) => e.type === "STEP_COMPLETED" && e.step === fromStep);
    const retention = this.#retention === undefined ? {} : { expire: this.#retention };
    for (const event of events.slice(0, cut + 1)) {
      if (event.type === "EXECUTION_RESUMED") continue;
      const { executionId: _id, seq: _seq, id: _eventId, ...input } = event;
      if (event.type === "EXECUTION_STARTED") {
        const { traceparent: _trace, ...data } = event.data ?? {};
        input.data = {
          ...data,
          hash,
          policy: policy.limits,
          forkedFrom: { executionId, step: fromStep },
        };
      }
      await this.eventStore.appendEvent(newId, input, retention);
    }
    return await this.startResume(newId, options);
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
    return await this.#hash(agent, task, policy, undefined);
  }

  // The execution hash; the dependencies of a workflow task are part of it
  // (left out when there are none, so other executions keep their hash).
  async #hash(
    agent: ResolvedAgent,
    task: unknown,
    policy: StrictPolicy,
    dependencies: Record<string, unknown> | undefined,
  ): Promise<string> {
    const tools = (agent.tools ?? [...this.#tools.keys()]).slice().sort();
    return await sha256Hex(canonicalJson({
      ...(dependencies ? { dependencies } : {}),
      task: task ?? null,
      agent: {
        name: agent.name,
        version: agent.version,
        peers: agent.peers.map((p) => `${p.name}@${p.version}`),
      },
      policy: hashedLimits(policy.limits),
      tools,
    }));
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
    const run = await prepareWorkflow(this.#workflowHost(options.admit), spec);
    return { workflowId: run.workflowId, done: this.#trackWorkflow(run) };
  }

  /**
   * Continues a workflow whose process died: completed tasks are not run
   * again; tasks that were running are resumed. A workflow that already
   * finished is not run again: its recorded report is returned.
   *
   * @param workflowId The workflow.
   * @returns The workflow report.
   * @throws {ExecutionNotFoundError} When no such workflow was recorded.
   * @throws {TypeError} When the id is invalid or the workflow runs in this process.
   */
  async resumeWorkflow(workflowId: string): Promise<WorkflowReport> {
    this.#assertOpen();
    if (this.#workflows.has(workflowId)) {
      throw new TypeError(`Workflow "${workflowId}" is already running in this process`);
    }
    const loaded = await loadWorkflow(this.#workflowHost(), workflowId);
    return loaded instanceof WorkflowRun ? await this.#trackWorkflow(loaded) : loaded;
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
    const requested = await requestWorkflowCancel(this.eventStore, workflowId, {
      reason,
      time: this.#clock.now(),
      ...(this.#retention === undefined ? {} : { append: { expire: this.#retention } }),
    });
    if (requested) this.#workflows.get(workflowId)?.run.cancel(reason);
    return requested;
  }

  #trackWorkflow(run: WorkflowRun): Promise<WorkflowReport> {
    const done = run.run().finally(() => this.#workflows.delete(run.workflowId));
    this.#workflows.set(run.workflowId, { run, done: done.catch(() => {}) });
    return done;
  }

  #workflowHost(admit?: () => Promise<() => void>): WorkflowHost {
    // Each task holds a place from before its start to its end.
    const admitted = async (start: () => Promise<StartedExecution>) => {
      const release = admit ? await admit() : () => {};
      try {
        const started = await start();
        started.done.then(release, release);
        return started;
      } catch (error) {
        release();
        throw error;
      }
    };
    return {
      persistence: this.persistence,
      eventStore: this.eventStore,
      clock: this.#clock,
      retentionSeconds: this.#retention,
      checkTask: (task) => {
        this.#resolveAgent(task.agent);
        if (task.policy) this.#policy.with(task.policy);
        const { maxValueBytes } = this.#limits;
        assertJsonWithin(task.input ?? null, `The input of task "${task.name}"`, maxValueBytes);
      },
      start: (agent, task, options) => admitted(() => this.start(agent, task, options)),
      resume: (executionId) => admitted(() => this.startResume(executionId)),
      exists: async (executionId) => (await this.eventStore.count(executionId)) > 0,
      cancel: (executionId, reason) => void this.cancel(executionId, reason),
    };
  }

  /**
   * Cancels running executions, stops their agents and the actor system.
   * Stores passed in the options stay open: closing them is the caller's job.
   * Idempotent.
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    const workflows = [...this.#workflows.values()];
    for (const { run } of workflows) run.cancel("the orchestrator is shutting down");
    for (const run of this.#runs.values()) run.cancel("the orchestrator is shutting down");
    await Promise.allSettled([...this.#settled.values(), ...workflows.map((w) => w.done)]);
    if (this.#agentRuntime !== this.system) {
      await this.#agentRuntime.shutdown("orchestrator closed");
    }
    await this.system.shutdown("orchestrator closed");
    this.#ownership.close();
    this.#wakes.close();
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
    return this.#resolveAgent(name);
  }

  // The agent resolved with the versions its modules declare, for the agents
  // (and peers) registered without one. A module that cannot be bundled keeps
  // "0.0.0" here: its spawn fails the execution with the reason.
  async #resolveAgentVersioned(name: string): Promise<ResolvedAgent> {
    const resolved = this.#resolveAgent(name);
    const pending: Promise<void>[] = [];
    const visit = (agent: ResolvedAgent) => {
      if (this.#agents.get(agent.name)?.version === undefined) pending.push(this.#declare(agent));
      agent.peers.forEach(visit);
    };
    visit(resolved);
    if (pending.length === 0) return resolved;
    await Promise.all(pending);
    return this.#resolveAgent(name);
  }

  #declare(agent: ResolvedAgent): Promise<void> {
    const importHosts = normalizePermissions(agent.permissions, "permissions").import;
    const key = JSON.stringify([agent.module, importHosts]);
    if (this.#declared.has(key)) return Promise.resolve();
    let declaring = this.#declaring.get(key);
    if (!declaring) {
      declaring = declaredAgentVersion(agent.module, importHosts).then((version) => {
        this.#declared.set(key, version ?? "0.0.0");
        this.#declaring.delete(key);
      }, (error) => {
        this.#declaring.delete(key); // tried again by the next execution
        this.#log.debug("Cannot read the version of agent module {module}: {error}", {
          module: agent.module,
          error,
        });
      });
      this.#declaring.set(key, declaring);
    }
    return declaring;
  }

  #resolveAgent(name: string, seen = new Set<string>()): ResolvedAgent {
    const registration = this.#agents.get(name);
    if (!registration) throw new UnknownAgentError(name, [...this.#agents.keys()]);
    seen.add(name);
    const peers = (registration.peers ?? []).map((peer) => {
      if (seen.has(peer)) {
        throw new TypeError(`Agent "${name}" lists "${peer}" as a peer twice or in a cycle`);
      }
      return this.#resolveAgent(peer, new Set(seen));
    });
    const module = resolveModule(registration.module);
    const declared = registration.version === undefined
      ? this.#declared.get(JSON.stringify([
        module,
        normalizePermissions(registration.permissions, "permissions").import,
      ]))
      : undefined;
    return {
      name,
      module,
      version: registration.version ?? declared ?? "0.0.0",
      permissions: registration.permissions ?? "none",
      isolation: registration.isolation ?? "pool",
      tools: registration.tools,
      peers,
    };
  }

  // Whether an execution's log holds EXECUTION_STARTED. A queued execution's
  // log may hold what the API node and earlier deliveries wrote before it
  // started (EXECUTION_QUEUED, CANCEL_REQUESTED, RETRY_ATTEMPTED).
  async #started(executionId: string): Promise<boolean> {
    if ((await this.eventStore.count(executionId)) === 0) return false;
    const events = await this.eventStore.readRange(executionId);
    return events.some((e) => e.type === "EXECUTION_STARTED");
  }

  #appendOptions(token: number | undefined): AppendOptions {
    const options: AppendOptions = {};
    if (token !== undefined) options.fencingToken = token;
    if (this.#retention !== undefined) options.expire = this.#retention;
    return options;
  }

  // The run's own claim, unless the caller holds one (a fencing token).
  async #claim(executionId: string, options: RunOptions): Promise<ExecutionClaim | undefined> {
    if (options.fencingToken !== undefined) {
      await this.eventStore.fence(executionId, options.fencingToken);
      return undefined;
    }
    return await this.#ownership.acquire(executionId);
  }

  #runExtras(options: RunOptions, claim: ExecutionClaim | undefined) {
    const extras: { fencingToken?: number; parentTrace?: TraceContext; signal?: AbortSignal } = {};
    const token = claim?.token ?? options.fencingToken;
    if (token !== undefined) extras.fencingToken = token;
    const trace = options.trace ?? parseTraceparent(options.traceparent) ??
      this.#tracer.activeContext();
    if (trace) extras.parentTrace = trace;
    const signals = [options.signal, claim?.lost].filter((s) => s !== undefined);
    if (signals.length) {
      extras.signal = signals.length === 1 ? signals[0]! : AbortSignal.any(signals);
    }
    return extras;
  }

  #track(run: ExecutionRun, claim: ExecutionClaim | undefined): Promise<ExecutionReport> {
    this.#runs.set(run.executionId, run);
    const done = run.run().then((report) => withCost(report, run.totals)).finally(async () => {
      this.#runs.delete(run.executionId);
      this.#settled.delete(run.executionId);
      await claim?.release();
    });
    this.#settled.set(run.executionId, done.catch(() => {}));
    return done;
  }

  #runHost(): RunHost {
    return {
      system: this.#agentRuntime,
      eventStore: this.eventStore,
      persistence: this.persistence,
      clock: this.#clock,
      tracer: this.#tracer,
      bus: this.events,
      retry: this.#retry,
      retentionSeconds: this.#retention,
      log: this.#log,
      limits: this.#limits,
      passivateAfterMs: this.#passivateAfterMs,
      models: this.#models,
      wakes: this.#wakes,
      tool: (name) => this.#tools.get(name),
      toolNames: () => [...this.#tools.keys()],
    };
  }

  // A tool call from an agent's worker: untrusted, so checked field by field
  // before anything (totals included) is touched.
  async #onToolCall(
    payload: unknown,
    caller: { path: string; executionId: string | undefined },
  ): Promise<unknown> {
    const request: ToolCallRequest = validateToolCallRequest(payload, this.#limits);
    if (request.executionId !== caller.executionId) {
      throw new TypeError(
        `Tool call refused: "${caller.path}" is not an agent of execution "${request.executionId}"`,
      );
    }
    const run = this.#runs.get(request.executionId);
    if (!run) throw new ExecutionNotFoundError(request.executionId);
    return await run.toolCall(request);
  }

  // A model call from an agent's worker: untrusted, so checked field by field
  // (and its request bounded) before anything is touched.
  async #onModelCall(
    payload: unknown,
    caller: { path: string; executionId: string | undefined },
  ): Promise<unknown> {
    const call = validateModelServiceRequest(payload, this.#limits);
    if (call.executionId !== caller.executionId) {
      throw new TypeError(
        `Model call refused: "${caller.path}" is not an agent of execution "${call.executionId}"`,
      );
    }
    const run = this.#runs.get(call.executionId);
    if (!run) throw new ExecutionNotFoundError(call.executionId);
    return await run.modelCall(call);
  }

  // A wait from an agent's worker: untrusted, checked before anything is recorded.
  async #onWait(
    payload: unknown,
    caller: { path: string; executionId: string | undefined },
  ): Promise<unknown> {
    const request = validateWaitRequest(payload, this.#clock.now());
    if (request.executionId !== caller.executionId) {
      throw new TypeError(
        `Wait refused: "${caller.path}" is not an agent of execution "${request.executionId}"`,
      );
    }
    const run = this.#runs.get(request.executionId);
    if (!run) throw new ExecutionNotFoundError(request.executionId);
    return await run.wait(request);
  }

  #assertOpen(): void {
    if (this.#closed) throw new TypeError("The orchestrator is closed");
  }
}

/**
 * A new execution id: time-ordered and unique.
 *
 * @returns `exec-<base36 time>-<random>`.
 */
export function newExecutionId(): string {
  return `exec-${Date.now().toString(36)}-${newSpanId().slice(0, 10)}`;
}

/**
 * The report of a finished execution, from its view.
 *
 * @param view The execution's view.
 * @returns The report.
 */
export function reportFromView(view: ExecutionView): ExecutionReport {
  const report: ExecutionReport = {
    executionId: view.executionId,
    agent: view.agent,
    status: view.status,
    totalSteps: view.totals.steps,
    tokens: view.totals.tokens,
    toolCalls: view.totals.toolCalls,
    durationMs: view.activeMs,
    stateHistory: view.history,
    output: view.output,
    executionHash: view.hash,
    startedAt: view.startedAt,
    finishedAt: view.finishedAt ?? view.lastEventAt,
  };
  if (view.totals.costUsd !== undefined) report.costUsd = view.totals.costUsd;
  if (view.error) report.error = view.error;
  if (view.decision) report.decision = view.decision;
  const trace = parseTraceparent(view.traceparent);
  if (trace) report.traceId = trace.traceId;
  return report;
}

// The policy limits as they enter the execution hash. `stepTimeoutMs` and
// `maxCostUsd` at their defaults are left out, so that executions started
// before they existed keep their hash (and can be resumed); `Infinity` is
// written as a string (JSON has no such number).
function hashedLimits(limits: Readonly<PolicyLimits>): Record<string, unknown> {
  const hashed: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(limits)) {
    if (key === "stepTimeoutMs" && value === DEFAULT_POLICY.stepTimeoutMs) continue;
    if (key === "maxCostUsd" && value === DEFAULT_POLICY.maxCostUsd) continue;
    // Approvals (newer than the rest) at their defaults are left out too.
    if (key === "requireApproval") {
      if ((value as readonly string[]).length > 0) hashed[key] = value;
      continue;
    }
    if (key === "approvalTimeoutMs" && value === DEFAULT_POLICY.approvalTimeoutMs) continue;
    hashed[key] = Number.isFinite(value) ? value : String(value);
  }
  return hashed;
}

// The report with the cost of the execution's model calls, once one was made.
function withCost(report: ExecutionReport, totals: Totals): ExecutionReport {
  return totals.costUsd === undefined ? report : { ...report, costUsd: totals.costUsd };
}

// Policy limits as recorded in EXECUTION_STARTED: JSON wrote `Infinity` as null.
function recordedLimits(recorded: Partial<PolicyLimits>): Partial<PolicyLimits> {
  const limits: Partial<PolicyLimits> = {};
  for (const [key, value] of Object.entries(recorded ?? {})) {
    (limits as Record<string, unknown>)[key] = value === null ? Infinity : value;
  }
  return limits;
}
