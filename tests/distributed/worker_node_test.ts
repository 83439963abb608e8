// Worker nodes in one process on the in-memory queue and stores: start,
// reclaim and resume, lost leases, cancellation, graceful hand-back, dead
// letters. The real-process, real-Redis scenarios are in distributed_*_test.ts.
import assert from "node:assert/strict";
import { QueueBackend } from "../../src/distributed/queue_backend.ts";
import { WorkerNode, type WorkerNodeEvent } from "../../src/distributed/worker_node.ts";
import { FencedError } from "../../src/errors.ts";
import type { StoredEvent } from "../../src/events/event_store.ts";
import { InMemoryEventStore } from "../../src/events/in_memory_event_store.ts";
import { projectExecution } from "../../src/orchestrator/execution_view.ts";
import { Orchestrator } from "../../src/orchestrator/orchestrator.ts";
import { defineTool } from "../../src/orchestrator/tool.ts";
import { InMemoryPersistenceAdapter } from "../../src/persistence/in_memory_persistence_adapter.ts";
import { InMemoryJobQueue } from "../../src/queue/in_memory_job_queue.ts";
import type { SpanData } from "../../src/tracing/span_data.ts";
import { Tracer } from "../../src/tracing/tracer.ts";

const AGENT = new URL("../fixtures/test_agent.ts", import.meta.url);
/** A task: an effect, the gate, another effect. */
const TASK = {
  calls: [
    { tool: "effect", args: { n: 1 } },
    { tool: "gate", args: {} },
    { tool: "effect", args: { n: 2 } },
  ],
};

/** Shared stores, a queue, an API backend and the side effects counted outside the runtimes. */
function cluster(queueOptions: ConstructorParameters<typeof InMemoryJobQueue>[0] = {}) {
  const queue = new InMemoryJobQueue(queueOptions);
  const eventStore = new InMemoryEventStore();
  const persistence = new InMemoryPersistenceAdapter();
  const backend = new QueueBackend({ queue, eventStore, agents: ["tester", "late"] });
  const effects = new Map<number, number>();
  const orchestrators: Orchestrator[] = [];
  const nodes: WorkerNode[] = [];
  return {
    queue,
    eventStore,
    backend,
    effects,
    /**
     * An orchestrator whose `gate` tool hangs until aborted when `hang` is set,
     * and is not idempotent when `gateIdempotent` is `false`.
     */
    orchestrator(options: { hang?: boolean; gateIdempotent?: boolean; tracer?: Tracer } = {}) {
      const orchestrator = new Orchestrator({
        eventStore,
        persistence,
        ...(options.tracer ? { tracer: options.tracer } : {}),
        retry: { attempts: 2, initialDelayMs: 5, maxDelayMs: 10 },
        agents: [
          { name: "tester", module: AGENT, version: "1.0.0" },
          { name: "late", module: AGENT, version: "1.0.0" },
        ],
        tools: [
          defineTool({
            name: "effect",
            idempotent: true,
            run: (args: { n: number }) => {
              effects.set(args.n, (effects.get(args.n) ?? 0) + 1);
              return { n: args.n };
            },
          }) as never,
          defineTool({
            name: "gate",
            idempotent: options.gateIdempotent ?? true,
            run: (_args: unknown, ctx) =>
              options.hang
                ? new Promise((_, reject) =>
                  ctx.signal.addEventListener("abort", () => reject(ctx.signal.reason))
                )
                : { open: true },
          }) as never,
        ],
      });
      orchestrators.push(orchestrator);
      return orchestrator;
    },
    node(
      orchestrator: Orchestrator,
      options: Partial<ConstructorParameters<typeof WorkerNode>[0]> = {},
    ) {
      const events: WorkerNodeEvent[] = [];
      const node = new WorkerNode({
        queue,
        orchestrator,
        leaseMs: 1_000,
        heartbeatMs: 100,
        cancelCheckMs: 50,
        reserveBlockMs: 200,
        onEvent: (event) => events.push(event),
        ...options,
      });
      nodes.push(node);
      return { node, events };
    },
    async [Symbol.asyncDispose]() {
      await Promise.all(nodes.map((n) => n.stop()));
      await Promise.all(orchestrators.map((o) => o.close()));
      await backend.close();
      await queue.close();
      await eventStore.close();
      await persistence.close();
    },
  };
}

