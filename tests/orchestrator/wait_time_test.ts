// Waits for a person or for time pause the execution's time limits
// (`stepTimeoutMs`, `timeoutMs`): an agent can wait hours for a signal or
// sleep past its step limit, while work still times out. On the injected clock.
import assert from "node:assert/strict";
import { Orchestrator, type OrchestratorOptions } from "../../src/orchestrator/orchestrator.ts";
import { defineTool } from "../../src/orchestrator/tool.ts";
import type { StoredEvent } from "../../src/events/event_store.ts";
import { ManualClock } from "../../src/testing/manual_clock.ts";
import { ActiveTime } from "../../src/orchestrator/_active_time.ts";
import { HostWaits } from "../../src/orchestrator/_host_waits.ts";
import { has, until } from "../_support/until_events.ts";

const AGENT = new URL("../fixtures/wait_agent.ts", import.meta.url);
const HOUR = 3_600_000;

function waiter(clock: ManualClock, options: OrchestratorOptions = {}) {
  return new Orchestrator({
    agents: [{ name: "waiter", module: AGENT }],
    tools: [
      defineTool({
        name: "effect",
        // A tool that takes 40 s of the injected clock: work, which the step limit counts.
        run: async () => {
          await clock.sleep(40_000);
          return "done";
        },
      }) as never,
    ],
    clock,
    passivateAfterMs: 10,
    policy: { timeoutMs: 60_000, stepTimeoutMs: 30_000 },
    ...options,
  });
}

Deno.test("a signal awaited for two hours does not count against a 30 s step limit or a 60 s execution limit", async () => {
  const clock = new ManualClock(Date.now());
  const orchestrator = waiter(clock);
  try {
    const { executionId, done } = await orchestrator.start("waiter", {
      signal: { name: "go" },
    });
    await until(orchestrator, executionId, has("WAITING_FOR_SIGNAL"));
    await clock.advance(10);
    await until(orchestrator, executionId, has("EXECUTION_PASSIVATED"));
    for (let i = 0; i < 2; i++) await clock.advance(HOUR);
    await new Promise((r) => setTimeout(r, 50));
    const events = await orchestrator.eventStore.readRange(executionId);
    assert.deepEqual(
      events.filter((e) => /FAILED|VIOLATION|TIMED_OUT/.test(e.type)).map((e) => e.type),
      [],
    );
    await orchestrator.signal(executionId, "go", { ok: true });
    const report = await done;
    assert.equal(report.status, "SUCCESS", JSON.stringify(report.error));
    assert.deepEqual((report.output as { payloads: unknown[] }).payloads, [{ ok: true }]);
    assert.ok(report.durationMs < 60_000, `durationMs ${report.durationMs} counts the wait`);
    // What a resume would start its clocks from: the log without the wait.
    const view = await orchestrator.status(executionId);
    assert.ok(view.activeMs < 60_000, `status activeMs ${view.activeMs}`);
    // The step that waited: its duration is the time it ran; the wait is apart.
    const waited = (await orchestrator.eventStore.readRange(executionId)).find((e) =>
      e.type === "STEP_COMPLETED" && e.data?.state === "EXECUTE"
    )!;
    assert.ok(Number(waited.data!.durationMs) < 60_000, `durationMs ${waited.data!.durationMs}`);
    assert.ok(Number(waited.data!.waitedMs) >= 2 * HOUR, `waitedMs ${waited.data!.waitedMs}`);
  } finally {
    await orchestrator.close();
  }
});

Deno.test("a durable sleep of two hours outlasts the step and execution limits; work still times out", async () => {
  const clock = new ManualClock(Date.now());
  const orchestrator = waiter(clock);
  try {
    const { executionId, done } = await orchestrator.start("waiter", { sleepMs: 2 * HOUR });
    await until(orchestrator, executionId, has("TIMER_STARTED"));
    await clock.advance(10);
    await until(orchestrator, executionId, has("EXECUTION_PASSIVATED"));
    await clock.advance(2 * HOUR);
    const report = await done;
    assert.equal(report.status, "SUCCESS", JSON.stringify(report.error));

    // A tool call is work: 40 s of it exceed the 30 s step limit (the retry then finds the call done).
    const worked = await orchestrator.start("waiter", { effectBefore: true });
    await until(orchestrator, worked.executionId, has("TOOL_CALL"));
    for (let i = 0; i < 40 && !(await settled(worked.done)); i++) await clock.advance(5_000);
    await worked.done;
    const events = await orchestrator.eventStore.readRange(worked.executionId);
    const call = events.find((e) => e.type === "TOOL_CALL")!;
    const failed = events.find((e) => e.type === "STEP_FAILED");
    assert.match(JSON.stringify(failed?.data), /stepTimeoutMs/);
    assert.equal(failed!.time - call.time, 30_000);
  } finally {
    await orchestrator.close();
  }
});

