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
      const keys = await redis.keys(`${prefix}*`);
      const records = keys.filter((key) => key.startsWith(`${prefix}{exec-1}:batch:`));
      assert.equal(records.length, 2, "one record per batch, kept for its retries");
      assert.deepEqual(keys.filter((key) => !records.includes(key)).sort(), [
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

Deno.test("RedisPersistenceAdapter applies a save once when the reply of its script is lost and it is retried", async () => {
  const keyPrefix = testPrefix();
  const redis = await rawClient();
  // The first script call that Redis executes has its reply "lost".
  const send = redis.sendCommand.bind(redis);
  const seen = new WeakSet<object>();
  let executed = 0;
  redis.sendCommand = (command, stream) => {
    const sent = send(command, stream) as Promise<unknown>;
    if (!/^eval/.test(command.name) || seen.has(command)) return sent;
    seen.add(command);
    return sent.then((reply) => {
      if (++executed === 1) throw new Error("Connection is closed.");
      return reply;
    });
  };
  const adapter = new RedisPersistenceAdapter({
    client: redis,
    keyPrefix,
    retry: { initialDelayMs: 1 },
  });
  try {
    await adapter.save("exec-1/b", { n: 0 }); // the first script call: its reply is lost
    assert.equal(executed, 2, "one lost reply, one retry");
    // One batch of each kind of save, retried after a lost reply: a conditional save and an
    // actor's save must not see their own writes as conflicts, a plain save must not store twice.
    executed = 0;
    const saved = await Promise.all([
      adapter.save("exec-1/a", { n: 1 }, { expectedVersion: 0 }),
      adapter.save("exec-1/b", { n: 1 }),
      adapter.save("exec-1/c", { n: 1 }, { version: 3, fencingToken: 1 }),
    ]);
    assert.equal(executed, 2, "one lost reply, one retry");
    assert.deepEqual(saved.map((s) => s.version), [1, 2, 3]);
    for (const [key, version] of [["exec-1/a", 1], ["exec-1/b", 2], ["exec-1/c", 3]] as const) {
      assert.equal((await adapter.load(key))?.version, version);
    }
  } finally {
    await adapter.close();
    redis.disconnect();
    await deleteByPrefix(keyPrefix);
  }
});

Deno.test("RedisPersistenceAdapter batches the saves of one tick and isolates a failing one", async () => {
  const keyPrefix = testPrefix();
  const redis = await rawClient();
  const calls: string[] = [];
  const send = redis.sendCommand.bind(redis);
  redis.sendCommand = (command, stream) => {
    calls.push(command.name);
    return send(command, stream);
  };
  const adapter = new RedisPersistenceAdapter({ client: redis, keyPrefix });
  try {
    await redis.set(`${keyPrefix}{exec-2}:snap:exec-2/bad`, "not a hash");
    calls.length = 0;
    const results = await Promise.allSettled([
      adapter.save("exec-1/a", 1),
      adapter.save("exec-1/a", 2),
      adapter.save("exec-2/bad", 1),
      adapter.save("exec-2/bad", 2, { version: 7, fencingToken: 1 }),
      adapter.save("exec-2/good", 1, { version: 7, fencingToken: 1 }),
      adapter.save("exec-3/b", 1, { expectedVersion: 5 }),
    ]);
    assert.equal(calls.filter((name) => /^eval/.test(name)).length, 1, calls.join(", "));
    assert.deepEqual(
      results.map((r) => r.status === "fulfilled" ? r.value.version : String(r.reason)),
      [
        1,
        2,
        "ReplyError: WRONGTYPE Operation against a key holding the wrong kind of value",
        "ReplyError: WRONGTYPE Operation against a key holding the wrong kind of value",
        7,
        'StaleVersionError: Cannot save "exec-3/b": expected version 5 but the store holds version 0',
      ],
    );
    assert.deepEqual(await adapter.list("exec-1"), ["exec-1/a"]);
  } finally {
    await adapter.close();
    redis.disconnect();
    await deleteByPrefix(keyPrefix);
  }
});
