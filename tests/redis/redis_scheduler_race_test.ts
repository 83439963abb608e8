import assert from "node:assert/strict";
import { RedisScheduleStore } from "../../src/redis/redis_schedule_store.ts";
import { ManualClock } from "../../src/testing/manual_clock.ts";
import { MINUTE, schedulerHarness } from "../schedule/_scheduler_harness.ts";
import { deleteByPrefix, REDIS_URL, testPrefix } from "./_harness.ts";

Deno.test("two schedulers on one Redis racing for the same ticks: each tick starts exactly once", async () => {
  const keyPrefix = testPrefix();
  const stores = [
    new RedisScheduleStore({ redisUrl: REDIS_URL, keyPrefix }),
    new RedisScheduleStore({ redisUrl: REDIS_URL, keyPrefix }),
  ];
  const start = Date.UTC(2025, 0, 1);
  const nodes = stores.map((store, i) =>
    schedulerHarness(store, { node: `node-${i}`, clock: new ManualClock(start) })
  );
  try {
    await nodes[0]!.scheduler.create({
      id: "race",
      cron: "* * * * *",
      agent: "report",
      overlap: "allow",
    });
    await nodes[0]!.scheduler.create({
      id: "race-2",
      cron: "*/2 * * * *",
      agent: "report",
      overlap: "allow",
    });
    for (let minute = 1; minute <= 30; minute++) {
      await Promise.all(nodes.map((n) => n.clock.advance(MINUTE)));
      await Promise.all(nodes.map((n) => n.scheduler.runDue()));
    }
    const keys = nodes.flatMap((n) => n.backend.submits.map((s) => s.idempotencyKey!));
    assert.equal(keys.length, 30 + 15, "one start per tick across both nodes");
    assert.equal(new Set(keys).size, keys.length, "no tick started twice");
    for (let minute = 1; minute <= 30; minute++) {
      const iso = new Date(start + minute * MINUTE).toISOString();
      assert.ok(keys.includes(`schedule:race:${iso}`), `tick ${iso} started`);
    }
    const stored = (await stores[1]!.get("race"))!;
    assert.equal(stored.lastTick, start + 30 * MINUTE);
    assert.equal(stored.firing, undefined);
  } finally {
    await Promise.all(nodes.map((n) => n.scheduler.stop()));
    await Promise.all(stores.map((s) => s.close()));
    await deleteByPrefix(keyPrefix);
  }
});
