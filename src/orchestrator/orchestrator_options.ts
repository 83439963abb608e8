/**
 * How an orchestrator is configured: its options and those of the agents it
 * registers, the options of each run, and what starting one returns; with
 * the checks of the orchestrator's own timing options, each with an error
 * that names the option.
 *
 * @example
 * ```ts
 * import { Orchestrator } from "./orchestrator.ts";
 * import type { OrchestratorOptions } from "./orchestrator_options.ts";
 * const options: OrchestratorOptions = { retentionSeconds: 3_600, passivateAfterMs: Infinity };
 * const orchestrator = new Orchestrator(options);
 * console.assert(orchestrator.sandbox === "thread");
 * await orchestrator.close();
 * ```
 *
 * @module
 */
import type { WorkerPoolOptions } from "../actor/_worker_pool.ts";
import type { PermissionsSpec } from "../actor/permissions.ts";
import type { Clock } from "../clock.ts";
import { showValue } from "../_show_value.ts";
import type { EventStore } from "../events/event_store.ts";
import type { Limits } from "../limits.ts";
import type { EventBus } from "../observability/event_bus.ts";
import type { PersistenceAdapter } from "../persistence/persistence_adapter.ts";
import type { ProcessSandboxOptions } from "../sandbox/process_agent_system.ts";
import type { TraceContext } from "../tracing/trace_context.ts";
import type { Tracer } from "../tracing/tracer.ts";
import type { ExecutionReport } from "./execution_report.ts";
import type { ModelOptions } from "./model_options.ts";
import type { PolicyLimits, StrictPolicy } from "./policy.ts";
import type { RetryPolicy } from "./retry_policy.ts";
import type { ToolDefinition } from "./tool.ts";
import { DEFAULT_CLAIM_TTL_MS } from "./_ownership.ts";

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
   * `Infinity` keeps every execution in its worker. An agent's peers are
   * passivated and activated with it. @default {1000}
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

// Measured (bench/density_bench.ts): passivating and activating again costs
// about a millisecond of host time; a second of waiting is long enough that
// model calls and quick tools keep their worker, and short enough that
// executions waiting on slow tools, people or timers hold none.
const DEFAULT_PASSIVATE_AFTER_MS = 1_000;

/**
 * Checks {@linkcode OrchestratorOptions.retentionSeconds}.
 *
 * @param retentionSeconds The option.
 * @returns It, unchanged.
 * @throws {RangeError} When it is given and not a positive number.
 */
export function checkRetentionSeconds(retentionSeconds: number | undefined): number | undefined {
  if (retentionSeconds !== undefined && !(retentionSeconds > 0)) {
    throw new RangeError(
      `Invalid retentionSeconds ${JSON.stringify(retentionSeconds)}: expected a positive number`,
    );
  }
  return retentionSeconds;
}

/**
 * Resolves {@linkcode OrchestratorOptions.passivateAfterMs}.
 *
 * @param passivateAfterMs The option.
 * @returns It, or its default.
 * @throws {RangeError} When it is not a number of ms >= 0.
 */
export function resolvePassivateAfterMs(passivateAfterMs: number | undefined): number {
  const resolved = passivateAfterMs ?? DEFAULT_PASSIVATE_AFTER_MS;
  if (typeof resolved !== "number" || !(resolved >= 0)) {
    throw new RangeError(
      `Invalid passivateAfterMs ${showValue(resolved)}: expected a number of ms >= 0 (or Infinity)`,
    );
  }
  return resolved;
}

/**
 * Resolves {@linkcode OrchestratorOptions.claimTtlMs}.
 *
 * @param claimTtlMs The option.
 * @returns It, or its default.
 * @throws {RangeError} When it is not an integer from 3 to 2³¹ - 1 ms.
 */
export function resolveClaimTtlMs(claimTtlMs: number | undefined): number {
  const resolved = claimTtlMs ?? DEFAULT_CLAIM_TTL_MS;
  if (!Number.isInteger(resolved) || resolved < 3 || resolved > 2 ** 31 - 1) {
    throw new RangeError(
      `Invalid claimTtlMs ${JSON.stringify(resolved)}: expected an integer from 3 to ${
        2 ** 31 - 1
      } ms`,
    );
  }
  return resolved;
}
