import assert from "node:assert/strict";
import { DEFAULT_RETENTION_SECONDS } from "../../src/events/event_store.ts";
import { InMemoryEventStore } from "../../src/events/in_memory_event_store.ts";
import { ManualClock } from "../../src/testing/manual_clock.ts";
import { type EventStoreFactory, testEventStoreConformance } from "./_conformance.ts";
import { testExecutionIndexConformance } from "./_index_conformance.ts";

const factory: EventStoreFactory = (options = {}) => {
  const clock = new ManualClock(1_700_000_000_000);
  const store = new InMemoryEventStore({ clock, ...options });
  return Promise.resolve({
    store,
    clock,
    elapse: (ms) => clock.advance(ms),
    another: () => Promise.resolve(store),
    cleanup: () => store.close(),
  });
};
testEventStoreConformance("InMemoryEventStore", factory);
testExecutionIndexConformance("InMemoryEventStore", factory);

Deno.test("InMemoryEventStore keeps a log 7 days (604,800 s) after its last append by default", async () => {
  assert.equal(DEFAULT_RETENTION_SECONDS, 604_800);
  const clock = new ManualClock(0);
  const store = new InMemoryEventStore({ clock });
  await store.appendEvent("exec-1", { type: "A" });
  await clock.advance(3 * 86_400_000);
  await store.appendEvent("exec-1", { type: "B" });
  await clock.advance(604_800_000 - 1);
  assert.equal(await store.count("exec-1"), 2);
  await clock.advance(1);
  assert.equal(await store.count("exec-1"), 0);
  assert.deepEqual(await store.listExecutions(), []);
  await store.close();
});

Deno.test("InMemoryEventStore rejects a retention that is not a positive number", () => {
  assert.throws(() => new InMemoryEventStore({ retentionSeconds: 0 }), RangeError);
  assert.throws(() => new InMemoryEventStore({ retentionSeconds: Number.NaN }), RangeError);
});
