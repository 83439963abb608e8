/**
 * Helpers for tests against the suite's Redis (`OAO_TEST_REDIS_URL`, or a
 * `redis-server` of the test file's own: see tests/_support/test_redis.ts):
 * a unique key prefix per test, removal of a prefix's keys, raw clients for
 * inspection, and log capture.
 *
 * Importing this module gets that Redis first: when none can be had, every
 * test of the importing file fails at once with one line saying why. Tests
 * that bring their own server import tests/redis/_redis_helpers.ts instead.
 *
 * @module
 */
import type { Redis } from "ioredis";
import { testRedisUrl } from "../_support/test_redis.ts";
import * as helpers from "./_redis_helpers.ts";

export { type CapturedLogs, captureLogs, testPrefix } from "./_redis_helpers.ts";

/** The suite's Redis. */
export const REDIS_URL: string = await testRedisUrl();

/**
 * A plain ioredis client (no OAO options), for inspecting and corrupting data.
 *
 * @param url The server.
 * @returns A client; call `disconnect()` when done.
 */
export function rawClient(url: string = REDIS_URL): Promise<Redis> {
  return helpers.rawClient(url);
}

/**
 * Deletes every key that starts with `prefix`.
 *
 * @param prefix The prefix (no glob characters).
 * @param url The server.
 * @returns Once deleted.
 */
export function deleteByPrefix(prefix: string, url: string = REDIS_URL): Promise<void> {
  return helpers.deleteByPrefix(prefix, url);
}
