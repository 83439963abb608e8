// The RateLimiter contract (_rate_limiter_conformance.ts) on the in-process
// limiter (one node) and on Redis (each node its own limiter and connection).
import { InProcessRateLimiter } from "../../src/model/rate_limits.ts";
import { RedisRateLimiter } from "../../src/redis/redis_rate_limiter.ts";
import { testRedisUrl } from "../_support/test_redis.ts";
import { deleteByPrefix, testPrefix } from "../redis/_redis_helpers.ts";
import { rateLimiterConformance } from "./_rate_limiter_conformance.ts";

rateLimiterConformance("in process", (limits) => {
  const limiter = new InProcessRateLimiter(limits);
  return { node: () => limiter, close: () => Promise.resolve() };
});

const REDIS_URL = await testRedisUrl();

rateLimiterConformance("on Redis", (limits) => {
  const keyPrefix = testPrefix();
  const made: RedisRateLimiter[] = [];
  return {
    node() {
      const limiter = new RedisRateLimiter(limits, { redisUrl: REDIS_URL, keyPrefix, pollMs: 10 });
      made.push(limiter);
      return limiter;
    },
    async close() {
      await Promise.all(made.map((l) => l.close()));
      await deleteByPrefix(keyPrefix, REDIS_URL);
    },
  };
});
