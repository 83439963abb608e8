/**
 * Per-provider limits on model calls — concurrent requests, requests per
 * minute and tokens per minute — behind the {@linkcode RateLimiter} port.
 * {@linkcode InProcessRateLimiter} shares them between the calls of one node;
 * a Redis-backed limiter can implement the same port to share them between
 * nodes. Waiting callers are served first in, first out and can be aborted.
 *
 * @example
 * ```ts
 * import { InProcessRateLimiter } from "./rate_limits.ts";
 * const limiter = new InProcessRateLimiter({ openai: { maxConcurrent: 1 } });
 * const first = await limiter.acquire("openai");
 * const second = limiter.acquire("openai"); // waits for the first
 * first.release();
 * (await second).release();
 * ```
 *
 * @module
 */
import { type Clock, systemClock, type TimerId } from "../clock.ts";

/** Limits of one provider; a missing field is no limit. */
export interface RateLimits {
  /** Requests in flight at once. */
  maxConcurrent?: number;
  /** Requests started within any minute. */
  requestsPerMinute?: number;
  /** Tokens (estimated at start, corrected at release) within any minute. */
  tokensPerMinute?: number;
}

/** The right to make one request; release it when the request is over. */
export interface RateLimitPermit {
  /**
   * Ends the request. Idempotent.
   *
   * @param usedTokens Tokens the request really used, replacing the estimate.
   */
  release(usedTokens?: number): void;
}

/** What a caller asks a {@linkcode RateLimiter} for. */
export interface RateLimitRequest {
  /** Estimated tokens of the request. @default {0} */
  tokens?: number;
  /** Gives up waiting; the promise rejects with the signal's reason. */
  signal?: AbortSignal;
}

/** The port: grants permits per key (a provider name), waiting while a limit is reached. */
export interface RateLimiter {
  /**
   * Waits until a request for `key` fits all its limits, then grants it.
   *
   * @param key The provider name.
   * @param request Estimated tokens and an abort signal.
   * @returns A permit to release when the request is over.
   */
  acquire(key: string, request?: RateLimitRequest): Promise<RateLimitPermit>;
}

/** What a limiter holds for one key now. */
export interface RateLimitStats {
  /** Requests in flight. */
  active: number;
  /** Callers waiting. */
  queued: number;
  /** Requests started within the last minute. */
  requestsInWindow: number;
  /** Tokens of the requests started within the last minute. */
  tokensInWindow: number;
}

/**
 * Checks limits by provider, as both limiters take them.
 *
 * @param limits Limits by provider name.
 * @throws {RangeError} Naming the provider and field of a limit that is not an integer >= 1.
 *
 * @example
 * ```ts
 * import { checkRateLimits } from "./rate_limits.ts";
 * try {
 *   checkRateLimits({ openai: { maxConcurrent: 0 } });
 * } catch (error) {
 *   console.assert((error as Error).message.includes("rateLimits.openai.maxConcurrent"));
 * }
 * ```
 */
export function checkRateLimits(limits: Record<string, RateLimits>): void {
  for (const [key, given] of Object.entries(limits)) {
    for (const field of ["maxConcurrent", "requestsPerMinute", "tokensPerMinute"] as const) {
      const value = given[field];
      if (value !== undefined && (!Number.isSafeInteger(value) || value < 1)) {
        throw new RangeError(
          `Invalid rateLimits.${key}.${field} ${JSON.stringify(value)}: expected an integer >= 1`,
        );
      }
    }
  }
}

/**
 * Checks the estimated tokens of a request.
 *
 * @param tokens The estimate.
 * @returns A `RangeError` naming it, or `undefined` when it is a number >= 0.
 */
export function badTokens(tokens: number): RangeError | undefined {
  return !Number.isFinite(tokens) || tokens < 0
    ? new RangeError(`Invalid rate limit request tokens "${tokens}": expected a number >= 0`)
    : undefined;
}

interface _Waiter {
  tokens: number;
  resolve: (permit: RateLimitPermit) => void;
  reject: (reason: unknown) => void;
  cleanup: () => void;
}

interface _State {
  limits: RateLimits;
  active: number;
  starts: number[];
  spends: { at: number; tokens: number }[];
  queue: _Waiter[];
  timer: TimerId | undefined;
}

const WINDOW_MS = 60_000;
const NO_PERMIT: RateLimitPermit = { release() {} };

/** Rate limits shared by the model calls of one process, on an injected clock. */
export class InProcessRateLimiter implements RateLimiter {
  #states = new Map<string, _State>();
  #clock: Clock;

