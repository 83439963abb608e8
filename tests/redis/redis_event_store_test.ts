import assert from "node:assert/strict";
import { CorruptDataError } from "../../src/errors.ts";
import { RedisEventStore, type RedisEventStoreOptions } from "../../src/redis/redis_event_store.ts";
import { ManualClock } from "../../src/testing/manual_clock.ts";
import { testEventStoreConformance } from "../events/_conformance.ts";
import { deleteByPrefix, rawClient, REDIS_URL, testPrefix } from "./_harness.ts";

testEventStoreConformance("RedisEventStore", (options = {}) => {
  const keyPrefix = testPrefix();
  const clock = new ManualClock(1_700_000_000_000);
  const stores: RedisEventStore[] = [];
  const open = () => {
    const store = new RedisEventStore({ redisUrl: REDIS_URL, keyPrefix, clock, ...options });
    stores.push(store);
    return store;
  };
  return Promise.resolve({
    store: open(),
    clock,
    elapse: async (ms) => {
      await clock.advance(ms);
      await new Promise((resolve) => setTimeout(resolve, ms));
    },
    another: () => Promise.resolve(open()),
    cleanup: async () => {
      await Promise.all(stores.map((store) => store.close()));
      await deleteByPrefix(keyPrefix);
    },
  });
});

async function withStore(
  fn: (store: RedisEventStore, keyPrefix: string) => Promise<void>,
  options: RedisEventStoreOptions = {},
): Promise<void> {
  const keyPrefix = testPrefix();
  const store = new RedisEventStore({ redisUrl: REDIS_URL, keyPrefix, ...options });
  try {
    await fn(store, keyPrefix);
  } finally {
    await store.close();
    await deleteByPrefix(keyPrefix);
  }
}

Deno.test("RedisEventStore keeps one execution's keys under one hash tag below the prefix", async () => {
  await withStore(async (store, prefix) => {
    await store.appendEvent("exec-1", { type: "A", key: "k" });
    const redis = await rawClient();
    try {
      const keys = (await redis.keys(`${prefix}*`)).sort();
      const record = keys.find((key) => key.startsWith(`${prefix}{exec-1}:batch:`));
      assert.ok(record, "the record of the batch, kept for its retries");
      const ttl = await redis.pttl(record);
      assert.ok(ttl > 0 && ttl <= 90_000, `batch record TTL ${ttl}`);
      assert.deepEqual(keys.filter((key) => key !== record), [
        `${prefix}executions`,
        `${prefix}{exec-1}:events`,
        `${prefix}{exec-1}:meta`,
      ]);
      assert.deepEqual(
        await redis.xrange(`${prefix}{exec-1}:events`, "-", "+").then((r) => r.map((e) => e[0])),
        [
          "1-0",
        ],
      );
    } finally {
      redis.disconnect();
    }
  });
});

Deno.test("RedisEventStore sets a 7-day expiry on a log and renews it on appends, within 1 % or 1 s", async () => {
  await withStore(async (store, prefix) => {
    const redis = await rawClient();
    const ttls = (id: string) =>
      Promise.all(["events", "meta"].map((suffix) => redis.pttl(`${prefix}{${id}}:${suffix}`)));
    try {
      await store.appendEvent("exec-1", { type: "A", key: "k" });
      for (const ttl of await ttls("exec-1")) {
        assert.ok(ttl > 604_790_000 && ttl <= 604_800_000, `TTL ${ttl}`);
      }
      // With a 2 s retention the tolerance is 20 ms: an append 150 ms later renews it.
      await store.appendEvent("exec-2", { type: "A", key: "k" }, { expire: 2 });
      await new Promise((resolve) => setTimeout(resolve, 150));
      const [before] = await ttls("exec-2");
      assert.ok(before! <= 1_850, `TTL before the renewal ${before}`);
      await store.appendEvent("exec-2", { type: "B" }, { expire: 2 });
      for (const ttl of await ttls("exec-2")) {
        assert.ok(ttl > 1_950 && ttl <= 2_000, `renewed TTL ${ttl}`);
      }
      // An append through the script (here: fenced) reads the expiry in force,
      // so one removed or shortened behind the store's back is set again.
      await redis.persist(`${prefix}{exec-2}:events`);
      await store.appendEvent("exec-2", { type: "C" }, { expire: 2, fencingToken: 1 });
      assert.ok((await redis.pttl(`${prefix}{exec-2}:events`)) > 1_950);
      await redis.pexpire(`${prefix}{exec-1}:events`, 10_000);
      await store.appendEvent("exec-1", { type: "B" }, { fencingToken: 1 });
      for (const ttl of await ttls("exec-1")) assert.ok(ttl > 604_790_000, `TTL ${ttl}`);
    } finally {
      redis.disconnect();
    }
  });
});

