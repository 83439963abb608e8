// Where an orchestrator's agent workers run (`OrchestratorOptions.sandbox`):
// in threads of this process, hosted by the orchestrator's actor system, or
// in sandbox processes (one per agent group), where code that never yields
// or exhausts its heap costs that process and never this one. Internal.
import { ActorSystem } from "../actor/actor_system.ts";
import type { Clock } from "../clock.ts";
import type { EventStore } from "../events/event_store.ts";
import type { Limits } from "../limits.ts";
import type { EventBus } from "../observability/event_bus.ts";
import type { PersistenceAdapter } from "../persistence/persistence_adapter.ts";
import {
  canStartSandbox,
  ProcessAgentSystem,
  type ProcessSandboxOptions,
} from "../sandbox/process_agent_system.ts";
import type { Tracer } from "../tracing/tracer.ts";
import type { AgentRuntime } from "./agent_runtime.ts";
import type { OrchestratorOptions } from "./orchestrator_options.ts";

/** What the actor system and the sandbox processes share with their orchestrator. */
export interface SharedParts {
  persistence: PersistenceAdapter;
  eventStore: EventStore;
  bus: EventBus;
  clock: Clock;
  tracer: Tracer;
  limits: Limits;
}

/** An orchestrator's actor system, and where its agents run. */
export interface AgentRuntimes {
  /** The actor system: runtime events, and the agents' workers in `"thread"` mode. */
  system: ActorSystem;
  /** The system itself, or the sandbox processes. */
  agents: AgentRuntime;
  /** Where agent workers run. */
  sandbox: "thread" | "process";
}

/**
 * Creates the actor system, and the sandbox processes' runtime when the
 * agents run there.
 *
 * @throws {TypeError | RangeError} Naming an invalid option of the actor
 *   system, an invalid sandbox mode, or why sandbox processes cannot start
 *   when `"process"` was asked for.
 */
export function createAgentRuntimes(
  options: Pick<OrchestratorOptions, "actorSystem" | "sandbox">,
  shared: SharedParts,
): AgentRuntimes {
  const { actorSystem } = options;
  const timing = {
    ...(actorSystem?.heartbeatMs !== undefined ? { heartbeatMs: actorSystem.heartbeatMs } : {}),
    ...(actorSystem?.heartbeatTimeoutMs !== undefined
      ? { heartbeatTimeoutMs: actorSystem.heartbeatTimeoutMs }
      : {}),
  };
  const pool = actorSystem?.pool;
  const system = new ActorSystem({
    name: actorSystem?.name ?? "oao",
    ...shared,
    ...timing,
    ...(pool !== undefined ? { pool } : {}),
  });
  const sandbox = resolveSandbox(options.sandbox);
  if (!sandbox) return { system, agents: system, sandbox: "thread" };
  const { bus, tracer, limits } = shared;
  const agents = new ProcessAgentSystem({
    ...sandbox,
    bus,
    tracer,
    limits: { ...limits },
    ...timing,
    ...(pool !== undefined ? { pool } : {}),
  });
  return { system, agents, sandbox: "process" };
}

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
