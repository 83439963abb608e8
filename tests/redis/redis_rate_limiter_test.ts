// What only the Redis rate limiter has: per-minute windows on Redis' clock
// shared by nodes, permits of a node that died freed when their lease runs
// out, renewed leases for long calls, callers failed at close, keys that
// expire once idle, and options checked naming the field.
import assert from "node:assert/strict";
import { RedisRateLimiter } from "../../src/redis/redis_rate_limiter.ts";
import { testRedisUrl } from "../_support/test_redis.ts";
import { deleteByPrefix, rawClient, testPrefix } from "./_redis_helpers.ts";

const REDIS_URL = await testRedisUrl();

async function withPrefix(body: (keyPrefix: string) => Promise<void>): Promise<void> {
  const keyPrefix = testPrefix();
  try {
    await body(keyPrefix);
  } finally {
    await deleteByPrefix(keyPrefix, REDIS_URL);
  }
}

Deno.test("requestsPerMinute holds over all nodes until the oldest request leaves the window", async () => {
  await withPrefix(async (keyPrefix) => {
    const options = { redisUrl: REDIS_URL, keyPrefix, windowMs: 400, pollMs: 10 };
    const a = new RedisRateLimiter({ openai: { requestsPerMinute: 2 } }, options);
    const b = new RedisRateLimiter({ openai: { requestsPerMinute: 2 } }, options);
    try {
      (await a.acquire("openai")).release();
      const start = Date.now();
      (await b.acquire("openai")).release();
      const third = await a.acquire("openai");
      const waited = Date.now() - start;
      third.release();
      assert.ok(waited >= 300, `the third request waited for the window: ${waited} ms`);
      const stats = await b.stats("openai");
      assert.equal(stats.active, 0);
      assert.ok(stats.requestsInWindow >= 1 && stats.requestsInWindow <= 2);
    } finally {
      await a.close();
      await b.close();
    }
  });
});

Deno.test("a permit of a node that died is freed when its lease runs out; a live one is renewed", async () => {
  await withPrefix(async (keyPrefix) => {
    const options = { redisUrl: REDIS_URL, keyPrefix, leaseMs: 300, pollMs: 10 };
    const dead = new RedisRateLimiter({ openai: { maxConcurrent: 1 } }, options);
    const live = new RedisRateLimiter({ openai: { maxConcurrent: 1 } }, options);
    try {
      await dead.acquire("openai"); // never released
      await dead.close(); // stops its renewals: as if the process died
      const start = Date.now();
      const permit = await live.acquire("openai");
      assert.ok(Date.now() - start >= 150, "granted only once the lease ran out");
      // Held well past its lease, the live permit is renewed and keeps its slot.
      const other = new RedisRateLimiter({ openai: { maxConcurrent: 1 } }, options);
      try {
        const blocked = other.acquire("openai", { signal: AbortSignal.timeout(900) });
        await assert.rejects(blocked, (e: Error) => e.name === "TimeoutError");
        permit.release();
        (await other.acquire("openai")).release();
      } finally {
        await other.close();
      }
    } finally {
      await live.close();
    }
  });
});

Deno.test("closing fails the callers still waiting, and idle keys expire", async () => {
  await withPrefix(async (keyPrefix) => {
    const limiter = new RedisRateLimiter(
      { openai: { maxConcurrent: 1, tokensPerMinute: 10_000 } },
      { redisUrl: REDIS_URL, keyPrefix, leaseMs: 5_000, windowMs: 10_000 },
    );
    const held = await limiter.acquire("openai", { tokens: 100 });
    const waiting = limiter.acquire("openai");
    const redis = await rawClient(REDIS_URL);
    try {
      const keys = await redis.keys(`${keyPrefix}*`);
      assert.equal(keys.length, 3, keys.join(", "));
      for (const key of keys) {
        const ttl = await redis.pttl(key);
        assert.ok(ttl > 0 && ttl <= 15_000, `${key} expires (${ttl} ms)`);
      }
      held.release(80);
      assert.equal((await limiter.stats("openai")).tokensInWindow >= 80, true);
    } finally {
      redis.disconnect();
    }
    (await waiting).release();
    const last = await limiter.acquire("openai");
    const blocked = limiter.acquire("openai");
    await limiter.close();
    await assert.rejects(blocked, /The rate limiter is closed/);
    last.release();
  });
});

Deno.test("bad limits and options are refused naming the field", () => {
  assert.throws(
    () => new RedisRateLimiter({ openai: { requestsPerMinute: 0 } }),
    /rateLimits\.openai\.requestsPerMinute 0: expected an integer >= 1/,
  );
  assert.throws(
    () => new RedisRateLimiter({}, { leaseMs: 0.5 }),
    /RedisRateLimiter leaseMs 0\.5: expected an integer >= 1/,
  );
});
