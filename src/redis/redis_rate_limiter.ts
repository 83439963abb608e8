/**
 * The {@linkcode RateLimiter} port on Redis: per-provider limits on model
 * calls — concurrent requests, requests and tokens per minute — shared by
 * every node of a deployment, so that 8 nodes under `maxConcurrent: 4` still
 * make 4 calls at once, not 32.
 *
 * ## Keys (prefix `oao:` by default), per provider
 * - `oao:{ratelimit:<provider>}:active` — a sorted set: permit id → lease
 *   expiry (ms). A node that dies holding a permit frees it when its lease
 *   runs out (`leaseMs`, renewed every third of it while the call runs).
 * - `…:window` — a sorted set: permit id → start time (ms), for the last
 *   minute's requests.
 * - `…:tokens` — a hash: permit id → its tokens (the estimate, corrected by
 *   the tokens really used at release).
 *
 * The three carry one hash tag (one Cluster slot), so a grant is one Lua
 * script that prunes, checks and admits atomically, on Redis' own clock
 * (`TIME`), never the nodes'. Keys expire once idle.
 *
 * Callers of one node wait first in, first out; the head of each node's
 * queue asks Redis again when this node releases a permit, every `pollMs`
 * while the limit of concurrent requests is reached, and when the script says
 * a per-minute window frees a slot (at least every 20 × `pollMs`, since a
 * release elsewhere can correct its tokens down). Across nodes the order is
 * not strict.
 *
 * @example
 * ```ts
 * import { RedisRateLimiter } from "./redis_rate_limiter.ts";
 * const limiter = new RedisRateLimiter(
 *   { openai: { maxConcurrent: 4, requestsPerMinute: 500 } },
 *   { redisUrl: Deno.env.get("REDIS_URL"), keyPrefix: "oao-example:" },
 * );
 * const permit = await limiter.acquire("openai", { tokens: 800 });
 * permit.release(650);
 * await limiter.close();
 * ```
 *
 * @module
 */
import { type Clock, systemClock } from "../clock.ts";
import {
  badTokens,
  checkRateLimits,
  type RateLimiter,
  type RateLimitPermit,
  type RateLimitRequest,
  type RateLimits,
} from "../model/rate_limits.ts";
import { luaScript, type QueueScript, runQueueScript } from "./_queue_scripts.ts";
import { _StoreClient } from "./_store_client.ts";
import type { RedisStoreOptions } from "./redis_store_options.ts";

/** Options of {@linkcode RedisRateLimiter}. */
export interface RedisRateLimiterOptions extends RedisStoreOptions {
  /** A permit not renewed for this long is freed (its node died), in ms. @default {60000} */
  leaseMs?: number;
  /** Width of the per-minute windows, in ms (shorter only in tests). @default {60000} */
  windowMs?: number;
  /** How often a caller waiting for a concurrent slot asks again, in ms. @default {50} */
  pollMs?: number;
}

/** What {@linkcode RedisRateLimiter.stats} reports for one provider, over all nodes. */
export interface RedisRateLimitStats {
  /** Requests in flight on every node. */
  active: number;
  /** Callers of this node waiting. */
  queued: number;
  /** Requests started within the window, on every node. */
  requestsInWindow: number;
  /** Their tokens. */
  tokensInWindow: number;
}

/**
 * KEYS: active, window, tokens. ARGV: id, tokens, maxConcurrent, requestsPerMinute,
 * tokensPerMinute (0 = none), windowMs, leaseMs. Returns 0 when granted, -1 while
 * the concurrent limit is reached, else the ms until the window frees a slot.
 */
const ACQUIRE = luaScript(
  "rateLimitAcquire",
  `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local windowMs = tonumber(ARGV[6])
local leaseMs = tonumber(ARGV[7])
local since = now - windowMs
for _, id in ipairs(redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', since)) do
  redis.call('HDEL', KEYS[3], id)
end
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', since)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
local maxConcurrent = tonumber(ARGV[3])
if maxConcurrent > 0 and redis.call('ZCARD', KEYS[1]) >= maxConcurrent then return -1 end
local function untilFree()
  local first = redis.call('ZRANGE', KEYS[2], 0, 0, 'WITHSCORES')
  return math.max(1, tonumber(first[2]) + windowMs - now + 1)
end
local rpm = tonumber(ARGV[4])
if rpm > 0 and redis.call('ZCARD', KEYS[2]) >= rpm then return untilFree() end
local tpm = tonumber(ARGV[5])
if tpm > 0 then
  local spent = 0
  for _, v in ipairs(redis.call('HVALS', KEYS[3])) do spent = spent + tonumber(v) end
  if spent > 0 and spent + tonumber(ARGV[2]) > tpm then return untilFree() end
end
redis.call('ZADD', KEYS[1], now + leaseMs, ARGV[1])
redis.call('ZADD', KEYS[2], now, ARGV[1])
redis.call('HSET', KEYS[3], ARGV[1], ARGV[2])
redis.call('PEXPIRE', KEYS[1], leaseMs)
redis.call('PEXPIRE', KEYS[2], windowMs + leaseMs)
redis.call('PEXPIRE', KEYS[3], windowMs + leaseMs)
return 0
`,
);

