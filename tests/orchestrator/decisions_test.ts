// Operators decide instead of dead ends: a non-idempotent call whose outcome
// a SIGKILL left unknown parks its execution in NEEDS_DECISION until someone
// resolves it; a failure of the environment (a missing permission) leaves
// the execution resumable with `retry`.
import assert from "node:assert/strict";
import { Redis } from "ioredis";
import { RedisEventStore } from "../../src/redis/redis_event_store.ts";
import { RedisPersistenceAdapter } from "../../src/redis/redis_persistence_adapter.ts";
import { Orchestrator } from "../../src/orchestrator/orchestrator.ts";
import { defineTool } from "../../src/orchestrator/tool.ts";
import type { ExecutionReport } from "../../src/orchestrator/execution_report.ts";
import type { StoredEvent } from "../../src/events/event_store.ts";
import { testRedisUrl } from "../_support/test_redis.ts";
import { lastJsonLine, orchestratorChild } from "../_support/orchestrator_child.ts";

const REDIS_URL = await testRedisUrl();
const AGENT = new URL("../fixtures/test_agent.ts", import.meta.url);

// Runs the fixture with a non-idempotent tool and kills it while a call is in flight.
async function crashMidCall(label: string) {
  const id = crypto.randomUUID().slice(0, 8);
  const keyPrefix = `oao-test-${id}:`;
  const effectsKey = `oao-test-${id}-effects`;
  const executionId = `exec-${label}-${id}`;
  const options = {
    redisUrl: REDIS_URL,
    keyPrefix,
    effectsKey,
    calls: 4,
    loops: 0,
    maxToolCalls: 100,
    delayMs: 400,
    idempotent: false,
  };
  const store = new RedisEventStore({ redisUrl: REDIS_URL, keyPrefix });
  const child = orchestratorChild("run", executionId, options);
  const deadline = Date.now() + 30_000;
  // Killed after the second call's intent is recorded, before its outcome.
  while (true) {
    const events = await store.readRange(executionId);
    const intents = events.filter((e) => e.type === "TOOL_CALL").length;
    const outcomes = events.filter((e) => e.type === "TOOL_CALL_SUCCESS").length;
    if (intents === 2 && outcomes === 1) break;
    if (Date.now() > deadline) throw new Error("the first process made no progress");
    await new Promise((r) => setTimeout(r, 5));
  }
  child.kill("SIGKILL");
  await child.output();
  const cleanup = async () => {
    const redis = new Redis(REDIS_URL);
    const keys = await redis.keys(`${keyPrefix}*`);
    if (keys.length) await redis.del(...keys);
    await redis.del(effectsKey, `${effectsKey}:attempts`);
    redis.disconnect();
    await store.close();
  };
  return { executionId, options, store, cleanup };
}

const resume = (executionId: string, options: Record<string, unknown>) =>
  orchestratorChild("resume", executionId, options).output().then((o) =>
    lastJsonLine<ExecutionReport>(o)
  );

const types = (events: StoredEvent[]) => events.map((e) => e.type);

Deno.test("a non-idempotent call cut by SIGKILL parks the execution in NEEDS_DECISION; resolving it as succeeded continues with that result", async () => {
  const { executionId, options, store, cleanup } = await crashMidCall("decide");
  try {
    const parked = await resume(executionId, options);
    assert.equal(parked.status, "NEEDS_DECISION", JSON.stringify(parked));
    assert.equal(parked.decision?.tool, "slow_effect");
    assert.deepEqual(parked.decision?.args, { i: 1 });
    assert.match(parked.error?.message ?? "", /oao resolve exec-decide-/);
    // Resuming again changes nothing until someone decides.
    assert.equal((await resume(executionId, options)).status, "NEEDS_DECISION");
    assert.equal(
      types(await store.readRange(executionId)).filter((t) => t === "DECISION_REQUIRED").length,
      1,
    );

    const persistence = new RedisPersistenceAdapter({
      redisUrl: REDIS_URL,
      keyPrefix: options.keyPrefix,
    });
    const orchestrator = new Orchestrator({ persistence, eventStore: store });
    try {
      const callId = parked.decision!.callId;
      await assert.rejects(
        orchestrator.resolve(executionId, "nope-nope", { rerun: true }),
        /waits for a decision on call/,
      );
      await assert.rejects(
        orchestrator.resolve(executionId, callId, { maybe: 1 } as never),
        /exactly one of "succeeded", "failed", "rerun"/,
      );
      await orchestrator.resolve(
        executionId,
        callId.slice(0, 10),
        { succeeded: { ok: "by hand" } },
        {
          by: "alice",
        },
      );
      assert.equal((await orchestrator.status(executionId)).status, "RUNNING");
      await assert.rejects(
        orchestrator.resolve(executionId, callId, { rerun: true }),
        /waits for no decision/,
      );
    } finally {
      await orchestrator.close();
      await persistence.close();
    }
    const report = await resume(executionId, options);
    assert.equal(report.status, "SUCCESS", JSON.stringify(report));
    const results = (report.output as { results: unknown[] }).results;
    assert.deepEqual(results[1], { ok: "by hand" }, "the agent got the decided result");
    const events = await store.readRange(executionId);
    const recorded = events.find((e) => e.type === "DECISION_RECORDED")!;
    assert.equal((recorded.data as { by: string }).by, "alice");
    const decided = events.find((e) =>
      e.type === "TOOL_CALL_SUCCESS" && (e.data as { decidedBy?: string }).decidedBy === "alice"
    );
    assert.ok(decided, "the call's outcome records who decided");
  } finally {
    await cleanup();
  }
});

