// What a running step awaits from the host: tool calls today; model calls,
// signals and timers plug in the same way (`begin` when the wait starts, the
// returned function when it ends). When a step has waited on the host for
// `afterMs` without a break, its execution may be passivated: its worker is
// given back, and it is activated again once nothing is pending. Internal.
import type { Clock, TimerId } from "../clock.ts";

export class HostWaits {
  readonly #clock: Clock;
  readonly #afterMs: number;
  readonly #onLong: () => void;
  readonly #pending = new Map<number, string>();
  #next = 1;
  #timer: TimerId | undefined;
  #whenNone: (() => void)[] = [];

  /**
   * @param clock Time source of the idle timer.
   * @param afterMs How long a wait lasts before `onLong` is called (Infinity: never).
   * @param onLong Called once per stretch of waiting that lasts `afterMs`.
   */
  constructor(clock: Clock, afterMs: number, onLong: () => void) {
    this.#clock = clock;
    this.#afterMs = afterMs;
    this.#onLong = onLong;
  }

  /** Waits pending now. */
  get pending(): number {
    return this.#pending.size;
  }

  /** What the step waits on, for the record: `tool "search"`, … */
  get waitingOn(): string[] {
    return [...new Set(this.#pending.values())];
  }

  /**
   * A wait starts.
   *
   * @param what What is awaited, for the record.
   * @returns Ends the wait (idempotent).
   */
  begin(what: string): () => void {
    const id = this.#next++;
    this.#pending.set(id, what);
    if (this.#pending.size === 1 && Number.isFinite(this.#afterMs)) {
      this.#timer = this.#clock.setTimeout(() => {
        this.#timer = undefined;
        if (this.#pending.size > 0) this.#onLong();
      }, this.#afterMs);
    }
    return () => {
      if (!this.#pending.delete(id) || this.#pending.size > 0) return;
      if (this.#timer !== undefined) this.#clock.clearTimeout(this.#timer);
      this.#timer = undefined;
      for (const resolve of this.#whenNone.splice(0)) resolve();
    };
  }

  /** Resolves once no wait is pending. */
  whenNone(): Promise<void> {
    if (this.#pending.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.#whenNone.push(resolve));
  }
}
