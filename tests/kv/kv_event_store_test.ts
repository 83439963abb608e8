import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { CorruptDataError, StoreUnavailableError } from "../../src/errors.ts";
import { KvEventStore } from "../../src/kv/kv_event_store.ts";
import { openKv } from "../../src/kv/open_kv.ts";
import { ManualClock } from "../../src/testing/manual_clock.ts";
import { type EventStoreFactory, testEventStoreConformance } from "../events/_conformance.ts";
import { testExecutionIndexConformance } from "../events/_index_conformance.ts";
import { tempKv } from "./_kv_harness.ts";

const factory: EventStoreFactory = async (options = {}) => {
  const temp = await tempKv();
  const clock = new ManualClock(1_700_000_000_000);
  const stores: KvEventStore[] = [];
  const open = () => {
    const store = new KvEventStore({ path: temp.path, clock, ...options });
    stores.push(store);
    return store;
  };
  return {
    store: open(),
    clock,
    // Expiry is read against the store's clock: Deno KV's own deletion comes later.
    elapse: (ms) => clock.advance(ms),
    another: () => Promise.resolve(open()),
    cleanup: async () => {
      await Promise.all(stores.map((store) => store.close()));
      await temp.remove();
    },
  };
};
testEventStoreConformance("KvEventStore", factory);
testExecutionIndexConformance("KvEventStore", factory);

/** A Deno.Kv whose atomic commits are counted. */
async function countingKv(path: string): Promise<{ kv: Deno.Kv; commits: () => number }> {
  const kv = await Deno.openKv(path);
  let commits = 0;
  const atomic = kv.atomic.bind(kv);
  kv.atomic = () => {
    const operation = atomic();
    const commit = operation.commit.bind(operation);
    operation.commit = () => {
      commits++;
      return commit();
    };
    return operation;
  };
  return { kv, commits: () => commits };
}

Deno.test("KvEventStore commits 1,000 concurrent appends of 100 executions in a few atomic commits", async () => {
  const temp = await tempKv();
  const { kv, commits } = await countingKv(temp.path);
  const store = new KvEventStore({ kv });
  try {
    await store.appendEvent("warm-up", { type: "A" });
    const before = commits();
    const events = await Promise.all(
      Array.from(
        { length: 1_000 },
        (_, i) => store.appendEvent(`exec-${i % 100}`, { type: "E", data: { i } }),
      ),
    );
    const used = commits() - before;
    assert.ok(used <= 5, `${used} commits for 1,000 appends`);
    for (let e = 0; e < 100; e++) {
      const mine = events.filter((event) => event.executionId === `exec-${e}`);
      assert.deepEqual(mine.map((event) => event.seq), Array.from({ length: 10 }, (_, i) => i + 1));
    }
    // A second writer on the file: commits carry a check per execution, still batched.
    const other = new KvEventStore({ path: temp.path });
    await other.appendEvent("exec-0", { type: "OTHER" });
    const again = commits();
    await Promise.all(
      Array.from({ length: 1_000 }, (_, i) => store.appendEvent(`exec-${i % 100}`, { type: "F" })),
    );
    const checked = commits() - again;
    assert.ok(checked <= 20, `${checked} commits for 1,000 appends after another writer`);
    assert.equal(await store.count("exec-0"), 21);
    assert.equal(await store.count("exec-1"), 20);
    await other.close();
  } finally {
    await store.close();
    kv.close();
    await temp.remove();
  }
});

Deno.test("KvEventStore stores an event larger than one Deno KV value in parts", async () => {
  const temp = await tempKv();
  const store = new KvEventStore({ path: temp.path });
  try {
    const big = { text: "ü".repeat(150_000), list: Array.from({ length: 2_000 }, (_, i) => i) };
    const huge = { text: "x".repeat(2 * 1024 * 1024) };
    const [a, b, c] = await Promise.all([
      store.appendEvent("exec-1", { type: "SMALL" }),
      store.appendEvent("exec-1", { type: "BIG", data: big, key: "k" }),
      store.appendEvent("exec-1", { type: "HUGE", data: huge }),
    ]);
    assert.deepEqual([a.seq, b.seq, c.seq], [1, 2, 3], "a large event keeps its place");
    const log = await store.readRange("exec-1");
    assert.deepEqual(log.map((e) => e.type), ["SMALL", "BIG", "HUGE"]);
    assert.deepEqual(log[1]!.data, big);
    assert.equal((log[2]!.data as { text: string }).text.length, huge.text.length);
    assert.deepEqual((await store.findByKey("exec-1", "k"))?.data, big);
    assert.equal((await store.latest("exec-1"))?.type, "HUGE");
  } finally {
    await store.close();
    await temp.remove();
  }
});

