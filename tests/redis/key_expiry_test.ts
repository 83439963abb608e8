// Nothing lives forever in Redis: after executions of every kind (success,
// failure, cancellation, a crash and its resume in another process, an
// idempotent submit, a workflow, a job run by a worker node, a dead job), every key under
// the deployment's prefix either expires or is one of the few bounded indexes
// listed below; the snapshots of a finished execution expire with its events,
// never before them. Runs on a redis-server of its own.
import assert from "node:assert/strict";
import { Redis } from "ioredis";
import { QueueBackend } from "../../src/distributed/queue_backend.ts";
import { WorkerNode } from "../../src/distributed/worker_node.ts";
import { DEFAULT_RETENTION_SECONDS } from "../../src/events/event_store.ts";
import { LocalBackend } from "../../src/orchestrator/local_backend.ts";
import { RedisEventStore } from "../../src/redis/redis_event_store.ts";
import { RedisJobQueue } from "../../src/redis/redis_job_queue.ts";
import { RedisPersistenceAdapter } from "../../src/redis/redis_persistence_adapter.ts";
import { ManualClock } from "../../src/testing/manual_clock.ts";
import { RedisServer } from "../_support/redis_server.ts";
import { orchestratorChild as fixture } from "../_support/orchestrator_child.ts";
import { testOrchestrator } from "../orchestrator/_helpers.ts";

const FINAL = ["EXECUTION_COMPLETED", "EXECUTION_FAILED", "EXECUTION_CANCELLED"];
const RETENTION_MS = DEFAULT_RETENTION_SECONDS * 1000;

/**
 * The keys that may have no expiry, and why each stays bounded (the README's
 * "Redis keys and expiries" table says the same).
 */
const BOUNDED_INDEXES: [RegExp, string][] = [
  [/^executions$/, "ids of executions with a log, trimmed of those older than the retention"],
  [/^\{queue:[^}]+\}:dead$/, "the dead-letter set, trimmed of jobs dead for longer than 7 days"],
  [/^\{queue:[^}]+\}:seq$/, "one counter per queue (the order of ready jobs)"],
  [/^\{queue:[^}]+\}:wake$/, "at most 16 wake-up markers (LTRIM)"],
];

async function until(condition: () => Promise<boolean>, what: string): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

async function keysOf(redis: Redis, prefix: string): Promise<Map<string, number>> {
  const keys = new Map<string, number>();
  let cursor = "0";
  do {
    const [next, found] = await redis.scan(cursor, "MATCH", `${prefix}*`, "COUNT", 1000);
    cursor = next;
    for (const key of found) keys.set(key.slice(prefix.length), await redis.pttl(key));
  } while (cursor !== "0");
  return keys;
}

