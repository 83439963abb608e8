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
      assert.deepEqual(keys, [
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
      await store.appendEvent("exec-1", { type: "A" });
      for (const ttl of await ttls("exec-1")) {
        assert.ok(ttl > 604_790_000 && ttl <= 604_800_000, `TTL ${ttl}`);
      }
      // With a 2 s retention the tolerance is 20 ms: an append 150 ms later renews it.
      await store.appendEvent("exec-2", { type: "A" }, { expire: 2 });
      await new Promise((resolve) => setTimeout(resolve, 150));
      const [before] = await ttls("exec-2");
      assert.ok(before! <= 1_850, `TTL before the renewal ${before}`);
      await store.appendEvent("exec-2", { type: "B" }, { expire: 2 });
      for (const ttl of await ttls("exec-2")) {
        assert.ok(ttl > 1_950 && ttl <= 2_000, `renewed TTL ${ttl}`);
      }
      // A log recreated after its keys vanished gets its expiry at once.
      await redis.del(`${prefix}{exec-2}:events`);
      await store.appendEvent("exec-2", { type: "C" }, { expire: 2 });
      assert.ok((await redis.pttl(`${prefix}{exec-2}:events`)) > 1_950);
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

Deno.test("RedisEventStore returns the stored event when an append is retried with the same id", async () => {
  await withStore(async (store, prefix) => {
    // What a retry after a lost reply does: run the append script again with the same id.
    const first = await store.appendEvent("exec-1", { type: "A" });
    const redis = await rawClient();
    try {
      const script = await import("../../src/redis/_scripts.ts");
      const scripts = script._scripts(redis);
      const json = JSON.stringify({ id: first.id, type: "A", time: first.time });
      const index = `${prefix}executions`;
      const [events, meta] = [`${prefix}{exec-1}:events`, `${prefix}{exec-1}:meta`];
      const again = await scripts.oaoAppend(3, index, events, meta, 1, first.time, "exec-1", 1, ...[
        ...[first.id, json, 60_000, "", ""],
      ]);
      assert.deepEqual(again, ["", 0, 1]);
      // A batch that mixes the retried append with a new one stores only the new one.
      const next = crypto.randomUUID();
      const mixed = await scripts.oaoAppend(3, index, events, meta, 1, first.time, "exec-1", 2, ...[
        ...[first.id, json, 60_000, "", ""],
        ...[next, JSON.stringify({ id: next, type: "B", time: first.time }), 60_000, "", ""],
      ]);
      assert.deepEqual(mixed, ["", 0, 1, 1, 2]);
      assert.deepEqual((await store.readRange("exec-1")).map((e) => e.type), ["A", "B"]);
    } finally {
      redis.disconnect();
    }
  });
});

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
    await redis.set(`${keyPrefix}{broken}:meta`, "not a hash");
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