Deno.test("RedisEventStore honours the store retention and a per-append expire", async () => {
  await withStore(async (store, prefix) => {
    const redis = await rawClient();
    try {
      await store.appendEvent("exec-1", { type: "A" });
      const storeTtl = await redis.pttl(`${prefix}{exec-1}:events`);
      assert.ok(storeTtl > 3_590_000 && storeTtl <= 3_600_000, `store TTL ${storeTtl}`);
      await store.appendEvent("exec-1", { type: "B" }, { expire: 86_400 });
      const appendTtl = await redis.pttl(`${prefix}{exec-1}:events`);
      assert.ok(appendTtl > 86_390_000 && appendTtl <= 86_400_000, `append TTL ${appendTtl}`);
    } finally {
      redis.disconnect();
    }
  }, { retentionSeconds: 3600 });
});

for (const autoResend of [true, false]) {
  Deno.test(`RedisEventStore stores an append once when the reply of its script is lost and it is retried (client resends: ${autoResend})`, async () => {
    const keyPrefix = testPrefix();
    const { Redis } = await import("ioredis");
    const redis = new Redis(REDIS_URL, { autoResendUnfulfilledCommands: autoResend });
    // The first script call that Redis executes has its reply "lost". (ioredis
    // calls sendCommand again for a command it queued while connecting.)
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
    const store = new RedisEventStore({ client: redis, keyPrefix, retry: { initialDelayMs: 1 } });
    try {
      const [a, b] = await Promise.all([
        store.appendEvent("exec-1", { type: "A" }),
        store.appendEvent("exec-2", { type: "B", key: "k" }),
      ]);
      assert.equal(executed, 2, "one lost reply, one retry");
      assert.deepEqual([a.seq, b.seq], [1, 1]);
      assert.deepEqual(await store.readRange("exec-1"), [a]);
      assert.deepEqual(await store.readRange("exec-2"), [b]);
      assert.deepEqual(await store.findByKey("exec-2", "k"), b);
      const c = await store.appendEvent("exec-1", { type: "C" });
      assert.equal(c.seq, 2);
    } finally {
      await store.close();
      redis.disconnect();
      await deleteByPrefix(keyPrefix);
    }
  });
}

Deno.test("RedisEventStore batches the appends of one tick, in order, and isolates a failing execution", async () => {
  const keyPrefix = testPrefix();
  const redis = await rawClient();
  // Count the script calls sent on the borrowed client.
  const calls: string[] = [];
  const send = redis.sendCommand.bind(redis);
  redis.sendCommand = (command, stream) => {
    calls.push(command.name);
    return send(command, stream);
  };
  const store = new RedisEventStore({ client: redis, keyPrefix });
  try {
    await redis.set(`${keyPrefix}{broken}:events`, "not a stream");
    calls.length = 0;
    const results = await Promise.allSettled([
      ...Array.from({ length: 5 }, (_, i) => store.appendEvent("exec-1", { type: `A${i}` })),
      store.appendEvent("broken", { type: "X" }),
      ...Array.from({ length: 5 }, (_, i) => store.appendEvent(`exec-${i + 2}`, { type: "B" })),
    ]);
    assert.equal(calls.filter((name) => /^eval/.test(name)).length, 1, calls.join(", "));
    const failed = results[5]!;
    assert.equal(failed.status, "rejected");
    assert.match(String((failed as PromiseRejectedResult).reason), /WRONGTYPE/);
    assert.equal(results.filter((r) => r.status === "fulfilled").length, 10);
    assert.deepEqual(
      (await store.readRange("exec-1")).map((e) => [e.seq, e.type]),
      [[1, "A0"], [2, "A1"], [3, "A2"], [4, "A3"], [5, "A4"]],
    );
    assert.deepEqual(
      (await store.listExecutions()).sort(),
      ["exec-1", "exec-2", "exec-3", "exec-4", "exec-5", "exec-6"],
    );
  } finally {
    await store.close();
    redis.disconnect();
    await deleteByPrefix(keyPrefix);
  }
});

