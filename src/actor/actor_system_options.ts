/**
 * Options of an actor system: its name, where snapshots and events go, its
 * clock and tracer, and the timing of its workers — heartbeats, the watchdog
 * and the time a worker has to start, each checked with an error that names
 * it.
 *
 * @example
 * ```ts
 * import { resolveWorkerTiming } from "./actor_system_options.ts";
 * const t = resolveWorkerTiming({ heartbeatMs: 100 });
 * console.assert(t.heartbeatMs === 100 && t.heartbeatTimeoutMs === 5_000);
 * ```
 *
 * @module
 */
import type { Clock } from "../clock.ts";
import { showValue } from "../_show_value.ts";
import type { EventStore } from "../events/event_store.ts";
import type { Limits } from "../limits.ts";
import type { EventBus } from "../observability/event_bus.ts";
import type { PersistenceAdapter } from "../persistence/persistence_adapter.ts";
import type { Tracer } from "../tracing/tracer.ts";
import type { SupervisorOptions } from "./supervisor_options.ts";
import type { WorkerPoolOptions } from "./_worker_pool.ts";

/** Options of an {@linkcode ActorSystem}. */
export interface ActorSystemOptions {
  /** Name; also the scope of actor snapshots. @default {"oao"} */
  name?: string;
  /** Where snapshots go. @default {a new InMemoryPersistenceAdapter} */
  persistence?: PersistenceAdapter;
  /** Journal of runtime events. @default {none: events reach listeners only} */
  eventStore?: EventStore;
  /** Log id in the event store for events of actors outside any execution. @default {"system-<name>"} */
  systemLogId?: string;
  /** Event bus to publish on (share one with an orchestrator). @default {a new bus} */
  bus?: EventBus;
  /** Time source. @default {systemClock} */
  clock?: Clock;
  /** Tracer; actors record spans only when it is enabled. @default {disabled} */
  tracer?: Tracer;
  /** Options of the root supervisor of `spawn`ed actors. @default {one_for_one, 3 in 5 s} */
  root?: Omit<SupervisorOptions, "id">;
  /** Heartbeat period of workers, in ms. @default {250} */
  heartbeatMs?: number;
  /** A worker silent this long (while not busy) is considered dead, in ms. @default {5000} */
  heartbeatTimeoutMs?: number;
  /** How often time limits and heartbeats are checked, in ms. @default {50} */
  watchdogIntervalMs?: number;
  /** Time a worker has to load and restore, in ms. @default {30000} */
  spawnTimeoutMs?: number;
  /** Size limits on what workers send the host. @default {DEFAULT_LIMITS} */
  limits?: Partial<Limits>;
  /**
   * Bounds of the pooled workers that host actors spawned with
   * `isolation: "shared"`. @default {256 actors per worker, 4 workers per module, idle after 30 s}
   */
  pool?: WorkerPoolOptions;
  /** Log runtime events (a sandbox process leaves that to its orchestrator). @default {true} */
  logEvents?: boolean;
  /**
   * Called when a worker is terminated while it runs code without yielding:
   * Deno does not stop such a thread, so it keeps a core busy until the
   * process ends. A sandbox process reports it so that it is replaced.
   */
  onSpinningWorker?: (actor: string) => void;
}

/** The timing options of an actor system, defaults merged and checked. */
export interface WorkerTiming {
  /** Heartbeat period of workers, in ms. */
  heartbeatMs: number;
  /** A worker silent this long (while not busy) is considered dead, in ms. */
  heartbeatTimeoutMs: number;
  /** How often time limits and heartbeats are checked, in ms. */
  watchdogIntervalMs: number;
  /** Time a worker has to load and restore, in ms. */
  spawnTimeoutMs: number;
}

/**
 * Merges the defaults into the timing options of an actor system and checks
 * them: each is a positive number, and a worker's heartbeat timeout exceeds
 * its heartbeat period.
 *
 * @param options The actor system's options (only the timing fields are read).
 * @returns The timing, complete.
 * @throws {RangeError} Naming the field and the bad value.
 *
 * @example
 * ```ts
 * import { resolveWorkerTiming } from "./actor_system_options.ts";
 * try {
 *   resolveWorkerTiming({ heartbeatMs: 500, heartbeatTimeoutMs: 400 });
 * } catch (e) {
 *   console.assert(e instanceof RangeError && e.message.includes("heartbeatTimeoutMs"));
 * }
 * ```
 */
export function resolveWorkerTiming(options: ActorSystemOptions): WorkerTiming {
  const heartbeatMs = positive(options.heartbeatMs, 250, "heartbeatMs");
  const heartbeatTimeoutMs = positive(options.heartbeatTimeoutMs, 5_000, "heartbeatTimeoutMs");
  if (heartbeatTimeoutMs <= heartbeatMs) {
    throw new RangeError(
      `Invalid heartbeatTimeoutMs ${heartbeatTimeoutMs}: must exceed heartbeatMs (${heartbeatMs})`,
    );
  }
  const watchdogIntervalMs = positive(options.watchdogIntervalMs, 50, "watchdogIntervalMs");
  const spawnTimeoutMs = positive(options.spawnTimeoutMs, 30_000, "spawnTimeoutMs");
  return { heartbeatMs, heartbeatTimeoutMs, watchdogIntervalMs, spawnTimeoutMs };
}

function positive(value: number | undefined, fallback: number, field: string): number {
  const v = value ?? fallback;
  if (!Number.isFinite(v) || v <= 0) {
    throw new RangeError(`Invalid ${field} ${showValue(v)}: expected a positive number`);
  }
  return v;
}