async function settled(promise: Promise<unknown>): Promise<boolean> {
  const marker = Symbol();
  const value = await Promise.race([
    promise.then(() => undefined),
    new Promise((r) => setTimeout(() => r(marker), 20)),
  ]);
  return value !== marker;
}

Deno.test("ActiveTime: a log's running time leaves out its waits, across a resume in the middle of one", () => {
  const active = new ActiveTime(0);
  const events: Pick<StoredEvent, "type" | "time" | "key">[] = [
    { type: "STATE_ENTER", time: 10 },
    { type: "WAITING_FOR_SIGNAL", time: 100, key: "waiting:k1" },
    { type: "EXECUTION_PASSIVATED", time: 110 },
    // The process died; another resumed during the wait.
    { type: "EXECUTION_RESUMED", time: 5_000 },
    { type: "SIGNAL_CONSUMED", time: 9_000, key: "consumed:k1" },
    { type: "TIMER_STARTED", time: 9_050, key: "timer:k2" },
    { type: "TIMER_FIRED", time: 20_000, key: "fired:k2" },
    { type: "APPROVAL_REQUESTED", time: 20_100, key: "approval-requested:c" },
    // A wait the step left open ends with the step.
    { type: "STEP_COMPLETED", time: 30_000 },
    { type: "EXECUTION_COMPLETED", time: 30_200 },
  ];
  let previous = 0;
  for (const event of events) {
    const before = previous;
    active.see(event, () => before);
    previous = event.time;
  }
  // 0–100, 9,000–9,050, 20,000–20,100, 30,000–30,200.
  assert.equal(active.total(30_200), 100 + 50 + 100 + 200);
});

Deno.test("HostWaits: the clocks pause only while every pending wait is for a person or for time", async () => {
  const clock = new ManualClock(0);
  const waits = new HostWaits(clock, Infinity, () => {});
  const endSignal = waits.begin('signal "go"', { durable: true });
  assert.ok(waits.paused);
  let resumed = false;
  void waits.whenPauseEnds().then(() => resumed = true);
  await clock.advance(1_000);
  assert.ok(!resumed);
  const endTool = waits.begin('tool "fetch"'); // work beside the wait: the clocks run
  await Promise.resolve();
  assert.ok(!waits.paused && resumed, "a call beside the wait ends the pause");
  await clock.advance(500);
  endTool();
  assert.ok(waits.paused);
  await clock.advance(2_000);
  endSignal();
  assert.ok(!waits.paused);
  assert.equal(waits.pausedMs(), 3_000, "1 s before the tool, 2 s after it");
});

Deno.test("sleepUntil a month ahead keeps waiting on the real clock (a platform timer that long would fire at once)", async () => {
  const orchestrator = new Orchestrator({
    agents: [{ name: "waiter", module: AGENT }],
    passivateAfterMs: 10,
  });
  try {
    const due = Date.now() + 30 * 24 * HOUR;
    const { executionId, done } = await orchestrator.start("waiter", { sleepUntil: due });
    await until(orchestrator, executionId, has("EXECUTION_PASSIVATED"));
    await new Promise((r) => setTimeout(r, 300));
    const events = await orchestrator.eventStore.readRange(executionId);
    const started = events.find((e) => e.type === "TIMER_STARTED");
    assert.equal((started?.data as { until?: number } | undefined)?.until, due);
    assert.ok(!events.some((e) => e.type === "TIMER_FIRED"), events.map((e) => e.type).join());
    assert.ok(orchestrator.cancel(executionId, "test over") || true);
    await done;
  } finally {
    await orchestrator.close();
  }
});
