/**
 * The contract of {@linkcode PersistenceAdapter}, written once and run against
 * every implementation (`in_memory_persistence_adapter_test.ts`,
 * `redis_persistence_adapter_test.ts`).
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
import type { PersistenceAdapter } from "../../src/persistence/persistence_adapter.ts";
import type { ManualClock } from "../../src/testing/manual_clock.ts";

/** One adapter under test, with its clock. */
export interface PersistenceHarness {
  /** The adapter (its clock is {@linkcode PersistenceHarness.clock}). */
  adapter: PersistenceAdapter;
  /** The adapter's clock. */
  clock: ManualClock;
  /**
   * Lets `ms` of time pass for the adapter: advances the clock and, for an
   * adapter whose expiries run on a server, also waits that long.
   */
  elapse(ms: number): Promise<void>;
  /** Closes everything the harness opened and removes its data. */
  cleanup(): Promise<void>;
}

/** Creates a fresh, empty harness. */
export type PersistenceFactory = () => Promise<PersistenceHarness>;

/**
 * Registers the conformance tests of a persistence adapter.
 *
 * @param label Prefix of the test names, e.g. `"InMemoryPersistenceAdapter"`.
 * @param factory Creates a fresh, empty adapter per test.
 */
export function testPersistenceConformance(label: string, factory: PersistenceFactory): void {
  const test = (name: string, fn: (h: PersistenceHarness) => Promise<void>) =>
    Deno.test(`${label}: ${name}`, async () => {
      const harness = await factory();
      try {
        await fn(harness);
      } finally {
        await harness.cleanup();
      }
    });

  test("save without a version stores 1, then 2; load returns the latest", async ({ adapter, clock }) => {
    const first = await adapter.save("exec-1/planner", { step: 1 });
    await clock.advance(7);
    const second = await adapter.save("exec-1/planner", { step: 2, notes: ["ü", null] });
    assert.equal(first.version, 1);
    assert.equal(second.version, 2);
    assert.equal(second.savedAt, first.savedAt + 7);
    assert.deepEqual(await adapter.load("exec-1/planner"), {
      key: "exec-1/planner",
      version: 2,
      data: { step: 2, notes: ["ü", null] },
      savedAt: second.savedAt,
    });
  });

  test("load of an unknown key resolves undefined", async ({ adapter }) => {
    assert.equal(await adapter.load("exec-1/nobody"), undefined);
  });

  test("any JSON value can be a snapshot", async ({ adapter }) => {
    for (
      const [i, data] of [0, "text", null, true, [1, "a"], { nested: { deep: [{}] } }].entries()
    ) {
      await adapter.save(`exec-1/v${i}`, data);
      assert.deepEqual((await adapter.load(`exec-1/v${i}`))!.data, data);
    }
  });

  test("a loaded snapshot is a copy: changing it or the saved object changes nothing", async ({ adapter }) => {
    const state = { items: [1] };
    await adapter.save("exec-1/a", state);
    state.items.push(2);
    const loaded = await adapter.load<{ items: number[] }>("exec-1/a");
    loaded!.data.items.push(3);
    assert.deepEqual((await adapter.load("exec-1/a"))!.data, { items: [1] });
  });

  test("an explicit version must be greater than the stored one", async ({ adapter }) => {
    assert.equal((await adapter.save("exec-1/a", "x", { version: 5 })).version, 5);
    assert.equal((await adapter.save("exec-1/a", "y")).version, 6);
    await assert.rejects(adapter.save("exec-1/a", "z", { version: 6 }), (error: unknown) => {
      assert.ok(error instanceof StaleVersionError);
      assert.equal(error.key, "exec-1/a");
      assert.equal(error.actual, 6);
      return true;
    });
    await assert.rejects(adapter.save("exec-1/a", "z", { version: 2 }), StaleVersionError);
    assert.equal((await adapter.load("exec-1/a"))!.data, "y");
  });

  test("conditional save rejects a stale expected version and keeps the stored state", async ({ adapter }) => {
    await adapter.save("exec-1/a", "v1", { expectedVersion: 0 });
    await assert.rejects(
      adapter.save("exec-1/a", "again", { expectedVersion: 0 }),
      StaleVersionError,
    );
    await adapter.save("exec-1/a", "v2", { expectedVersion: 1 });
    await assert.rejects(
      adapter.save("exec-1/a", "late", { expectedVersion: 1 }),
      (error: unknown) => {
        assert.ok(error instanceof StaleVersionError);
        assert.equal(error.expected, 1);
        assert.equal(error.actual, 2);
        return true;
      },
    );
    const loaded = await adapter.load("exec-1/a");
    assert.equal(loaded!.version, 2);
    assert.equal(loaded!.data, "v2");
  });

  test("of concurrent conditional saves on one version exactly one wins", async ({ adapter }) => {
    await adapter.save("exec-1/a", 0);
    const results = await Promise.allSettled(
      Array.from({ length: 20 }, (_, i) => adapter.save("exec-1/a", i + 1, { expectedVersion: 1 })),
    );
    const won = results.filter((r) => r.status === "fulfilled");
    assert.equal(won.length, 1);
    for (const r of results) {
      if (r.status === "rejected") assert.ok(r.reason instanceof StaleVersionError);
    }
    assert.equal((await adapter.load("exec-1/a"))!.version, 2);
  });

  test("a writer with an older fencing token is rejected; the token is reported on load", async ({ adapter }) => {
    await adapter.save("exec-1/actor", "first", { fencingToken: 5 });
    assert.equal((await adapter.load("exec-1/actor"))!.fencingToken, 5);
    await assert.rejects(
      adapter.save("exec-1/actor", "zombie", { fencingToken: 4 }),
      (error: unknown) => {
        assert.ok(error instanceof FencedError);
        assert.equal(error.target, "exec-1/actor");
        assert.equal(error.token, 4);
        assert.equal(error.current, 5);
        return true;
      },
    );
    await adapter.save("exec-1/actor", "same owner", { fencingToken: 5 });
    await adapter.save("exec-1/actor", "successor", { fencingToken: 6 });
    await adapter.save("exec-1/actor", "no token");
    assert.equal((await adapter.load("exec-1/actor"))!.fencingToken, undefined);
    await assert.rejects(adapter.save("exec-1/actor", "old", { fencingToken: 5 }), FencedError);
    const loaded = await adapter.load("exec-1/actor");
    assert.equal(loaded!.data, "no token");
    assert.equal(loaded!.version, 4);
  });

  test("an actor's save (version and fencing token) checks the token first, then the version", async ({ adapter }) => {
    const key = "system-1/actor:a";
    const first = await adapter.save(key, "v3", { version: 3, fencingToken: 2 });
    assert.equal(first.version, 3);
    assert.equal(first.fencingToken, 2);
    assert.equal((await adapter.save(key, "v5", { version: 5, fencingToken: 2 })).version, 5);
    await assert.rejects(adapter.save(key, "stale", { version: 5, fencingToken: 3 }), (error) => {
      assert.ok(error instanceof StaleVersionError);
      assert.equal(error.expected, 5);
      assert.equal(error.actual, 5);
      return true;
    });
    // A refused save records nothing, not even its newer token.
    await assert.rejects(adapter.save(key, "zombie", { version: 9, fencingToken: 1 }), (error) => {
      assert.ok(error instanceof FencedError);
      assert.equal(error.current, 2);
      return true;
    });
    await assert.rejects(
      adapter.save(key, "both", { version: 4, fencingToken: 1 }),
      FencedError,
      "a stale version from an older owner is reported as fenced",
    );
    assert.deepEqual(await adapter.load(key), { ...first, version: 5, data: "v5" });
    const successor = await adapter.save(key, "v6", { version: 6, fencingToken: 4 });
    await assert.rejects(adapter.save(key, "old", { version: 7, fencingToken: 2 }), FencedError);
    assert.deepEqual(await adapter.load(key), successor);
    await adapter.save(key, "no token", { version: 8 });
    assert.equal((await adapter.load(key))!.fencingToken, undefined, "the writer has no token");
    await assert.rejects(adapter.save(key, "old", { version: 9, fencingToken: 3 }), FencedError);
    assert.equal((await adapter.save(key, "next", { fencingToken: 4 })).version, 9);
  });

  test("of concurrent saves of one explicit version exactly one wins", async ({ adapter }) => {
    await adapter.save("system-1/actor:a", 0, { version: 1, fencingToken: 1 });
    const results = await Promise.allSettled(
      Array.from(
        { length: 20 },
        (_, i) => adapter.save("system-1/actor:a", i + 1, { version: 2, fencingToken: 1 }),
      ),
    );
    assert.equal(results.filter((r) => r.status === "fulfilled").length, 1);
    for (const r of results) {
      if (r.status === "rejected") assert.ok(r.reason instanceof StaleVersionError);
    }
    assert.equal((await adapter.load("system-1/actor:a"))!.version, 2);
  });

  test("saves issued together apply in the order they were issued, whatever their options", async ({ adapter }) => {
    const saved = await Promise.all([
      adapter.save("exec-1/a", "plain"),
      adapter.save("exec-2/a", "other scope"),
      adapter.save("exec-1/a", "actor", { version: 10, fencingToken: 1 }),
      adapter.save("exec-1/b", "other key"),
      adapter.save("exec-1/a", "plain again"),
      adapter.save("exec-1/a", "with expiry", { ttlSeconds: 3600 }),
      adapter.save("exec-1/a", "conditional", { expectedVersion: 12 }),
      adapter.save("exec-1/a", "actor again", { version: 20, fencingToken: 1 }),
      adapter.save("exec-1/a", "plain last"),
    ]);
    assert.deepEqual(saved.map((s) => s.version), [1, 1, 10, 1, 11, 12, 13, 20, 21]);
    const loaded = await adapter.load("exec-1/a");
    assert.equal(loaded!.version, 21);
    assert.equal(loaded!.data, "plain last");
    assert.equal(loaded!.fencingToken, undefined);
  });

  test("list returns the keys of one scope, sorted", async ({ adapter }) => {
    for (
      const key of ["exec-1/b", "exec-1/a", "exec-1", "exec-10/a", "exec-2/a", "exec-1/a/nested"]
    ) {
      await adapter.save(key, key);
    }
    assert.deepEqual(await adapter.list("exec-1"), [
      "exec-1",
      "exec-1/a",
      "exec-1/a/nested",
      "exec-1/b",
    ]);
    assert.deepEqual(await adapter.list("exec-2"), ["exec-2/a"]);
    assert.deepEqual(await adapter.list("exec-3"), []);
  });

  test("delete removes a snapshot and tells whether it existed", async ({ adapter }) => {
    await adapter.save("exec-1/a", 1);
    await adapter.save("exec-1/b", 2);
    assert.equal(await adapter.delete("exec-1/a"), true);
    assert.equal(await adapter.delete("exec-1/a"), false);
    assert.equal(await adapter.load("exec-1/a"), undefined);
    assert.deepEqual(await adapter.list("exec-1"), ["exec-1/b"]);
    assert.equal((await adapter.save("exec-1/a", 3)).version, 1, "a deleted key starts again at 1");
  });

  test("ttlSeconds expires one snapshot; a later save without it keeps it", async (h) => {
    const { adapter } = h;
    await adapter.save("exec-1/short", 1, { ttlSeconds: 0.3 });
    await adapter.save("exec-1/kept", 1, { ttlSeconds: 0.3 });
    await adapter.save("exec-1/kept", 2);
    await adapter.save("exec-1/other", 1);
    await h.elapse(450);
    assert.equal(await adapter.load("exec-1/short"), undefined);
    assert.equal((await adapter.load("exec-1/kept"))!.data, 2);
    assert.deepEqual(await adapter.list("exec-1"), ["exec-1/kept", "exec-1/other"]);
  });

  test("an actor's save without ttlSeconds keeps a snapshot that had an expiry", async (h) => {
    const { adapter } = h;
    await adapter.save("system-1/actor:a", 1, { ttlSeconds: 0.3, fencingToken: 1 });
    await adapter.save("system-1/actor:a", 2, { version: 5, fencingToken: 1 });
    await adapter.save("system-1/actor:b", 1, { version: 1, fencingToken: 1 });
    await h.elapse(450);
    assert.equal((await adapter.load("system-1/actor:a"))!.data, 2);
    assert.deepEqual(await adapter.list("system-1"), ["system-1/actor:a", "system-1/actor:b"]);
  });

  test("expireScope expires every snapshot of a finished execution, and only those", async (h) => {
    const { adapter } = h;
    await adapter.save("exec-1/a", 1);
    await adapter.save("exec-1/b", 2, { ttlSeconds: 3600 });
    await adapter.save("exec-1", 3);
    await adapter.save("exec-2/a", 4);
    await adapter.expireScope("exec-1", 0.3);
    await h.elapse(150);
    assert.deepEqual(await adapter.list("exec-1"), ["exec-1", "exec-1/a", "exec-1/b"]);
    await h.elapse(300);
    assert.deepEqual(await adapter.list("exec-1"), []);
    assert.equal(await adapter.load("exec-1/a"), undefined);
    assert.equal(await adapter.load("exec-1"), undefined);
    assert.equal((await adapter.load("exec-2/a"))!.data, 4);
    await adapter.expireScope("exec-unknown", 10); // no snapshots: nothing happens
  });

  test("data that is not JSON-serializable is rejected with CorruptDataError and not stored", async ({ adapter }) => {
    const circular: Record<string, unknown> = {};
    circular.self = circular;
    for (const data of [{ big: 1n }, circular, undefined, () => 1]) {
      await assert.rejects(adapter.save("exec-1/bad", data), (error: unknown) => {
        assert.ok(error instanceof CorruptDataError);
        assert.match(error.message, /exec-1\/bad/);
        return true;
      });
    }
    assert.equal(await adapter.load("exec-1/bad"), undefined);
  });

  test("invalid keys, scopes and options are rejected with TypeError or RangeError", async ({ adapter }) => {
    await assert.rejects(adapter.save("", 1), TypeError);
    await assert.rejects(adapter.save("/name", 1), TypeError);
    await assert.rejects(adapter.load(""), TypeError);
    await assert.rejects(adapter.list("a/b"), TypeError);
    await assert.rejects(adapter.list(""), TypeError);
    await assert.rejects(adapter.save("s/a", 1, { version: 0 }), RangeError);
    await assert.rejects(adapter.save("s/a", 1, { expectedVersion: -1 }), RangeError);
    await assert.rejects(adapter.save("s/a", 1, { fencingToken: 0.5 }), RangeError);
    await assert.rejects(adapter.save("s/a", 1, { ttlSeconds: 0 }), RangeError);
    await assert.rejects(adapter.expireScope("s", -1), RangeError);
    assert.deepEqual(await adapter.list("s"), []);
  });

  test("close is idempotent and later calls fail with StoreUnavailableError", async ({ adapter }) => {
    await adapter.save("exec-1/a", 1);
    await adapter.close();
    await adapter.close();
    await assert.rejects(adapter.load("exec-1/a"), StoreUnavailableError);
  });
}
