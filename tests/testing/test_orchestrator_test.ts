import assert from "node:assert/strict";
import { InMemoryEventStore } from "../../src/events/in_memory_event_store.ts";
import { defineTool } from "../../src/orchestrator/tool.ts";
import { InMemoryPersistenceAdapter } from "../../src/persistence/in_memory_persistence_adapter.ts";
import { TestOrchestrator } from "../../src/testing/test_orchestrator.ts";
import type { TestTask } from "../fixtures/test_agent.ts";

const TESTER = { name: "tester", module: "tests/fixtures/test_agent.ts" };

const hang = defineTool({
  name: "hang",
  run: (_args: unknown, ctx) =>
    new Promise<never>((_, reject) =>
      ctx.signal.addEventListener("abort", () => reject(ctx.signal.reason))
    ),
});

// Whether a promise settled within some real time (the manual clock does not move meanwhile).
async function settlesWithin<T>(promise: Promise<T>, ms: number): Promise<boolean> {
  let settled = false;
  promise.then(() => settled = true, () => settled = true);
  await new Promise((resolve) => setTimeout(resolve, ms));
  return settled;
}

Deno.test("a test orchestrator runs an agent in a worker on in-memory stores, at the manual clock's time", async () => {
  await using orchestrator = new TestOrchestrator({
    startTime: 1_000_000,
    agents: [TESTER],
    tools: [defineTool({ name: "double", run: (n: number) => n * 2 }) as never],
  });
  assert.ok(orchestrator.persistence instanceof InMemoryPersistenceAdapter);
  assert.ok(orchestrator.eventStore instanceof InMemoryEventStore);
  const task: TestTask = { calls: [{ tool: "double", args: 21 }] };
  const report = await orchestrator.run("tester", task);
  assert.equal(report.status, "SUCCESS");
  assert.deepEqual((report.output as { results: unknown[] }).results, [42]);
  assert.equal(report.startedAt, 1_000_000);
  assert.equal(report.durationMs, 0);
  const events = await orchestrator.eventStore.readRange(report.executionId);
  assert.ok(events.every((e) => e.time === 1_000_000), "every event at the clock's time");
  const types = await orchestrator.eventTypes(report.executionId);
  assert.equal(types[0], "EXECUTION_STARTED");
  assert.equal(types.at(-1), "EXECUTION_COMPLETED");
  assert.ok(types.includes("TOOL_CALL_SUCCESS"));
  assert.ok(!types.some((t) => t.startsWith("ACTOR_") || t.startsWith("MESSAGE_")));
  assert.ok(events.some((e) => e.type.startsWith("ACTOR_")), "the runtime's events are in the log");
});

Deno.test("a failed step is retried only once the test advances the manual clock by the retry's delay", async () => {
  await using orchestrator = new TestOrchestrator({ agents: [TESTER] });
  const task: TestTask = { failAttempts: 1 };
  const { executionId, done } = await orchestrator.start("tester", task);
  const retry = await orchestrator.waitForEvent(executionId, "RETRY_ATTEMPTED");
  const { delayMs } = retry.data as { delayMs: number };
  assert.ok(delayMs > 0);
  // Real time passes beyond the longest default delay (100 ms + 20 %): no retry yet.
  assert.equal(await settlesWithin(done, 300), false);
  await orchestrator.clock.advance(delayMs - 1);
  assert.equal(await settlesWithin(done, 50), false, "1 ms short of the delay");
  await orchestrator.clock.advance(1);
  const report = await done;
  assert.equal(report.status, "SUCCESS");
  const types = await orchestrator.eventTypes(executionId);
  assert.equal(types.filter((t) => t === "STEP_FAILED").length, 1);
});

Deno.test("a step's time limit is reached when the manual clock passes it, not before", async () => {
  await using orchestrator = new TestOrchestrator({
    agents: [TESTER],
    tools: [hang as never],
    policy: { timeoutMs: Infinity, stepTimeoutMs: 5_000 },
    retry: { attempts: 1 },
    passivateAfterMs: Infinity,
  });
  const task: TestTask = { calls: [{ tool: "hang" }] };
  const { executionId, done } = await orchestrator.start("tester", task);
  await orchestrator.waitForEvent(executionId, "TOOL_CALL");
  assert.equal(await settlesWithin(done, 300), false);
  await orchestrator.clock.advance(60_000);
  const report = await done;
  assert.equal(report.status, "FAILED");
  assert.match(report.error?.message ?? "", /stepTimeoutMs \(5000 ms\)/);
});

Deno.test("waiting for an event stops when its signal aborts", async () => {
  await using orchestrator = new TestOrchestrator();
  const controller = new AbortController();
  const waiting = orchestrator.waitForEvent("exec-none", "EXECUTION_STARTED", {
    signal: controller.signal,
  });
  controller.abort(new Error("gave up"));
  await assert.rejects(waiting, /gave up/);
});

Deno.test("a disposed test orchestrator is closed", async () => {
  let closed: TestOrchestrator;
  {
    await using orchestrator = new TestOrchestrator({ agents: [TESTER] });
    closed = orchestrator;
  }
  await assert.rejects(closed.run("tester", {}));
});
