/**
 * Where an orchestrator runs its agents' workers: in its own process (an
 * {@linkcode ActorSystem}) or in sandbox processes (`ProcessAgentSystem`).
 * Both offer the few operations an execution needs.
 *
 * @module
 */
import type { AskOptions } from "../actor/actor_context.ts";
import type { HostSendOptions } from "../actor/actor_ref.ts";
import type { ServiceHandler } from "../actor/actor_system.ts";
import type { SupervisorSpec, SupervisorStatus } from "../actor/supervisor.ts";

/** A supervised group of agents (one execution's), as its runtime reports it. */
export interface AgentGroup {
  /** The supervisor's status: anything but `"running"` means the group must be started again. */
  readonly status: SupervisorStatus;
}

/** What an execution needs from the place its agents run. */
export interface AgentRuntime {
  /** Starts a supervisor with its children (an execution's agents). */
  supervise(spec: SupervisorSpec): Promise<AgentGroup>;
  /** Stops a group started with `supervise`. */
  unsupervise(group: AgentGroup, mode?: "graceful" | "immediate"): Promise<void>;
  /** Asks an agent actor (by path) and waits for its reply. */
  ask<T = unknown>(
    path: string,
    message: unknown,
    options?: AskOptions & HostSendOptions,
  ): Promise<T>;
  /**
   * Stops a group whose code may still be running past its time limit. A
   * runtime that can reclaim it (sandbox processes) does; otherwise this is
   * an immediate `unsupervise`.
   */
  discard?(group: AgentGroup, reason: string): Promise<void>;
  /** Runtime events of the execution's actors carry this fencing token (or none). */
  setFencingToken(executionId: string, token: number | undefined): void;
  /** Registers a host service that agents call with `ctx.call(name, payload)`. */
  registerService(name: string, handler: ServiceHandler): () => void;
  /** Stops every agent and releases the runtime. */
  shutdown(reason?: string): Promise<void>;
}
