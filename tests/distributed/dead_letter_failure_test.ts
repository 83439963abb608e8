// What a dead-lettered job leaves in its execution's log, with worker nodes
// in this process on a real Redis (queue, event store, snapshots): FAILED
// with a retryable error naming the job — after a failed last attempt and
// after a lease that expired after its last attempt — recorded once, never
// over a final status; and a requeue that continues the execution past it.
import assert from "node:assert/strict";
import { getLogger } from "@logtape/logtape";
import { ExecutionJobHandler } from "../../src/distributed/_execution_job.ts";
import { QueueBackend } from "../../src/distributed/queue_backend.ts";
import { WorkerNode } from "../../src/distributed/worker_node.ts";
import { FencedError } from "../../src/errors.ts";
import type { StoredEvent } from "../../src/events/event_store.ts";
import { listExecutions } from "../../src/orchestrator/execution_list.ts";
import { type ExecutionView, projectExecution } from "../../src/orchestrator/execution_view.ts";
import { Orchestrator } from "../../src/orchestrator/orchestrator.ts";
import { defineTool } from "../../src/orchestrator/tool.ts";
import type { DeadJob } from "../../src/queue/job_queue.ts";
import { connectRedis } from "../../src/redis/connection.ts";
import { RedisEventStore } from "../../src/redis/redis_event_store.ts";
import { RedisJobQueue } from "../../src/redis/redis_job_queue.ts";
import { RedisPersistenceAdapter } from "../../src/redis/redis_persistence_adapter.ts";
import { deleteKeys } from "../queue/_redis_queue_harness.ts";
import { SHARED_REDIS_URL, until } from "./_harness.ts";

const AGENT = new URL("../fixtures/test_agent.ts", import.meta.url);
/** An effect, the gate, another effect. */
const TASK = {
  calls: [
    { tool: "effect", args: { n: 1 } },
    { tool: "gate", args: {} },
    { tool: "effect", args: { n: 2 } },
  ],
};

