// Durable waits: signals (`ctx.waitForSignal`, `Orchestrator.signal`) and
// timers (`ctx.sleep`), in one process and across a SIGKILL on Redis.
import assert from "node:assert/strict";
import { Redis } from "ioredis";
import { Orchestrator } from "../../src/orchestrator/orchestrator.ts";
import { defineTool } from "../../src/orchestrator/tool.ts";
import type { ExecutionReport } from "../../src/orchestrator/execution_report.ts";
import type { StoredEvent } from "../../src/events/event_store.ts";
import {
  ExecutionFinishedError,
  ExecutionNotFoundError,
  TooManySignalsError,
  ValueTooLargeError,
} from "../../src/errors.ts";
import { RedisEventStore } from "../../src/redis/redis_event_store.ts";
import { InMemoryEventStore } from "../../src/events/in_memory_event_store.ts";
import { MAX_PENDING_SIGNALS, sendSignal } from "../../src/orchestrator/_signals.ts";
import { WAKE_BUCKET_MS, wakeLogId } from "../../src/orchestrator/_wake_bus.ts";
import { testRedisUrl } from "../_support/test_redis.ts";
import { lastJsonLine, orchestratorChild } from "../_support/orchestrator_child.ts";
import { has, until } from "../_support/until_events.ts";
import { racingStore, untilLogged } from "../_support/racing_store.ts";

const AGENT = new URL("../fixtures/wait_agent.ts", import.meta.url);
const PROCESS = new URL("../fixtures/wait_process.ts", import.meta.url).pathname;

function waiter(options: { passivateAfterMs?: number } = {}) {
  let effects = 0;
  const orchestrator = new Orchestrator({
    agents: [{ name: "waiter", module: AGENT }],
    tools: [defineTool({ name: "effect", run: () => ({ n: ++effects }) }) as never],
    ...options,
  });
  return { orchestrator, effects: () => effects };
}

Deno.test("a waiting execution takes a signal sent later, holds no worker while it waits, and records what it took", async () => {
  const { orchestrator } = waiter({ passivateAfterMs: 20 });
  try {
    const { executionId, done } = await orchestrator.start("waiter", {
      signal: { name: "approved" },
    });
    await until(orchestrator, executionId, has("EXECUTION_PASSIVATED"));
    const status = await orchestrator.status(executionId);
    assert.deepEqual(status.waitingFor, { kind: "signal", name: "approved", deadline: null });
    await orchestrator.signal(executionId, "approved", { by: "alice" });
    const report = await done;
    assert.equal(report.status, "SUCCESS", JSON.stringify(report.error));
    assert.deepEqual((report.output as { payloads: unknown[] }).payloads, [{ by: "alice" }]);
    const events = await orchestrator.eventStore.readRange(executionId);
    const received = events.find((e) => e.type === "SIGNAL_RECEIVED")!;
    const consumed = events.find((e) => e.type === "SIGNAL_CONSUMED")!;
    assert.equal((consumed.data as { receivedSeq: number }).receivedSeq, received.seq);
    assert.ok(events.findIndex((e) => e.type === "WAITING_FOR_SIGNAL") < received.seq);
    // Run by this process: woken here, nothing appended to the shared wake log.
    const bucket = Math.floor(Date.now() / WAKE_BUCKET_MS);
    for (const b of [bucket - 1, bucket]) {
      assert.equal(await orchestrator.eventStore.count(wakeLogId(b)), 0);
    }
  } finally {
    await orchestrator.close();
  }
});

Deno.test("signals sent before the wait are kept; two waits take two signals of one name in order, each once", async () => {
  const { orchestrator } = waiter();
  try {
    const { executionId, done } = await orchestrator.start("waiter", {
      effectBefore: true,
      signal: { name: "next", count: 2 },
    });
    await orchestrator.signal(executionId, "next", 1);
    await orchestrator.signal(executionId, "other", "ignored");
    await orchestrator.signal(executionId, "next", 2);
    await orchestrator.signal(executionId, "next", 3);
    const report = await done;
    assert.deepEqual((report.output as { payloads: unknown[] }).payloads, [1, 2]);
    const events = await orchestrator.eventStore.readRange(executionId);
    assert.equal(events.filter((e) => e.type === "SIGNAL_CONSUMED").length, 2);
  } finally {
    await orchestrator.close();
  }
});

