import assert from "node:assert/strict";
import { InMemoryPersistenceAdapter } from "../../src/persistence/in_memory_persistence_adapter.ts";
import { actor, eventually, testSystem } from "./_helpers.ts";

const noBackoff = { minMs: 0, maxMs: 0, factor: 1, jitter: 0 };

Deno.test("snapshot every N messages: the snapshot lags by less than N, and a restart loses nothing", async () => {
  const persistence = new InMemoryPersistenceAdapter();
  await using system = testSystem({ persistence, root: { backoff: noBackoff } });
  const summer = await system.spawn(actor("summer"), {
    name: "summer",
    snapshot: { everyMessages: 10 },
  });
  for (let n = 1; n <= 25; n++) summer.tell({ type: "add", n });
  assert.deepEqual(await summer.ask({ type: "sum" }), { sum: 325, count: 25 });
  const snap = await eventually(async () => {
    const s = await persistence.load<{ processed: number }>("oao/actor:summer");
    return s && s.version >= 17 ? s : undefined;
  }, "a snapshot lagging by less than 10 of the 26 messages");
  assert.ok(snap.version <= 26 && 26 - snap.version < 10, `version ${snap.version}`);
  // Messages after the snapshot are not acknowledged: they come back after a restart.
  summer.kill();
  await eventually(() => system.recorded.find((e) => e.type === "ACTOR_RESTARTED"), "restart");
  assert.deepEqual(await summer.ask({ type: "sum" }), { sum: 325, count: 25 });
});

Deno.test("snapshot every T ms: state is saved on a timer, not per message", async () => {
  const persistence = new InMemoryPersistenceAdapter();
  await using system = testSystem({ persistence, root: { backoff: noBackoff } });
  const summer = await system.spawn(actor("summer"), { name: "timed", snapshot: { everyMs: 100 } });
  for (let n = 1; n <= 50; n++) summer.tell({ type: "add", n });
  await summer.ask({ type: "sum" });
  const saved = await eventually(
    async () => {
      const s = await persistence.load("oao/actor:timed");
      return s && s.version === 51 ? s : undefined;
    },
    "the timed snapshot",
    3_000,
  );
  assert.equal(saved.version, 51);
  await summer.whenAcknowledged();
});

Deno.test("snapshot never (stateless): nothing is saved; unprocessed messages are still redelivered", async () => {
  const persistence = new InMemoryPersistenceAdapter();
  await using system = testSystem({ persistence, root: { backoff: noBackoff } });
  const sleeper = await system.spawn(actor("sleeper"), { name: "stateless", snapshot: "never" });
  sleeper.tell({ value: "slow", sleepMs: 300 });
  const answer = sleeper.ask({ value: "after the crash" });
  await new Promise((r) => setTimeout(r, 50));
  sleeper.kill("crash while busy");
  assert.equal(await answer, "after the crash");
  assert.deepEqual(await persistence.list("oao"), []);
});

Deno.test("a child that does not stop within its shutdown timeout is terminated", async () => {
  await using system = testSystem();
  const sleeper = await system.spawn(actor("sleeper"), {
    name: "stubborn",
    snapshot: "never",
    shutdownMs: 100,
  });
  sleeper.tell({ value: 1, sleepMs: 5_000 });
  await new Promise((r) => setTimeout(r, 50));
  const started = Date.now();
  await sleeper.stop();
  assert.ok(Date.now() - started < 2_000);
  const stopped = system.recorded.find((e) => e.type === "ACTOR_STOPPED");
  assert.match(String(stopped?.data.reason), /killed after the shutdown timeout of 100 ms/);
});
