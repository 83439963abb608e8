// The core scenario of the distributed tests, run against a single Redis and
// against a Redis Cluster: three worker processes and an API node (this
// process, through QueueBackend) run a batch of tool-using executions while
// one worker is killed with SIGKILL three times and another is frozen
// (SIGSTOP) past its lease and then thawed (SIGCONT).
import assert from "node:assert/strict";
import { Redis } from "ioredis";
import { QueueBackend } from "../../src/distributed/queue_backend.ts";
import { projectExecution } from "../../src/orchestrator/execution_view.ts";
import { connectRedis } from "../../src/redis/connection.ts";
import { RedisEventStore } from "../../src/redis/redis_event_store.ts";
import { RedisJobQueue } from "../../src/redis/redis_job_queue.ts";
import { deleteKeys } from "../queue/_redis_queue_harness.ts";
import {
  type Deployment,
  type JobLine,
  SHARED_REDIS_URL,
  sleep,
  unrecordedTakeovers,
  until,
  WorkerProcess,
} from "./_harness.ts";

/** Options of {@linkcode runCoreScenario}. */
export interface CoreScenarioOptions {
  /** The Redis (or Cluster node) the deployment shares. */
  redisUrl: string;
  /** Executions submitted. */
  executions: number;
  /** Worker lease, in ms. */
  leaseMs: number;
}

/** What the scenario observed, for the test to print. */
export interface CoreScenarioResult {
  seconds: number;
  reclaims: number;
  effectInvocations: number;
}

const TASK_CALLS = [{ tool: "effect", args: { n: 1 } }, { tool: "effect", args: { n: 2 } }];

/**
 * Runs the scenario and asserts its guarantees.
 *
 * @returns Figures for the log.
 */