Deno.test("a signal wait that reaches its timeout fails the agent's call with SIGNAL_TIMEOUT", async () => {
  const { orchestrator } = waiter();
  try {
    const report = await orchestrator.run("waiter", { signal: { name: "late", timeoutMs: 100 } });
    assert.equal(report.status, "SUCCESS");
    assert.equal((report.output as { timedOut?: string }).timedOut, "SIGNAL_TIMEOUT");
    const events = await orchestrator.eventStore.readRange(report.executionId);
    assert.ok(events.some((e) => e.type === "SIGNAL_TIMED_OUT"));
  } finally {
    await orchestrator.close();
  }
});

Deno.test("a signal to an unknown or finished execution, with a bad name or too large a payload, is refused naming why", async () => {
  const { orchestrator } = waiter();
  try {
    await assert.rejects(orchestrator.signal("exec-nope", "x"), ExecutionNotFoundError);
    const report = await orchestrator.run("waiter", {});
    await assert.rejects(orchestrator.signal(report.executionId, "x"), ExecutionFinishedError);
    const { executionId, done } = await orchestrator.start("waiter", { signal: { name: "go" } });
    for (const name of ["", "a b", "x".repeat(101), "é"]) {
      await assert.rejects(orchestrator.signal(executionId, name), /Invalid signal name/);
    }
    await assert.rejects(
      orchestrator.signal(executionId, "go", "x".repeat(70_000)),
      ValueTooLargeError,
    );
    await orchestrator.signal(executionId, "go", null);
    assert.equal((await done).status, "SUCCESS");
  } finally {
    await orchestrator.close();
  }
});

/** Asserts that no signal is in the log after the event that finished the execution. */
function assertNoSignalAfterEnd(events: StoredEvent[]): number {
  const end = events.find((e) =>
    ["EXECUTION_COMPLETED", "EXECUTION_FAILED", "EXECUTION_CANCELLED"].includes(e.type)
  );
  assert.ok(end, events.map((e) => e.type).join(", "));
  const late = events.filter((e) => e.type === "SIGNAL_RECEIVED" && e.seq > end.seq);
  assert.deepEqual(late.map((e) => e.seq), [], `signals after ${end.type} at seq ${end.seq}`);
  return end.seq;
}

Deno.test("a signal from another process that lands as the execution is cancelled is refused with ExecutionFinishedError, and not recorded", async () => {
  const { orchestrator } = waiter();
  try {
    const { executionId, done } = await orchestrator.start("waiter", { signal: { name: "go" } });
    await until(orchestrator, executionId, has("WAITING_FOR_SIGNAL"));
    // The sender reads the log (still waiting), then the cancel lands before its append.
    const racing = racingStore(orchestrator.eventStore, {
      executionId: () => executionId,
      point: { after: "readRange" },
      inject: async () => {
        orchestrator.cancel(executionId, "raced");
        await untilLogged(orchestrator.eventStore, executionId, "EXECUTION_CANCELLED");
      },
    });
    await assert.rejects(
      sendSignal(racing, executionId, { name: "go", payload: 1 }),
      (error) => error instanceof ExecutionFinishedError && error.status === "CANCELLED",
    );
    assert.equal((await done).status, "CANCELLED");
    const events = await orchestrator.eventStore.readRange(executionId);
    assertNoSignalAfterEnd(events);
    assert.ok(!events.some((e) => e.type === "SIGNAL_RECEIVED"));
  } finally {
    await orchestrator.close();
  }
});

Deno.test("a signal to an execution this process runs, finished between the send and the append, is refused with ExecutionFinishedError", async () => {
  let executionId = "";
  const store = racingStore(new InMemoryEventStore(), {
    executionId: () => executionId,
    point: { before: "appendEvent", type: "SIGNAL_RECEIVED" },
    inject: async () => {
      orchestrator.cancel(executionId, "raced");
      await untilLogged(orchestrator.eventStore, executionId, "EXECUTION_CANCELLED");
    },
  });
  // Defined after the store, whose injected work (run later) cancels through it.
  const orchestrator: Orchestrator = new Orchestrator({
    agents: [{ name: "waiter", module: AGENT }],
    eventStore: store,
  });
  try {
    const started = await orchestrator.start("waiter", { signal: { name: "go" } });
    executionId = started.executionId;
    await until(orchestrator, executionId, has("WAITING_FOR_SIGNAL"));
    assert.ok(orchestrator.running.includes(executionId), "run by this process");
    await assert.rejects(
      orchestrator.signal(executionId, "go", 1),
      (error) => error instanceof ExecutionFinishedError && error.status === "CANCELLED",
    );
    assert.equal((await started.done).status, "CANCELLED");
    assertNoSignalAfterEnd(await store.readRange(executionId));
  } finally {
    await orchestrator.close();
    await store.close();
  }
});

