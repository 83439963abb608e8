/**
 * The contract of the executions index of an {@linkcode EventStore}
 * (`AppendOptions.index`, `queryExecutions`), run against every
 * implementation beside the log's own conformance suite.
 *
 * @module
 */
import assert from "node:assert/strict";
import { FencedError } from "../../src/errors.ts";
import type { EventStore } from "../../src/events/event_store.ts";
import type {
  ExecutionIndexEntry,
  ExecutionQuery,
  IndexedExecution,
} from "../../src/events/execution_index.ts";
import type { EventStoreFactory, EventStoreHarness } from "./_conformance.ts";

const T0 = 1_700_000_000_000;

function entry(
  status: string,
  createdAt: number,
  more: Partial<ExecutionIndexEntry> = {},
): ExecutionIndexEntry {
  return { status, agent: "researcher", createdAt, ...more };
}

async function all(store: EventStore, query: ExecutionQuery = {}): Promise<IndexedExecution[]> {
  const found: IndexedExecution[] = [];
  let cursor: string | undefined;
  for (let pages = 0; pages < 1_000; pages++) {
    const page = await store.queryExecutions({ ...query, ...(cursor ? { cursor } : {}) });
    found.push(...page.executions);
    if (!page.nextCursor) return found;
    cursor = page.nextCursor;
  }
  throw new Error("more than 1,000 pages");
}

const ids = (list: IndexedExecution[]) => list.map((e) => e.executionId);

/**
 * Registers the conformance tests of the executions index.
 *
 * @param label Prefix of the test names, e.g. `"InMemoryEventStore"`.
 * @param factory Creates a fresh, empty store per test.
 */
