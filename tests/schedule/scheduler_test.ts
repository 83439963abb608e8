import assert from "node:assert/strict";
import { UnknownAgentError } from "../../src/errors.ts";
import { InMemoryScheduleStore } from "../../src/schedule/in_memory_schedule_store.ts";
import { ScheduleLimitError } from "../../src/schedule/scheduler.ts";
import { ScheduleExistsError } from "../../src/schedule/schedule_store.ts";
import { MINUTE, schedulerHarness } from "./_scheduler_harness.ts";

const at = (iso: string) => new Date(iso).toISOString();

Deno.test("scheduler starts one execution per tick, at the tick, keyed by schedule and tick", async () => {
  const h = schedulerHarness(new InMemoryScheduleStore());
  await h.scheduler.create({ id: "five", cron: "*/5 * * * *", agent: "report", task: { x: 1 } });
  await h.advance(5 * MINUTE - 1);
  assert.deepEqual(h.backend.submits, [], "not before the tick");
  await h.advance(1);
  await h.advance(1_000);
  await h.scheduler.runDue();
  assert.equal(h.backend.submits.length, 1, "once per tick, however many passes");
  assert.deepEqual(h.backend.submits[0], {
    agent: "report",
    task: { x: 1 },
    idempotencyKey: "schedule:five:2025-01-01T00:05:00.000Z",
  });
  await h.backend.finish("exec-1");
  await h.advance(5 * MINUTE);
  await h.backend.finish("exec-2");
  await h.advance(5 * MINUTE);
  assert.deepEqual(h.backend.ticks, [
    at("2025-01-01T00:05:00Z"),
    at("2025-01-01T00:10:00Z"),
    at("2025-01-01T00:15:00Z"),
  ]);
  const stored = (await h.scheduler.get("five"))!;
  assert.equal(stored.lastTick, Date.parse("2025-01-01T00:15:00Z"));
  assert.equal(stored.firing, undefined);
  await h.scheduler.stop();
});

Deno.test("scheduler reads the expression in the schedule's time zone", async () => {
  const h = schedulerHarness(new InMemoryScheduleStore());
  await h.scheduler.create({
    id: "berlin",
    cron: "0 9 * * *",
    timezone: "Europe/Berlin",
    agent: "report",
    overlap: "allow",
  });
  await h.advance(8 * 60 * MINUTE - 1);
  assert.equal(h.backend.submits.length, 0);
  await h.advance(1);
  assert.deepEqual(h.backend.ticks, [at("2025-01-01T08:00:00Z")], "09:00 in Berlin is 08:00 UTC");
  await h.scheduler.stop();
});

Deno.test("overlap skip: a tick due while the previous execution runs is skipped", async () => {
  const h = schedulerHarness(new InMemoryScheduleStore());
  await h.scheduler.create({ id: "s", cron: "* * * * *", agent: "report", overlap: "skip" });
  await h.advance(MINUTE);
  await h.advance(MINUTE);
  assert.equal(h.backend.submits.length, 1, "the 00:02 tick is skipped: exec-1 runs");
  await h.backend.finish("exec-1");
  await h.advance(MINUTE);
  assert.deepEqual(h.backend.ticks, [at("2025-01-01T00:01:00Z"), at("2025-01-01T00:03:00Z")]);
  const skipped = h.events.filter((e) => e.data.outcome === "skipped");
  assert.deepEqual(skipped.map((e) => e.data.reason), ["overlap"]);
  await h.scheduler.stop();
});

Deno.test("overlap buffer-one: one tick is held until the previous execution ends, a newer one replaces it", async () => {
  const h = schedulerHarness(new InMemoryScheduleStore());
  await h.scheduler.create({ id: "b", cron: "* * * * *", agent: "report", overlap: "buffer-one" });
  await h.advance(MINUTE); // 00:01 fires
  await h.advance(MINUTE); // 00:02 held
  await h.advance(MINUTE); // 00:03 held instead
  assert.equal(h.backend.submits.length, 1);
  assert.equal((await h.scheduler.get("b"))?.buffered, Date.parse("2025-01-01T00:03:00Z"));
  await h.backend.finish("exec-1");
  await h.advance(1_000);
  assert.deepEqual(h.backend.ticks, [at("2025-01-01T00:01:00Z"), at("2025-01-01T00:03:00Z")]);
  assert.equal((await h.scheduler.get("b"))?.buffered, undefined);
  assert.deepEqual(
    h.events.map((e) => `${e.data.outcome}:${e.data.reason}`),
    ["fired:on-time", "buffered:overlap", "buffered:replaced", "fired:buffered"],
  );
  await h.scheduler.stop();
});

Deno.test("overlap allow: every tick starts, running or not", async () => {
  const h = schedulerHarness(new InMemoryScheduleStore());
  await h.scheduler.create({ id: "a", cron: "* * * * *", agent: "report", overlap: "allow" });
  for (let i = 0; i < 3; i++) await h.advance(MINUTE);
  assert.equal(h.backend.submits.length, 3);
  assert.equal(new Set(h.backend.submits.map((s) => s.idempotencyKey)).size, 3);
  await h.scheduler.stop();
});

