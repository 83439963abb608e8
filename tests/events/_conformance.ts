/**
 * The contract of {@linkcode EventStore}, written once and run against every
 * implementation (`in_memory_event_store_test.ts`, `redis_event_store_test.ts`).
 *
 * @module
 */
import assert from "node:assert/strict";
import {
  CorruptDataError,
  FencedError,
  StaleVersionError,
  StoreUnavailableError,
} from "../../src/errors.ts";
import type { EventStore, StoredEvent } from "../../src/events/event_store.ts";
import type { ManualClock } from "../../src/testing/manual_clock.ts";

/** One store under test, with its clock. */
export interface EventStoreHarness {
  /** The store (its clock is {@linkcode EventStoreHarness.clock}). */
  store: EventStore;
  /** The store's clock. */
  clock: ManualClock;
  /**
   * Lets `ms` of time pass for the store: advances the clock and, for a
   * store whose expiries run on a server, also waits that long.
   */
  elapse(ms: number): Promise<void>;
  /** Another store on the same data (another connection), when it differs from `store`. */
  another(): Promise<EventStore>;
  /** Closes everything the harness opened and removes its data. */
  cleanup(): Promise<void>;
}

/** Creates a harness; `retentionSeconds` configures the store's default retention. */
export type EventStoreFactory = (
  options?: { retentionSeconds?: number },
) => Promise<EventStoreHarness>;

/**
 * Registers the conformance tests of an event store.
 *
 * @param label Prefix of the test names, e.g. `"InMemoryEventStore"`.
 * @param factory Creates a fresh, empty store per test.
 */