export function testExecutionIndexConformance(label: string, factory: EventStoreFactory): void {
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

  test("an indexed append lists its execution; later ones change it, createdAt stays", async ({ store, clock }) => {
    assert.deepEqual(await store.queryExecutions(), { executions: [] });
    await store.appendEvent("system-oao", { type: "ACTOR_STARTED" });
    await store.appendEvent("exec-1", { type: "EXECUTION_QUEUED" }, {
      index: entry("QUEUED", T0),
    });
    await store.appendEvent("exec-1", { type: "NOTE" });
    await clock.advance(10);
    await store.appendEvent("exec-1", { type: "EXECUTION_STARTED" }, {
      index: entry("RUNNING", T0 + 10, { waitingFor: "signal" }),
    });
    const { executions, nextCursor } = await store.queryExecutions();
    assert.equal(nextCursor, undefined);
    assert.deepEqual(executions, [{
      executionId: "exec-1",
      status: "RUNNING",
      agent: "researcher",
      createdAt: T0,
      updatedAt: clock.now(),
      waitingFor: "signal",
    }]);
    await store.appendEvent("exec-1", { type: "EXECUTION_COMPLETED" }, {
      index: entry("SUCCESS", T0),
    });
    const [done] = (await store.queryExecutions()).executions;
    assert.equal(done?.status, "SUCCESS");
    assert.equal(done?.waitingFor, undefined, "waitingFor is cleared by an entry without it");
    assert.deepEqual(ids(await all(store, { status: ["RUNNING"] })), []);
    assert.deepEqual(ids(await all(store, { status: ["SUCCESS"] })), ["exec-1"]);
  });

  test("an initial entry is written only when the execution has none alive", async ({ store }) => {
    await store.appendEvent("late", { type: "EXECUTION_STARTED" }, {
      index: entry("RUNNING", T0 + 1),
    });
    await store.appendEvent("late", { type: "EXECUTION_QUEUED" }, {
      index: entry("QUEUED", T0, { initial: true }),
    });
    await store.appendEvent("first", { type: "EXECUTION_QUEUED" }, {
      index: entry("QUEUED", T0 + 2, { initial: true }),
    });
    const page = await store.queryExecutions();
    assert.deepEqual(page.executions.map((e) => [e.executionId, e.status, e.createdAt]), [
      ["first", "QUEUED", T0 + 2],
      ["late", "RUNNING", T0 + 1],
    ]);
  });

  test("pages run newest first across many executions, without gaps or repeats", async ({ store }) => {
    const expected: string[] = [];
    const appends: Promise<unknown>[] = [];
    for (let i = 0; i < 130; i++) {
      // Creation times with ties (three executions per millisecond).
      const id = `exec-${String(i).padStart(3, "0")}`;
      appends.push(
        store.appendEvent(id, { type: "S" }, { index: entry("RUNNING", T0 + (i >> 2)) }),
      );
      expected.push(id);
    }
    await Promise.all(appends);
    expected.reverse();
    const pages: string[][] = [];
    let cursor: string | undefined;
    do {
      const page = await store.queryExecutions({ limit: 50, ...(cursor ? { cursor } : {}) });
      pages.push(ids(page.executions));
      cursor = page.nextCursor;
    } while (cursor);
    assert.deepEqual(pages.map((p) => p.length), [50, 50, 30]);
    assert.deepEqual(pages.flat(), expected);
    assert.deepEqual(ids(await all(store, { limit: 7 })), expected);
    assert.deepEqual(ids(await all(store, { limit: 500 })), expected);
  });

  test("filters combine: statuses, agent, waitingFor and the creation time range", async ({ store }) => {
    const rows: [string, ExecutionIndexEntry][] = [
      ["a", entry("RUNNING", T0 + 1, { waitingFor: "signal" })],
      ["b", entry("RUNNING", T0 + 2, { agent: "writer", waitingFor: "approval" })],
      ["c", entry("NEEDS_DECISION", T0 + 3, { waitingFor: "decision" })],
      ["d", entry("SUCCESS", T0 + 4)],
      ["e", entry("QUEUED", T0 + 5, { agent: "writer" })],
      ["f", entry("RUNNING", T0 + 6, { waitingFor: "approval" })],
      ["g", entry("FAILED", T0 + 7, { agent: "writer" })],
    ];
    for (const [id, index] of rows) await store.appendEvent(id, { type: "X" }, { index });
    const q = async (query: ExecutionQuery) => ids(await all(store, { ...query, limit: 2 }));
    assert.deepEqual(await q({}), ["g", "f", "e", "d", "c", "b", "a"]);
    assert.deepEqual(await q({ status: ["RUNNING"] }), ["f", "b", "a"]);
    assert.deepEqual(await q({ status: ["QUEUED", "RUNNING", "NEEDS_DECISION"] }), [
      "f",
      "e",
      "c",
      "b",
      "a",
    ]);
    assert.deepEqual(await q({ agent: "writer" }), ["g", "e", "b"]);
    assert.deepEqual(await q({ agent: "writer", status: ["RUNNING", "FAILED"] }), ["g", "b"]);
    assert.deepEqual(await q({ waitingFor: ["approval"] }), ["f", "b"]);
    assert.deepEqual(await q({ waitingFor: ["approval", "decision"], agent: "researcher" }), [
      "f",
      "c",
    ]);
    assert.deepEqual(await q({ createdAfter: T0 + 3, createdBefore: T0 + 6 }), ["e", "d", "c"]);
    assert.deepEqual(await q({ createdAfter: T0 + 2, status: ["RUNNING"] }), ["f", "b"]);
    assert.deepEqual(await q({ createdAfter: T0 + 6, createdBefore: T0 + 6 }), []);
    assert.deepEqual(await q({ agent: "nobody" }), []);
    assert.deepEqual(await q({ status: ["CANCELLED"] }), []);
  });

  test("a cursor works across status changes of listed executions", async ({ store }) => {
    for (let i = 0; i < 6; i++) {
      await store.appendEvent(`x${i}`, { type: "S" }, { index: entry("RUNNING", T0 + i) });
    }
    const first = await store.queryExecutions({ limit: 3 });
    assert.deepEqual(ids(first.executions), ["x5", "x4", "x3"]);
    await store.appendEvent("x1", { type: "C" }, { index: entry("SUCCESS", T0 + 1) });
    await store.appendEvent("x9", { type: "S" }, { index: entry("RUNNING", T0 + 9) });
    const second = await store.queryExecutions({ limit: 3, cursor: first.nextCursor! });
    assert.deepEqual(ids(second.executions), ["x2", "x1", "x0"]);
    assert.equal(second.executions[1]?.status, "SUCCESS");
  });

  test("entries expire with the retention of the append that wrote them; no expired one is listed", async (h) => {
    const { store } = h;
    await store.appendEvent("short", { type: "S" }, {
      expire: 0.4,
      index: entry("RUNNING", T0),
    });
    await store.appendEvent("long", { type: "S" }, { expire: 60, index: entry("RUNNING", T0 + 1) });
    await h.elapse(250);
    assert.deepEqual(ids(await all(store)), ["long", "short"]);
    await store.appendEvent("short", { type: "S" }, {
      expire: 0.4,
      index: entry("NEEDS_DECISION", T0),
    });
    await h.elapse(250);
    assert.deepEqual(ids(await all(store)), ["long", "short"], "the later append renewed it");
    await h.elapse(300);
    assert.deepEqual(ids(await all(store)), ["long"]);
    assert.deepEqual(ids(await all(store, { status: ["NEEDS_DECISION"] })), []);
    assert.equal(await h.store.count("short"), 0, "its log expired with it");
    await store.appendEvent("short", { type: "S" }, {
      expire: 60,
      index: entry("RUNNING", T0 + 5),
    });
    const again = (await store.queryExecutions()).executions.find((e) => e.executionId === "short");
    assert.equal(again?.createdAt, T0 + 5, "a new log starts a new entry");
  });

  test("the store's retention applies to entries when the append gives no expire", async (h) => {
    await h.store.appendEvent("e1", { type: "S" }, { index: entry("RUNNING", T0) });
    await h.elapse(250);
    assert.deepEqual(ids(await all(h.store)), ["e1"]);
    await h.elapse(300);
    assert.deepEqual(ids(await all(h.store)), []);
  }, { retentionSeconds: 0.4 });

  test("a fenced append does not change the entry; another store on the same data sees it", async (h) => {
    const { store } = h;
    await store.appendEvent("e1", { type: "S" }, { index: entry("RUNNING", T0) });
    await store.fence("e1", 5);
    await assert.rejects(
      store.appendEvent("e1", { type: "F" }, { fencingToken: 4, index: entry("FAILED", T0) }),
      FencedError,
    );
    await store.appendEvent("e1", { type: "W" }, {
      fencingToken: 5,
      index: entry("RUNNING", T0, { waitingFor: "timer" }),
    });
    const other = await h.another();
    const [seen] = (await other.queryExecutions()).executions;
    assert.equal(seen?.status, "RUNNING");
    assert.equal(seen?.waitingFor, "timer");
  });

  test("invalid queries and entries are rejected with TypeError or RangeError naming the field", async ({ store }) => {
    const rejects = async (query: ExecutionQuery, type: typeof TypeError, field: RegExp) =>
      await assert.rejects(store.queryExecutions(query), (error: unknown) => {
        assert.ok(error instanceof type, String(error));
        assert.match((error as Error).message, field);
        return true;
      });
    await rejects({ limit: 0 }, RangeError, /limit/);
    await rejects({ limit: 501 }, RangeError, /limit/);
    await rejects({ limit: 1.5 }, RangeError, /limit/);
    await rejects({ cursor: "nope!" }, TypeError, /cursor/);
    await rejects({ cursor: btoa("[1]") }, TypeError, /cursor/);
    await rejects({ status: ["RUN NING"] }, TypeError, /status/);
    await rejects({ status: [] }, TypeError, /status/);
    await rejects({ waitingFor: ["a:b"] }, TypeError, /waitingFor/);
    await rejects({ createdAfter: -1 }, RangeError, /createdAfter/);
    await rejects({ createdBefore: Number.NaN }, RangeError, /createdBefore/);
    await assert.rejects(
      store.appendEvent("e1", { type: "S" }, { index: entry("has space", T0) }),
      /status/,
    );
    await assert.rejects(
      store.appendEvent("e1", { type: "S" }, { index: { ...entry("RUNNING", T0), agent: "" } }),
      /agent/,
    );
    assert.equal(await store.count("e1"), 0, "nothing was appended");
  });
}
