import assert from "node:assert/strict";
import type { Redis } from "ioredis";
import { type Clock, sleepOn } from "../../src/clock.ts";
import { CorruptDataError } from "../../src/errors.ts";
import type { StoredEvent } from "../../src/events/event_store.ts";
import { RedisEventStore, type RedisEventStoreOptions } from "../../src/redis/redis_event_store.ts";
import { ManualClock } from "../../src/testing/manual_clock.ts";
import { RedisServer } from "../_support/redis_server.ts";
import { type EventStoreFactory, testEventStoreConformance } from "../events/_conformance.ts";
import { testExecutionIndexConformance } from "../events/_index_conformance.ts";
import { deleteByPrefix, rawClient, REDIS_URL, testPrefix } from "./_harness.ts";

/**
 * The store's clock in the conformance suite: the time of `manual`, and
 * timers that fire when `manual` reaches them or when as much real time
 * passed, whichever comes first. The retry delays and the connection budget
 * wait on these timers: on `manual` alone they would never pass, and a test
 * whose Redis went away would wait forever instead of failing.
 */
function manualTimeRealTimers(manual: ManualClock): Clock {
  const timers = new Map<number, () => void>();
  let next = 1;
  const clock: Clock = {
    now: () => manual.now(),
    setTimeout(fn, ms) {
      const id = next++;
      const fire = () => {
        if (!timers.has(id)) return;
        clock.clearTimeout(id);
        fn();
      };
      const onManual = manual.setTimeout(fire, ms);
      const onReal = setTimeout(fire, ms);
      timers.set(id, () => {
        manual.clearTimeout(onManual);
        clearTimeout(onReal);
      });
      return id;
    },
    clearTimeout(id) {
      timers.get(id as number)?.();
      timers.delete(id as number);
    },
    sleep: (ms, signal) => sleepOn(clock, ms, signal),
  };
  return clock;
}

