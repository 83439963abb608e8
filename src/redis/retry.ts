/**
 * Retrying store operations: exponential, jittered backoff on an injected
 * {@linkcode Clock}, a bounded budget, and a classification of Redis errors
 * into transient (retried) and permanent (passed through).
 *
 * @module
 */
import { getLogger } from "@logtape/logtape";
import { backoffDelay } from "../backoff.ts";
import { type Clock, systemClock } from "../clock.ts";
import { OaoError } from "../oao_error.ts";
import { StoreUnavailableError } from "../persistence/store_errors.ts";

/** Backoff and budget of retried operations and of the initial connection. */
export interface RetryOptions {
  /** Delay before the first retry, in milliseconds. @default {50} */
  initialDelayMs?: number;
  /** Upper bound of one delay, in milliseconds. @default {2000} */
  maxDelayMs?: number;
  /** Factor between consecutive delays (≥ 1). @default {2} */
  multiplier?: number;
  /**
   * Random spread of each delay, from 0 (none) to 1: the delay is drawn from
   * `[base × (1 − jitter), base × (1 + jitter)]`, then capped at `maxDelayMs`
   * (the shared `backoffDelay` of `src/backoff.ts`).
   * @default {0.5}
   */
  jitter?: number;
  /** Give up once this much time has passed since the first attempt, in ms. @default {30000} */
  maxElapsedMs?: number;
  /** Give up after this many attempts, the first one included. @default {Infinity} */
  maxAttempts?: number;
}

/** The defaults of {@linkcode RetryOptions}. */
export const DEFAULT_RETRY_OPTIONS: Readonly<Required<RetryOptions>> = Object.freeze({
  initialDelayMs: 50,
  maxDelayMs: 2_000,
  multiplier: 2,
  jitter: 0.5,
  maxElapsedMs: 30_000,
  maxAttempts: Infinity,
});

/** Options of {@linkcode withRetry}. */
export interface WithRetryOptions extends RetryOptions {
  /** Clock for delays and the elapsed-time budget. @default {systemClock} */
  clock?: Clock;
  /** Stops retrying: the pending delay rejects with the signal's reason. */
  signal?: AbortSignal;
  /** Which errors are retried. @default {isTransientRedisError} */
  retryIf?: (error: unknown) => boolean;
  /** Random source in `[0, 1)` for the jitter. @default {Math.random} */
  random?: () => number;
  /**
   * Give up sooner when Redis cannot be reached: once the failures that say
   * so (connection refused, reset or closed, a command refused because the
   * client is not connected, `LOADING`, `MASTERDOWN`, `CLUSTERDOWN`) have
   * lasted this long, in ms, counted from the start of the first of them.
   * Other transient failures (a command that timed out on a live
   * connection, `BUSY`, `TRYAGAIN`, `READONLY`) are bounded by
   * `maxElapsedMs` only, so that a slow Redis is waited for and a stopped
   * one is not.
   * @default {Infinity}
   */
  unavailableAfterMs?: number;
}

const logger = getLogger(["oao", "redis"]);

/**
 * Merges retry options with {@linkcode DEFAULT_RETRY_OPTIONS} and validates them.
 *
 * @param options Partial options.
 * @returns Complete options.
 * @throws {RangeError} When a field is out of range; the message names it.
 *
 * @example
 * ```ts
 * import { resolveRetryOptions } from "./retry.ts";
 * console.assert(resolveRetryOptions({ maxElapsedMs: 5_000 }).initialDelayMs === 50);
 * ```
 */
