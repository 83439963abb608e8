import assert from "node:assert/strict";
import { CorruptDataError } from "../../src/errors.ts";
import { RedisPersistenceAdapter } from "../../src/redis/redis_persistence_adapter.ts";
import { ManualClock } from "../../src/testing/manual_clock.ts";
import { testPersistenceConformance } from "../persistence/_conformance.ts";
import { deleteByPrefix, rawClient, REDIS_URL, testPrefix } from "./_harness.ts";

testPersistenceConformance("RedisPersistenceAdapter", () => {
  const keyPrefix = testPrefix();
  const clock = new ManualClock(1_700_000_000_000);
  const adapter = new RedisPersistenceAdapter({ redisUrl: REDIS_URL, keyPrefix, clock });
  return Promise.resolve({
    adapter,
    clock,
    elapse: async (ms) => {
      await clock.advance(ms);
      await new Promise((resolve) => setTimeout(resolve, ms));
    },
    cleanup: async () => {
      await adapter.close();
      await deleteByPrefix(keyPrefix);
    },
  });
});

async function withAdapter(
  fn: (adapter: RedisPersistenceAdapter, keyPrefix: string) => Promise<void>,
): Promise<void> {
  const keyPrefix = testPrefix();
  const adapter = new RedisPersistenceAdapter({ redisUrl: REDIS_URL, keyPrefix });
  try {
    await fn(adapter, keyPrefix);
  } finally {
    await adapter.close();
    await deleteByPrefix(keyPrefix);
  }
}

Deno.test("RedisPersistenceAdapter keeps a scope's keys under one hash tag below the prefix", async () => {
  await withAdapter(async (adapter, prefix) => {
    await adapter.save("exec-1/planner", { step: 1 });
    await adapter.save("exec-1", "root");
    const redis = await rawClient();
    try {
      assert.deepEqual((await redis.keys(`${prefix}*`)).sort(), [
        `${prefix}{exec-1}:snap:exec-1`,
        `${prefix}{exec-1}:snap:exec-1/planner`,
        `${prefix}{exec-1}:snapshots`,
      ]);
    } finally {
      redis.disconnect();
    }
  });
});

Deno.test("RedisPersistenceAdapter sets TTLs in Redis: per save, per scope, and never shorter on the index", async () => {
  await withAdapter(async (adapter, prefix) => {
    const redis = await rawClient();
    const snap = (key: string) => `${prefix}{exec-1}:snap:${key}`;
    const index = `${prefix}{exec-1}:snapshots`;
    try {
      await adapter.save("exec-1/a", 1, { ttlSeconds: 100 });
      assert.ok(await redis.pttl(snap("exec-1/a")) > 99_000);
      assert.ok(await redis.pttl(index) > 99_000);
      await adapter.save("exec-1/b", 1);
      assert.equal(await redis.pttl(snap("exec-1/b")), -1);
      assert.equal(await redis.pttl(index), -1, "a snapshot without expiry keeps the index");
      await adapter.save("exec-1/a", 2);
      assert.equal(
        await redis.pttl(snap("exec-1/a")),
        -1,
        "a save without ttlSeconds removes the expiry",
      );
      await adapter.expireScope("exec-1", 3600);
      for (const key of [snap("exec-1/a"), snap("exec-1/b"), index]) {
        const ttl = await redis.pttl(key);
        assert.ok(ttl > 3_590_000 && ttl <= 3_600_000, `${key}: ${ttl}`);
      }
    } finally {
      redis.disconnect();
    }
  });
});

Deno.test("RedisPersistenceAdapter reports a corrupt snapshot with CorruptDataError naming the key", async () => {
  await withAdapter(async (adapter, prefix) => {
    await adapter.save("exec-1/a", { ok: true });
    const redis = await rawClient();
    try {
      await redis.hset(`${prefix}{exec-1}:snap:exec-1/a`, "d", "{truncated");
      await redis.hset(`${prefix}{exec-1}:snap:exec-1/b`, "v", "x", "t", "1", "d", "1");
    } finally {
      redis.disconnect();
    }
    for (const key of ["exec-1/a", "exec-1/b"]) {
      await assert.rejects(adapter.load(key), (error: unknown) => {
        assert.ok(error instanceof CorruptDataError);
        assert.equal(error.key, `${prefix}{exec-1}:snap:${key}`);
        assert.ok(error.message.includes(key));
        return true;
      });
    }
  });
});