const factory: EventStoreFactory = (options = {}) => {
  const keyPrefix = testPrefix();
  const clock = new ManualClock(1_700_000_000_000);
  const storeClock = manualTimeRealTimers(clock);
  const stores: RedisEventStore[] = [];
  const open = () => {
    const store = new RedisEventStore({
      redisUrl: REDIS_URL,
      keyPrefix,
      clock: storeClock,
      ...options,
    });
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
};
testEventStoreConformance("RedisEventStore", factory);
testExecutionIndexConformance("RedisEventStore", factory);

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

/** A borrowed client that counts the commands it sends, by name. */
async function countingClient(): Promise<{ redis: Redis; sent: Map<string, number> }> {
  const redis = await rawClient();
  const sent = new Map<string, number>();
  const send = redis.sendCommand.bind(redis);
  redis.sendCommand = (command, stream) => {
    sent.set(command.name, (sent.get(command.name) ?? 0) + 1);
    return send(command, stream);
  };
  return { redis, sent };
}

Deno.test("two RedisEventStore instances appending concurrently to one execution keep a gap-free total order", async () => {
  const keyPrefix = testPrefix();
  const clients = [await countingClient(), await countingClient()];
  const stores = clients.map(({ redis }) => new RedisEventStore({ client: redis, keyPrefix }));
  try {
    // One sequential appender per store (a store sends an execution's append
    // directly only when nothing else of it is in flight), with bursts.
    const appender = async (store: RedisEventStore, name: string) => {
      const events: StoredEvent[] = [];
      for (let i = 0; i < 60; i++) {
        events.push(await store.appendEvent("exec-1", { type: name, data: { i } }));
        if (i % 10 === 9) {
          events.push(
            ...await Promise.all(
              [1, 2, 3].map((j) =>
                store.appendEvent("exec-1", { type: `${name}-burst`, data: { i, j } })
              ),
            ),
          );
        }
      }
      return events;
    };
    const appended = (await Promise.all([
      appender(stores[0]!, "a"),
      appender(stores[1]!, "b"),
    ])).flat();
    const log = await stores[0]!.readRange("exec-1");
    assert.deepEqual(log.map((e) => e.seq), Array.from({ length: 2 * 78 }, (_, i) => i + 1));
    assert.deepEqual(
      [...appended].sort((x, y) => x.seq - y.seq),
      log,
      "every append resolved with the event stored at its seq, each once",
    );
    for (const name of ["a", "b"]) {
      const mine = log.filter((e) => e.type === name).map((e) => (e.data as { i: number }).i);
      assert.deepEqual(mine, Array.from({ length: 60 }, (_, i) => i), `${name} in order`);
    }
    for (const { sent } of clients) {
      assert.ok((sent.get("xadd") ?? 0) > 0, "some appends went directly");
      assert.ok((sent.get("evalsha") ?? 0) > 1, "others (bursts, collisions) took the script");
    }
  } finally {
    await Promise.all(stores.map((store) => store.close()));
    for (const { redis } of clients) redis.disconnect();
    await deleteByPrefix(keyPrefix);
  }
});

for (const autoResend of [true, false]) {
  Deno.test(`RedisEventStore stores a direct append once when its reply is lost and it is retried (client resends: ${autoResend})`, async () => {
    const keyPrefix = testPrefix();
    const { Redis } = await import("ioredis");
    const redis = new Redis(REDIS_URL, { autoResendUnfulfilledCommands: autoResend });
    // The first XADD that Redis executes has its reply "lost".
    const send = redis.sendCommand.bind(redis);
    let lost = 0;
    redis.sendCommand = (command, stream) => {
      const sent = send(command, stream) as Promise<unknown>;
      if (command.name !== "xadd" || lost > 0) return sent;
      lost++;
      return sent.then(() => {
        throw new Error("Connection is closed.");
      });
    };
    const store = new RedisEventStore({ client: redis, keyPrefix, retry: { initialDelayMs: 1 } });
    try {
      const a = await store.appendEvent("exec-1", { type: "A" }); // learns the log
      const b = await store.appendEvent("exec-1", { type: "B" });
      assert.equal(lost, 1, "the second append went directly and lost its reply");
      assert.deepEqual([a.seq, b.seq], [1, 2]);
      assert.deepEqual(await store.readRange("exec-1"), [a, b]);
      assert.equal((await store.appendEvent("exec-1", { type: "C" })).seq, 3);
    } finally {
      await store.close();
      redis.disconnect();
      await deleteByPrefix(keyPrefix);
    }
  });
}

Deno.test("RedisEventStore appends after an event another writer stored at the id it proposed", async () => {
  await withStore(async (store, prefix) => {
    await store.appendEvent("exec-1", { type: "A" });
    const redis = await rawClient();
    try {
      // Another writer takes seq 2 behind this store's back.
      const foreign = JSON.stringify({ id: crypto.randomUUID(), type: "OTHER", time: 1 });
      await redis.xadd(`${prefix}{exec-1}:events`, "2-0", "e", foreign);
    } finally {
      redis.disconnect();
    }
    const c = await store.appendEvent("exec-1", { type: "C" });
    assert.equal(c.seq, 3);
    assert.deepEqual((await store.readRange("exec-1")).map((e) => e.type), ["A", "OTHER", "C"]);
  });
});

Deno.test("RedisEventStore starts a log again at 1 when it vanished while the store knew its length", async () => {
  await withStore(async (store, prefix) => {
    await store.appendEvent("exec-1", { type: "A" });
    await store.appendEvent("exec-1", { type: "B" });
    const redis = await rawClient();
    try {
      await redis.del(`${prefix}{exec-1}:events`); // as if it had expired
    } finally {
      redis.disconnect();
    }
    assert.equal((await store.appendEvent("exec-1", { type: "C" })).seq, 1);
    assert.deepEqual((await store.readRange("exec-1")).map((e) => e.type), ["C"]);
  });
});

Deno.test("RedisEventStore relearns a log after its connection drops, so writes Redis lost leave no gap", async () => {
  const keyPrefix = testPrefix();
  const redis = await rawClient();
  const store = new RedisEventStore({ client: redis, keyPrefix });
  const admin = await rawClient();
  try {
    for (const type of ["A", "B", "C"]) await store.appendEvent("exec-1", { type });
    // Redis restarts without the last write (no AOF): the log is back at 2 events.
    const key = `${keyPrefix}{exec-1}:events`;
    const kept = await admin.xrange(key, "-", "2-0");
    await admin.del(key);
    for (const [id, fields] of kept) await admin.xadd(key, id, ...fields);
    const closed = new Promise((resolve) => redis.once("close", resolve));
    await admin.client("KILL", "ID", String(await redis.client("ID")));
    await closed;
    const d = await store.appendEvent("exec-1", { type: "D" });
    assert.equal(d.seq, 3, "the store did not trust the length it knew before the drop");
    assert.deepEqual((await store.readRange("exec-1")).map((e) => e.seq), [1, 2, 3]);
  } finally {
    await store.close();
    redis.disconnect();
    admin.disconnect();
    await deleteByPrefix(keyPrefix);
  }
});

Deno.test("RedisEventStore sends the lone appends of many executions in one direct script call, stored once when retried", async () => {
  const keyPrefix = testPrefix();
  const { _BATCH_SCRIPTS } = await import("../../src/redis/_batch_scripts.ts");
  const redis = await rawClient();
  // The first direct script call that Redis executes has its reply "lost".
  const send = redis.sendCommand.bind(redis);
  let directCalls = 0;
  redis.sendCommand = (command, stream) => {
    const sent = send(command, stream) as Promise<unknown>;
    const direct = /^eval/.test(command.name) &&
      (command.args[0] === _BATCH_SCRIPTS.direct.sha ||
        command.args[0] === _BATCH_SCRIPTS.direct.lua);
    if (!direct) return sent;
    return sent.then((reply) => {
      if (++directCalls === 1) throw new Error("Connection is closed.");
      return reply;
    });
  };
  const store = new RedisEventStore({ client: redis, keyPrefix, retry: { initialDelayMs: 1 } });
  const admin = await rawClient();
  try {
    const ids = Array.from({ length: 6 }, (_, i) => `exec-${i}`);
    await Promise.all(ids.map((id) => store.appendEvent(id, { type: "A" }))); // learns the logs
    // exec-4's next id is taken by another writer; exec-5's log vanishes.
    const foreign = JSON.stringify({ id: crypto.randomUUID(), type: "OTHER", time: 1 });
    await admin.xadd(`${keyPrefix}{exec-4}:events`, "2-0", "e", foreign);
    await admin.del(`${keyPrefix}{exec-5}:events`);
    const appended = await Promise.all(
      ids.map((id, i) => store.appendEvent(id, { type: "B" }, i === 0 ? { expire: 60 } : {})),
    );
    assert.ok(directCalls >= 2, "one call lost its reply, then it was retried");
    assert.deepEqual(appended.map((e) => e.seq), [2, 2, 2, 2, 3, 1]);
    for (const [i, id] of ids.entries()) {
      const log = await store.readRange(id);
      const expected = i === 4 ? ["A", "OTHER", "B"] : i === 5 ? ["B"] : ["A", "B"];
      assert.deepEqual(log.map((e) => e.type), expected, id);
      assert.deepEqual(log.at(-1), appended[i], `${id}: resolved with the stored event`);
    }
    const ttl = await admin.pttl(`${keyPrefix}{exec-0}:events`);
    assert.ok(ttl > 59_000 && ttl <= 60_000, `renewed to the append's expire: ${ttl}`);
  } finally {
    await store.close();
    redis.disconnect();
    admin.disconnect();
    await deleteByPrefix(keyPrefix);
  }
});

Deno.test("RedisEventStore direct appends that the client resends after a reconnection reach Redis", async () => {
  await using server = await RedisServer.start({
    appendonly: true,
    args: ["--enable-debug-command", "yes"],
  });
  const { Redis } = await import("ioredis");
  const redis = new Redis(server.url(), { autoResendUnfulfilledCommands: true });
  redis.on("error", () => {}); // reconnects by itself
  const store = new RedisEventStore({ client: redis, retry: { maxElapsedMs: 15_000 } });
  try {
    const ids = ["exec-1", "exec-2", "exec-3"];
    await Promise.all(ids.map((id) => store.appendEvent(id, { type: "A" }))); // learns the logs
    void server.command("DEBUG", "SLEEP", "2").catch(() => {});
    await new Promise((resolve) => setTimeout(resolve, 100));
    // Written while Redis sleeps, so still unanswered when it dies.
    const pending = Promise.all(ids.map((id) => store.appendEvent(id, { type: "B" })));
    await new Promise((resolve) => setTimeout(resolve, 100));
    await server.kill();
    await server.restart();
    let timer: ReturnType<typeof setTimeout> | undefined;
    const appended = await Promise.race([
      pending,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error("the resent appends got no reply")), 10_000);
      }),
    ]).finally(() => clearTimeout(timer));
    assert.deepEqual(appended.map((e) => e.seq), [2, 2, 2]);
    for (const id of ids) {
      assert.deepEqual((await store.readRange(id)).map((e) => e.type), ["A", "B"], id);
    }
  } finally {
    await store.close();
    redis.disconnect();
  }
});