Deno.test("catch-up skip: ticks missed while no node ran are skipped and counted", async () => {
  const h = schedulerHarness(new InMemoryScheduleStore());
  await h.scheduler.create({ id: "c", cron: "* * * * *", agent: "report", catchUp: "skip" });
  await h.clock.advance(10 * MINUTE + 90_000); // down: 00:01–00:10 passed unhandled
  await h.scheduler.runDue();
  assert.deepEqual(h.backend.ticks, [at("2025-01-01T00:11:00Z")], "only the tick due now runs");
  assert.deepEqual(
    h.events.map((e) => [e.data.outcome, e.data.reason, e.data.count]),
    [["skipped", "missed", 10], ["fired", "on-time", 1]],
  );
  await h.scheduler.stop();
});

Deno.test("catch-up skip still runs a tick that is only late by less than missedAfterMs", async () => {
  const h = schedulerHarness(new InMemoryScheduleStore());
  await h.scheduler.create({ id: "c", cron: "0 * * * *", agent: "report", catchUp: "skip" });
  await h.advance(60 * MINUTE + 59_000);
  assert.deepEqual(h.backend.ticks, [at("2025-01-01T01:00:00Z")]);
  await h.scheduler.stop();
});

Deno.test("catch-up run-once: one execution for all the missed ticks, the latest one's", async () => {
  const h = schedulerHarness(new InMemoryScheduleStore());
  await h.scheduler.create({ id: "c", cron: "0 * * * *", agent: "report", catchUp: "run-once" });
  await h.clock.advance(5 * 60 * MINUTE + 10 * MINUTE);
  await h.scheduler.runDue();
  assert.deepEqual(h.backend.ticks, [at("2025-01-01T05:00:00Z")]);
  assert.deepEqual(
    h.events.map((e) => `${e.data.outcome}:${e.data.reason}:${e.data.count}`),
    ["skipped:missed:4", "fired:catch-up:1"],
  );
  await h.scheduler.stop();
});

Deno.test("catch-up run-all: each missed tick runs, the latest catchUpLimit of them, oldest first", async () => {
  const h = schedulerHarness(new InMemoryScheduleStore());
  await h.scheduler.create({
    id: "c",
    cron: "0 * * * *",
    agent: "report",
    catchUp: "run-all",
    catchUpLimit: 3,
    overlap: "allow",
  });
  await h.clock.advance(5 * 60 * MINUTE + 10 * MINUTE);
  await h.scheduler.runDue();
  assert.deepEqual(h.backend.ticks, [
    at("2025-01-01T03:00:00Z"),
    at("2025-01-01T04:00:00Z"),
    at("2025-01-01T05:00:00Z"),
  ]);
  assert.equal(h.events.find((e) => e.data.outcome === "skipped")?.data.count, 2);
  await h.scheduler.runDue();
  assert.equal(h.backend.submits.length, 3, "a second pass starts nothing more");
  await h.scheduler.stop();
});

Deno.test("a paused schedule skips its ticks and does not catch up on them when resumed", async () => {
  const h = schedulerHarness(new InMemoryScheduleStore());
  await h.scheduler.create({
    id: "p",
    cron: "* * * * *",
    agent: "report",
    overlap: "allow",
    catchUp: "run-all",
  });
  await h.scheduler.pause("p");
  await h.advance(5 * MINUTE);
  assert.equal(h.backend.submits.length, 0);
  assert.equal((await h.scheduler.resume("p")).paused, false);
  await h.scheduler.runDue();
  assert.equal(h.backend.submits.length, 0, "the paused ticks are not caught up");
  await h.advance(MINUTE);
  assert.deepEqual(h.backend.ticks, [at("2025-01-01T00:06:00Z")]);
  await h.scheduler.stop();
});

Deno.test("a deleted schedule starts nothing more", async () => {
  const h = schedulerHarness(new InMemoryScheduleStore());
  await h.scheduler.create({ id: "d", cron: "* * * * *", agent: "report", overlap: "allow" });
  await h.advance(MINUTE);
  assert.equal(await h.scheduler.delete("d"), true);
  assert.equal(await h.scheduler.delete("d"), false);
  await h.advance(5 * MINUTE);
  assert.equal(h.backend.submits.length, 1);
  await h.scheduler.stop();
});

Deno.test("a tick claimed by a node that died before recording it is started again after the lease, with the same key", async () => {
  const store = new InMemoryScheduleStore();
  const dead = schedulerHarness(store, { node: "dead", firingLeaseMs: 30_000 });
  const alive = schedulerHarness(store, { node: "alive", clock: dead.clock });
  await dead.scheduler.create({ id: "f", cron: "* * * * *", agent: "report" });
  // The dead node claims 00:01 and dies inside submit (it never returns).
  dead.backend.submit = () => new Promise(() => {});
  await dead.clock.advance(MINUTE);
  void dead.scheduler.runDue();
  await dead.clock.advance(0);
  assert.equal((await store.get("f"))?.firing?.node, "dead");
  await alive.advance(29_999);
  assert.equal(alive.backend.submits.length, 0, "the claim holds within the lease");
  await alive.advance(1);
  assert.equal(alive.backend.submits[0]?.idempotencyKey, "schedule:f:2025-01-01T00:01:00.000Z");
  const stored = (await store.get("f"))!;
  assert.equal(stored.firing, undefined);
  assert.equal(stored.lastExecutionId, "exec-1");
});

