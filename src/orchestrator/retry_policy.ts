/**
 * How failing steps are retried: attempts, initial delay, growth factor,
 * maximum delay and jitter. Policy violations are never retried.
 *
 * @example
 * ```ts
 * import { resolveRetryPolicy } from "./retry_policy.ts";
 * const retry = resolveRetryPolicy({ attempts: 5 });
 * console.assert(retry.attempts === 5 && retry.initialDelayMs === 100);
 * ```
 *
 * @module
 */
import { type BackoffOptions, resolveBackoff } from "../backoff.ts";

/** Retry policy of failing steps. */
export interface RetryPolicy {
  /** Attempts per step, the first included. @default {3} */
  attempts: number;
  /** Delay before the first retry, in ms. @default {100} */
  initialDelayMs: number;
  /** Growth per retry. @default {2} */
  factor: number;
  /** Largest delay, in ms. @default {5000} */
  maxDelayMs: number;
  /** Random spread as a fraction of the delay. @default {0.2} */
  jitter: number;
}

/** The defaults documented on {@linkcode RetryPolicy}. */
export const DEFAULT_RETRY_POLICY: RetryPolicy = {
  attempts: 3,
  initialDelayMs: 100,
  factor: 2,
  maxDelayMs: 5_000,
  jitter: 0.2,
};

/**
 * Merges defaults and validates.
 *
 * @param retry Partial retry policy.
 * @returns A complete retry policy.
 * @throws {RangeError} Naming the field and value.
 *
 * @example
 * ```ts
 * import { resolveRetryPolicy } from "./retry_policy.ts";
 * try { resolveRetryPolicy({ attempts: 0 }); } catch (e) { console.assert((e as Error).message.includes("attempts")); }
 * ```
 */
export function resolveRetryPolicy(retry: Partial<RetryPolicy> = {}): RetryPolicy {
  const merged = { ...DEFAULT_RETRY_POLICY, ...retry };
  if (!Number.isInteger(merged.attempts) || merged.attempts < 1) {
    throw new RangeError(
      `Invalid retry.attempts ${JSON.stringify(merged.attempts)}: expected an integer >= 1`,
    );
  }
  resolveBackoff(toBackoff(merged), "retry");
  return merged;
}

/**
 * The backoff parameters of a retry policy.
 *
 * @param retry The retry policy.
 * @returns Backoff options for `backoffDelay`.
 *
 * @example
 * ```ts
 * import { DEFAULT_RETRY_POLICY, toBackoff } from "./retry_policy.ts";
 * console.assert(toBackoff(DEFAULT_RETRY_POLICY).minMs === 100);
 * ```
 */
export function toBackoff(retry: RetryPolicy): BackoffOptions {
  return {
    minMs: retry.initialDelayMs,
    maxMs: retry.maxDelayMs,
    factor: retry.factor,
    jitter: retry.jitter,
  };
}