Deno.test("resolving a parked call as --rerun runs it again once; as failed, the agent's call fails", async () => {
  for (const decision of [{ rerun: true }, { failed: "the card was declined" }] as const) {
    const { executionId, options, store, cleanup } = await crashMidCall("rerun");
    try {
      const parked = await resume(executionId, options);
      assert.equal(parked.status, "NEEDS_DECISION");
      const persistence = new RedisPersistenceAdapter({
        redisUrl: REDIS_URL,
        keyPrefix: options.keyPrefix,
      });
      const orchestrator = new Orchestrator({ persistence, eventStore: store });
      await orchestrator.resolve(executionId, parked.decision!.callId, decision);
      await orchestrator.close();
      await persistence.close();
      const report = await resume(executionId, options);
      const events = await store.readRange(executionId);
      if ("rerun" in decision) {
        assert.equal(report.status, "SUCCESS", JSON.stringify(report));
        const reruns = events.filter((e) =>
          e.type === "TOOL_CALL" && (e.data as { rerun?: boolean }).rerun
        );
        assert.equal(reruns.length, 1);
      } else {
        const failed = events.find((e) => e.type === "TOOL_CALL_FAILED")!;
        assert.match(JSON.stringify(failed.data), /the card was declined/);
      }
    } finally {
      await cleanup();
    }
  }
});

Deno.test("a tool this process lacks a permission for fails the execution retryably; resume with retry continues it once fixed", async () => {
  let granted = false;
  let runs = 0;
  const orchestrator = new Orchestrator({
    agents: [{ name: "tester", module: AGENT, version: "1.0.0" }],
    tools: [defineTool({
      name: "write_file",
      run: () => {
        runs++;
        if (!granted) {
          throw new Deno.errors.NotCapable(
            `Requires write access to "/srv/out.txt", run again with the --allow-write flag`,
          );
        }
        return { written: true };
      },
    }) as never],
    retry: { attempts: 3, initialDelayMs: 1 },
  });
  try {
    const task = { calls: [{ tool: "write_file", args: {} }] };
    const failed = await orchestrator.run("tester", task);
    assert.equal(failed.status, "FAILED");
    assert.equal(failed.error?.retryable, true);
    assert.match(failed.error!.message, /--allow-write/);
    assert.match(failed.error!.message, new RegExp(`oao resume --retry ${failed.executionId}`));
    assert.equal(runs, 1, "not retried by the step: the environment failed, not the agent");
    const view = await orchestrator.status(failed.executionId);
    assert.equal(view.status, "FAILED");
    assert.equal(view.error?.retryable, true);

    const plain = await orchestrator.resume(failed.executionId);
    assert.equal(plain.status, "FAILED", "without retry, the failure stands");
    granted = true;
    const report = await orchestrator.resume(failed.executionId, { retry: true });
    assert.equal(report.status, "SUCCESS", JSON.stringify(report.error));
    assert.equal(report.toolCalls, 1, "the failed call is not counted twice");
    assert.equal(runs, 2);
    const events = await orchestrator.eventStore.readRange(failed.executionId);
    assert.ok(types(events).includes("EXECUTION_RETRIED"));
    assert.ok(types(events).includes("EXECUTION_COMPLETED"));
  } finally {
    await orchestrator.close();
  }
});

Deno.test("an agent's own failure is not retryable: resume with retry does not run it again", async () => {
  const orchestrator = new Orchestrator({
    agents: [{ name: "tester", module: AGENT, version: "1.0.0" }],
    retry: { attempts: 1, initialDelayMs: 1 },
  });
  try {
    const failed = await orchestrator.run("tester", { failAttempts: 5 });
    assert.equal(failed.status, "FAILED");
    assert.notEqual(failed.error?.retryable, true);
    const again = await orchestrator.resume(failed.executionId, { retry: true });
    assert.equal(again.status, "FAILED");
    const events = await orchestrator.eventStore.readRange(failed.executionId);
    assert.ok(!types(events).includes("EXECUTION_RETRIED"));
  } finally {
    await orchestrator.close();
  }
});