Deno.test("a start refused for good gives the tick up with the reason; another failure is retried after the lease", async () => {
  const h = schedulerHarness(new InMemoryScheduleStore(), { firingLeaseMs: 10_000 });
  await h.scheduler.create({ id: "e", cron: "* * * * *", agent: "report", overlap: "allow" });
  h.backend.failWith = new UnknownAgentError("report", []);
  await h.advance(MINUTE);
  let stored = (await h.scheduler.get("e"))!;
  assert.equal(stored.firing, undefined);
  assert.match(stored.lastError ?? "", /No agent is registered as "report"/);
  h.backend.failWith = new Error("queue unreachable");
  await h.advance(MINUTE);
  stored = (await h.scheduler.get("e"))!;
  assert.equal(stored.firing?.tick, Date.parse("2025-01-01T00:02:00Z"));
  h.backend.failWith = undefined;
  await h.advance(9_999);
  assert.equal(h.backend.submits.length, 2);
  await h.advance(1);
  assert.equal(h.backend.submits.length, 3);
  assert.equal(h.backend.submits[2]?.idempotencyKey, "schedule:e:2025-01-01T00:02:00.000Z");
  stored = (await h.scheduler.get("e"))!;
  assert.equal(stored.firing, undefined);
  assert.equal(stored.lastError, undefined);
  assert.deepEqual(
    h.events.map((e) => `${e.data.outcome}:${e.data.reason}`),
    ["failed:on-time", "failed:on-time", "fired:retry"],
  );
});

Deno.test("start() runs the loop on the injected clock: ticks fire as the clock moves", async () => {
  const h = schedulerHarness(new InMemoryScheduleStore(), { pollMs: 1_000 });
  await h.scheduler.create({ id: "l", cron: "*/2 * * * *", agent: "report", overlap: "allow" });
  h.scheduler.start();
  for (let i = 0; i < 6 * 60; i++) await h.clock.advance(1_000);
  assert.deepEqual(h.backend.ticks, [
    at("2025-01-01T00:02:00Z"),
    at("2025-01-01T00:04:00Z"),
    at("2025-01-01T00:06:00Z"),
  ]);
  await h.scheduler.stop();
  await h.clock.advance(10 * MINUTE);
  assert.equal(h.backend.submits.length, 3, "nothing after stop()");
});

Deno.test("create refuses an invalid cron expression, time zone, policy value, an unknown agent, a taken id, too many schedules", async () => {
  const h = schedulerHarness(new InMemoryScheduleStore(), { maxSchedules: 2 });
  const s = h.scheduler;
  await assert.rejects(
    s.create({ cron: "61 * * * *", agent: "report" }),
    (e: Error) =>
      e instanceof TypeError && /Invalid cron expression "61 \* \* \* \*"/.test(e.message),
  );
  await assert.rejects(s.create({ cron: "* * * * * *", agent: "report" }), /expected 5 fields/);
  await assert.rejects(s.create({ cron: "0 0 30 2 *", agent: "report" }), /never fires/);
  await assert.rejects(
    s.create({ cron: "@daily", timezone: "Mars/Olympus", agent: "report" }),
    /Invalid time zone "Mars\/Olympus"/,
  );
  await assert.rejects(
    s.create({ cron: "@daily", agent: "report", catchUpLimit: -1 }),
    /Invalid catchUpLimit -1/,
  );
  await assert.rejects(
    s.create({ cron: "@daily", agent: "report", overlap: "sometimes" as never }),
    /Invalid overlap policy "sometimes"/,
  );
  await assert.rejects(
    s.create({ cron: "@daily", agent: "report", task: "x".repeat(40_000) }),
    RangeError,
  );
  await assert.rejects(s.create({ cron: "@daily", agent: "ghost" }), UnknownAgentError);
  await assert.rejects(
    s.create({ cron: "@daily", agent: "report", policy: { requireApproval: ["send_mial"] } }),
    (e: Error) =>
      e instanceof TypeError &&
      e.message.includes('"send_mial" is no registered tool (tools: "send_mail")'),
  );
  await s.create({ id: "one", cron: "@daily", agent: "report" });
  await assert.rejects(
    s.create({ id: "one", cron: "@daily", agent: "report" }),
    ScheduleExistsError,
  );
  await s.create({ id: "two", cron: "@daily", agent: "report" });
  await assert.rejects(s.create({ cron: "@daily", agent: "report" }), ScheduleLimitError);
  assert.equal((await s.list()).length, 2);
});