export function testEventStoreConformance(label: string, factory: EventStoreFactory): void {
  const test = (
    name: string,
    fn: (h: EventStoreHarness) => Promise<void>,
    options: { retentionSeconds?: number } = {},
  ) =>
    Deno.test(`${label}: ${name}`, async () => {
      const harness = await factory(options);
      try {
        await fn(harness);
      } finally {
        await harness.cleanup();
      }
    });

  test("appendEvent numbers events 1, 2, 3 with unique ids and the clock's time", async ({ store, clock }) => {
    const a = await store.appendEvent("exec-1", { type: "A" });
    await clock.advance(5);
    const b = await store.appendEvent("exec-1", { type: "B" });
    const c = await store.appendEvent("exec-1", { type: "C", time: 42 });
    assert.deepEqual([a.seq, b.seq, c.seq], [1, 2, 3]);
    assert.equal(new Set([a.id, b.id, c.id]).size, 3);
    assert.equal(a.executionId, "exec-1");
    assert.equal(b.time, a.time + 5);
    assert.equal(c.time, 42);
    assert.deepEqual(await store.readRange("exec-1"), [a, b, c]);
  });

  test("every field of an event round-trips", async ({ store }) => {
    const input = {
      type: "TOOL_CALL",
      step: 3,
      data: { tool: "search", args: { q: "ünïcødé ✓" }, list: [1, null, "x"] },
      totals: { steps: 3, tokens: 120, toolCalls: 1 },
      traceId: "0af7651916cd43dd8448eb211c80319c",
      spanId: "b7ad6b7169203331",
      key: "call-1",
      time: 1_700_000_000_000,
    };
    const stored = await store.appendEvent("exec-1", input);
    assert.deepEqual(stored, { ...input, executionId: "exec-1", seq: 1, id: stored.id });
    assert.deepEqual(await store.latest("exec-1"), stored);
  });

  test("stored events are immutable: changing what was passed or returned changes nothing", async ({ store }) => {
    const data = { n: 1 };
    const stored = await store.appendEvent("exec-1", { type: "A", data });
    data.n = 2;
    stored.type = "CHANGED";
    const [read] = await store.readRange("exec-1");
    assert.equal(read!.type, "A");
    assert.deepEqual(read!.data, { n: 1 });
    (read!.data as { n: number }).n = 3;
    assert.deepEqual((await store.latest("exec-1"))!.data, { n: 1 });
  });

  test("readRange, readAfter, latest and count select by sequence number", async ({ store }) => {
    for (let i = 1; i <= 10; i++) await store.appendEvent("exec-1", { type: `E${i}` });
    const types = (events: StoredEvent[]) => events.map((e) => e.type);
    assert.deepEqual(types(await store.readRange("exec-1", { from: 3, to: 5 })), [
      "E3",
      "E4",
      "E5",
    ]);
    assert.deepEqual(types(await store.readRange("exec-1", { from: 8 })), ["E8", "E9", "E10"]);
    assert.deepEqual(types(await store.readRange("exec-1", { to: 2 })), ["E1", "E2"]);
    assert.deepEqual(types(await store.readRange("exec-1", { from: 4, limit: 2 })), ["E4", "E5"]);
    assert.deepEqual(await store.readRange("exec-1", { from: 6, to: 5 }), []);
    assert.deepEqual(await store.readRange("exec-1", { from: 11 }), []);
    assert.deepEqual(types(await store.readAfter("exec-1", 7)), ["E8", "E9", "E10"]);
    assert.deepEqual(types(await store.readAfter("exec-1", 0, 2)), ["E1", "E2"]);
    assert.deepEqual(await store.readAfter("exec-1", 10), []);
    assert.equal((await store.latest("exec-1"))!.seq, 10);
    assert.equal(await store.count("exec-1"), 10);
  });

  test("an unknown execution has an empty log", async ({ store }) => {
    assert.deepEqual(await store.readRange("nobody"), []);
    assert.deepEqual(await store.readAfter("nobody", 0), []);
    assert.equal(await store.latest("nobody"), undefined);
    assert.equal(await store.count("nobody"), 0);
    assert.equal(await store.findByKey("nobody", "k"), undefined);
  });

  test("logs of different executions are independent", async ({ store }) => {
    await store.appendEvent("exec-a", { type: "A1" });
    await store.appendEvent("exec-b", { type: "B1" });
    const a2 = await store.appendEvent("exec-a", { type: "A2" });
    assert.equal(a2.seq, 2);
    assert.equal(await store.count("exec-b"), 1);
    assert.deepEqual((await store.readRange("exec-b")).map((e) => e.type), ["B1"]);
  });

  test("concurrent appenders get distinct consecutive sequence numbers in one total order", async (h) => {
    const other = await h.another();
    const appender = async (store: EventStore, name: string) => {
      const seqs: number[] = [];
      for (let i = 0; i < 25; i++) {
        seqs.push((await store.appendEvent("exec-1", { type: name, data: { i } })).seq);
      }
      return seqs;
    };
    const burst = Promise.all(
      Array.from(
        { length: 25 },
        (_, i) => h.store.appendEvent("exec-1", { type: "burst", data: { i } }),
      ),
    );
    const [a, b, c] = await Promise.all([appender(h.store, "a"), appender(other, "b"), burst]);
    const all = [...a, ...b, ...c.map((e) => e.seq)].sort((x, y) => x - y);
    assert.deepEqual(all, Array.from({ length: 75 }, (_, i) => i + 1));
    for (const seqs of [a, b]) assert.deepEqual(seqs, [...seqs].sort((x, y) => x - y));
    const log = await h.store.readRange("exec-1");
    assert.deepEqual(log.map((e) => e.seq), all);
    // Each sequential appender's events appear in the order it appended them.
    for (const name of ["a", "b"]) {
      const mine = log.filter((e) => e.type === name).map((e) => (e.data as { i: number }).i);
      assert.deepEqual(mine, Array.from({ length: 25 }, (_, i) => i));
    }
  });

  test("findByKey returns the latest event appended with that index key", async ({ store }) => {
    await store.appendEvent("exec-1", { type: "TOOL_INTENT", key: "call-1" });
    await store.appendEvent("exec-1", { type: "OTHER" });
    const outcome = await store.appendEvent("exec-1", { type: "TOOL_RESULT", key: "call-1" });
    await store.appendEvent("exec-1", { type: "TOOL_INTENT", key: "call-2" });
    assert.deepEqual(await store.findByKey("exec-1", "call-1"), outcome);
    assert.equal((await store.findByKey("exec-1", "call-2"))!.seq, 4);
    assert.equal(await store.findByKey("exec-1", "call-3"), undefined);
    assert.equal(await store.findByKey("exec-2", "call-1"), undefined);
  });

  test("fence rejects appends carrying an older token, accepts equal and newer ones", async ({ store }) => {
    await store.appendEvent("exec-1", { type: "A" }, { fencingToken: 1 });
    await store.fence("exec-1", 5);
    await assert.rejects(
      store.appendEvent("exec-1", { type: "ZOMBIE" }, { fencingToken: 4 }),
      (error: unknown) => {
        assert.ok(error instanceof FencedError);
        assert.equal(error.target, "exec-1");
        assert.equal(error.token, 4);
        assert.equal(error.current, 5);
        return true;
      },
    );
    assert.equal((await store.appendEvent("exec-1", { type: "B" }, { fencingToken: 5 })).seq, 2);
    assert.equal((await store.appendEvent("exec-1", { type: "C" }, { fencingToken: 6 })).seq, 3);
    await store.fence("exec-1", 3); // tokens only grow: ignored
    await assert.rejects(
      store.appendEvent("exec-1", { type: "D" }, { fencingToken: 4 }),
      FencedError,
    );
    assert.deepEqual((await store.readRange("exec-1")).map((e) => e.type), ["A", "B", "C"]);
  });

  test("fence before the first append applies to it", async ({ store }) => {
    await store.fence("exec-new", 2);
    await assert.rejects(
      store.appendEvent("exec-new", { type: "A" }, { fencingToken: 1 }),
      FencedError,
    );
    assert.equal((await store.appendEvent("exec-new", { type: "A" }, { fencingToken: 2 })).seq, 1);
  });

  test("expectedSeq stores an append only when the log's last seq is the expected one", async ({ store, clock }) => {
    const stale = (expected: number, actual: number) => (error: unknown) => {
      assert.ok(error instanceof StaleVersionError, String(error));
      assert.equal(error.key, "exec-1");
      assert.equal(error.expected, expected);
      assert.equal(error.actual, actual);
      return true;
    };
    await assert.rejects(
      store.appendEvent("exec-1", { type: "A" }, { expectedSeq: 1 }),
      stale(1, 0),
    );
    assert.equal(await store.count("exec-1"), 0);
    assert.equal((await store.appendEvent("exec-1", { type: "A" }, { expectedSeq: 0 })).seq, 1);
    assert.equal((await store.appendEvent("exec-1", { type: "B" })).seq, 2);
    const index = { status: "RUNNING", agent: "a", createdAt: clock.now() };
    // Refused: neither its index key nor its executions index entry is written.
    await assert.rejects(
      store.appendEvent("exec-1", { type: "LATE", key: "late" }, { expectedSeq: 1, index }),
      stale(1, 2),
    );
    assert.equal(await store.findByKey("exec-1", "late"), undefined);
    assert.equal((await store.queryExecutions({})).executions.length, 0);
    const c = await store.appendEvent("exec-1", { type: "C", key: "c" }, {
      expectedSeq: 2,
      index,
      fencingToken: 0,
    });
    assert.equal(c.seq, 3);
    assert.equal((await store.findByKey("exec-1", "c"))?.seq, 3);
    assert.deepEqual((await store.queryExecutions({})).executions.map((e) => e.status), [
      "RUNNING",
    ]);
    assert.deepEqual((await store.readRange("exec-1")).map((e) => e.type), ["A", "B", "C"]);
    await assert.rejects(
      store.appendEvent("exec-1", { type: "A" }, { expectedSeq: -1 }),
      RangeError,
    );
    await assert.rejects(
      store.appendEvent("exec-1", { type: "A" }, { expectedSeq: 1.5 }),
      RangeError,
    );
  });

  test("expectedSeq is decided in issue order with the appends of the same moment", async ({ store }) => {
    await store.appendEvent("exec-1", { type: "A" });
    const [b, late, c] = await Promise.allSettled([
      store.appendEvent("exec-1", { type: "B" }),
      store.appendEvent("exec-1", { type: "LATE" }, { expectedSeq: 1 }),
      store.appendEvent("exec-1", { type: "C" }, { expectedSeq: 2 }),
    ]);
    assert.equal(b.status === "fulfilled" && b.value.seq, 2);
    assert.ok(late.status === "rejected" && late.reason instanceof StaleVersionError);
    assert.equal(c.status === "fulfilled" && c.value.seq, 3);
    assert.deepEqual((await store.readRange("exec-1")).map((e) => e.type), ["A", "B", "C"]);
  });

  test("of two stores appending with the same expectedSeq at once, exactly one succeeds", async (h) => {
    const other = await h.another();
    await h.store.appendEvent("exec-1", { type: "A" });
    await other.readRange("exec-1");
    for (let round = 1; round <= 5; round++) {
      const results = await Promise.allSettled([
        h.store.appendEvent("exec-1", { type: "X" }, { expectedSeq: round }),
        other.appendEvent("exec-1", { type: "Y" }, { expectedSeq: round }),
      ]);
      const stored = results.filter((r) => r.status === "fulfilled");
      assert.equal(stored.length, 1, `round ${round}`);
      assert.equal((stored[0] as PromiseFulfilledResult<StoredEvent>).value.seq, round + 1);
      const refused = results.find((r) => r.status === "rejected") as PromiseRejectedResult;
      assert.ok(refused.reason instanceof StaleVersionError, String(refused.reason));
    }
    assert.equal(await h.store.count("exec-1"), 6);
  });

  test("claim grants one runner at a time and names the holder to the others", async (h) => {
    const other = await h.another();
    const first = await h.store.claim("exec-1", { owner: "runner A", ttlMs: 60_000 });
    assert.equal(first.acquired, true);
    const second = await other.claim("exec-1", { owner: "runner B", ttlMs: 60_000 });
    assert.equal(second.acquired, false);
    if (second.acquired) return;
    assert.equal(second.holder, "runner A");
    assert.ok(second.expiresInMs > 50_000 && second.expiresInMs <= 60_000, `${second.expiresInMs}`);
  });

  test("a claim's token fences out every earlier writer", async ({ store }) => {
    await store.fence("exec-1", 4);
    const claim = await store.claim("exec-1", { owner: "A", ttlMs: 60_000 });
    assert.deepEqual(claim, { acquired: true, token: 5 });
    await assert.rejects(
      store.appendEvent("exec-1", { type: "A" }, { fencingToken: 4 }),
      FencedError,
    );
    assert.equal((await store.appendEvent("exec-1", { type: "A" }, { fencingToken: 5 })).seq, 1);
  });

  test("an expired claim goes to the next runner, and the old holder can no longer renew", async (h) => {
    const a = await h.store.claim("exec-1", { owner: "A", ttlMs: 150 });
    assert.ok(a.acquired);
    await h.elapse(250);
    const b = await h.store.claim("exec-1", { owner: "B", ttlMs: 60_000 });
    assert.ok(b.acquired);
    assert.ok(b.token > a.token);
    assert.equal(await h.store.renewClaim("exec-1", a.token, 60_000), false);
    assert.equal(await h.store.renewClaim("exec-1", b.token, 60_000), true);
  });

  test("renewClaim keeps a claim past its first expiry", async (h) => {
    const a = await h.store.claim("exec-1", { owner: "A", ttlMs: 300 });
    assert.ok(a.acquired);
    await h.elapse(150);
    assert.equal(await h.store.renewClaim("exec-1", a.token, 300), true);
    await h.elapse(200);
    const b = await h.store.claim("exec-1", { owner: "B", ttlMs: 300 });
    assert.equal(b.acquired, false);
  });

  test("releaseClaim frees the execution at once; a stale release changes nothing", async ({ store }) => {
    const a = await store.claim("exec-1", { owner: "A", ttlMs: 60_000 });
    assert.ok(a.acquired);
    await store.releaseClaim("exec-1", a.token + 7);
    assert.equal((await store.claim("exec-1", { owner: "B", ttlMs: 60_000 })).acquired, false);
    await store.releaseClaim("exec-1", a.token);
    const b = await store.claim("exec-1", { owner: "B", ttlMs: 60_000 });
    assert.deepEqual(b, { acquired: true, token: a.token + 1 });
    await store.releaseClaim("exec-1", a.token); // the old holder's late release
    assert.equal((await store.claim("exec-1", { owner: "C", ttlMs: 60_000 })).acquired, false);
  });

  test("takeOver takes a live claim and fences its holder", async ({ store }) => {
    const a = await store.claim("exec-1", { owner: "A", ttlMs: 60_000 });
    const b = await store.claim("exec-1", { owner: "B", ttlMs: 60_000, takeOver: true });
    assert.ok(a.acquired && b.acquired);
    assert.equal(b.token, a.token + 1);
    await assert.rejects(
      store.appendEvent("exec-1", { type: "A" }, { fencingToken: a.token }),
      FencedError,
    );
    assert.equal(await store.renewClaim("exec-1", a.token, 1000), false);
  });

  test("replacing takes a live claim from the named holder only, once", async ({ store }) => {
    const dead = await store.claim("exec-1", { owner: "A", ttlMs: 60_000 });
    assert.ok(dead.acquired);
    // Two runners both saw A die: the first replaces it, the second is refused naming the first.
    const b = await store.claim("exec-1", { owner: "B", ttlMs: 60_000, replacing: "A" });
    const c = await store.claim("exec-1", { owner: "C", ttlMs: 60_000, replacing: "A" });
    assert.deepEqual(b, { acquired: true, token: dead.token + 1 });
    assert.equal(c.acquired, false);
    assert.equal(!c.acquired && c.holder, "B");
    assert.equal(await store.renewClaim("exec-1", b.acquired ? b.token : -1, 1000), true);
    await assert.rejects(
      store.claim("exec-1", { owner: "D", ttlMs: 1000, replacing: 7 as unknown as string }),
      TypeError,
    );
  });

  test("a fence above a claim's token ends the claim", async ({ store }) => {
    const a = await store.claim("exec-1", { owner: "A", ttlMs: 60_000 });
    assert.ok(a.acquired);
    await store.fence("exec-1", a.token + 1);
    assert.equal(await store.renewClaim("exec-1", a.token, 1000), false);
    const b = await store.claim("exec-1", { owner: "B", ttlMs: 60_000 });
    assert.deepEqual(b, { acquired: true, token: a.token + 2 });
  });

  test("claim refuses a bad ttlMs or owner, naming it", async ({ store }) => {
    for (const ttlMs of [0, -1, 1.5, 2 ** 31, Number.NaN]) {
      await assert.rejects(store.claim("exec-1", { owner: "A", ttlMs }), /ttlMs/);
    }
    await assert.rejects(
      store.claim("exec-1", { owner: 5 as unknown as string, ttlMs: 10 }),
      /owner/,
    );
    await assert.rejects(store.renewClaim("exec-1", -1, 10), RangeError);
  });

  test("listExecutions lists the most recently appended first", async ({ store, clock }) => {
    await store.appendEvent("exec-a", { type: "A" });
    await clock.advance(10);
    await store.appendEvent("exec-b", { type: "B" });
    await clock.advance(10);
    await store.appendEvent("exec-c", { type: "C" });
    await clock.advance(10);
    await store.appendEvent("exec-a", { type: "A" });
    assert.deepEqual(await store.listExecutions(), ["exec-a", "exec-c", "exec-b"]);
    assert.deepEqual(await store.listExecutions(2), ["exec-a", "exec-c"]);
    assert.deepEqual(await store.listExecutions(0), []);
  });

  test("subscribe delivers the backlog then live events, with no gap and no duplicate", async ({ store }) => {
    const total = 60;
    for (let i = 1; i <= 20; i++) await store.appendEvent("exec-1", { type: "E", data: { i } });
    const controller = new AbortController();
    const seen: number[] = [];
    const reader = (async () => {
      for await (const event of store.subscribe("exec-1", { signal: controller.signal })) {
        seen.push(event.seq);
        assert.equal((event.data as { i: number }).i, event.seq);
        if (event.seq === total) controller.abort();
      }
    })();
    for (let i = 21; i <= total; i++) {
      await store.appendEvent("exec-1", { type: "E", data: { i } });
      if (i % 10 === 0) await new Promise((resolve) => setTimeout(resolve, 5));
    }
    await reader;
    assert.deepEqual(seen, Array.from({ length: total }, (_, i) => i + 1));
  });

  test("subscribe starts after afterSeq and waits for a log that does not exist yet", async (h) => {
    const other = await h.another();
    const controller = new AbortController();
    const seen: number[] = [];
    const reader = (async () => {
      for await (
        const event of h.store.subscribe("exec-late", { afterSeq: 2, signal: controller.signal })
      ) {
        seen.push(event.seq);
        if (event.seq === 4) controller.abort();
      }
    })();
    await new Promise((resolve) => setTimeout(resolve, 20));
    for (let i = 0; i < 4; i++) await other.appendEvent("exec-late", { type: "E" });
    await reader;
    assert.deepEqual(seen, [3, 4]);
  });

  test("a consumer that stops iterating ends its subscription", async ({ store }) => {
    for (let i = 0; i < 5; i++) await store.appendEvent("exec-1", { type: "E" });
    const seen: number[] = [];
    for await (const event of store.subscribe("exec-1")) {
      seen.push(event.seq);
      if (event.seq === 3) break;
    }
    assert.deepEqual(seen, [1, 2, 3]);
  });

  test("an aborted signal or close ends a waiting subscription", async ({ store }) => {
    const controller = new AbortController();
    const aborted = (async () => {
      for await (const _ of store.subscribe("exec-idle", { signal: controller.signal })) {
        throw new Error("no event expected");
      }
    })();
    const closed = (async () => {
      for await (const _ of store.subscribe("exec-idle")) throw new Error("no event expected");
    })();
    await new Promise((resolve) => setTimeout(resolve, 20));
    controller.abort();
    await aborted;
    await store.close();
    await closed;
    await assert.rejects(store.appendEvent("exec-1", { type: "A" }), StoreUnavailableError);
    await store.close(); // idempotent
  });

  test("a log expires `expire` seconds after its last append, and each append renews it", async (h) => {
    const { store } = h;
    await store.appendEvent("exec-1", { type: "A" }, { expire: 0.4 });
    await store.appendEvent("exec-2", { type: "A" }, { expire: 60 });
    await h.elapse(250);
    await store.appendEvent("exec-1", { type: "B" }, { expire: 0.4 });
    await h.elapse(250);
    assert.equal(await store.count("exec-1"), 2, "the second append renewed the retention");
    await h.elapse(300);
    assert.equal(await store.count("exec-1"), 0);
    assert.deepEqual(await store.readRange("exec-1"), []);
    assert.equal(await store.latest("exec-1"), undefined);
    assert.deepEqual(await store.listExecutions(), ["exec-2"]);
    const fresh = await store.appendEvent("exec-1", { type: "C" });
    assert.equal(fresh.seq, 1, "an expired log starts again at 1");
  });

  test("the store's retention applies when an append gives no expire", async (h) => {
    await h.store.appendEvent("exec-1", { type: "A" });
    await h.store.appendEvent("exec-2", { type: "A" }, { expire: 60 });
    await h.elapse(250);
    assert.equal(await h.store.count("exec-1"), 1);
    await h.elapse(300);
    assert.equal(await h.store.count("exec-1"), 0);
    assert.equal(await h.store.count("exec-2"), 1);
  }, { retentionSeconds: 0.4 });

  test("invalid arguments are rejected with TypeError or RangeError", async ({ store }) => {
    await assert.rejects(store.appendEvent("", { type: "A" }), TypeError);
    await assert.rejects(store.appendEvent("exec-1", { type: "" }), TypeError);
    await assert.rejects(store.appendEvent("exec-1", { type: "A", step: Number.NaN }), TypeError);
    await assert.rejects(store.appendEvent("exec-1", { type: "A" }, { expire: 0 }), RangeError);
    await assert.rejects(store.appendEvent("exec-1", { type: "A" }, { expire: -1 }), RangeError);
    await assert.rejects(
      store.appendEvent("exec-1", { type: "A" }, { fencingToken: 1.5 }),
      RangeError,
    );
    await assert.rejects(store.readRange("exec-1", { from: 0 }), RangeError);
    await assert.rejects(store.readAfter("exec-1", -1), RangeError);
    await assert.rejects(store.fence("exec-1", -1), RangeError);
    await assert.rejects(store.listExecutions(-1), RangeError);
    assert.equal(await store.count("exec-1"), 0);
  });

  test("an event that cannot be serialized is rejected with CorruptDataError and not stored", async ({ store }) => {
    const circular: Record<string, unknown> = {};
    circular.self = circular;
    for (const data of [{ big: 10n }, circular]) {
      await assert.rejects(
        store.appendEvent("exec-1", { type: "BAD", data }),
        (error: unknown) => {
          assert.ok(error instanceof CorruptDataError);
          assert.match(error.message, /exec-1/);
          return true;
        },
      );
    }
    assert.equal(await store.count("exec-1"), 0);
    assert.equal((await store.appendEvent("exec-1", { type: "GOOD" })).seq, 1);
  });
}
