import assert from "node:assert/strict";
import { CorruptDataError } from "../../src/errors.ts";
import { RedisScheduleStore } from "../../src/redis/redis_schedule_store.ts";
import { newSchedule } from "../../src/schedule/schedule.ts";
import { testScheduleStoreConformance } from "../schedule/_conformance.ts";
import { deleteByPrefix, rawClient, REDIS_URL, testPrefix } from "./_harness.ts";

testScheduleStoreConformance("RedisScheduleStore", () => {
  const keyPrefix = testPrefix();
  const store = new RedisScheduleStore({ redisUrl: REDIS_URL, keyPrefix });
  const others: RedisScheduleStore[] = [];
  return Promise.resolve({
    store,
    another: () => {
      const other = new RedisScheduleStore({ redisUrl: REDIS_URL, keyPrefix });
      others.push(other);
      return Promise.resolve(other);
    },
    cleanup: async () => {
      await Promise.all([store, ...others].map((s) => s.close()));
      await deleteByPrefix(keyPrefix);
    },
  });
});

Deno.test("RedisScheduleStore keeps schedules in two hashes under one hash tag, and reports corrupt JSON", async () => {
  const keyPrefix = testPrefix();
  const store = new RedisScheduleStore({ redisUrl: REDIS_URL, keyPrefix });
  const redis = await rawClient();
  try {
    await store.create(newSchedule({ id: "s1", cron: "@daily", agent: "a" }, 0));
    assert.deepEqual((await redis.keys(`${keyPrefix}*`)).sort(), [
      `${keyPrefix}{schedules}:data`,
      `${keyPrefix}{schedules}:ver`,
    ]);
    assert.equal(await redis.hget(`${keyPrefix}{schedules}:ver`, "s1"), "1");
    await redis.hset(`${keyPrefix}{schedules}:data`, "s1", "{not json");
    await assert.rejects(store.get("s1"), CorruptDataError);
    await assert.rejects(store.list(), CorruptDataError);
  } finally {
    redis.disconnect();
    await store.close();
    await deleteByPrefix(keyPrefix);
  }
});
