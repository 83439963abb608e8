/**
 * A {@linkcode Clock} that only moves when told to, for deterministic tests of
 * time-dependent rules (restart intensity, backoff, leases, timeouts).
 *
 * @module
 */
import { type Clock, sleepOn, type TimerId } from "../clock.ts";

interface Timer {
  id: number;
  at: number;
  fn: () => void;
}

/**
 * A clock whose time advances only through {@linkcode ManualClock.advance}.
 *
 * @example
 * ```ts
 * import { ManualClock } from "./manual_clock.ts";
 * const clock = new ManualClock(1_000);
 * let fired = false;
 * clock.setTimeout(() => fired = true, 500);
 * await clock.advance(499);
 * console.assert(!fired);
 * await clock.advance(1);
 * console.assert(fired && clock.now() === 1_500);
 * ```
 */
export class ManualClock implements Clock {
  #now: number;
  #timers: Timer[] = [];
  #nextId = 1;

  /**
   * Creates a clock stopped at `start`.
   *
   * @param start Initial time in epoch milliseconds. @default {0}
   */
  constructor(start = 0) {
    this.#now = start;
  }

  /**
   * The current manual time.
   *
   * @returns Epoch milliseconds, moved only by {@linkcode ManualClock.advance}.
   */
  now(): number {
    return this.#now;
  }

  /**
   * Schedules `fn` at `now() + ms`.
   *
   * @param fn Callback.
   * @param ms Delay in milliseconds.
   * @returns The timer handle.
   */
  setTimeout(fn: () => void, ms: number): number {
    const id = this.#nextId++;
    this.#timers.push({ id, at: this.#now + Math.max(0, ms), fn });
    this.#timers.sort((a, b) => a.at - b.at || a.id - b.id);
    return id;
  }

  /**
   * Cancels a timer.
   *
   * @param id The timer handle.
   */
  clearTimeout(id: TimerId): void {
    this.#timers = this.#timers.filter((t) => t.id !== id);
  }

  /**
   * Resolves when the manual time has advanced by `ms`.
   *
   * @param ms Delay in milliseconds.
   * @param signal Optional abort signal.
   * @returns A promise that settles when the clock is advanced far enough.
   */
  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    return sleepOn(this, ms, signal);
  }

  /** Number of timers still pending. */
  get pending(): number {
    return this.#timers.length;
  }

  /**
   * Moves time forward by `ms`, firing due timers in order and letting
   * promise callbacks run between them.
   *
   * @param ms How far to move, in milliseconds.
   * @returns A promise that settles once every due timer has fired.
   */
  async advance(ms: number): Promise<void> {
    const target = this.#now + ms;
    while (true) {
      await flushMicrotasks();
      const next = this.#timers[0];
      if (!next || next.at > target) break;
      this.#timers.shift();
      this.#now = next.at;
      next.fn();
    }
    this.#now = target;
    await flushMicrotasks();
  }
}

async function flushMicrotasks(): Promise<void> {
  for (let i = 0; i < 10; i++) await Promise.resolve();
  await new Promise<void>((resolve) => setTimeout(resolve, 0));
}
