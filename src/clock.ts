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

/**
 * The longest delay of one platform timer (2^31 - 1 ms, about 24.8 days):
 * a longer one fires at once, with a warning only.
 */
const MAX_TIMER_MS = 2 ** 31 - 1;
/** Timers longer than that: their handle (a negative number) → the platform timer of their current leg. */
const longTimers = new Map<number, ReturnType<typeof setTimeout>>();
let lastLongTimer = 0;

/** A timer of any length, in legs of at most {@linkcode MAX_TIMER_MS}. */
function setLongTimeout(fn: () => void, ms: number): number {
  const handle = --lastLongTimer;
  const arm = (remaining: number) => {
    const leg = Math.min(remaining, MAX_TIMER_MS);
    longTimers.set(
      handle,
      setTimeout(() => {
        if (remaining > leg) return arm(remaining - leg);
        longTimers.delete(handle);
        fn();
      }, leg),
    );
  };
  arm(ms);
  return handle;
}

/**
 * The real clock: `Date.now()` and the platform's timers. Its timers take
 * any delay: one longer than a platform timer's 24.8 days (a sleep until
 * next month, a yearly schedule) runs in legs instead of firing at once.
 */
export const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => ms > MAX_TIMER_MS ? setLongTimeout(fn, ms) : setTimeout(fn, ms),
  clearTimeout(id) {
    if (typeof id === "number" && id < 0) {
      clearTimeout(longTimers.get(id) as number | undefined);
      longTimers.delete(id);
    } else clearTimeout(id as number);
  },
  sleep(ms, signal) {
    return sleepOn(this, ms, signal);
  },
};
