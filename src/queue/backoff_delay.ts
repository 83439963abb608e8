/**
 * Exponential backoff with a ceiling and jitter, shared by the job queues
 * (retry delays) and anything else that waits longer after each failure.
 *
 * @module
 */

/** How a delay grows with the attempt number. */
export interface BackoffOptions {
  /** Delay after the first failure, in ms. @default {1000} */
  initialMs?: number;
  /** Growth per further failure; `1` keeps the delay constant. @default {2} */
  factor?: number;
  /** Ceiling of the delay, in ms. @default {60000} */
  maxMs?: number;
  /**
   * Fraction of the delay that is randomized, from `0` (none) to `1` ("full
   * jitter"): the delay is drawn from `[base × (1 − jitter), base]`, so it
   * never exceeds `maxMs`.
   * @default {0.5}
   */
  jitter?: number;
}

/** The defaults of {@linkcode BackoffOptions}. */
export const DEFAULT_BACKOFF: Readonly<Required<BackoffOptions>> = Object.freeze({
  initialMs: 1_000,
  factor: 2,
  maxMs: 60_000,
  jitter: 0.5,
});

/**
 * The delay before retrying after the `attempt`-th failure:
 * `min(maxMs, initialMs × factor^(attempt − 1))`, less up to `jitter` of it.
 *
 * @param attempt The number of the attempt that failed, starting at 1.
 * @param options Growth, ceiling and jitter; omitted fields take their defaults.
 * @param random Source of uniform numbers in `[0, 1)`.
 * @returns The delay in whole milliseconds.
 * @throws {RangeError} When `attempt` is not a positive integer or an option is out of range.
 *
 * @example Doubling from 100 ms, capped at 1 s, without jitter
 * ```ts
 * import { backoffDelay } from "./backoff_delay.ts";
 * const policy = { initialMs: 100, factor: 2, maxMs: 1_000, jitter: 0 };
 * console.assert(backoffDelay(1, policy) === 100);
 * console.assert(backoffDelay(3, policy) === 400);
 * console.assert(backoffDelay(9, policy) === 1_000);
 * ```
 */
export function backoffDelay(
  attempt: number,
  options: BackoffOptions = {},
  random: () => number = Math.random,
): number {
  if (!Number.isInteger(attempt) || attempt < 1) {
    throw new RangeError(`Invalid backoff attempt "${attempt}": must be an integer of at least 1`);
  }
  const { initialMs, factor, maxMs, jitter } = resolveBackoff(options);
  const base = Math.min(maxMs, initialMs * factor ** (attempt - 1));
  const r = Math.min(Math.max(random(), 0), 1);
  return Math.round(base * (1 - jitter * r));
}

/**
 * Merges {@linkcode BackoffOptions} with the defaults and validates every field.
 *
 * @param options Partial options.
 * @returns Complete options.
 * @throws {RangeError} When a field is out of range; the message names the field.
 *
 * @example
 * ```ts
 * import { resolveBackoff } from "./backoff_delay.ts";
 * console.assert(resolveBackoff({ factor: 3 }).initialMs === 1_000);
 * ```
 */
export function resolveBackoff(options: BackoffOptions = {}): Required<BackoffOptions> {
  const merged = { ...DEFAULT_BACKOFF, ...options };
  checkRange("initialMs", merged.initialMs, 0, Number.MAX_SAFE_INTEGER);
  checkRange("factor", merged.factor, 1, Number.MAX_SAFE_INTEGER);
  checkRange("maxMs", merged.maxMs, 0, Number.MAX_SAFE_INTEGER);
  checkRange("jitter", merged.jitter, 0, 1);
  return merged;
}

function checkRange(field: string, value: number, min: number, max: number): void {
  if (typeof value !== "number" || !(value >= min && value <= max)) {
    throw new RangeError(
      `Invalid backoff option "${field}": "${value}" is not a number from ${min} to ${max}`,
    );
  }
}