Deno.test("KvEventStore writes every entry of a log with an expiry Deno KV enforces, kept ahead of the log's", async () => {
  const temp = await tempKv();
  // The system clock: Deno KV's expiries are real time.
  const store = new KvEventStore({ path: temp.path, retentionSeconds: 0.4 });
  try {
    // Appends every 150 ms keep the log alive past twice its retention:
    // the first entries must be kept longer than they were written with.
    for (let i = 0; i < 8; i++) {
      await store.appendEvent("exec-1", { type: "E", data: { i } }, { fencingToken: 1 });
      await new Promise((resolve) => setTimeout(resolve, 150));
    }
    await store.fence("exec-1", 2);
    assert.equal(await store.count("exec-1"), 8);
    const sqlite = new DatabaseSync(temp.path, { readOnly: true });
    try {
      const rows = sqlite.prepare("SELECT expiration_ms FROM kv").all() as {
        expiration_ms: number;
      }[];
      const now = Date.now();
      const lasting = rows.filter((row) => row.expiration_ms === -1);
      assert.equal(lasting.length, 1, "only the log clock has no expiry");
      for (const row of rows) {
        if (row.expiration_ms === -1) continue;
        assert.ok(
          row.expiration_ms > now + 250,
          `an entry expires ${row.expiration_ms - now} ms from now`,
        );
      }
    } finally {
      sqlite.close();
    }
    await new Promise((resolve) => setTimeout(resolve, 500));
    assert.equal(await store.count("exec-1"), 0, "the log expired");
    const fresh = await store.appendEvent("exec-1", { type: "NEW" }, { fencingToken: 0 });
    assert.equal(fresh.seq, 1, "a new log, its old fence gone with the old one");
    assert.deepEqual((await store.readRange("exec-1")).map((e) => e.type), ["NEW"]);
  } finally {
    await store.close();
    await temp.remove();
  }
});

Deno.test("KvEventStore lists executions by their exact last append, and drops expired ones from the listing", async () => {
  const temp = await tempKv();
  const clock = new ManualClock(1_700_000_000_000);
  const store = new KvEventStore({ path: temp.path, clock });
  try {
    await store.appendEvent("a", { type: "A" });
    await clock.advance(10);
    await store.appendEvent("b", { type: "B" }, { expire: 1 });
    await clock.advance(10);
    await store.appendEvent("c", { type: "C" });
    await clock.advance(10);
    await store.appendEvent("a", { type: "A" }); // within the listing lag: its key stays
    assert.deepEqual(await store.listExecutions(), ["a", "c", "b"]);
    await clock.advance(60_000);
    await store.appendEvent("c", { type: "C" }); // past the lag: its key moves
    assert.deepEqual(await store.listExecutions(), ["c", "a"]);
    assert.deepEqual(await store.listExecutions(1), ["c"]);
    const shared = await openKv(temp.path);
    const keys: Deno.KvKey[] = [];
    for await (const entry of shared.kv.list({ prefix: ["oao", "ex"] })) keys.push(entry.key);
    shared.release();
    assert.deepEqual(keys.map((key) => key[3]), ["a", "c"], "b's key was removed, c's moved");
  } finally {
    await store.close();
    await temp.remove();
  }
});

Deno.test("KvEventStore reports a damaged event with CorruptDataError naming its key", async () => {
  const temp = await tempKv();
  const store = new KvEventStore({ path: temp.path });
  const shared = await openKv(temp.path);
  try {
    await store.appendEvent("exec-1", { type: "A" });
    await shared.kv.set(["oao", "e", "exec-1", 1, 1], "not an event");
    await assert.rejects(store.readRange("exec-1"), (error) => {
      assert.ok(error instanceof CorruptDataError);
      assert.match(error.message, /"exec-1", 1, 1/);
      assert.ok(error.message.includes(temp.path));
      return true;
    });
  } finally {
    shared.release();
    await store.close();
    await temp.remove();
  }
});

