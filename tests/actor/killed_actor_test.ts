// A killed or failed actor's worker parks at once (src/actor/_parked_worker.ts)
// and is ended once the next incarnation is up: nothing it had on its way or
// still scheduled (a timer) has any effect afterwards, and a message sent to
// it while it is down is handled once, by the next incarnation. The
// supervisor's 300 ms backoff leaves time to see anything the killed worker
// could still do. (A worker kept alive but "fenced" after a failure, its code
// still running, answered the in-flight ask of the third test from the killed
// incarnation.)
import assert from "node:assert/strict";
import type { ActorSystem } from "../../src/actor/actor_system.ts";
import { actor, eventually, fixture, testSystem } from "./_helpers.ts";

const BACKOFF = { minMs: 300, maxMs: 300, jitter: 0 };

// A teller whose timer tells a counter every 2 ms, once the counter has had a
// few; `ticks()` counts what its timer did, seen through shared memory (the
// host cuts a failed actor's links, not its memory).
async function tellingEvery2Ms(system: ActorSystem) {
  const counter = await system.spawn(actor("counter"), { name: "counter", snapshot: "never" });
  const teller = await system.spawn(fixture("interval_teller"), { name: "teller" });
  const trace = new SharedArrayBuffer(4);
  teller.tell({ type: "start", to: counter.path, trace });
  await eventually(
    async () => (await counter.ask({ type: "get" }) as number) >= 5 || undefined,
    "ticks",
  );
  return { counter, teller, ticks: () => Atomics.load(new Int32Array(trace), 0) };
}

Deno.test("a killed actor's timer tells nothing more once it is killed", async () => {
  await using system = testSystem({ root: { backoff: BACKOFF } });
  const { counter, teller, ticks } = await tellingEvery2Ms(system);
  teller.kill("test");
  // What was on its way at the kill lands; then nothing more comes.
  await new Promise((resolve) => setTimeout(resolve, 30));
  const atKill = await counter.ask({ type: "get" }) as number;
  const ticked = ticks();
  await new Promise((resolve) => setTimeout(resolve, 200)); // still within the backoff
  assert.equal(await counter.ask({ type: "get" }), atKill, "no tell from the killed worker");
  assert.equal(ticks(), ticked, "the killed worker's timer ran on");
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

Deno.test("a killed actor that hides the host's park message from the runtime still parks: its timer runs no more", async () => {
  await using system = testSystem({ root: { backoff: BACKOFF } });
  const hider = await system.spawn(fixture("park_hider"), { name: "hider" });
  const trace = new SharedArrayBuffer(4);
  const ticks = () => Atomics.load(new Int32Array(trace), 0);
  await hider.ask({ type: "start", trace });
  await eventually(() => ticks() >= 5 || undefined, "ticks");
  hider.kill("test");
  await new Promise((resolve) => setTimeout(resolve, 30));
  const ticked = ticks();
  await new Promise((resolve) => setTimeout(resolve, 200)); // within the backoff: parked, not ended
  assert.equal(ticks(), ticked, "the killed worker's timer ran on");
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

Deno.test("a failed actor's timer runs no more once its handler threw", async () => {
  await using system = testSystem({ root: { backoff: BACKOFF } });
  const { teller, ticks } = await tellingEvery2Ms(system);
  teller.tell({ type: "fail" });
  await eventually(
    () =>
      system.recorded.some((e) => e.type === "ACTOR_FAILED" && e.data.actor === "teller") ||
      undefined,
    "the failure",
  );
  const ticked = ticks();
  await new Promise((resolve) => setTimeout(resolve, 200)); // still within the backoff
  assert.equal(ticks(), ticked, "the failed worker's timer ran on");
});

Deno.test("an ask that waited behind a long handler when its actor was killed is answered by the next incarnation", async () => {
  await using system = testSystem({ root: { backoff: BACKOFF } });
  const ref = await system.spawn(fixture("busy_whoami"), { name: "busy" });
  const first = await ref.ask("who");
  const busy = ref.ask("busy", { timeoutMs: 10_000 });
  await new Promise((resolve) => setTimeout(resolve, 30)); // its 200 ms handler runs
  const queued = ref.ask("who", { timeoutMs: 10_000 });
  await new Promise((resolve) => setTimeout(resolve, 30));
  ref.kill("test");
  assert.notEqual(await queued, first, "the queued ask was answered by the killed incarnation");
  // The long handler was given up as it ended: its message goes to the next one too.
  assert.notEqual(await busy, first, "the busy ask was answered by the killed incarnation");
});

Deno.test({
  name:
    "a killed actor's worker stays parked during the backoff and ends once the next incarnation is up",
  ignore: Deno.build.os !== "linux",
  fn: async () => {
    const program = new URL("../fixtures/parked_threads.ts", import.meta.url);
    const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", "--unstable-worker-options", program.pathname],
      stdout: "piped",
      stderr: "piped",
      signal: AbortSignal.timeout(30_000),
    }).output();
    assert.equal(code, 0, new TextDecoder().decode(stderr));
    const { before, backingOff, after } = JSON.parse(new TextDecoder().decode(stdout));
    // The killed worker, parked, and the next incarnation's, started ahead.
    assert.equal(backingOff, before + 1, "the killed worker's thread is not parked");
    assert.equal(after, before, "the parked worker did not end");
  },
});
