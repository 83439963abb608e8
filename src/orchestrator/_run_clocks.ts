// The clocks of one execution: the time it ran, and the time limits counted
// on it (the execution's timeoutMs, a step's), all paused while only waits
// for a person or for time are pending (`HostWaits`). Internal: each
// ExecutionRun has one.
import type { Clock, TimerId } from "../clock.ts";
import type { HostWaits } from "./_host_waits.ts";

export class RunClocks {
  readonly #clock: Clock;
  readonly #waits: HostWaits;
  #startedAt = 0;

  /**
   * @param clock The time source.
   * @param waits The step's waits on the host, which pause the clocks.
   */
  constructor(clock: Clock, waits: HostWaits) {
    this.#clock = clock;
    this.#waits = waits;
  }

  /** When the execution started, less the time it ran before this run (0 until `start`). */
  get startedAt(): number {
    return this.#startedAt;
  }

  /**
   * Starts the execution's clock.
   *
   * @param startedAt When it started, less the time it ran before a resume.
   */
  start(startedAt: number): void {
    this.#startedAt = startedAt;
  }

  /**
   * Time the execution ran, without the waits for a person or for time.
   *
   * @returns Milliseconds.
   */
  elapsed(): number {
    return this.#clock.now() - this.#startedAt - this.#waits.pausedMs();
  }

  /**
   * What is left of a time limit started now, paused while waits for a
   * person or for time are pending.
   *
   * @param limitMs The limit.
   * @returns What is left of it, in milliseconds, whenever called.
   */
  budget(limitMs: number): () => number {
    const clock = this.#clock;
    const started = clock.now();
    const pausedBefore = this.#waits.pausedMs();
    return () => limitMs - (clock.now() - started - (this.#waits.pausedMs() - pausedBefore));
  }

  /**
   * Calls `spent` once `remaining()` is used up (not before: a timer that
   * runs out during a pause of the clocks, or after the budget grew, is armed
   * again). Infinity: never.
   *
   * @param remaining What is left, in milliseconds.
   * @param spent Called once it is used up.
   * @returns What cancels it.
   */
  whenSpent(remaining: () => number, spent: () => void): () => void {
    const clock = this.#clock;
    let timer: TimerId | undefined;
    let cancelled = false;
    const arm = () => {
      timer = undefined;
      if (cancelled) return;
      const left = remaining();
      if (!Number.isFinite(left)) return;
      timer = clock.setTimeout(() => {
        timer = undefined;
        if (cancelled) return;
        if (this.#waits.paused) void this.#waits.whenPauseEnds().then(arm);
        else if (remaining() > 0) arm();
        else spent();
      }, Math.max(0, left));
    };
    arm();
    return () => {
      cancelled = true;
      if (timer !== undefined) clock.clearTimeout(timer);
    };
  }
}
