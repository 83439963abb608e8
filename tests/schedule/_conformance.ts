/**
 * The contract of {@linkcode ScheduleStore}, written once and run against
 * every implementation (in memory, Redis, Deno KV).
 *
 * @module
 */
import assert from "node:assert/strict";
import { StaleVersionError } from "../../src/errors.ts";
import { newSchedule, type Schedule } from "../../src/schedule/schedule.ts";
import {
  ScheduleExistsError,
  ScheduleNotFoundError,
  type ScheduleStore,
} from "../../src/schedule/schedule_store.ts";

/** One store under test. */
export interface ScheduleStoreHarness {
  /** The store. */
  store: ScheduleStore;
  /** Another store on the same data (another connection), or `store` itself in memory. */
  another(): Promise<ScheduleStore>;
  /** Closes everything and removes the data. */
  cleanup(): Promise<void>;
}

/** Creates a fresh, empty store per test. */
export type ScheduleStoreFactory = () => Promise<ScheduleStoreHarness>;

function schedule(id: string, extra: Partial<Schedule> = {}): Schedule {
  return {
    ...newSchedule({ id, cron: "*/5 * * * *", agent: "report", task: { n: 1, s: "ünï ✓" } }, 1_000),
    ...extra,
  };
}

/**
 * Registers the conformance tests of a schedule store.
 *
 * @param label Prefix of the test names.
 * @param factory Creates a fresh store per test.
 */
export function testScheduleStoreConformance(label: string, factory: ScheduleStoreFactory): void {
  const test = (name: string, fn: (h: ScheduleStoreHarness) => Promise<void>) =>
    Deno.test(`${label}: ${name}`, async () => {
      const harness = await factory();
      try {
        await fn(harness);
      } finally {
        await harness.cleanup();
      }
    });

  test("create stores version 1 and get returns every field", async ({ store }) => {
    const input = schedule("nightly", {
      policy: { maxSteps: 3 },
      buffered: 7,
      firing: { tick: 5, since: 6, node: "n1" },
      lastExecutionId: "exec-1",
      version: 42,
    });
    const stored = await store.create(input);
    assert.deepEqual(stored, { ...input, version: 1 });
    assert.deepEqual(await store.get("nightly"), stored);
    assert.equal(await store.get("other"), undefined);
  });

  test("create refuses a taken id and leaves the first schedule", async ({ store }) => {
    await store.create(schedule("a", { agent: "first" }));
    await assert.rejects(store.create(schedule("a", { agent: "second" })), ScheduleExistsError);
    assert.equal((await store.get("a"))?.agent, "first");
  });

  test("list returns every schedule sorted by id", async ({ store }) => {
    for (const id of ["b", "c", "a"]) await store.create(schedule(id));
    assert.deepEqual((await store.list()).map((s) => s.id), ["a", "b", "c"]);
  });

  test("replace at the stored version raises it; at an older one it fails", async ({ store }) => {
    const v1 = await store.create(schedule("s"));
    const v2 = await store.replace({ ...v1, paused: true, lastTick: 99 });
    assert.equal(v2.version, 2);
    assert.deepEqual(await store.get("s"), v2);
    await assert.rejects(store.replace({ ...v1, paused: false }), (error: unknown) => {
      assert.ok(error instanceof StaleVersionError);
      assert.equal(error.expected, 1);
      assert.equal(error.actual, 2);
      return true;
    });
    assert.equal((await store.get("s"))?.paused, true);
  });

  test("replace can remove optional fields", async ({ store }) => {
    const v1 = await store.create(schedule("s", { firing: { tick: 1, since: 2, node: "n" } }));
    const next = { ...v1 };
    delete next.firing;
    await store.replace(next);
    assert.equal((await store.get("s"))?.firing, undefined);
    assert.ok(!("firing" in (await store.get("s"))!));
  });

  test("replace of a deleted schedule fails with ScheduleNotFoundError", async ({ store }) => {
    const v1 = await store.create(schedule("s"));
    assert.equal(await store.delete("s"), true);
    assert.equal(await store.delete("s"), false);
    await assert.rejects(store.replace(v1), ScheduleNotFoundError);
    assert.equal(await store.get("s"), undefined);
    assert.deepEqual(await store.list(), []);
  });

  test("of concurrent replaces at one version, by two connections, exactly one wins", async ({ store, another }) => {
    const other = await another();
    const v1 = await store.create(schedule("race"));
    for (let round = 0; round < 10; round++) {
      const read = (await store.get("race"))!;
      const results = await Promise.allSettled([
        store.replace({ ...read, lastTick: read.lastTick + 1, lastExecutionId: "a" }),
        other.replace({ ...read, lastTick: read.lastTick + 1, lastExecutionId: "b" }),
        store.replace({ ...read, lastTick: read.lastTick + 1, lastExecutionId: "c" }),
      ]);
      const won = results.filter((r) => r.status === "fulfilled");
      assert.equal(won.length, 1, `round ${round}: exactly one replace wins`);
      for (const r of results) {
        if (r.status === "rejected") assert.ok(r.reason instanceof StaleVersionError);
      }
      const winner = (won[0] as PromiseFulfilledResult<Schedule>).value;
      assert.deepEqual(await other.get("race"), winner);
    }
    assert.equal((await store.get("race"))?.version, v1.version + 10);
  });

  test("of concurrent creates of one id, exactly one wins", async ({ store, another }) => {
    const other = await another();
    const results = await Promise.allSettled([
      store.create(schedule("same", { agent: "x" })),
      other.create(schedule("same", { agent: "y" })),
    ]);
    assert.equal(results.filter((r) => r.status === "fulfilled").length, 1);
    assert.equal((await store.list()).length, 1);
  });

  test("what is returned is a copy: changing it changes nothing stored", async ({ store }) => {
    const stored = await store.create(schedule("s"));
    stored.agent = "changed";
    (stored.task as { n: number }).n = 2;
    const read = (await store.get("s"))!;
    assert.equal(read.agent, "report");
    assert.deepEqual(read.task, { n: 1, s: "ünï ✓" });
  });

  test("another connection sees the same schedules", async ({ store, another }) => {
    await store.create(schedule("shared"));
    const other = await another();
    assert.deepEqual((await other.list()).map((s) => s.id), ["shared"]);
  });
}
