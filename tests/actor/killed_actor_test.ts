// A killed actor's worker is ended at once: nothing it had on its way or
// still scheduled (a timer) has any effect afterwards, and a message sent to
// it while it is down is handled once, by the next incarnation. The
// supervisor's 300 ms backoff leaves time to see anything the killed worker
// could still do. (A worker kept alive but "fenced" after a failure, to spare
// the next incarnation's start its teardown, answered the in-flight ask of
// the third test from the killed incarnation; see bench/_figure.ts `settle`.)
import assert from "node:assert/strict";
import { actor, eventually, fixture, testSystem } from "./_helpers.ts";

const BACKOFF = { minMs: 300, maxMs: 300, jitter: 0 };

Deno.test("a killed actor's timer tells nothing more once it is killed", async () => {
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
  assert.equal(await counter.ask({ type: "get" }), atKill, "no tell from the killed worker");
  // The next incarnation starts after the backoff; it was not told to start its timer.
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
  // Its frame goes on the killed worker's link first (relinked at the
  // restart, 300 ms on): only the next incarnation may answer it.
  const next = await ref.ask("who", { timeoutMs: 10_000 });
  assert.notEqual(next, first, "answered by the killed incarnation's worker");
  assert.equal(await ref.ask("who"), next);
});

Deno.test("an ask in flight when its actor is killed is answered by the next incarnation", async () => {
  await using system = testSystem({ root: { backoff: BACKOFF } });
  const ref = await system.spawn(fixture("whoami"), { name: "whoami" });
  const first = await ref.ask("who");
  const pending = ref.ask("slow", { timeoutMs: 10_000 });
  await new Promise((resolve) => setTimeout(resolve, 40)); // its handler is awaiting
  ref.kill("test");
  assert.notEqual(await pending, first, "answered by the killed incarnation's worker");
});

Deno.test("a message sent to a killed actor is handled once, by the next incarnation", async () => {
  await using system = testSystem({ root: { backoff: BACKOFF } });
  const counter = await system.spawn(actor("counter"), { name: "counter" });
  counter.tell({ type: "add", n: 1 });
  await counter.whenAcknowledged();
  counter.kill("test");
  counter.tell({ type: "add", n: 10 }); // goes on the killed worker's link first
  assert.equal(await counter.ask({ type: "get" }, { timeoutMs: 10_000 }), 11);
  const failed = system.recorded.filter((e) => e.type === "ACTOR_FAILED");
  assert.deepEqual(failed.map((e) => e.data.reason), ["killed"]);
});