Deno.test("200 signals sent one per timer tick to an execution that waits for one, on Redis: each is taken before the end or refused, none lands after it", async () => {
  const redisUrl = await testRedisUrl();
  const keyPrefix = `oao-test-${crypto.randomUUID().slice(0, 8)}:`;
  const store = new RedisEventStore({ redisUrl, keyPrefix });
  const redis = new Redis(redisUrl);
  const orchestrator = new Orchestrator({
    agents: [{ name: "waiter", module: AGENT }],
    eventStore: store,
  });
  try {
    // From this process (which runs it) and from another one (through the store alone).
    for (const remote of [false, true]) {
      const { executionId, done } = await orchestrator.start("waiter", { signal: { name: "go" } });
      await until(orchestrator, executionId, has("WAITING_FOR_SIGNAL"));
      const sends: Promise<PromiseSettledResult<number>>[] = [];
      for (let i = 0; i < 200; i++) {
        const send = remote
          ? sendSignal(store, executionId, { name: "go", payload: i })
          : orchestrator.signal(executionId, "go", i);
        sends.push(Promise.allSettled([send]).then(([result]) => result!));
        await new Promise((r) => setTimeout(r, 0));
      }
      const results = await Promise.all(sends);
      assert.equal((await done).status, "SUCCESS");
      const end = assertNoSignalAfterEnd(await store.readRange(executionId));
      for (const result of results) {
        if (result.status === "fulfilled") assert.ok(result.value < end, `${result.value}`);
        else assert.ok(result.reason instanceof ExecutionFinishedError, String(result.reason));
      }
      assert.ok(results.some((r) => r.status === "rejected"), "some arrive after the end");
    }
  } finally {
    await orchestrator.close();
    const keys = await redis.keys(`${keyPrefix}*`);
    if (keys.length) await redis.del(...keys);
    redis.disconnect();
    await store.close();
  }
});

Deno.test("a durable sleep records its due time and wakes when due", async () => {
  const { orchestrator } = waiter({ passivateAfterMs: 20 });
  try {
    const started = Date.now();
    const report = await orchestrator.run("waiter", { sleepMs: 300 });
    assert.equal(report.status, "SUCCESS");
    const sleptAt = (report.output as { sleptAt: number }).sleptAt;
    assert.ok(sleptAt - started >= 290, `${sleptAt - started} ms`);
    const events = await orchestrator.eventStore.readRange(report.executionId);
    const timer = events.find((e) => e.type === "TIMER_STARTED")!;
    assert.ok(Math.abs((timer.data as { until: number }).until - (timer.time + 300)) < 50);
    assert.ok(events.some((e) => e.type === "TIMER_FIRED"));
    assert.ok(events.some((e) => e.type === "EXECUTION_PASSIVATED"), "no worker while sleeping");
  } finally {
    await orchestrator.close();
  }
});

const inProcess = (mode: "run" | "resume", executionId: string, options: unknown) =>
  orchestratorChild(mode, executionId, options, PROCESS);

Deno.test("SIGKILL while waiting for a signal; the signal is sent while no process runs it; the resume takes it, effects once", async () => {
  const redisUrl = await testRedisUrl();
  const id = crypto.randomUUID().slice(0, 8);
  const keyPrefix = `oao-test-${id}:`;
  const effectsKey = `oao-test-${id}-effects`;
  const executionId = `exec-signal-${id}`;
  const options = {
    redisUrl,
    keyPrefix,
    effectsKey,
    task: { effectBefore: true, signal: { name: "approved" } },
  };
  const store = new RedisEventStore({ redisUrl, keyPrefix });
  const redis = new Redis(redisUrl);
  const orchestrator = new Orchestrator({ eventStore: store });
  try {
    const first = inProcess("run", executionId, options);
    const deadline = Date.now() + 30_000;
    while (!(await store.readRange(executionId)).some((e) => e.type === "WAITING_FOR_SIGNAL")) {
      if (Date.now() > deadline) throw new Error("no wait");
      await new Promise((r) => setTimeout(r, 10));
    }
    first.kill("SIGKILL");
    await first.output();
    await orchestrator.signal(executionId, "approved", { ok: true });
    const output = await (inProcess("resume", executionId, options)).output();
    const report = lastJsonLine<ExecutionReport>(output);
    assert.equal(report?.status, "SUCCESS", new TextDecoder().decode(output.stderr));
    assert.deepEqual((report.output as { payloads: unknown[] }).payloads, [{ ok: true }]);
    assert.equal(Number(await redis.get(effectsKey)), 1, "the effect before the wait ran once");
  } finally {
    await orchestrator.close();
    const keys = await redis.keys(`${keyPrefix}*`);
    if (keys.length) await redis.del(...keys);
    await redis.del(effectsKey);
    redis.disconnect();
    await store.close();
  }
});