export function resolveRetryOptions(options: RetryOptions = {}): Required<RetryOptions> {
  const merged = { ...DEFAULT_RETRY_OPTIONS };
  for (const field of Object.keys(DEFAULT_RETRY_OPTIONS) as (keyof RetryOptions)[]) {
    const value = options[field];
    if (value !== undefined) merged[field] = value;
  }
  const check = (field: keyof RetryOptions, ok: boolean, expected: string) => {
    if (!ok) {
      throw new RangeError(`Invalid retry option "${field}": ${merged[field]} is not ${expected}`);
    }
  };
  const finite = (n: number) => typeof n === "number" && Number.isFinite(n) && n >= 0;
  check("initialDelayMs", finite(merged.initialDelayMs), "a non-negative number");
  check("maxDelayMs", finite(merged.maxDelayMs), "a non-negative number");
  check("multiplier", finite(merged.multiplier) && merged.multiplier >= 1, "a number ≥ 1");
  check("jitter", finite(merged.jitter) && merged.jitter <= 1, "a number from 0 to 1");
  check("maxElapsedMs", merged.maxElapsedMs >= 0, "a non-negative number");
  check(
    "maxAttempts",
    merged.maxAttempts >= 1 &&
      (Number.isInteger(merged.maxAttempts) || merged.maxAttempts === Infinity),
    "a positive integer or Infinity",
  );
  return merged;
}

/**
 * The delay before retry number `attempt` (1 for the first retry).
 *
 * @param attempt The failed attempt count, from 1.
 * @param options Complete retry options.
 * @param random Random source in `[0, 1)`.
 * @returns The delay in milliseconds.
 *
 * @example
 * ```ts
 * import { resolveRetryOptions, retryDelay } from "./retry.ts";
 * const options = resolveRetryOptions({ initialDelayMs: 100, jitter: 0 });
 * console.assert(retryDelay(3, options) === 400);
 * ```
 */
export function retryDelay(
  attempt: number,
  options: Required<RetryOptions>,
  random: () => number = Math.random,
): number {
  return backoffDelay(attempt, {
    minMs: options.initialDelayMs,
    maxMs: options.maxDelayMs,
    factor: options.multiplier,
    jitter: options.jitter,
  }, random);
}

/**
 * Tells whether an error from a Redis command is worth retrying: the
 * connection was lost or not yet established, the command timed out, or the
 * server answered `LOADING`, `BUSY`, `TRYAGAIN`, `CLUSTERDOWN`, `MASTERDOWN`
 * or `READONLY` (failover). Errors of OAO itself (`FencedError`…), script
 * errors and other replies are not.
 *
 * @param error Anything that was thrown.
 * @returns True when a retry may succeed.
 *
 * @example
 * ```ts
 * import { isTransientRedisError } from "./retry.ts";
 * console.assert(isTransientRedisError(new Error("Connection is closed.")));
 * console.assert(!isTransientRedisError(new TypeError("bad argument")));
 * ```
 */
export function isTransientRedisError(error: unknown): boolean {
  if (!(error instanceof Error) || error instanceof OaoError) return false;
  const { name, message } = error;
  if (name === "MaxRetriesPerRequestError") return true;
  if (name === "ReplyError") {
    return /^(LOADING|BUSY|TRYAGAIN|CLUSTERDOWN|MASTERDOWN|READONLY)\b/.test(message);
  }
  if (name === "TypeError" || name === "RangeError" || name === "SyntaxError") return false;
  const code = (error as { code?: unknown }).code;
  if (typeof code === "string" && TRANSIENT_CODES.has(code)) return true;
  return TRANSIENT_MESSAGES.some((pattern) => pattern.test(message));
}

const TRANSIENT_CODES = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "ECONNABORTED",
  "EPIPE",
  "ETIMEDOUT",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "ENOTCONN",
  "EAI_AGAIN",
]);

const TRANSIENT_MESSAGES = [
  /^Connection is closed/,
  /^Command timed out/,
  /^Stream isn't writeable/,
  /^Socket closed unexpectedly/,
  /^Reached the max retries per request limit/,
  /^Failed to refresh slots cache/,
  /^None of startup nodes is available/,
  /^Cluster isn't ready/,
  /^Too many Cluster redirections/,
];

