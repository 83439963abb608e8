import assert from "node:assert/strict";
import { _CommandWatchdog } from "../../src/redis/_command_watchdog.ts";
import { RedisEventStore } from "../../src/redis/redis_event_store.ts";
import { ManualClock } from "../../src/testing/manual_clock.ts";
import { RedisServer } from "../_support/redis_server.ts";
import { captureLogs } from "./_redis_helpers.ts";

Deno.test("the command watchdog rejects an operation unanswered after the timeout, between 1 and 1.5 timeouts", async () => {
  const clock = new ManualClock(0);
  const watchdog = new _CommandWatchdog(clock, 1_000);
  let settled: unknown;
  const hung = watchdog.guard(new Promise(() => {})).then(
    () => (settled = "resolved"),
    (error: Error) => (settled = error.message),
  );
  await clock.advance(999);
  assert.equal(settled, undefined);
  await clock.advance(501);
  await hung;
  assert.equal(settled, "Command timed out");
  watchdog.close();
});

Deno.test("the command watchdog passes results through and stops its timer once idle", async () => {
  const clock = new ManualClock(0);
  const watchdog = new _CommandWatchdog(clock, 1_000);
  assert.equal(await watchdog.guard(Promise.resolve(42)), 42);
  await assert.rejects(watchdog.guard(Promise.reject(new Error("WRONGTYPE"))), /WRONGTYPE/);
  assert.equal(clock.pending, 1, "one timer for the store, not one per operation");
  await clock.advance(500); // busy during the last period: checks once more
  await clock.advance(500); // idle for a whole period: stops
  assert.equal(clock.pending, 0);
  const late = watchdog.guard(new Promise(() => {}));
  assert.equal(clock.pending, 1, "armed again by the next operation");
  watchdog.close();
  assert.equal(clock.pending, 0);
  assert.equal(watchdog.guard(late), late, "a closed watchdog guards nothing");
});

Deno.test("an append sent while Redis is busy times out, is retried on the same connection and stored once", async () => {
  await using server = await RedisServer.start({ args: ["--enable-debug-command", "yes"] });
  await using logs = await captureLogs();
  const store = new RedisEventStore({
    redisUrl: server.url(),
    connection: { commandTimeoutMs: 200 },
    retry: { initialDelayMs: 20, maxDelayMs: 100 },
  });
  try {
    await store.appendEvent("exec-1", { type: "A" });
    const sleeping = server.command("DEBUG", "SLEEP", "0.8");
    await new Promise((resolve) => setTimeout(resolve, 100));
    // A direct append (XADD) and a script append (fenced), both cut off by the timeout.
    const [b, c] = await Promise.all([
      store.appendEvent("exec-1", { type: "B" }),
      store.appendEvent("exec-2", { type: "C" }, { fencingToken: 1 }),
    ]);
    await sleeping;
    assert.deepEqual([b.seq, c.seq], [2, 1]);
    assert.deepEqual((await store.readRange("exec-1")).map((e) => e.type), ["A", "B"]);
    assert.deepEqual((await store.readRange("exec-2")).map((e) => e.type), ["C"]);
    assert.ok(
      logs.messages("debug").some((message) => message.includes("Command timed out")),
      "the operations were retried after the watchdog's timeout",
    );
  } finally {
    await store.close();
  }
});