Deno.test("after executions of every kind, every Redis key expires or is a documented bounded index; snapshots never expire before their events", async () => {
  await using server = await RedisServer.start();
  const redisUrl = server.url();
  const keyPrefix = `oao-test-${crypto.randomUUID()}:`;
  const eventStore = new RedisEventStore({ redisUrl, keyPrefix });
  const persistence = new RedisPersistenceAdapter({ redisUrl, keyPrefix });
  const queue = new RedisJobQueue({ redisUrl, keyPrefix, name: "jobs", maxAttempts: 1 });
  const orchestrator = testOrchestrator({ eventStore, persistence, sandbox: "thread" });
  const finished = async (id: string) =>
    (await eventStore.readRange(id)).some((e) => FINAL.includes(e.type));
  const ids: string[] = [];
  try {
    // In this process: a success, a failure, a cancellation, an idempotent submit.
    const success = await orchestrator.run("tester", { calls: [{ tool: "effect" }] });
    assert.equal(success.status, "SUCCESS");
    const failure = await orchestrator.run("tester", { failAttempts: 99 });
    assert.equal(failure.status, "FAILED");
    const hanging = await orchestrator.start("tester", { calls: [{ tool: "hang" }] });
    await until(
      async () =>
        (await eventStore.readRange(hanging.executionId)).some((e) => e.type === "TOOL_CALL"),
      "the hanging tool call",
    );
    orchestrator.cancel(hanging.executionId);
    assert.equal((await hanging.done).status, "CANCELLED");
    const local = new LocalBackend(orchestrator);
    const submitted = await local.submit({ agent: "tester", task: {}, idempotencyKey: "order-7" });
    await until(() => finished(submitted.executionId), "the submitted execution");
    ids.push(success.executionId, failure.executionId, hanging.executionId, submitted.executionId);

    // A workflow of two tasks: its record and its tasks' logs.
    const workflow = await orchestrator.runWorkflow({
      tasks: [
        { name: "a", agent: "tester", input: {} },
        { name: "b", agent: "tester", input: {}, dependsOn: ["a"] },
      ],
    });
    assert.equal(workflow.status, "SUCCESS");
    ids.push(workflow.workflowId, `${workflow.workflowId}.a`, `${workflow.workflowId}.b`);

    // A crash: the process running the execution is killed; another resumes it.
    const crashed = `exec-crash-${crypto.randomUUID().slice(0, 8)}`;
    const effectsKey = `effects-${crypto.randomUUID()}`; // outside the prefix: the tool's own data
    const options = {
      redisUrl,
      keyPrefix,
      effectsKey,
      calls: 6,
      loops: 1,
      maxToolCalls: 100,
      delayMs: 50,
    };
    const victim = fixture("run", crashed, options);
    await until(
      async () =>
        (await eventStore.readRange(crashed)).filter((e) => e.type === "TOOL_CALL_SUCCESS")
          .length >=
          2,
      "tool calls before the crash",
    );
    victim.kill("SIGKILL");
    await victim.output();
    assert.equal(await finished(crashed), false, "killed before its end");
    const resumed = await fixture("resume", crashed, options).output();
    assert.equal(resumed.code, 0, new TextDecoder().decode(resumed.stderr));
    ids.push(crashed);

    // A job through the Redis queue, run by a worker node; a job that dies.
    const backend = new QueueBackend({ queue, eventStore, agents: ["tester", "ghost"] });
    const node = new WorkerNode({ queue, orchestrator, nodeId: "keys-1", concurrency: 1 });
    node.start();
    const queued = await backend.submit({ agent: "tester", task: {}, idempotencyKey: "job-1" });
    const ghost = await backend.submit({ agent: "ghost", task: {} }); // no worker runs it
    await until(() => finished(queued.executionId), "the queued execution");
    await until(async () => (await queue.stats()).dead === 1, "the dead job");
    await node.stop({ graceMs: 1_000 });
    ids.push(queued.executionId, ghost.executionId);
  } finally {
    await orchestrator.close();
    await Promise.all([eventStore.close(), persistence.close(), queue.close()]);
  }

  const redis = new Redis(redisUrl);
  try {
    const keys = await keysOf(redis, keyPrefix);
    const unbounded: string[] = [];
    for (const [key, pttl] of keys) {
      assert.ok(pttl <= RETENTION_MS + 60_000, `${key} expires after ${pttl} ms`);
      if (pttl > 0) continue;
      if (!BOUNDED_INDEXES.some(([pattern]) => pattern.test(key))) unbounded.push(key);
    }
    assert.deepEqual(unbounded, [], "keys without expiry that are no bounded index");
    for (const id of ids) {
      const events = keys.get(`{${id}}:events`);
      assert.ok(events !== undefined && events > 0, `the log of ${id}`);
      for (const [key, pttl] of keys) {
        if (!key.startsWith(`{${id}}:snap`)) continue;
        assert.ok(pttl >= events - 1_000, `${key} (${pttl} ms) outlives the events (${events} ms)`);
      }
    }
    // An execution's state is its log (no snapshot of its own); a workflow's
    // record is a snapshot, checked against the workflow's events above.
    const snapshots = [...keys.keys()].filter((key) => key.includes("}:snap:"));
    assert.ok(
      snapshots.some((key) => /^\{wf-[^}]+\}:snap:wf-[^/]+\/workflow$/.test(key)),
      `the workflow's record among the snapshots: ${snapshots}`,
    );
    assert.ok(keys.has("{queue:jobs}:dead"), "the dead job is listed");
    const deadJob = [...keys].find(([key]) => key.startsWith("{queue:jobs}:job:"));
    assert.ok(deadJob && deadJob[1] > 0, "the dead job's hash expires");
  } finally {
    redis.disconnect();
  }
});

Deno.test("the executions index forgets ids whose logs have expired", async () => {
  await using server = await RedisServer.start();
  const keyPrefix = "oao-test-index:";
  const clock = new ManualClock(1_000_000);
  const store = new RedisEventStore({
    redisUrl: server.url(),
    keyPrefix,
    clock,
    retentionSeconds: 1,
  });
  const redis = new Redis(server.url());
  try {
    await store.appendEvent("exec-old", { type: "A" });
    await clock.advance(30_000);
    await store.appendEvent("exec-recent", { type: "A" });
    assert.deepEqual(await redis.zrange(`${keyPrefix}executions`, "0", "-1"), [
      "exec-old",
      "exec-recent",
    ]);
    // A minute after the last trim, an append trims ids older than the retention (plus a minute).
    await clock.advance(32_000);
    await store.appendEvent("exec-new", { type: "A" });
    await store.close();
    assert.deepEqual(await redis.zrange(`${keyPrefix}executions`, "0", "-1"), [
      "exec-recent",
      "exec-new",
    ]);
  } finally {
    await store.close();
    redis.disconnect();
  }
});