Deno.test("SIGKILL during a durable sleep: the resume wakes at the recorded due time, not a full sleep later", async () => {
  const redisUrl = await testRedisUrl();
  const id = crypto.randomUUID().slice(0, 8);
  const keyPrefix = `oao-test-${id}:`;
  const executionId = `exec-sleep-${id}`;
  const options = {
    redisUrl,
    keyPrefix,
    effectsKey: `${keyPrefix}effects`,
    task: { sleepMs: 4_000 },
  };
  const store = new RedisEventStore({ redisUrl, keyPrefix });
  const redis = new Redis(redisUrl);
  try {
    const first = inProcess("run", executionId, options);
    const deadline = Date.now() + 30_000;
    let timer: StoredEvent | undefined;
    while (
      !(timer = (await store.readRange(executionId)).find((e) => e.type === "TIMER_STARTED"))
    ) {
      if (Date.now() > deadline) throw new Error("no timer");
      await new Promise((r) => setTimeout(r, 10));
    }
    first.kill("SIGKILL");
    await first.output();
    const output = await (inProcess("resume", executionId, options)).output();
    const report = lastJsonLine<ExecutionReport>(output);
    assert.equal(report?.status, "SUCCESS", new TextDecoder().decode(output.stderr));
    const due = (timer.data as { until: number }).until;
    const sleptAt = (report.output as { sleptAt: number }).sleptAt;
    assert.ok(sleptAt >= due - 20, "not before it was due");
    assert.ok(sleptAt < due + 2_500, `woke ${sleptAt - due} ms after it was due`);
  } finally {
    const keys = await redis.keys(`${keyPrefix}*`);
    if (keys.length) await redis.del(...keys);
    redis.disconnect();
    await store.close();
  }
});

Deno.test("waiting executions hold no store subscription each: 60 waits follow the shared wake log, and a signal from another store instance (another process) still wakes its own", async () => {
  // The subscriptions open at once, counted on the store the orchestrator uses.
  const store = new InMemoryEventStore();
  let open = 0;
  let most = 0;
  const subscribe = store.subscribe.bind(store);
  store.subscribe = (id, options) => {
    const inner = subscribe(id, options);
    return (async function* () {
      most = Math.max(most, ++open);
      try {
        yield* inner;
      } finally {
        open--;
      }
    })();
  };
  const orchestrator = new Orchestrator({
    eventStore: store,
    agents: [{ name: "waiter", module: AGENT }],
    passivateAfterMs: 0,
  });
  try {
    const started = await Promise.all(
      Array.from({ length: 60 }, () => orchestrator.start("waiter", { signal: { name: "go" } })),
    );
    for (const { executionId } of started) {
      await until(orchestrator, executionId, has("WAITING_FOR_SIGNAL"));
    }
    assert.ok(most <= 2, `${most} subscriptions were open at once for 60 waits`);
    // Sent as another process would: straight to the store, not through this orchestrator.
    await Promise.all(started.map(({ executionId }, i) =>
      sendSignal(store, executionId, {
        name: "go",
        payload: { i },
      })
    ));
    const reports = await Promise.all(started.map((s) => s.done));
    assert.deepEqual(reports.map((r) => r.status), reports.map(() => "SUCCESS"));
    assert.ok(most <= 2, `${most} subscriptions were open at once`);
  } finally {
    await orchestrator.close();
  }
});

Deno.test("an execution holds at most 1,000 signals it has not taken; one more is refused, from this process or another", async () => {
  const { orchestrator } = waiter({ passivateAfterMs: 20 });
  try {
    const { executionId, done } = await orchestrator.start("waiter", {
      signal: { name: "go", count: 2 },
    });
    await until(orchestrator, executionId, has("WAITING_FOR_SIGNAL"));
    for (let i = 0; i < MAX_PENDING_SIGNALS; i++) {
      await orchestrator.signal(executionId, "other", { i });
    }
    await assert.rejects(
      orchestrator.signal(executionId, "other", "one too many"),
      (error) =>
        error instanceof TooManySignalsError &&
        /holds 1000 signals it has not taken, the most it may hold/.test(error.message),
    );
    await assert.rejects(
      sendSignal(orchestrator.eventStore, executionId, { name: "go", payload: 1 }),
      TooManySignalsError,
      "from another process too",
    );
    const events = await orchestrator.eventStore.readRange(executionId);
    assert.equal(events.filter((e) => e.type === "SIGNAL_RECEIVED").length, MAX_PENDING_SIGNALS);
    orchestrator.cancel(executionId, "test over");
    await done;
  } finally {
    await orchestrator.close();
  }
});
