// A failed incarnation's worker, parked until the next incarnation is up.
//
// Ending a worker costs its thread a few milliseconds of teardown, and a
// `new Worker` made meanwhile starts ~3 ms slower (measured: 16.5 ms instead
// of 13.5 ms); a restart made just that. So a worker of its own whose actor
// threw, or that the host gave up (killed, snapshot lost), is parked instead:
// it blocks in `Atomics.wait` on its SAB_PARK word, in the very task in which
// its actor failed or, given up, at its next step (a frame, a control
// message, a message to handle, a send: it reads the word the host set
// before it posted `park`), so nothing of that incarnation runs again. The
// host ends it once the next incarnation is up and the teardown slows
// nothing, or after a second at most.
//
// The host trusts the word only as far as it must: a worker not seen waiting
// when the next incarnation starts is ended then; every end releases the
// park first (`terminate()` does not stop a thread blocked in
// `Atomics.wait`, and a worker that parks after its release ends at once).
// Internal.
import type { Clock, TimerId } from "../clock.ts";
import type { FailureReason } from "../observability/events.ts";
import {
  type HostToWorker,
  PARK_RELEASED,
  PARK_REQUESTED,
  PARK_WAITING,
  SAB_PARK,
} from "./_protocol.ts";
import type { GuestPort } from "./_worker_pool.ts";

/** Failures after which a worker of its own is parked rather than ended at once. */
export const PARKED_ON: ReadonlySet<FailureReason> = new Set<FailureReason>([
  "exception",
  "unhandled_rejection",
  "killed",
  "snapshot_failed",
]);

/** How long a parked worker is kept at most (a restart that waits out a backoff). */
export const PARK_MAX_MS = 1_000;

/** How long after the next incarnation is ready a parked worker is ended. */
export const PARK_AFTER_READY_MS = 50;

/**
 * Parked workers in this process at most: a parked worker holds its memory
 * (~10 MB) a moment longer, and a mass failure must not double the process's
 * memory while the actors restart. Beyond, failed workers are ended at once.
 */
export const MAX_PARKED = 16;

let parked = 0;

/**
 * Lets a worker that parks (or is parked) go: it ends itself; a worker that
 * has not parked yet will not.
 *
 * @param sab The worker's status words.
 */
export function releasePark(sab: Int32Array): void {
  Atomics.store(sab, SAB_PARK, PARK_RELEASED);
  Atomics.notify(sab, SAB_PARK);
}

/** The parked worker of one actor's failed incarnation. */
export class ParkedWorker {
  /** Whether another worker may be parked now (see {@linkcode MAX_PARKED}). */
  static get room(): boolean {
    return parked < MAX_PARKED;
  }

  #worker: GuestPort;
  #sab: Int32Array;
  #clock: Clock;
  #timer: TimerId;
  #ended = false;

  /**
   * Parks `worker`: tells it to park (one that reported its own failure has
   * already) and ends it after {@linkcode PARK_MAX_MS} unless `end` came first.
   *
   * @param worker The failed incarnation's worker (of its own, not pooled).
   * @param sab Its status words.
   * @param clock The host's clock.
   */
  constructor(worker: GuestPort, sab: Int32Array, clock: Clock) {
    this.#worker = worker;
    this.#sab = sab;
    this.#clock = clock;
    parked++;
    // The word first: a worker finishing a long task parks at its next step
    // even if other tasks come before the message (a frame, a timer).
    Atomics.compareExchange(sab, SAB_PARK, 0, PARK_REQUESTED);
    worker.postMessage({ k: "park" } satisfies HostToWorker);
    this.#timer = clock.setTimeout(() => this.end(), PARK_MAX_MS);
  }

  /** Whether the worker is blocked in its park (as the worker says). */
  get waiting(): boolean {
    return !this.#ended && Atomics.load(this.#sab, SAB_PARK) === PARK_WAITING;
  }

  /** Releases the park and ends the worker; idempotent. */
  end(): void {
    if (this.#ended) return;
    this.#ended = true;
    parked--;
    this.#clock.clearTimeout(this.#timer);
    releasePark(this.#sab);
    this.#worker.terminate();
  }
}