/**
 * Runs a store operation, retrying transient failures with exponential,
 * jittered backoff until it succeeds or the budget is spent.
 *
 * `fn` must be idempotent: after a dropped connection it is called again
 * although the first call may have been executed by Redis.
 *
 * @param operation What is attempted, for the error message, e.g. `appendEvent("exec-1")`.
 * @param fn The attempt; receives the attempt number (1, 2, …).
 * @param options Backoff, budget (`maxElapsedMs`, and `unavailableAfterMs`
 * while Redis cannot be reached), clock, abort signal and error filter.
 * @returns What `fn` returned.
 * @throws {StoreUnavailableError} When transient failures outlast the budget
 * (`cause` is the last one).
 * @throws {RangeError} When a retry option or `unavailableAfterMs` is out of range.
 * @throws Any non-transient error of `fn`, unchanged, and the signal's reason on abort.
 *
 * @example
 * ```ts
 * import { withRetry } from "./retry.ts";
 * let calls = 0;
 * const value = await withRetry("demo", () => {
 *   calls++;
 *   if (calls < 3) return Promise.reject(new Error("Connection is closed."));
 *   return Promise.resolve(42);
 * }, { initialDelayMs: 1 });
 * console.assert(value === 42 && calls === 3);
 * ```
 */
export async function withRetry<T>(
  operation: string,
  fn: (attempt: number) => Promise<T>,
  options: WithRetryOptions = {},
): Promise<T> {
  const retry = resolveRetryOptions(options);
  const unavailableAfterMs = _unavailableAfterMs(options.unavailableAfterMs);
  const clock = options.clock ?? systemClock;
  const retryIf = options.retryIf ?? isTransientRedisError;
  const start = clock.now();
  let downSince: number | undefined;
  for (let attempt = 1;; attempt++) {
    options.signal?.throwIfAborted();
    const attemptStart = clock.now();
    try {
      return await fn(attempt);
    } catch (error) {
      if (!retryIf(error)) throw error;
      const now = clock.now();
      if (_isUnreachable(error)) downSince ??= attemptStart;
      else downSince = undefined;
      let remaining = retry.maxElapsedMs - (now - start);
      if (downSince !== undefined) {
        remaining = Math.min(remaining, unavailableAfterMs - (now - downSince));
      }
      if (attempt >= retry.maxAttempts || remaining <= 0) {
        const cause = downSince !== undefined && attempt > 1
          ? new Error(
            `Redis could not be reached for ${now - downSince} ms (${
              /^Stream isn't writeable/.test(_message(error)) ? "not connected" : _message(error)
            })`,
            { cause: error },
          )
          : error;
        throw new StoreUnavailableError(operation, { cause });
      }
      const delay = Math.min(remaining, retryDelay(attempt, retry, options.random));
      logger.debug("Retrying {operation} in {delay} ms after attempt {attempt} failed: {error}", {
        operation,
        delay,
        attempt,
        error: _message(error),
      });
      await clock.sleep(delay, options.signal);
    }
  }
}

/**
 * Validates {@linkcode WithRetryOptions.unavailableAfterMs}.
 *
 * @throws {RangeError} When it is not a non-negative number.
 */
export function _unavailableAfterMs(
  value: number | undefined,
  name = "unavailableAfterMs",
): number {
  if (value === undefined) return Infinity;
  if (typeof value !== "number" || Number.isNaN(value) || value < 0) {
    throw new RangeError(`Invalid ${name} ${String(value)}: expected a non-negative number of ms`);
  }
  return value;
}

/**
 * Whether a transient error says that Redis cannot be reached at all (as
 * opposed to answering slowly or being busy): see
 * {@linkcode WithRetryOptions.unavailableAfterMs}.
 */
function _isUnreachable(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  const { name, message } = error;
  if (name === "MaxRetriesPerRequestError") return true;
  if (name === "ReplyError") return /^(LOADING|MASTERDOWN|CLUSTERDOWN)\b/.test(message);
  const code = (error as { code?: unknown }).code;
  if (typeof code === "string" && TRANSIENT_CODES.has(code)) return true;
  return UNREACHABLE_MESSAGES.some((pattern) => pattern.test(message));
}

const UNREACHABLE_MESSAGES = [
  /^Connection is closed/,
  /^Stream isn't writeable/,
  /^Socket closed unexpectedly/,
  /^Reached the max retries per request limit/,
  /^None of startup nodes is available/,
  /^Cluster isn't ready/,
  /^Failed to refresh slots cache/,
  /^connect E[A-Z]+/,
];

function _message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
