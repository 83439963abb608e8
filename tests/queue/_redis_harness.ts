/**
 * The `RedisJobQueue` conformance harness (tests/queue/_redis_queue_harness.ts)
 * and the suite's Redis (`OAO_TEST_REDIS_URL`, or a `redis-server` of the
 * test file's own: see tests/_support/test_redis.ts).
 *
 * Importing this module gets that Redis first: when none can be had, every
 * test of the importing file fails at once with one line saying why. Tests
 * that bring their own server import tests/queue/_redis_queue_harness.ts.
 *
 * @module
 */
import { testRedisUrl } from "../_support/test_redis.ts";

export { deleteKeys, redisHarnessFactory } from "./_redis_queue_harness.ts";

/** The suite's Redis. */
export const REDIS_URL: string = await testRedisUrl();
