import assert from "node:assert/strict";
import { CorruptDataError, StaleVersionError } from "../../src/errors.ts";
import { KvPersistenceAdapter } from "../../src/kv/kv_persistence_adapter.ts";
import { openKv } from "../../src/kv/open_kv.ts";
import { ManualClock } from "../../src/testing/manual_clock.ts";
import { testPersistenceConformance } from "../persistence/_conformance.ts";
import { tempKv } from "./_kv_harness.ts";

testPersistenceConformance("KvPersistenceAdapter", async () => {
  const temp = await tempKv();
  const clock = new ManualClock(1_700_000_000_000);
  const adapter = new KvPersistenceAdapter({ path: temp.path, clock });
  return {
    adapter,
    clock,
    // Expiry is read against the adapter's clock: Deno KV's own deletion comes later.
    elapse: (ms) => clock.advance(ms),
    cleanup: async () => {
      await adapter.close();
      await temp.remove();
    },
  };
});

async function keysUnder(path: string, prefix: Deno.KvKey): Promise<Deno.KvKey[]> {
  const shared = await openKv(path);
  try {
    const keys: Deno.KvKey[] = [];
    for await (const entry of shared.kv.list({ prefix })) keys.push(entry.key);
    return keys;
  } finally {
    shared.release();
  }
}

Deno.test("KvPersistenceAdapter stores a snapshot larger than one Deno KV value in parts, and deletes them with it", async () => {
  const temp = await tempKv();
  const adapter = new KvPersistenceAdapter({ path: temp.path });
  try {
    const big = { text: "é".repeat(600_000), n: 1 };
    await adapter.save("exec-1/big", big);
    assert.deepEqual((await adapter.load("exec-1/big"))?.data, big);
    assert.equal((await keysUnder(temp.path, ["oao", "sb"])).length, 19);
    await adapter.save("exec-1/big", { ...big, n: 2 }, { expectedVersion: 1 });
    assert.equal((await keysUnder(temp.path, ["oao", "sb"])).length, 19, "the old parts went");
    await adapter.save("exec-1/big", "small now");
    assert.equal((await adapter.load("exec-1/big"))?.data, "small now");
    assert.deepEqual(await keysUnder(temp.path, ["oao", "sb"]), []);
    await adapter.save("exec-1/big", big);
    assert.equal(await adapter.delete("exec-1/big"), true);
    assert.deepEqual(await keysUnder(temp.path, ["oao", "sb"]), []);
  } finally {
    await adapter.close();
    await temp.remove();
  }
});

Deno.test("KvPersistenceAdapter: of concurrent conditional saves by two adapters on one file exactly one wins", async () => {
  const temp = await tempKv();
  const a = new KvPersistenceAdapter({ path: temp.path });
  const b = new KvPersistenceAdapter({ path: temp.path });
  try {
    await a.save("exec-1/a", 0);
    await b.load("exec-1/a");
    const results = await Promise.allSettled(
      Array.from(
        { length: 20 },
        (_, i) => (i % 2 ? a : b).save("exec-1/a", i + 1, { expectedVersion: 1 }),
      ),
    );
    assert.equal(results.filter((r) => r.status === "fulfilled").length, 1);
    for (const r of results) {
      if (r.status === "rejected") assert.ok(r.reason instanceof StaleVersionError, `${r.reason}`);
    }
    // The other adapter's cached versionstamp is stale: its next save reads again.
    assert.equal((await a.save("exec-1/a", "next")).version, 3);
    assert.equal((await b.save("exec-1/a", "after")).version, 4);
  } finally {
    await a.close();
    await b.close();
    await temp.remove();
  }
});

Deno.test("KvPersistenceAdapter reports a damaged snapshot with CorruptDataError naming its key", async () => {
  const temp = await tempKv();
  const adapter = new KvPersistenceAdapter({ path: temp.path });
  const shared = await openKv(temp.path);
  try {
    await shared.kv.set(["oao", "s", "exec-1", "exec-1/a"], { v: "x" });
    await assert.rejects(adapter.load("exec-1/a"), (error) => {
      assert.ok(error instanceof CorruptDataError);
      assert.ok(error.key.includes('"exec-1/a"'), error.key);
      assert.ok(error.key.includes(temp.path), error.key);
      return true;
    });
  } finally {
    shared.release();
    await adapter.close();
    await temp.remove();
  }
});
