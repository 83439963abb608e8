/**
 * Exponential backoff with a minimum, a maximum and random jitter — the one
 * implementation shared by supervisor restarts, job retries (the job queues)
 * and Redis command retries and reconnections (`src/redis/retry.ts`).
 *
 * @example
 * ```ts
 * import { backoffDelay } from "./backoff.ts";
 * const delay = backoffDelay(3, { minMs: 100, maxMs: 10_000, factor: 2, jitter: 0 });
 * console.assert(delay === 400);
 * ```
 *
 * @module
 */

/** Backoff parameters. */
export interface BackoffOptions {
  /** Delay before the first retry, in ms. @default {100} */
  minMs: number;
  /** Upper bound of the delay before jitter, in ms. @default {30000} */
  maxMs: number;
  /** Growth per attempt. @default {2} */
  factor: number;
  /**
   * Random spread as a fraction of the delay: the delay is drawn uniformly
   * from `[d * (1 - jitter), d * (1 + jitter)]`, then capped at `maxMs`.
   * @default {0.2}
   */
  jitter: number;
}

/** The defaults documented on {@linkcode BackoffOptions}. */
export const DEFAULT_BACKOFF: BackoffOptions = {
  minMs: 100,
  maxMs: 30_000,
  factor: 2,
  jitter: 0.2,
};

/**
 * Delay before retry number `attempt` (1 for the first retry):
 * `min(maxMs, minMs × factor^(attempt − 1))`, spread by `jitter` around that
 * base, then capped at `maxMs`.
 *
 * @param attempt Retry number, starting at 1.
 * @param options Backoff parameters.
 * @param random Source of uniform numbers in [0, 1).
 * @returns The delay in milliseconds, an integer within the jitter bounds.
 * @throws {RangeError} When `attempt` is not a positive integer.
 *
 * @example
 * ```ts
 * import { backoffDelay } from "./backoff.ts";
 * console.assert(backoffDelay(1, { minMs: 50, maxMs: 1000, factor: 3, jitter: 0 }) === 50);
 * ```
 */
export function backoffDelay(
  attempt: number,
  options: BackoffOptions,
  random: () => number = Math.random,
): number {
  const base = _base(attempt, options);
  const spread = base * options.jitter;
  const r = Math.min(Math.max(random(), 0), 1);
  const jittered = base - spread + 2 * spread * r;
  return Math.max(0, Math.round(Math.min(options.maxMs, jittered)));
}

/**
 * Bounds of {@linkcode backoffDelay} for an attempt, for checks and docs.
 *
 * @param attempt Retry number, starting at 1.
 * @param options Backoff parameters.
 * @returns The smallest and largest possible delay.
 * @throws {RangeError} When `attempt` is not a positive integer.
 *
 * @example
 * ```ts
 * import { backoffBounds } from "./backoff.ts";
 * const { min, max } = backoffBounds(2, { minMs: 100, maxMs: 1000, factor: 2, jitter: 0.5 });
 * console.assert(min === 100 && max === 300);
 * ```
 */
export function backoffBounds(
  attempt: number,
  options: BackoffOptions,
): { min: number; max: number } {
  const base = _base(attempt, options);
  return {
    min: Math.round(base * (1 - options.jitter)),
    max: Math.round(Math.min(options.maxMs, base * (1 + options.jitter))),
  };
}

/**
 * Validates backoff options merged over defaults; errors name the field.
 *
 * @param options Partial options.
 * @param field Name of the option group, used in error messages.
 * @param defaults Defaults to merge under `options`.
 * @returns Complete options.
 * @throws {RangeError} Naming the field and the bad value.
 *
 * @example
 * ```ts
 * import { resolveBackoff } from "./backoff.ts";
 * console.assert(resolveBackoff({ maxMs: 500 }, "backoff").maxMs === 500);
 * ```
 */
export function resolveBackoff(
  options: Partial<BackoffOptions> | undefined,
  field: string,
  defaults: BackoffOptions = DEFAULT_BACKOFF,
): BackoffOptions {
  const merged = { ...defaults, ...options };
  const check = (name: keyof BackoffOptions, ok: boolean, expected: string) => {
    if (!ok) {
      throw new RangeError(
        `Invalid ${field}.${name} ${JSON.stringify(merged[name])}: expected ${expected}`,
      );
    }
  };
  check("minMs", Number.isFinite(merged.minMs) && merged.minMs >= 0, "a number >= 0");
  check(
    "maxMs",
    Number.isFinite(merged.maxMs) && merged.maxMs >= merged.minMs,
    `a number >= minMs (${merged.minMs})`,
  );
  check("factor", Number.isFinite(merged.factor) && merged.factor >= 1, "a number >= 1");
  check(
    "jitter",
    Number.isFinite(merged.jitter) && merged.jitter >= 0 && merged.jitter <= 1,
    "a number between 0 and 1",
  );
  return merged;
}

function _base(attempt: number, options: BackoffOptions): number {
  if (!Number.isSafeInteger(attempt) || attempt < 1) {
    throw new RangeError(`Invalid backoff attempt "${attempt}": expected an integer >= 1`);
  }
  if (options.minMs === 0) return 0; // 0 × Infinity would be NaN for huge attempts
  return Math.min(options.maxMs, options.minMs * options.factor ** (attempt - 1));
}
