// What an actor's worker may make the host write in a second: log records,
// and the events its refused or undeliverable sends record. Past the budget,
// what is over is dropped (the refusal itself still stands), and said once in
// that second. Internal.
//
// Each message a worker sends is bounded, but not how many it sends: an agent
// posting log batches in a loop wrote 100,000 lines (770 MB) in 18 s, each
// batch holding the host's event loop ~170 ms; one connecting to missing or
// forbidden actors in a loop stored 20,000 events (139 MB) in its
// execution's log. The log bound is its stdout's (src/worker/_guest_stdio.ts).
import type { Clock } from "../clock.ts";

/** Log records an actor may have written a second, and characters of their messages. */
export const LOG_BUDGET = { count: 1_000, size: 1 << 20 } as const;
/** `ACCESS_DENIED` and `MESSAGE_UNDELIVERABLE` events an actor's sends may record a second. */
export const REPORT_BUDGET = { count: 100, size: Infinity } as const;

/** @internal A budget of one actor, renewed every second. */
export class _SecondBudget {
  #clock: Clock;
  #limits: { count: number; size: number };
  #windowStart = -Infinity;
  #count = 0;
  #size = 0;
  #over = false;

  /**
   * @param clock Reads the time.
   * @param limits Items and their total size a second.
   */
  constructor(clock: Clock, limits: { count: number; size: number }) {
    this.#clock = clock;
    this.#limits = limits;
  }

  /**
   * Takes one item of `size` from this second's budget.
   *
   * @returns `"ok"` to write it; `"over"` to drop it, the first time in this
   *   second (to say so once); `"dropped"` to drop it silently.
   */
  take(size = 0): "ok" | "over" | "dropped" {
    const now = this.#clock.now();
    if (now - this.#windowStart >= 1_000) {
      this.#windowStart = now;
      this.#count = 0;
      this.#size = 0;
      this.#over = false;
    }
    if (this.#count >= this.#limits.count || this.#size + size > this.#limits.size) {
      if (this.#over) return "dropped";
      this.#over = true;
      return "over";
    }
    this.#count++;
    this.#size += size;
    return "ok";
  }
}

/** @internal One budget per actor, made on first use. */
export class _SecondBudgets<K extends object> {
  #budgets = new WeakMap<K, _SecondBudget>();
  #clock: Clock;
  #limits: { count: number; size: number };

  constructor(clock: Clock, limits: { count: number; size: number }) {
    this.#clock = clock;
    this.#limits = limits;
  }

  /** Takes one item of `size` from `key`'s budget (see {@linkcode _SecondBudget.take}). */
  take(key: K, size = 0): "ok" | "over" | "dropped" {
    let budget = this.#budgets.get(key);
    if (!budget) this.#budgets.set(key, budget = new _SecondBudget(this.#clock, this.#limits));
    return budget.take(size);
  }
}
