/**
 * OTP restart intensity: at most `intensity` restarts within any window of
 * `periodMs`; one more means the supervisor gives up.
 *
 * @example
 * ```ts
 * import { RestartIntensity } from "./restart_intensity.ts";
 * const window = new RestartIntensity(3, 5_000);
 * console.assert([0, 1_000, 2_000].every((t) => window.allow(t)));
 * console.assert(!window.allow(3_000)); // the 4th restart within 5 s
 * ```
 *
 * @module
 */

/** A sliding window of restart times. */
export class RestartIntensity {
  #times: number[] = [];
  readonly intensity: number;
  readonly periodMs: number;

  /**
   * @param intensity Restarts allowed within the period.
   * @param periodMs Window length in ms.
   */
  constructor(intensity: number, periodMs: number) {
    this.intensity = intensity;
    this.periodMs = periodMs;
  }

  /** Restarts counted in the current window. */
  get count(): number {
    return this.#times.length;
  }

  /**
   * Records a restart at `now`.
   *
   * @param now Epoch ms of the restart.
   * @returns `false` when this restart exceeds the intensity.
   */
  allow(now: number): boolean {
    this.#times = this.#times.filter((t) => now - t < this.periodMs);
    this.#times.push(now);
    return this.#times.length <= this.intensity;
  }

  /** Forgets every recorded restart. */
  reset(): void {
    this.#times = [];
  }
}
