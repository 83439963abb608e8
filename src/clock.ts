/**
 * Injected time. Restart windows, backoff, leases and timeouts read a
 * {@linkcode Clock} so that tests can drive them with a
 * {@linkcode ManualClock} instead of sleeping.
 *
 * @example
 * ```ts
 * import { systemClock } from "./clock.ts";
 * const start = systemClock.now();
 * await systemClock.sleep(1);
 * console.assert(systemClock.now() >= start);
 * ```
 *
 * @module
 */

/** Opaque handle returned by {@linkcode Clock.setTimeout}. */
export type TimerId = ReturnType<typeof setTimeout> | number;

/** A source of time and timers. */
export interface Clock {
  /** Milliseconds since the Unix epoch. */
  now(): number;
  /** Runs `fn` after `ms` milliseconds; returns a handle for {@linkcode Clock.clearTimeout}. */
  setTimeout(fn: () => void, ms: number): TimerId;
  /** Cancels a timer; unknown handles are ignored. */
  clearTimeout(id: TimerId): void;
  /**
   * Resolves after `ms` milliseconds, or rejects with the signal's reason when aborted.
   */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

/**
 * Resolves after `ms` on the given clock, or rejects when `signal` aborts.
 *
 * @param clock The clock whose timers are used.
 * @param ms Delay in milliseconds.
 * @param signal Optional abort signal.
 * @returns A promise that settles after the delay.
 * @throws The signal's reason when it aborts.
 *
 * @example
 * ```ts
 * import { sleepOn, systemClock } from "./clock.ts";
 * await sleepOn(systemClock, 1);
 * ```
 */
export function sleepOn(clock: Clock, ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const onAbort = () => {
      clock.clearTimeout(id);
      reject(signal?.reason);
    };
    const id = clock.setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

/** The real clock: `Date.now()` and the platform's timers. */
export const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (id) => clearTimeout(id as number),
  sleep(ms, signal) {
    return sleepOn(this, ms, signal);
  },
};