/** KEYS: active, tokens. ARGV: id, used tokens (-1: keep the estimate). */
const RELEASE = luaScript(
  "rateLimitRelease",
  `
redis.call('ZREM', KEYS[1], ARGV[1])
if tonumber(ARGV[2]) >= 0 and redis.call('HEXISTS', KEYS[2], ARGV[1]) == 1 then
  redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
end
return 1
`,
);

/** KEYS: active. ARGV: id, leaseMs. Extends a held permit's lease. */
const RENEW = luaScript(
  "rateLimitRenew",
  `
if not redis.call('ZSCORE', KEYS[1], ARGV[1]) then return 0 end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1])
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[2]))
return 1
`,
);

interface _Waiter {
  tokens: number;
  signal: AbortSignal | undefined;
  resolve: (permit: RateLimitPermit) => void;
  reject: (reason: unknown) => void;
}

interface _Provider {
  limits: RateLimits;
  keys: { active: string; window: string; tokens: string };
  queue: _Waiter[];
  pumping: boolean;
  /** Ends the pump's current wait early (a release here, a new head). */
  nudge: (() => void) | undefined;
}

const NO_PERMIT: RateLimitPermit = { release() {} };

/** Rate limits shared by every node on one Redis. Connects on first use. */
export class RedisRateLimiter implements RateLimiter {
  readonly #redis: _StoreClient;
  readonly #providers = new Map<string, _Provider>();
  readonly #clock: Clock;
  readonly #leaseMs: number;
  readonly #windowMs: number;
  readonly #pollMs: number;
  readonly #closed = new AbortController();
  readonly #renewals = new Set<ReturnType<Clock["setTimeout"]>>();