Deno.test("KvEventStore close waits for the appends in flight", async () => {
  const temp = await tempKv();
  const store = new KvEventStore({ path: temp.path });
  const appends = Array.from(
    { length: 200 },
    (_, i) => store.appendEvent(`exec-${i % 7}`, { type: "E" }),
  );
  await store.close();
  assert.equal((await Promise.all(appends)).length, 200);
  await assert.rejects(store.appendEvent("exec-1", { type: "E" }), StoreUnavailableError);
  const reopened = new KvEventStore({ path: temp.path });
  assert.equal(await reopened.count("exec-0"), 29);
  await reopened.close();
  await temp.remove();
});

Deno.test("KvEventStore refuses an execution id too long for a Deno KV key", async () => {
  const store = new KvEventStore({ path: ":memory:" });
  await assert.rejects(store.appendEvent("x".repeat(2_000), { type: "A" }), RangeError);
  await store.close();
});

Deno.test("KvEventStore fails the appends of an execution whose log is damaged, and only those", async () => {
  const temp = await tempKv();
  const store = new KvEventStore({ path: temp.path });
  const shared = await openKv(temp.path);
  try {
    await shared.kv.set(["oao", "e", "exec-bad", 1, 1], "not an event");
    const [bad, good] = await Promise.allSettled([
      store.appendEvent("exec-bad", { type: "A" }),
      store.appendEvent("exec-good", { type: "A" }),
    ]);
    assert.ok(bad.status === "rejected" && bad.reason instanceof CorruptDataError);
    assert.ok(good.status === "fulfilled" && good.value.seq === 1);
  } finally {
    shared.release();
    await store.close();
    await temp.remove();
  }
});

Deno.test("KvEventStore commits the claims and releases of 100 executions together, a damaged record failing alone", async () => {
  const temp = await tempKv();
  const { kv, commits } = await countingKv(temp.path);
  const store = new KvEventStore({ kv });
  try {
    await store.appendEvent("warm-up", { type: "A" });
    await kv.set(["oao", "ef", "exec-bad"], "not a fence record");
    const before = commits();
    const ids = Array.from({ length: 100 }, (_, i) => `exec-${i}`);
    const [bad, ...claims] = await Promise.allSettled([
      store.claim("exec-bad", { owner: "a", ttlMs: 60_000 }),
      ...ids.map((id) => store.claim(id, { owner: "a", ttlMs: 60_000 })),
      // A second claim of one execution, queued with the first: refused, the first holds it.
      store.claim("exec-7", { owner: "b", ttlMs: 60_000 }),
    ]);
    assert.ok(bad.status === "rejected" && bad.reason instanceof CorruptDataError);
    assert.match(String(bad.reason.message), /exec-bad/);
    const granted = claims.slice(0, 100).map((c) => c.status === "fulfilled" && c.value);
    assert.ok(granted.every((c) => c && c.acquired && c.token === 1), JSON.stringify(granted));
    assert.deepEqual(
      claims[100]!.status === "fulfilled" && claims[100]!.value,
      {
        acquired: false,
        holder: "a",
        expiresInMs: (claims[100] as { value: { expiresInMs: number } }).value.expiresInMs,
      },
    );
    await Promise.all(ids.map((id) => store.releaseClaim(id, 1)));
    const used = commits() - before;
    assert.ok(used <= 6, `${used} commits for 201 claim changes`);
    // Released: another owner claims each with the next token, and its appends are fenced.
    const again = await store.claim("exec-3", { owner: "b", ttlMs: 60_000 });
    assert.deepEqual(again, { acquired: true, token: 2 });
    await assert.rejects(store.appendEvent("exec-3", { type: "X" }, { fencingToken: 1 }));
    assert.equal((await store.appendEvent("exec-3", { type: "X" }, { fencingToken: 2 })).seq, 1);
  } finally {
    await store.close();
    kv.close();
    await temp.remove();
  }
});