  /**
   * Creates a limiter holding `limits` for the providers listed.
   *
   * @param limits Limits by provider name; providers not listed are not limited.
   * @param options The clock of the per-minute windows. @default {systemClock}
   * @throws {RangeError} Naming the provider and field of a limit that is not an integer >= 1.
   */
  constructor(limits: Record<string, RateLimits>, options: { clock?: Clock } = {}) {
    this.#clock = options.clock ?? systemClock;
    checkRateLimits(limits);
    for (const [key, given] of Object.entries(limits)) {
      this.#states.set(key, {
        limits: { ...given },
        active: 0,
        starts: [],
        spends: [],
        queue: [],
        timer: undefined,
      });
    }
  }

  /**
   * Waits until a request for `key` fits, first in first out. A request
   * estimated above `tokensPerMinute` is let through alone once the window is empty.
   *
   * @param key The provider name.
   * @param request Estimated tokens and an abort signal.
   * @returns A permit to release when the request is over.
   * @throws {RangeError} When `tokens` is not a number >= 0.
   * @throws The signal's reason when it aborts while waiting.
   *
   * @example
   * ```ts
   * import { InProcessRateLimiter } from "./rate_limits.ts";
   * const limiter = new InProcessRateLimiter({ anthropic: { tokensPerMinute: 10_000 } });
   * const permit = await limiter.acquire("anthropic", { tokens: 1_200 });
   * permit.release(900);
   * console.assert(limiter.stats("anthropic").tokensInWindow === 900);
   * ```
   */
  acquire(key: string, request: RateLimitRequest = {}): Promise<RateLimitPermit> {
    const tokens = request.tokens ?? 0;
    const bad = badTokens(tokens);
    if (bad) return Promise.reject(bad);
    const state = this.#states.get(key);
    if (!state) return Promise.resolve(NO_PERMIT);
    const signal = request.signal;
    if (signal?.aborted) return Promise.reject(signal.reason);
    if (state.queue.length === 0 && this.#fits(state, tokens)) {
      return Promise.resolve(this.#admit(state, tokens));
    }
    return new Promise((resolve, reject) => {
      const onAbort = () => {
        const index = state.queue.indexOf(waiter);
        if (index >= 0) state.queue.splice(index, 1);
        reject(signal?.reason);
        this.#pump(state);
      };
      const waiter: _Waiter = {
        tokens,
        resolve,
        reject,
        cleanup: () => signal?.removeEventListener("abort", onAbort),
      };
      signal?.addEventListener("abort", onAbort, { once: true });
      state.queue.push(waiter);
      this.#pump(state);
    });
  }

  /**
   * What the limiter holds for `key` now.
   *
   * @param key The provider name.
   * @returns Requests in flight, callers waiting and the last minute's requests and tokens.
   */
  stats(key: string): RateLimitStats {
    const state = this.#states.get(key);
    if (!state) return { active: 0, queued: 0, requestsInWindow: 0, tokensInWindow: 0 };
    this.#prune(state);
    return {
      active: state.active,
      queued: state.queue.length,
      requestsInWindow: state.starts.length,
      tokensInWindow: state.spends.reduce((sum, s) => sum + s.tokens, 0),
    };
  }

  #prune(state: _State): void {
    const since = this.#clock.now() - WINDOW_MS;
    while (state.starts.length && state.starts[0]! <= since) state.starts.shift();
    while (state.spends.length && state.spends[0]!.at <= since) state.spends.shift();
  }

  #fits(state: _State, tokens: number): boolean {
    this.#prune(state);
    const { maxConcurrent, requestsPerMinute, tokensPerMinute } = state.limits;
    if (maxConcurrent !== undefined && state.active >= maxConcurrent) return false;
    if (requestsPerMinute !== undefined && state.starts.length >= requestsPerMinute) return false;
    if (tokensPerMinute !== undefined) {
      const spent = state.spends.reduce((sum, s) => sum + s.tokens, 0);
      if (spent > 0 && spent + tokens > tokensPerMinute) return false;
    }
    return true;
  }

  #admit(state: _State, tokens: number): RateLimitPermit {
    const at = this.#clock.now();
    state.active++;
    state.starts.push(at);
    const spend = { at, tokens };
    state.spends.push(spend);
    let released = false;
    return {
      release: (usedTokens?: number) => {
        if (released) return;
        released = true;
        state.active--;
        if (usedTokens !== undefined && Number.isFinite(usedTokens) && usedTokens >= 0) {
          spend.tokens = usedTokens;
        }
        this.#pump(state);
      },
    };
  }

  #pump(state: _State): void {
    while (state.queue.length && this.#fits(state, state.queue[0]!.tokens)) {
      const waiter = state.queue.shift()!;
      waiter.cleanup();
      waiter.resolve(this.#admit(state, waiter.tokens));
    }
    if (state.timer !== undefined) {
      this.#clock.clearTimeout(state.timer);
      state.timer = undefined;
    }
    if (!state.queue.length) return;
    const { maxConcurrent } = state.limits;
    if (maxConcurrent !== undefined && state.active >= maxConcurrent) return; // a release pumps
    // Blocked by a per-minute window: look again when its oldest entry leaves it.
    const oldest = Math.min(state.starts[0] ?? Infinity, state.spends[0]?.at ?? Infinity);
    if (oldest === Infinity) return;
    const wait = Math.max(0, oldest + WINDOW_MS - this.#clock.now());
    state.timer = this.#clock.setTimeout(() => {
      state.timer = undefined;
      this.#pump(state);
    }, wait);
  }
}