/** Queue, stores and API backend on a fresh key prefix; orchestrators and worker nodes on them. */
function deployment(options: { maxAttempts: number }) {
  const keyPrefix = `oao-test-${crypto.randomUUID().slice(0, 8)}:`;
  const connection = { checkServer: false };
  const redis = { redisUrl: SHARED_REDIS_URL, keyPrefix, connection };
  const queue = new RedisJobQueue({
    ...redis,
    name: "dead",
    backoff: { minMs: 10, maxMs: 20 },
    pollIntervalMs: 50,
  });
  const eventStore = new RedisEventStore(redis);
  const persistence = new RedisPersistenceAdapter(redis);
  const backend = new QueueBackend({
    queue,
    eventStore,
    agents: ["tester"],
    maxAttempts: options.maxAttempts,
  });
  const effects = new Map<number, number>();
  const orchestrators: Orchestrator[] = [];
  const nodes: WorkerNode[] = [];
  return {
    queue,
    eventStore,
    backend,
    effects,
    /** An orchestrator whose `gate` hangs until aborted with `hang`, registering the agent as `version`. */
    orchestrator(options: { hang?: boolean; version?: string } = {}) {
      const orchestrator = new Orchestrator({
        eventStore,
        persistence,
        retry: { attempts: 2, initialDelayMs: 5, maxDelayMs: 10 },
        agents: [{ name: "tester", module: AGENT, version: options.version ?? "1.0.0" }],
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
            idempotent: true,
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
    node(orchestrator: Orchestrator, nodeId: string) {
      const node = new WorkerNode({
        queue,
        orchestrator,
        nodeId,
        leaseMs: 1_000,
        heartbeatMs: 100,
        cancelCheckMs: 50,
        reserveBlockMs: 200,
      });
      nodes.push(node);
      return node;
    },
    async view(executionId: string): Promise<ExecutionView> {
      return projectExecution(executionId, await eventStore.readRange(executionId));
    },
    async [Symbol.asyncDispose]() {
      await Promise.all(nodes.map((n) => n.stop()));
      await Promise.all(orchestrators.map((o) => o.close()));
      await backend.close();
      await queue.close();
      await eventStore.close();
      await persistence.close();
      const client = await connectRedis({ redisUrl: SHARED_REDIS_URL, checkServer: false });
      await deleteKeys(client, `${keyPrefix}*`);
      await client.quit();
    },
  };
}

type Deployment = ReturnType<typeof deployment>;

/** Waits until the execution's log holds a call of `tool`. */
async function untilCalled(d: Deployment, executionId: string, tool: string): Promise<void> {
  await until(
    async () =>
      (await d.eventStore.readRange(executionId)).some((e) =>
        e.type === "TOOL_CALL" && (e.data as { tool: string }).tool === tool
      ),
    `${executionId} to call ${tool}`,
    10_000,
    10,
  );
}

function ofType(events: StoredEvent[], type: string): StoredEvent[] {
  return events.filter((e) => e.type === type);
}

/** The failure a dead job left: FAILED, retryable, naming the job, its reason and the requeue. */
function assertDeadLetterFailure(
  view: ExecutionView,
  job: { jobId: string; attempts: number; reason: RegExp },
): void {
  assert.equal(view.status, "FAILED");
  assert.equal(view.error?.retryable, true);
  assert.equal(view.error?.code, "JOB_DEAD_LETTERED");
  const message = view.error?.message ?? "";
  assert.ok(
    message.startsWith(
      `Job "${job.jobId}" of execution "${view.executionId}" was dead-lettered after ${job.attempts} attempt`,
    ),
    message,
  );
  assert.ok(message.includes(`\`oao queue requeue ${job.jobId}\``), message);
  assert.match(message, job.reason);
}

Deno.test("a reserve that dead-letters expired jobs marks the running execution FAILED (retryable) and leaves the completed one alone; requeued, the execution resumes past the failure", async () => {
  await using d = deployment({ maxAttempts: 1 });
  const running = await d.backend.submit({ agent: "tester", task: TASK });
  const completed = await d.backend.submit({ agent: "tester", task: { calls: [] } });
  // A worker that took both jobs, finished one execution (but not its job)
  // and froze in the gate of the other: both leases expire on their last attempt.
  const ghost = d.orchestrator({ hang: true });
  const held = await d.queue.reserve("ghost", { count: 2, leaseMs: 300 });
  const leaseOf = (id: string) => held.find((l) => l.spec.executionId === id)!;
  const done = await ghost.start("tester", { calls: [] }, {
    executionId: completed.executionId,
    fencingToken: leaseOf(completed.executionId).token,
  });
  assert.equal((await done.done).status, "SUCCESS");
  const stale = await ghost.start("tester", TASK, {
    executionId: running.executionId,
    fencingToken: leaseOf(running.executionId).token,
  });
  await untilCalled(d, running.executionId, "gate");
  const completedLog = await d.eventStore.readRange(completed.executionId);

  const reaper = d.node(d.orchestrator(), "reaper");
  reaper.start();
  await until(
    async () => (await d.view(running.executionId)).status === "FAILED",
    "the running execution to be FAILED",
  );
  await reaper.stop(); // waits for the handling of every dead job it found
  assert.equal((await d.queue.stats()).dead, 2);
  const jobId = leaseOf(running.executionId).jobId;
  assertDeadLetterFailure(await d.view(running.executionId), {
    jobId,
    attempts: 1,
    reason: /The queue's reason: Lease of consumer "ghost" expired$/,
  });
  const [failure] = ofType(await d.eventStore.readRange(running.executionId), "EXECUTION_FAILED");
  assert.deepEqual((failure?.data as { deadLetter: unknown }).deadLetter, {
    jobId,
    attempts: 1,
    cause: "expired",
  });
  assert.deepEqual(
    await d.eventStore.readRange(completed.executionId),
    completedLog,
    "nothing recorded for the completed execution",
  );
  const failed = await listExecutions(d.eventStore, { status: "FAILED" });
  assert.deepEqual(failed.executions.map((e) => e.executionId), [running.executionId]);
  // The frozen holder was fenced out before the failure was recorded.
  ghost.cancel(running.executionId, "woke up");
  await assert.rejects(stale.done, FencedError);

  const worker = d.node(d.orchestrator(), "worker");
  worker.start();
  assert.equal(await d.queue.requeueDead(jobId), true);
  await until(
    async () => (await d.view(running.executionId)).status === "SUCCESS",
    "the requeued execution to succeed",
  );
  const log = await d.eventStore.readRange(running.executionId);
  const types = log.map((e) => e.type);
  assert.ok(
    types.indexOf("EXECUTION_FAILED") < types.indexOf("EXECUTION_RETRIED") &&
      types.indexOf("EXECUTION_RETRIED") < types.indexOf("EXECUTION_RESUMED"),
    types.join(" "),
  );
  assert.equal(ofType(log, "EXECUTION_COMPLETED").length, 1);
  assert.deepEqual([...d.effects].sort(), [[1, 1], [2, 1]], "the first effect was not repeated");
  assert.deepEqual(
    (await listExecutions(d.eventStore, { status: "FAILED" })).executions,
    [],
  );
});

Deno.test("a node that fails the last attempt of a started execution records it FAILED (retryable); requeued to a capable node, it completes without repeating its tool calls", async () => {
  await using d = deployment({ maxAttempts: 2 });
  const { executionId } = await d.backend.submit({ agent: "tester", task: TASK });
  // Attempt 1: a worker that ran the first effect and froze in the gate.
  const ghost = d.orchestrator({ hang: true });
  const [held] = await d.queue.reserve("ghost", { leaseMs: 300 });
  const stale = await ghost.start("tester", TASK, { executionId, fencingToken: held!.token });
  await untilCalled(d, executionId, "gate");
  // Attempt 2, the last: a node with another version of the agent cannot resume it.
  const mismatched = d.node(d.orchestrator({ version: "2.0.0" }), "v2");
  mismatched.start();
  await until(async () => (await d.view(executionId)).status === "FAILED", "FAILED");
  await mismatched.stop();
  const [dead] = await d.queue.deadLetters();
  assert.equal(dead?.attempts, 2);
  assertDeadLetterFailure(await d.view(executionId), {
    jobId: held!.jobId,
    attempts: 2,
    reason: /The queue's reason: .*hash/i,
  });
  const log = await d.eventStore.readRange(executionId);
  assert.equal(ofType(log, "EXECUTION_FAILED").length, 1);
  assert.equal(
    (ofType(log, "EXECUTION_FAILED")[0]!.data as { deadLetter: { cause: string } }).deadLetter
      .cause,
    "failed",
  );
  ghost.cancel(executionId, "woke up");
  await assert.rejects(stale.done, FencedError);

  d.node(d.orchestrator(), "v1").start();
  assert.equal(await d.queue.requeueDead(held!.jobId), true);
  await until(async () => (await d.view(executionId)).status === "SUCCESS", "SUCCESS");
  const after = await d.eventStore.readRange(executionId);
  assert.equal(ofType(after, "EXECUTION_RETRIED").length, 1);
  assert.equal(ofType(after, "EXECUTION_COMPLETED").length, 1);
  assert.deepEqual([...d.effects].sort(), [[1, 1], [2, 1]]);
});

Deno.test("two nodes told of the same dead job record one failure; a cancelled execution gets none", async () => {
  await using d = deployment({ maxAttempts: 3 });
  const queued = await d.backend.submit({ agent: "tester", task: TASK });
  const cancelled = await d.backend.submit({ agent: "tester", task: TASK });
  await d.backend.cancel(cancelled.executionId, "not needed");
  const handler = (nodeId: string) =>
    new ExecutionJobHandler({
      orchestrator: d.orchestrator(),
      nodeId,
      agents: new Set(["tester"]),
      retentionSeconds: undefined,
      log: getLogger(["oao", "test"]),
    });
  const [one, two] = [handler("one"), handler("two")];
  const deadJob = (executionId: string): DeadJob => ({
    jobId: `job-${executionId}`,
    spec: { executionId, agent: "tester", task: TASK },
    attempts: 3,
    lastError: 'Lease of consumer "gone" expired',
    deadAt: Date.now(),
  });
  await Promise.all([
    one.dead(deadJob(queued.executionId), "expired"),
    two.dead(deadJob(queued.executionId), "expired"),
    one.dead(deadJob(cancelled.executionId), "expired"),
  ]);
  await two.dead(deadJob(queued.executionId), "failed");
  const log = await d.eventStore.readRange(queued.executionId);
  assert.equal(ofType(log, "EXECUTION_FAILED").length, 1);
  assertDeadLetterFailure(await d.view(queued.executionId), {
    jobId: `job-${queued.executionId}`,
    attempts: 3,
    reason: /Lease of consumer "gone" expired/,
  });
  const cancelledLog = await d.eventStore.readRange(cancelled.executionId);
  assert.deepEqual(cancelledLog.map((e) => e.type), ["EXECUTION_QUEUED", "CANCEL_REQUESTED"]);
  assert.equal((await d.view(cancelled.executionId)).status, "CANCELLED");
});
