// What a running step awaits from the host: tool and model calls, signals,
// approvals and timers (`begin` when the wait starts, the returned function
// when it ends). When a step has waited on the host for `afterMs` without a
// break, its execution may be passivated: its worker is given back, and it is
// activated again once nothing is pending. Internal.
//
// Waits for a person or for time (signals, approvals, timers: `durable`)
// pause the execution's clocks: while only such waits are pending, neither
// the step's time limit (`stepTimeoutMs`) nor the execution's (`timeoutMs`)
// runs, so an agent may wait for tomorrow's approval under a five-minute step
// limit. A tool or model call pending beside them is work: the clocks run.
// `pausedMs` is the paused time so far; `whenPauseEnds` lets a timer that ran
// out during a pause be armed again.
import type { Clock, TimerId } from "../clock.ts";

export class HostWaits {
  readonly #clock: Clock;
  readonly #afterMs: number;
  readonly #onLong: () => void;
  readonly #pending = new Map<number, { what: string; durable: boolean }>();
  #next = 1;
  #timer: TimerId | undefined;
  #whenNone: (() => void)[] = [];
  #durable = 0;
  #pausedSince: number | undefined;
  #pausedMs = 0;
  #whenPauseEnds: (() => void)[] = [];

  /**
   * @param clock Time source of the idle timer and of the paused time.
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
    return [...new Set([...this.#pending.values()].map((wait) => wait.what))];
  }

  /** Whether only waits for a person or for time are pending (the clocks are paused). */
  get paused(): boolean {
    return this.#pausedSince !== undefined;
  }

  /** Time spent paused so far, the current pause included. */
  pausedMs(): number {
    const current = this.#pausedSince === undefined ? 0 : this.#clock.now() - this.#pausedSince;
    return this.#pausedMs + current;
  }

  /**
   * A wait starts.
   *
   * @param what What is awaited, for the record.
   * @param options `durable`: a wait for a person or for time, which pauses the clocks.
   * @returns Ends the wait (idempotent).
   */
  begin(what: string, options: { durable?: boolean } = {}): () => void {
    const id = this.#next++;
    const durable = options.durable === true;
    this.#pending.set(id, { what, durable });
    if (durable) this.#durable++;
    this.#settle();
    if (this.#pending.size === 1 && Number.isFinite(this.#afterMs)) {
      this.#timer = this.#clock.setTimeout(() => {
        this.#timer = undefined;
        if (this.#pending.size > 0) this.#onLong();
      }, this.#afterMs);
    }
    return () => {
      if (!this.#pending.delete(id)) return;
      if (durable) this.#durable--;
      this.#settle();
      if (this.#pending.size > 0) return;
      if (this.#timer !== undefined) this.#clock.clearTimeout(this.#timer);
      this.#timer = undefined;
      for (const resolve of this.#whenNone.splice(0)) resolve();
    };
  }

  // Starts or ends a pause when what is pending changed.
  #settle(): void {
    const paused = this.#durable > 0 && this.#durable === this.#pending.size;
    if (paused && this.#pausedSince === undefined) this.#pausedSince = this.#clock.now();
    else if (!paused && this.#pausedSince !== undefined) {
      this.#pausedMs += this.#clock.now() - this.#pausedSince;
      this.#pausedSince = undefined;
      for (const resolve of this.#whenPauseEnds.splice(0)) resolve();
    }
  }

  /** Resolves once no wait is pending. */
  whenNone(): Promise<void> {
    if (this.#pending.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.#whenNone.push(resolve));
  }

  /** Resolves once the clocks run again (a pause ends). */
  whenPauseEnds(): Promise<void> {
    if (this.#pausedSince === undefined) return Promise.resolve();
    return new Promise((resolve) => this.#whenPauseEnds.push(resolve));
  }
}
