// Exactly one runner per execution, across real processes on a real Redis:
// concurrent resumes after a SIGKILL, a killed resumer, and a paused holder
// whose claim expired and whose late writes are fenced.
import assert from "node:assert/strict";
import { Redis } from "ioredis";
import { RedisEventStore } from "../../src/redis/redis_event_store.ts";
import type { ExecutionReport } from "../../src/orchestrator/execution_report.ts";
import type { StoredEvent } from "../../src/events/event_store.ts";
import { testRedisUrl } from "../_support/test_redis.ts";
import { lastJsonLine, orchestratorChild } from "../_support/orchestrator_child.ts";

const REDIS_URL = await testRedisUrl();
const FINAL = ["EXECUTION_COMPLETED", "EXECUTION_FAILED", "EXECUTION_CANCELLED"];

type Outcome = ExecutionReport | { error: { code?: string; message: string } };

async function withExecution(
  fn: (ctx: {
    executionId: string;
    options: Record<string, unknown>;
    store: RedisEventStore;
    redis: Redis;
    effectsKey: string;
    waitFor: (what: string, ok: (events: StoredEvent[]) => boolean) => Promise<void>;
  }) => Promise<void>,
  extra: Record<string, unknown> = {},
): Promise<void> {
  const id = crypto.randomUUID().slice(0, 8);
  const keyPrefix = `oao-test-${id}:`;
  const effectsKey = `oao-test-${id}-effects`;
  const options = {
    redisUrl: REDIS_URL,
    keyPrefix,
    effectsKey,
    calls: 16,
    loops: 3,
    maxToolCalls: 100,
    delayMs: 40,
    ...extra,
  };
  const redis = new Redis(REDIS_URL);
  const store = new RedisEventStore({ redisUrl: REDIS_URL, keyPrefix });
  const executionId = `exec-own-${id}`;
  const waitFor = async (what: string, ok: (events: StoredEvent[]) => boolean) => {
    const deadline = Date.now() + 30_000;
    while (!ok(await store.readRange(executionId))) {
      if (Date.now() > deadline) throw new Error(`Timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 5));
    }
  };
  try {
    await fn({ executionId, options, store, redis, effectsKey, waitFor });
  } finally {
    const keys = await redis.keys(`${keyPrefix}*`);
    if (keys.length) await redis.del(...keys);
    await redis.del(effectsKey, `${effectsKey}:attempts`);
    redis.disconnect();
    await store.close();
  }
}

const successes = (events: StoredEvent[]) =>
  events.filter((e) => e.type === "TOOL_CALL_SUCCESS").length;

async function finish(child: Deno.ChildProcess): Promise<Outcome> {
  const guard = setTimeout(() => child.kill("SIGKILL"), 60_000);
  try {
    const output = await child.output();
    const outcome = lastJsonLine<Outcome>(output);
    assert.ok(outcome, new TextDecoder().decode(output.stderr));
    return outcome;
  } finally {
    clearTimeout(guard);
  }
}

Deno.test("three processes resuming the same crashed execution at once: one runs it, the others are refused naming it; effects once, one final event", async () => {
  await withExecution(async ({ executionId, options, store, redis, effectsKey, waitFor }) => {
    const first = orchestratorChild("run", executionId, options);
    await waitFor("4 tool calls", (events) => successes(events) >= 4);
    first.kill("SIGKILL");
    await first.output();

    const outcomes = await Promise.all(
      [1, 2, 3].map(() => finish(orchestratorChild("resume", executionId, options))),
    );
    const ran = outcomes.filter((o) => "status" in o) as ExecutionReport[];
    const refused = outcomes.filter((o) => "error" in o) as {
      error: { code?: string; message: string };
    }[];
    // A resumer that came after the winner finished gets the finished report at once.
    const resumed = (await store.readRange(executionId)).filter((e) =>
      e.type === "EXECUTION_RESUMED"
    );
    assert.equal(resumed.length, 1, "exactly one process resumed the execution");
    assert.ok(
      ran.length >= 1 && ran.every((r) => r.status === "SUCCESS"),
      JSON.stringify(outcomes),
    );
    for (const { error } of refused) {
      assert.equal(error.code, "EXECUTION_BUSY", error.message);
      assert.match(error.message, /is being run by process \d+ on /);
    }
    const events = await store.readRange(executionId);
    assert.equal(events.filter((e) => FINAL.includes(e.type)).length, 1);
    assert.equal(await redis.hlen(effectsKey), 16);
    // A call killed between its effect and its record runs once more: no other repeats.
    assert.ok(Number(await redis.get(`${effectsKey}:attempts`)) <= 17);
  });
});

Deno.test("a resumer killed with SIGKILL is replaced at once by the next resume on the same machine", async () => {
  await withExecution(async ({ executionId, options, store, redis, effectsKey, waitFor }) => {
    const first = orchestratorChild("run", executionId, options);
    await waitFor("3 tool calls", (events) => successes(events) >= 3);
    first.kill("SIGKILL");
    await first.output();
    const second = orchestratorChild("resume", executionId, options);
    await waitFor(
      "the resume's progress",
      (events) => events.some((e) => e.type === "EXECUTION_RESUMED") && successes(events) >= 8,
    );
    second.kill("SIGKILL");
    await second.output();
    const started = Date.now();
    const report = await finish(orchestratorChild("resume", executionId, options));
    assert.ok("status" in report && report.status === "SUCCESS", JSON.stringify(report));
    // Not after the dead holder's 15 s claim expired: taken over at once.
    assert.ok(Date.now() - started < 12_000, `${Date.now() - started} ms`);
    const events = await store.readRange(executionId);
    assert.equal(events.filter((e) => e.type === "EXECUTION_RESUMED").length, 2);
    assert.equal(events.filter((e) => FINAL.includes(e.type)).length, 1);
    assert.equal(await redis.hlen(effectsKey), 16);
  });
});

Deno.test("a paused holder keeps its execution until its claim expires (6 s); then another process takes over and the holder's late writes are fenced", async () => {
  await withExecution(async ({ executionId, options, store, effectsKey, redis, waitFor }) => {
    const holder = orchestratorChild("run", executionId, options);
    await waitFor("2 tool calls", (events) => successes(events) >= 2);
    holder.kill("SIGSTOP");
    const stoppedAt = Date.now();
    try {
      const refused = await finish(orchestratorChild("resume", executionId, options));
      assert.ok("error" in refused, JSON.stringify(refused));
      assert.equal(refused.error.code, "EXECUTION_BUSY");
      assert.match(refused.error.message, new RegExp(`process ${holder.pid} on `));
      assert.match(refused.error.message, /lease expires in \d+ s/);
      // Renewed every 2 s, the holder's 6 s claim expires at most 6 s after it stopped.
      await new Promise((r) => setTimeout(r, Math.max(0, stoppedAt + 6_300 - Date.now())));
      const report = await finish(orchestratorChild("resume", executionId, options));
      assert.ok("status" in report && report.status === "SUCCESS", JSON.stringify(report));
    } finally {
      holder.kill("SIGCONT");
    }
    const late = await finish(holder);
    assert.ok("error" in late, `the paused holder must not report: ${JSON.stringify(late)}`);
    const events = await store.readRange(executionId);
    assert.equal(events.filter((e) => FINAL.includes(e.type)).length, 1);
    assert.ok(events.some((e) => e.type === "EXECUTION_COMPLETED"));
    assert.equal(await redis.hlen(effectsKey), 16);
  }, { claimTtlMs: 6_000 });
});
