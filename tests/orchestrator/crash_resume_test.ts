// A real `deno run` process running an execution against a real Redis is
// killed with SIGKILL in the middle of a tool-heavy execution; `resume` in a
// new process completes it with every side effect performed exactly once,
// and the policy's budgets still hold across the crash.
import assert from "node:assert/strict";
import { Redis } from "ioredis";
import { RedisEventStore } from "../../src/redis/redis_event_store.ts";
import type { ExecutionReport } from "../../src/orchestrator/execution_report.ts";
import { testRedisUrl } from "../_support/test_redis.ts";
import { orchestratorChild as child } from "../_support/orchestrator_child.ts";

// Every test here needs the suite's Redis: without one, they fail at once saying why.
const REDIS_URL = await testRedisUrl();
// The execution's own last event (the actor system's come in their own time).
function lastOwnEvent(events: { type: string }[]): string | undefined {
  return events.filter((e) => !e.type.startsWith("ACTOR_")).at(-1)?.type;
}

async function crashAndResume(
  options: {
    calls: number;
    loops: number;
    maxToolCalls: number;
    killAfter: number;
    delayMs?: number;
    passivateAfterMs?: number;
  },
) {
  const id = crypto.randomUUID().slice(0, 8);
  const keyPrefix = `oao-test-${id}:`;
  const effectsKey = `oao-test-${id}-effects`;
  const executionId = `exec-crash-${id}`;
  const all = { redisUrl: REDIS_URL, keyPrefix, effectsKey, delayMs: 20, ...options };
  const redis = new Redis(REDIS_URL);
  const store = new RedisEventStore({ redisUrl: REDIS_URL, keyPrefix });
  try {
    const first = child("run", executionId, all);
    const deadline = Date.now() + 30_000;
    while (true) {
      const events = await store.readRange(executionId);
      const succeeded = events.filter((e) => e.type === "TOOL_CALL_SUCCESS").length;
      // With passivation: killed while the execution holds no worker.
      const passivated = options.passivateAfterMs === undefined ||
        lastOwnEvent(events) === "EXECUTION_PASSIVATED";
      if (succeeded >= options.killAfter && passivated) break;
      if (Date.now() > deadline) throw new Error("the first process made no progress");
      await new Promise((r) => setTimeout(r, 5));
    }
    first.kill("SIGKILL");
    const killed = await first.output();
    assert.equal(killed.signal, "SIGKILL");
    const beforeResume = await store.readRange(executionId);
    assert.ok(
      !beforeResume.some((e) =>
        ["EXECUTION_COMPLETED", "EXECUTION_FAILED", "EXECUTION_CANCELLED"].includes(e.type)
      ),
    );

    const resumer = child("resume", executionId, all);
    const guard = setTimeout(() => resumer.kill("SIGKILL"), 60_000);
    const second = await resumer.output();
    clearTimeout(guard);
    const stderr = new TextDecoder().decode(second.stderr);
    assert.equal(second.code, 0, stderr);
    const report = JSON.parse(
      new TextDecoder().decode(second.stdout).trim().split("\n").at(-1)!,
    ) as ExecutionReport;
    const events = await store.readRange(executionId);
    const effects = await redis.hlen(effectsKey);
    return { report, events, effects, beforeResume };
  } finally {
    const keys = await redis.keys(`${keyPrefix}*`);
    if (keys.length) await redis.del(...keys);
    await redis.del(effectsKey, `${effectsKey}:attempts`);
    redis.disconnect();
    await store.close();
  }
}

Deno.test("an execution killed with SIGKILL mid-run is resumed in a new process; every side effect happens exactly once", async () => {
  const { report, events, effects, beforeResume } = await crashAndResume({
    calls: 20,
    loops: 3,
    maxToolCalls: 100,
    killAfter: 7,
  });
  assert.equal(report.status, "SUCCESS", JSON.stringify(report.error));
  assert.equal(effects, 20, "each of the 20 side effects exactly once");
  assert.equal(report.toolCalls, 20);
  assert.equal(report.totalSteps, 1 + 4 * 3 + 1);
  assert.ok(events.some((e) => e.type === "EXECUTION_RESUMED"));
  // Completed steps were not run again: every STATE_ENTER before the crash appears once.
  const entered = events.filter((e) => e.type === "STATE_ENTER").map((e) => e.step);
  assert.deepEqual(entered, [...new Set(entered)]);
  const completedBefore = beforeResume.filter((e) => e.type === "STEP_COMPLETED").length;
  assert.equal(events.filter((e) => e.type === "STEP_COMPLETED").length, report.totalSteps);
  assert.ok(completedBefore >= 3);
});

Deno.test("budgets still hold across a crash: the resumed execution stops at the tool-call limit", async () => {
  const { report, events, effects } = await crashAndResume({
    calls: 20,
    loops: 3,
    maxToolCalls: 12,
    killAfter: 6,
  });
  assert.equal(report.status, "FAILED");
  assert.equal(report.error?.code, "POLICY_VIOLATION");
  assert.equal(report.toolCalls, 12);
  assert.equal(effects, 12);
  const violation = events.find((e) => e.type === "POLICY_VIOLATION")!;
  assert.deepEqual(violation.data, { limit: "maxToolCalls", value: 13, max: 12 });
});

Deno.test("an execution killed with SIGKILL while passivated is resumed; every side effect happens exactly once", async () => {
  const { report, events, effects, beforeResume } = await crashAndResume({
    calls: 8,
    loops: 1,
    maxToolCalls: 100,
    killAfter: 3,
    delayMs: 150,
    passivateAfterMs: 20,
  });
  assert.equal(lastOwnEvent(beforeResume), "EXECUTION_PASSIVATED", "killed while passivated");
  assert.equal(report.status, "SUCCESS", JSON.stringify(report.error));
  assert.equal(effects, 8, "each of the 8 side effects exactly once");
  assert.equal(report.toolCalls, 8);
  assert.ok(events.filter((e) => e.type === "EXECUTION_ACTIVATED").length >= 1);
});