  /**
   * Creates the limiter; the connection is opened by the first acquire.
   *
   * @param limits Limits by provider name; providers not listed are not limited.
   * @param options URL (or client), key prefix, lease, window and poll interval.
   * @throws {RangeError} Naming the provider and field of a bad limit, or a bad option.
   */
  constructor(limits: Record<string, RateLimits>, options: RedisRateLimiterOptions = {}) {
    checkRateLimits(limits);
    this.#clock = options.clock ?? systemClock;
    this.#leaseMs = _positive(options.leaseMs ?? 60_000, "leaseMs");
    this.#windowMs = _positive(options.windowMs ?? 60_000, "windowMs");
    this.#pollMs = _positive(options.pollMs ?? 50, "pollMs");
    this.#redis = new _StoreClient("RedisRateLimiter", options);
    for (const [key, given] of Object.entries(limits)) {
      const base = `${this.#redis.prefix}{ratelimit:${key}}`;
      this.#providers.set(key, {
        limits: { ...given },
        keys: { active: `${base}:active`, window: `${base}:window`, tokens: `${base}:tokens` },
        queue: [],
        pumping: false,
        nudge: undefined,
      });
    }
  }

  /**
   * Waits until a request for `key` fits the limits over all nodes, first
   * in first out among this node's callers.
   *
   * @param key The provider name.
   * @param request Estimated tokens and an abort signal.
   * @returns A permit to release when the request is over.
   * @throws {RangeError} When `tokens` is not a number >= 0.
   * @throws {StoreUnavailableError} When Redis stays unreachable.
   * @throws The signal's reason when it aborts while waiting.
   */
  acquire(key: string, request: RateLimitRequest = {}): Promise<RateLimitPermit> {
    const tokens = request.tokens ?? 0;
    const bad = badTokens(tokens);
    if (bad) return Promise.reject(bad);
    const provider = this.#providers.get(key);
    if (!provider) return Promise.resolve(NO_PERMIT);
    const signal = request.signal;
    if (signal?.aborted) return Promise.reject(signal.reason);
    return new Promise((resolve, reject) => {
      const waiter: _Waiter = { tokens: Math.ceil(tokens), signal, resolve, reject };
      provider.queue.push(waiter);
      signal?.addEventListener("abort", () => {
        const at = provider.queue.indexOf(waiter);
        if (at < 0) return; // granted already
        provider.queue.splice(at, 1);
        reject(signal.reason);
        if (at === 0) provider.nudge?.(); // the next one moves up
      }, { once: true });
      this.#pump(provider);
    });
  }

  /**
   * What Redis holds for `key` now, over all nodes (three reads).
   *
   * @param key The provider name.
   * @returns Requests in flight, this node's waiting callers, the window's requests and tokens.
   */
  async stats(key: string): Promise<RedisRateLimitStats> {
    const provider = this.#providers.get(key);
    if (!provider) return { active: 0, queued: 0, requestsInWindow: 0, tokensInWindow: 0 };
    const { active, window, tokens } = provider.keys;
    const [held, started, spent] = await this.#redis.run(
      `stats("${key}")`,
      (client) => Promise.all([client.zcard(active), client.zcard(window), client.hvals(tokens)]),
    );
    return {
      active: Number(held),
      queued: provider.queue.length,
      requestsInWindow: Number(started),
      tokensInWindow: (spent as string[]).reduce((sum, v) => sum + Number(v), 0),
    };
  }

  /** Fails this node's waiting callers, stops lease renewals and closes an owned connection. */
  async close(): Promise<void> {
    this.#closed.abort(new Error("The rate limiter is closed"));
    for (const timer of this.#renewals) this.#clock.clearTimeout(timer);
    this.#renewals.clear();
    for (const provider of this.#providers.values()) provider.nudge?.();
    await this.#redis.close();
  }

  // One loop per provider serves its queue's head until the queue is empty.
  async #pump(provider: _Provider): Promise<void> {
    if (provider.pumping) return;
    provider.pumping = true;
    try {
      while (provider.queue.length) {
        const head = provider.queue[0]!;
        if (this.#closed.signal.aborted) {
          provider.queue.shift();
          head.reject(this.#closed.signal.reason);
          continue;
        }
        const id = crypto.randomUUID();
        let wait: number;
        try {
          wait = await this.#script("acquire", ACQUIRE, provider, [
            id,
            head.tokens,
            provider.limits.maxConcurrent ?? 0,
            provider.limits.requestsPerMinute ?? 0,
            provider.limits.tokensPerMinute ?? 0,
            this.#windowMs,
            this.#leaseMs,
          ]);
        } catch (error) {
          if (provider.queue[0] === head) provider.queue.shift();
          head.reject(this.#closed.signal.aborted ? this.#closed.signal.reason : error);
          continue;
        }
        if (wait === 0) {
          const permit = this.#permit(provider, id);
          // A caller that gave up while Redis granted: its permit goes back at once.
          if (provider.queue[0] !== head) permit.release();
          else {
            provider.queue.shift();
            head.resolve(permit);
          }
          continue;
        }
        // A release on another node can free room early (its tokens corrected
        // down): a window wait asks again at least every 20 polls.
        await this.#sleep(provider, wait < 0 ? this.#pollMs : Math.min(wait, this.#pollMs * 20));
      }
    } finally {
      provider.pumping = false;
    }
  }

  #sleep(provider: _Provider, ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = this.#clock.setTimeout(done, ms);
      function done() {
        provider.nudge = undefined;
        resolve();
      }
      provider.nudge = () => {
        this.#clock.clearTimeout(timer);
        done();
      };
    });
  }

  #permit(provider: _Provider, id: string): RateLimitPermit {
    let released = false;
    const renew = () => {
      timer = this.#clock.setTimeout(() => {
        this.#renewals.delete(timer);
        if (released) return;
        this.#script("renew", RENEW, provider, [id, this.#leaseMs], [provider.keys.active])
          .catch(() => {}) // the next renewal tries again; the lease covers the gap
          .finally(() => released || renew());
      }, Math.max(1, Math.floor(this.#leaseMs / 3)));
      this.#renewals.add(timer);
    };
    let timer: ReturnType<Clock["setTimeout"]>;
    renew();
    return {
      release: (usedTokens?: number) => {
        if (released) return;
        released = true;
        this.#clock.clearTimeout(timer);
        this.#renewals.delete(timer);
        const used = usedTokens !== undefined && Number.isFinite(usedTokens) && usedTokens >= 0
          ? Math.ceil(usedTokens)
          : -1;
        this.#script("release", RELEASE, provider, [id, used], [
          provider.keys.active,
          provider.keys.tokens,
        ]).catch(() => {}) // unreleased, the permit is freed when its lease ends
          .finally(() => provider.nudge?.());
      },
    };
  }

  async #script(
    operation: string,
    script: QueueScript,
    provider: _Provider,
    args: (string | number)[],
    keys: string[] = [provider.keys.active, provider.keys.window, provider.keys.tokens],
  ): Promise<number> {
    return Number(
      await this.#redis.run(
        `${operation} of a rate limit permit`,
        (client) => runQueueScript(client, script, keys, args),
      ),
    );
  }
}

function _positive(value: number, name: string): number {
  if (!Number.isSafeInteger(value) || value < 1) {
    throw new RangeError(
      `Invalid RedisRateLimiter ${name} ${JSON.stringify(value)}: expected an integer >= 1 (ms)`,
    );
  }
  return value;
}
