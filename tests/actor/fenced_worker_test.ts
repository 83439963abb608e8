// A failed incarnation's worker is fenced, not ended at once (ending it just
// before the next incarnation's `new Worker` slowed that by ~3 ms): from the
// failure on it must handle and send nothing, until it is ended once the
// next incarnation is ready. The supervisor's backoff keeps the fenced
// worker alive for 300 ms here, long enough to see anything it still sends.
import assert from "node:assert/strict";
import { actor, eventually, fixture, testSystem } from "./_helpers.ts";

const BACKOFF = { minMs: 300, maxMs: 300, jitter: 0 };

// End to end: its receivers also close their side of its links as it fails
// (LinkBroker.senderGone), so this holds with or without the fence's own
// check of what the worker posts; the fence covers the moments before.
Deno.test("a killed actor's worker sends nothing more while it waits to be ended", async () => {
  await using system = testSystem({ root: { backoff: BACKOFF } });
  const counter = await system.spawn(actor("counter"), { name: "counter", snapshot: "never" });
  const teller = await system.spawn(fixture("interval_teller"), { name: "teller" });
  teller.tell({ type: "start", to: counter.path });
  await eventually(
    async () => (await counter.ask({ type: "get" }) as number) >= 5 || undefined,
    "ticks",
  );
  teller.kill("test");
  // What was on its way at the kill lands; then nothing more comes.
  await new Promise((resolve) => setTimeout(resolve, 30));
  const atKill = await counter.ask({ type: "get" }) as number;
  await new Promise((resolve) => setTimeout(resolve, 200)); // still within the backoff
  assert.equal(await counter.ask({ type: "get" }), atKill, "no tell from the fenced worker");
  // The next incarnation starts after the backoff, and the fenced worker is ended then.
  await eventually(
    () =>
      system.recorded.some((e) => e.type === "ACTOR_RESTARTED" && e.data.actor === "teller") ||
      undefined,
    "the restart",
  );
  await new Promise((resolve) => setTimeout(resolve, 50));
  assert.equal(await counter.ask({ type: "get" }), atKill, "its timer died with its worker");
});

Deno.test("a killed actor's worker handles nothing more: an ask sent after the kill is answered by the next incarnation", async () => {
  await using system = testSystem({ root: { backoff: BACKOFF } });
  const ref = await system.spawn(fixture("whoami"), { name: "whoami" });
  const first = await ref.ask("who");
  ref.kill("test");
  // Its frame reaches the killed worker's link first (it is relinked at the
  // restart, 300 ms on): the fenced worker must not answer it.
  const next = await ref.ask("who", { timeoutMs: 10_000 });
  assert.notEqual(next, first, "answered by the killed incarnation's worker");
  assert.equal(await ref.ask("who"), next);
});

Deno.test("a message sent to a killed actor is handled once, by the next incarnation", async () => {
  await using system = testSystem({ root: { backoff: BACKOFF } });
  const counter = await system.spawn(actor("counter"), { name: "counter" });
  counter.tell({ type: "add", n: 1 });
  await counter.whenAcknowledged();
  counter.kill("test");
  counter.tell({ type: "add", n: 10 }); // reaches the fenced worker's link first
  assert.equal(await counter.ask({ type: "get" }, { timeoutMs: 10_000 }), 11);
  const failed = system.recorded.filter((e) => e.type === "ACTOR_FAILED");
  assert.deepEqual(failed.map((e) => e.data.reason), ["killed"]);
});