Deno.test("RedisEventStore reports a corrupt entry with CorruptDataError naming the execution and key", async () => {
  await withStore(async (store, prefix) => {
    await store.appendEvent("exec-1", { type: "A" });
    const redis = await rawClient();
    try {
      await redis.xadd(`${prefix}{exec-1}:events`, "2-0", "e", "{not json");
      await redis.xadd(`${prefix}{exec-1}:events`, "3-0", "e", JSON.stringify({ type: "no id" }));
    } finally {
      redis.disconnect();
    }
    for (const read of [() => store.readRange("exec-1"), () => store.latest("exec-1")]) {
      await assert.rejects(read(), (error: unknown) => {
        assert.ok(error instanceof CorruptDataError);
        assert.ok(error.key.includes(`${prefix}{exec-1}:events`), error.key);
        assert.match(error.message, /execution "exec-1"/);
        return true;
      });
    }
    assert.equal((await store.readRange("exec-1", { to: 1 }))[0]!.type, "A");
  });
});

Deno.test("RedisEventStore listExecutions skips and prunes executions whose log expired", async () => {
  await withStore(async (store, prefix) => {
    await store.appendEvent("exec-old", { type: "A" }, { expire: 0.05 });
    await store.appendEvent("exec-live", { type: "A" });
    await new Promise((resolve) => setTimeout(resolve, 120));
    assert.deepEqual(await store.listExecutions(), ["exec-live"]);
    const redis = await rawClient();
    try {
      assert.deepEqual(await redis.zrange(`${prefix}executions`, "0", "-1"), ["exec-live"]);
    } finally {
      redis.disconnect();
    }
  });
});

Deno.test("RedisEventStore live tail of one process sees appends of another without gaps", async () => {
  const keyPrefix = testPrefix();
  const reader = new RedisEventStore({ redisUrl: REDIS_URL, keyPrefix, subscribeBlockMs: 50 });
  const writers = [1, 2, 3].map(() => new RedisEventStore({ redisUrl: REDIS_URL, keyPrefix }));
  try {
    const total = 300;
    const controller = new AbortController();
    const seen: number[] = [];
    const tail = (async () => {
      for await (const event of reader.subscribe("exec-1", { signal: controller.signal })) {
        seen.push(event.seq);
        if (seen.length === total) controller.abort();
      }
    })();
    await Promise.all(writers.map(async (writer, w) => {
      for (let i = 0; i < total / writers.length; i++) {
        await writer.appendEvent("exec-1", { type: "E", data: { w, i } });
        if (i % 20 === 0) await new Promise((resolve) => setTimeout(resolve, 60)); // let XREAD time out
      }
    }));
    await tail;
    assert.deepEqual(seen, Array.from({ length: total }, (_, i) => i + 1));
  } finally {
    await Promise.all([reader, ...writers].map((store) => store.close()));
    await deleteByPrefix(keyPrefix);
  }
});

Deno.test("RedisEventStore rejects an invalid key prefix or block time", () => {
  assert.throws(() => new RedisEventStore({ keyPrefix: "a{b" }), TypeError);
  assert.throws(() => new RedisEventStore({ subscribeBlockMs: 0 }), RangeError);
  assert.throws(() => new RedisEventStore({ retentionSeconds: -5 }), RangeError);
});