async function until(condition: () => boolean | Promise<boolean>, what: string, ms = 10_000) {
  const deadline = Date.now() + ms;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`Timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

function types(events: StoredEvent[]): string[] {
  return events.map((e) => e.type).filter((t) =>
    !t.startsWith("ACTOR_") && !t.startsWith("MESSAGE_")
  );
}

async function statusOf(c: ReturnType<typeof cluster>, id: string) {
  return projectExecution(id, await c.eventStore.readRange(id)).status;
}

Deno.test("a worker node runs a queued execution, completes its job and reports it once", async () => {
  await using c = cluster();
  const { executionId } = await c.backend.submit({ agent: "tester", task: TASK });
  assert.equal(await statusOf(c, executionId), "QUEUED");
  const { node, events } = c.node(c.orchestrator());
  node.start();
  await until(async () => (await statusOf(c, executionId)) === "SUCCESS", "SUCCESS");
  await until(() => events.some((e) => e.type === "completed"), "the completed event");
  assert.deepEqual(await c.queue.stats(), { waiting: 0, delayed: 0, inFlight: 0, dead: 0 });
  const completed = events.filter((e) => e.type === "completed");
  assert.equal(completed.length, 1);
  assert.equal((completed[0]!.detail as { status: string }).status, "SUCCESS");
  const log = types(await c.eventStore.readRange(executionId));
  assert.equal(log[0], "EXECUTION_QUEUED");
  assert.equal(log[1], "EXECUTION_STARTED");
  assert.equal(log.at(-1), "EXECUTION_COMPLETED");
  assert.deepEqual([...c.effects], [[1, 1], [2, 1]]);
});

Deno.test("the worker's execution spans continue the submitter's trace", async () => {
  await using c = cluster();
  const spans: SpanData[] = [];
  const tracer = new Tracer({
    export: (batch) => void spans.push(...batch),
    flush: () => Promise.resolve(),
    shutdown: () => Promise.resolve(),
  });
  const traceId = "4bf92f3577b34da6a3ce929d0e0e4736";
  const { executionId } = await c.backend.submit({
    agent: "tester",
    task: TASK,
    traceparent: `00-${traceId}-00f067aa0ba902b7-01`,
  });
  const { node } = c.node(c.orchestrator({ tracer }));
  node.start();
  await until(async () => (await statusOf(c, executionId)) === "SUCCESS", "SUCCESS");
  const root = spans.find((s) => s.name === "oao.execution");
  assert.equal(root?.traceId, traceId);
  assert.equal(root?.parentSpanId, "00f067aa0ba902b7");
  const tools = spans.filter((s) => s.name === "oao.tool.effect");
  assert.equal(tools.length, 2);
  assert.ok(tools.every((s) => s.traceId === traceId));
});

Deno.test("a job reclaimed from an expired lease is resumed from its log with RETRY_ATTEMPTED; the old holder is fenced", async () => {
  await using c = cluster();
  const { executionId } = await c.backend.submit({ agent: "tester", task: TASK });
  // A worker that took the job, ran the first tool call and froze in the second.
  const ghost = c.orchestrator({ hang: true });
  const [held] = await c.queue.reserve("ghost", { leaseMs: 300 });
  const stale = await ghost.start("tester", TASK, {
    executionId,
    fencingToken: held!.token,
  });
  await until(
    async () =>
      (await c.eventStore.readRange(executionId)).some((e) =>
        e.type === "TOOL_CALL" && (e.data as { tool: string }).tool === "gate"
      ),
    "the ghost to enter the gate",
  );

  const { node, events } = c.node(c.orchestrator());
  node.start();
  await until(async () => (await statusOf(c, executionId)) === "SUCCESS", "SUCCESS");
  const log = await c.eventStore.readRange(executionId);
  const retry = log.find((e) => e.type === "RETRY_ATTEMPTED");
  assert.deepEqual(
    { ...retry?.data, consumer: undefined, jobId: undefined },
    {
      reason: "reclaimed",
      attempt: 2,
      token: held!.token + 1,
      previousConsumer: "ghost",
      consumer: undefined,
      jobId: undefined,
    },
  );
  const after = types(log.slice(log.indexOf(retry!)));
  assert.equal(after[1], "EXECUTION_RESUMED");
  assert.ok(after.includes("IDEMPOTENT_TOOL_SKIPPED"), after.join(" "));
  assert.deepEqual([...c.effects].sort(), [[1, 1], [2, 1]]);
  assert.equal(types(log).filter((t) => t === "EXECUTION_COMPLETED").length, 1);

  // The frozen holder wakes up: nothing it records is accepted.
  ghost.cancel(executionId, "woke up");
  await assert.rejects(stale.done, FencedError);
  // (Runtime events of its actors, ACTOR_*, are not fenced: they are not results.)
  const late = (await c.eventStore.readRange(executionId)).slice(log.length);
  assert.deepEqual(types(late), []);
  await until(() => events.some((e) => e.type === "completed"), "the completed event");
});

Deno.test("an execution a takeover leaves waiting for a decision completes its job without retry or dead letter; resolved, it succeeds", async () => {
  await using c = cluster({ backoff: { minMs: 10, maxMs: 20 } });
  const { executionId } = await c.backend.submit({ agent: "tester", task: TASK });
  // A worker that took the job and died inside the gate, which is not idempotent.
  const ghost = c.orchestrator({ hang: true, gateIdempotent: false });
  const [held] = await c.queue.reserve("ghost", { leaseMs: 300 });
  const stale = await ghost.start("tester", TASK, { executionId, fencingToken: held!.token });
  await until(
    async () =>
      (await c.eventStore.readRange(executionId)).some((e) =>
        e.type === "TOOL_CALL" && (e.data as { tool: string }).tool === "gate"
      ),
    "the ghost to enter the gate",
  );

  const { node, events } = c.node(c.orchestrator({ gateIdempotent: false }));
  node.start();
  await until(
    () => events.some((e) => e.type === "completed" || e.type === "failed"),
    "the job's outcome",
  );
  assert.deepEqual(events.filter((e) => e.type === "failed").map((e) => e.error), []);
  const completed = events.find((e) => e.type === "completed");
  assert.equal((completed?.detail as { status: string }).status, "NEEDS_DECISION");
  assert.deepEqual(await c.queue.stats(), { waiting: 0, delayed: 0, inFlight: 0, dead: 0 });
  const view = projectExecution(executionId, await c.eventStore.readRange(executionId));
  assert.equal(view.status, "NEEDS_DECISION");
  ghost.cancel(executionId, "died");
  await assert.rejects(stale.done, FencedError);

  // The operator decides, as `oao resolve <id> <callId> --rerun` does.
  const operator = c.orchestrator({ gateIdempotent: false });
  await operator.resolve(executionId, view.decision!.callId, { rerun: true }, { by: "alice" });
  const report = await (await operator.startResume(executionId)).done;
  assert.equal(report.status, "SUCCESS");
  assert.deepEqual(await c.queue.stats(), { waiting: 0, delayed: 0, inFlight: 0, dead: 0 });
  assert.ok(!events.some((e) => e.type === "failed"));
});

Deno.test("a node whose lease is lost stops the run without recording anything and does not report it", async () => {
  await using c = cluster();
  const { executionId } = await c.backend.submit({ agent: "tester", task: TASK });
  const { node, events } = c.node(c.orchestrator({ hang: true }), { concurrency: 1 });
  node.start();
  await until(
    async () =>
      (await c.eventStore.readRange(executionId)).some((e) =>
        e.type === "TOOL_CALL" && (e.data as { tool: string }).tool === "gate"
      ),
    "the run to enter the gate",
  );
  // Another worker takes the job behind the node's back.
  const mine = events.find((e) => e.type === "reserved")!.lease;
  await c.queue.release({ ...mine });
  const [thief] = await c.queue.reserve("thief");
  assert.equal(thief?.token, mine.token + 1);
  await until(() => events.some((e) => e.type === "lost"), "the lost event");
  const log = types(await c.eventStore.readRange(executionId));
  assert.ok(
    !log.includes("EXECUTION_CANCELLED") && !log.includes("EXECUTION_FAILED"),
    log.join(" "),
  );
  assert.ok(!events.some((e) => e.type === "completed" || e.type === "failed"));
  await until(() => node.active === 0, "the run to stop");
  await c.queue.complete(thief!);
});

Deno.test("a cancellation requested through the API cancels the running execution within the check interval", async () => {
  await using c = cluster();
  const { executionId } = await c.backend.submit({ agent: "tester", task: TASK });
  const { node, events } = c.node(c.orchestrator({ hang: true }));
  node.start();
  await until(
    async () =>
      (await c.eventStore.readRange(executionId)).some((e) =>
        e.type === "TOOL_CALL" && (e.data as { tool: string }).tool === "gate"
      ),
    "the run to enter the gate",
  );
  assert.equal(await c.backend.cancel(executionId, "no longer needed"), true);
  await until(async () => (await statusOf(c, executionId)) === "CANCELLED", "CANCELLED", 3_000);
  await until(() => events.some((e) => e.type === "completed"), "the completed event");
  assert.deepEqual(await c.queue.stats(), { waiting: 0, delayed: 0, inFlight: 0, dead: 0 });
  const view = projectExecution(executionId, await c.eventStore.readRange(executionId));
  assert.match(view.error?.message ?? "", /no longer needed/);
});

Deno.test("an execution cancelled while queued is never started; its job is dropped", async () => {
  await using c = cluster();
  const { executionId } = await c.backend.submit({ agent: "tester", task: TASK });
  await c.backend.cancel(executionId, "too late");
  const { node, events } = c.node(c.orchestrator());
  node.start();
  await until(() => events.some((e) => e.type === "completed"), "the completed event");
  const log = types(await c.eventStore.readRange(executionId));
  assert.deepEqual(log, ["EXECUTION_QUEUED", "CANCEL_REQUESTED", "EXECUTION_CANCELLED"]);
  assert.equal(await statusOf(c, executionId), "CANCELLED");
  assert.equal(c.effects.size, 0);
});

Deno.test("stop hands running jobs back without recording; another node resumes them", async () => {
  await using c = cluster();
  const { executionId } = await c.backend.submit({ agent: "tester", task: TASK });
  const first = c.node(c.orchestrator({ hang: true }), { nodeId: "first" });
  first.node.start();
  await until(
    async () =>
      (await c.eventStore.readRange(executionId)).some((e) =>
        e.type === "TOOL_CALL" && (e.data as { tool: string }).tool === "gate"
      ),
    "the run to enter the gate",
  );
  assert.deepEqual(await first.node.stop({ graceMs: 50 }), { finished: 0, handedBack: 1 });
  assert.ok(first.events.some((e) => e.type === "released"));
  assert.deepEqual(await c.queue.stats(), { waiting: 1, delayed: 0, inFlight: 0, dead: 0 });
  assert.ok(!types(await c.eventStore.readRange(executionId)).includes("EXECUTION_CANCELLED"));

  const second = c.node(c.orchestrator(), { nodeId: "second" });
  second.node.start();
  await until(async () => (await statusOf(c, executionId)) === "SUCCESS", "SUCCESS");
  const reserved = second.events.find((e) => e.type === "reserved")!;
  assert.equal(reserved.lease.reason, "requeued");
  assert.equal(reserved.lease.attempt, 1);
  assert.deepEqual([...c.effects].sort(), [[1, 1], [2, 1]]);
});

Deno.test("stop lets running jobs finish within the grace period", async () => {
  await using c = cluster();
  const { executionId } = await c.backend.submit({ agent: "tester", task: TASK });
  const { node } = c.node(c.orchestrator());
  node.start();
  await until(() => node.active === 1, "the job to start");
  const result = await node.stop({ graceMs: 10_000 });
  assert.deepEqual(result, { finished: 1, handedBack: 0 });
  assert.equal(await statusOf(c, executionId), "SUCCESS");
});

Deno.test("a job for an agent no node runs is dead-lettered after its attempts; requeued, a capable node runs it", async () => {
  await using c = cluster({ maxAttempts: 2, backoff: { minMs: 10, maxMs: 20 } });
  const { executionId } = await c.backend.submit({ agent: "late", task: { calls: [] } });
  const narrow = c.node(c.orchestrator(), { agents: ["tester"], nodeId: "narrow" });
  narrow.node.start();
  await until(async () => (await c.queue.stats()).dead === 1, "the job to die");
  const [dead] = await c.queue.deadLetters();
  assert.equal(dead?.attempts, 2);
  assert.match(dead?.lastError ?? "", /"narrow" cannot run agent "late"/);
  await narrow.node.stop();
  // Its execution says so: FAILED, retryable, naming the job and the requeue.
  const failed = projectExecution(executionId, await c.eventStore.readRange(executionId));
  assert.equal(failed.status, "FAILED");
  assert.equal(failed.error?.retryable, true);
  assert.match(failed.error?.message ?? "", new RegExp(`oao queue requeue ${dead!.jobId}`));

  const wide = c.node(c.orchestrator(), { nodeId: "wide" });
  wide.node.start();
  assert.equal(await c.queue.requeueDead(dead!.jobId), true);
  await until(async () => (await statusOf(c, executionId)) === "SUCCESS", "SUCCESS");
});

Deno.test("WorkerNode refuses an agent that is not registered and a heartbeat not below the lease", async () => {
  await using c = cluster();
  const orchestrator = c.orchestrator();
  assert.throws(
    () => new WorkerNode({ queue: c.queue, orchestrator, agents: ["ghost"] }),
    /"ghost" is not registered \(registered: "tester", "late"\)/,
  );
  assert.throws(
    () => new WorkerNode({ queue: c.queue, orchestrator, leaseMs: 100, heartbeatMs: 100 }),
    RangeError,
  );
  assert.throws(() => new WorkerNode({ queue: c.queue, orchestrator, concurrency: 0 }), RangeError);
});