export async function runCoreScenario(options: CoreScenarioOptions): Promise<CoreScenarioResult> {
  const id = crypto.randomUUID().slice(0, 8);
  const deployment: Deployment = {
    redisUrl: options.redisUrl,
    keyPrefix: `oao-test-${id}:`,
    queue: `core-${id}`,
    effectsKey: `oao-test-${id}-effects`,
    effectDelayMs: 15,
  };
  const connection = { checkServer: false };
  const client = await connectRedis({ redisUrl: options.redisUrl, checkServer: false });
  const queue = new RedisJobQueue({
    client,
    keyPrefix: deployment.keyPrefix,
    name: deployment.queue,
  });
  const store = new RedisEventStore({
    redisUrl: options.redisUrl,
    keyPrefix: deployment.keyPrefix,
    connection,
  });
  const effects = new Redis(SHARED_REDIS_URL);
  const backend = new QueueBackend({
    queue,
    eventStore: store,
    agents: ["tester"],
    maxAttempts: 10,
    retentionSeconds: 600,
  });
  const flags = [
    "--concurrency",
    "4",
    "--lease-ms",
    String(options.leaseMs),
    "--heartbeat-ms",
    String(Math.floor(options.leaseMs / 5)),
    "--grace-ms",
    "3000",
  ];
  let generation = 0;
  const spawn = (slot: number) => new WorkerProcess(deployment, `w${slot}-${generation++}`, flags);
  const workers = [spawn(1), spawn(2), spawn(3)];
  const everyWorker: WorkerProcess[] = [...workers];
  const disrupted = new Map<WorkerProcess, JobLine[]>();
  const started = Date.now();
  try {
    // The executions are submitted in waves, one before each disruption, so
    // that every victim is disrupted while work is queued and running,
    // however fast this machine runs them.
    const ids: string[] = [];
    const submitWave = async (count: number) => {
      const first = ids.length;
      ids.push(
        ...await Promise.all(Array.from({ length: count }, async (_, k) => {
          const n = 10 * (first + k);
          const task = { calls: TASK_CALLS.map((c) => ({ ...c, args: { n: c.args.n + n } })) };
          return (await backend.submit({ agent: "tester", task })).executionId;
        })),
      );
    };
    const waves = [0.3, 0.25, 0.25].map((f) => Math.round(f * options.executions));
    waves.push(options.executions - waves.reduce((a, b) => a + b, 0));
    const completed = () =>
      everyWorker.reduce((n, w) => n + w.lines.filter((l) => l.type === "completed").length, 0);
    // Submits the next wave, then waits for a random point within it: a random
    // share of it completed, plus a random delay.
    const nextWave = async () => {
      const before = completed();
      const count = waves.shift()!;
      await submitWave(count);
      const share = Math.floor((0.05 + Math.random() * 0.15) * count);
      await until(() => completed() >= before + share, `${share} more completions`, 120_000);
      await sleep(Math.floor(Math.random() * 50));
    };
    const pause = options.leaseMs + 1_000;
    const kill = async (slot: number) => {
      const victim = workers[slot]!;
      await until(() => victim.inFlight().length > 0, `${victim.nodeId} to hold jobs`, 30_000, 5);
      victim.signal("SIGKILL");
      await victim.exited();
      disrupted.set(victim, victim.inFlight());
      workers[slot] = spawn(slot + 1);
      everyWorker.push(workers[slot]!);
    };
    // Disruptions spaced by more than a lease, so that each victim's jobs
    // are taken over before the next one.
    await nextWave();
    await kill(0);
    await sleep(pause);
    await nextWave();
    const frozen = workers[1]!;
    await until(() => frozen.inFlight().length > 0, `${frozen.nodeId} to hold jobs`, 30_000, 5);
    frozen.signal("SIGSTOP");
    await sleep(50); // lines already in the pipe
    disrupted.set(frozen, frozen.inFlight());
    await sleep(pause + 500);
    frozen.signal("SIGCONT");
    await nextWave();
    await kill(0);
    await sleep(pause);
    await nextWave();
    await kill(0);

    await until(
      async () => {
        const s = await queue.stats();
        return s.waiting + s.delayed + s.inFlight === 0;
      },
      "the queue to drain",
      180_000,
      200,
    );
    const seconds = (Date.now() - started) / 1000;
    // A worker replaced last may still be starting: its signal handlers come with it.
    await until(
      () => workers.every((w) => w.lines.some((l) => l.type === "started")),
      "every worker to have started",
      30_000,
    );
    for (const worker of workers) worker.signal("SIGTERM");
    for (const worker of workers) {
      const status = await worker.exited();
      assert.equal(status.code, 0, `${worker.nodeId} exited ${status.code}: ${worker.stderr}`);
    }

    // All executions completed, each exactly once in its log, none dead.
    assert.equal((await queue.stats()).dead, 0, JSON.stringify(await queue.deadLetters()));
    let reclaims = 0;
    const problems: string[] = [];
    const logs = new Map<string, Awaited<ReturnType<typeof store.readRange>>>();
    for (const executionId of ids) {
      const events = await store.readRange(executionId);
      logs.set(executionId, events);
      const view = projectExecution(executionId, events);
      if (view.status !== "SUCCESS") problems.push(`${executionId} is ${view.status}`);
      const finals = events.filter((e) => e.type === "EXECUTION_COMPLETED").length;
      if (finals !== 1) problems.push(`${executionId} has ${finals} EXECUTION_COMPLETED`);
      problems.push(...unrecordedTakeovers(executionId, events));
      reclaims += events.filter((e) =>
        e.type === "RETRY_ATTEMPTED" && (e.data as { reason?: string }).reason === "reclaimed"
      ).length;
    }
    assert.deepEqual(problems, []);

    // Each tool side effect happened exactly once (the effect store dedupes by call key).
    const recorded = await effects.hgetall(deployment.effectsKey);
    assert.equal(Object.keys(recorded).length, 2 * options.executions);
    for (const executionId of ids) {
      const mine = Object.keys(recorded).filter((k) => k.startsWith(`${executionId}|`));
      assert.equal(mine.length, 2, `${executionId} effects: ${mine.join(", ")}`);
    }
    const effectInvocations = Number(await effects.get(`${deployment.effectsKey}:attempts`));

    // No execution was reported twice, across every worker that ever ran.
    const reports = new Map<string, number>();
    for (const worker of everyWorker) {
      for (const line of worker.lines.filter((l) => l.type === "completed")) {
        reports.set(line.executionId, (reports.get(line.executionId) ?? 0) + 1);
      }
    }
    assert.deepEqual([...reports].filter(([, n]) => n > 1), []);

    // Every takeover is recorded: each delivery of a reclaimed job that its
    // worker saw through to the end has a RETRY_ATTEMPTED with its token.
    const deliveries = everyWorker.flatMap((worker) =>
      worker.lines.filter((l) => l.type === "reserved").map((line) => ({ line, worker }))
    );
    const settled = (worker: WorkerProcess, line: JobLine) =>
      worker.lines.some((l) =>
        l.type !== "reserved" && l.jobId === line.jobId && l.token === line.token
      );
    const describe = (jobId: string, executionId: string) =>
      `deliveries ${
        JSON.stringify(everyWorker.flatMap((w) => w.lines.filter((l) => l.jobId === jobId)))
      }, log ${
        logs.get(executionId)!.map((e) => `${e.type}@${e.time}`).filter((t) =>
          !t.startsWith("ACTOR_") && !t.startsWith("MESSAGE_")
        ).join(" ")
      }`;
    for (const { line, worker } of deliveries) {
      if (line.reason !== "reclaimed" || !settled(worker, line)) continue;
      const recorded = logs.get(line.executionId)!.some((e) =>
        e.type === "RETRY_ATTEMPTED" && (e.data as { token?: number }).token === line.token
      );
      assert.ok(
        recorded,
        `reclaim without RETRY_ATTEMPTED: ${describe(line.jobId, line.executionId)}`,
      );
    }
    // Every job a killed or frozen worker held was taken over from it (unless it
    // had just finished it): the next delivery names it as the previous holder.
    assert.equal(disrupted.size, 4);
    for (const [victim, held] of disrupted) {
      assert.ok(held.length > 0, `${victim.nodeId} held no job when disrupted`);
      for (const job of held) {
        const next = deliveries.find((d) =>
          d.line.jobId === job.jobId && d.line.token === job.token + 1
        );
        const where = `${job.executionId} held by ${victim.nodeId}: ${
          describe(job.jobId, job.executionId)
        }`;
        if (!next) {
          const finished = logs.get(job.executionId)!.some((e) => e.type === "EXECUTION_COMPLETED");
          assert.ok(finished, `never taken over: ${where}`);
          continue;
        }
        assert.equal(next.line.reason, "reclaimed", where);
        assert.equal(next.line.previousConsumer, victim.nodeId, where);
      }
    }
    // The frozen worker reported none of the leases it lost. (The same job may
    // come back to it later under a new lease, when its taker was killed: that
    // one it may complete.)
    const lease = (l: { jobId: string; token: number }) => `${l.jobId}#${l.token}`;
    const lostByFrozen = new Set(frozen.lines.filter((l) => l.type === "lost").map(lease));
    assert.ok(
      !frozen.lines.some((l) => l.type === "completed" && lostByFrozen.has(lease(l))),
      "the frozen worker reported a lease it lost",
    );
    return { seconds, reclaims, effectInvocations };
  } catch (error) {
    for (const worker of everyWorker) {
      console.error(
        `--- ${worker.nodeId}: ${worker.lines.length} lines, stderr:\n${
          worker.stderr.slice(-3000)
        }`,
      );
    }
    console.error(`queue: ${JSON.stringify(await queue.stats().catch(String))}`);
    throw error;
  } finally {
    for (const worker of everyWorker) {
      worker.signal("SIGCONT");
      worker.signal("SIGKILL");
      await worker.exited();
    }
    await backend.close();
    await queue.close();
    await store.close();
    await deleteKeys(client, `${deployment.keyPrefix}*`);
    await client.quit();
    await effects.del(deployment.effectsKey, `${deployment.effectsKey}:attempts`);
    effects.disconnect();
  }
}
