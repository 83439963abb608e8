// The workers of one execution: its agent and the agent's peers, children of
// a supervisor of the execution's own. They are started when a step needs
// them (again after a passivation, or after an attempt that timed out),
// given back while a step waits on the host, and stopped when the run ends.
// What the actor system reports of them (restarts, failures) is added to the
// execution's spans. Internal: each ExecutionRun has one.
import type { ErrorInfo } from "../errors.ts";
import { truncateText } from "../limits.ts";
import type { OaoEvent } from "../observability/events.ts";
import type { AgentGroup } from "./agent_runtime.ts";
import type { StrictPolicy } from "./policy.ts";
import type { ResolvedAgent, RunHost } from "./_run_host.ts";

/**
 * The time limit of one step on the agents' workers: the policy's
 * stepTimeoutMs, or its timeoutMs when smaller.
 *
 * @param policy The execution's policy.
 * @returns Milliseconds.
 */
export function stepTimeoutMs(policy: StrictPolicy): number {
  const { timeoutMs, stepTimeoutMs } = policy.limits;
  return Math.min(timeoutMs, stepTimeoutMs);
}

/**
 * What the span current shows of an event of the actor system about one of
 * the execution's workers (a restart, a failure, a redelivery).
 *
 * @param event The actor system's event.
 * @param maxErrorChars Longest error message kept.
 * @returns Its scalar data as `oao.*` attributes, and its error's message.
 */
export function workerEventAttributes(
  event: OaoEvent,
  maxErrorChars: number,
): Record<string, string | number | boolean> {
  const attributes: Record<string, string | number | boolean> = {};
  for (const [k, v] of Object.entries(event.data)) {
    if (typeof v === "string" || typeof v === "number" || typeof v === "boolean") {
      attributes[`oao.${k}`] = v;
    }
  }
  const error = event.data.error as ErrorInfo | undefined;
  if (typeof error?.message === "string") {
    attributes["exception.message"] = truncateText(error.message, maxErrorChars);
  }
  return attributes;
}

/** What the workers need from their execution's run. */
export interface WorkersRun {
  readonly executionId: string;
  readonly host: RunHost;
  readonly agent: ResolvedAgent;
  readonly policy: StrictPolicy;
  throwIfFatal(): void;
}

export class RunWorkers {
  /** The agent's actor path. */
  readonly agentPath: string;
  readonly #run: WorkersRun;
  #supervisor: AgentGroup | undefined;
  #peers: Record<string, string> = {};

  constructor(run: WorkersRun) {
    this.#run = run;
    this.agentPath = `${run.executionId}/${run.agent.name}`;
  }

  /** The actor paths of the agent and its peers, by name, for the step message. */
  get peers(): Record<string, string> {
    return this.#peers;
  }

  /**
   * Starts the workers unless they run.
   *
   * @throws {Error} The execution is ending, or a worker cannot start.
   */
  async ensure(): Promise<void> {
    if (this.#supervisor?.status === "running") return;
    const run = this.#run;
    run.throwIfFatal();
    const agent = run.agent;
    const child = (a: ResolvedAgent) => ({
      id: a.name,
      module: a.module,
      permissions: a.permissions,
      // Agents of different definitions never share a worker (their tools and grants differ).
      ...(a.isolation === "execution"
        ? { isolation: "worker" as const }
        : { isolation: "shared" as const, pool: `${a.name}@${a.version}` }),
      snapshot: "never" as const,
      executionId: run.executionId,
      restart: "transient" as const,
      messageTimeoutMs: stepTimeoutMs(run.policy),
      maxDeliveries: 3,
    });
    if (this.#supervisor) {
      await run.host.system.unsupervise(this.#supervisor, "immediate").catch(() => {});
    }
    this.#supervisor = await run.host.system.supervise({
      id: run.executionId,
      strategy: "one_for_one",
      intensity: 5,
      periodMs: 10_000,
      backoff: { minMs: 10, maxMs: 1_000 },
      restart: "temporary",
      children: [child(agent), ...agent.peers.map(child)],
    });
    this.#peers = Object.fromEntries(
      agent.peers.map((p) => [p.name, `${run.executionId}/${p.name}`]),
    );
    this.#peers[agent.name] = this.agentPath;
  }

  /**
   * Stops the workers now without waiting for them; the next `ensure`
   * starts fresh ones.
   *
   * @param hidden The agent hid a busy loop from its watchdog: its code is
   * presumed still running, and its runtime discards it.
   */
  terminate(hidden = false): void {
    const sup = this.#supervisor;
    if (!sup) return;
    const system = this.#run.host.system;
    const stop = hidden && system.discard
      ? system.discard(sup, `agent "${this.agentPath}" hid a busy loop from its watchdog`)
      : system.unsupervise(sup, "immediate");
    void stop.catch(() => {});
  }

  /**
   * Stops the workers and waits for them; the next `ensure` starts fresh ones.
   *
   * @param mode `graceful`: idle actors hand their last spans to the host first.
   * @returns Resolves once they stopped; never rejects.
   */
  stop(mode: "graceful" | "immediate"): Promise<void> {
    const sup = this.#supervisor;
    this.#supervisor = undefined;
    return sup ? this.#run.host.system.unsupervise(sup, mode).catch(() => {}) : Promise.resolve();
  }
}
