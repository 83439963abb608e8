// A poison job — one that kills every worker process that runs it — ends in
// the dead-letter queue after its attempts, visible to `oao queue`, while
// other jobs complete; its execution is FAILED (retryable), naming the job
// and how to revive it. Once the cause is fixed, `oao queue requeue` runs it
// again and it resumes from its log. The same for a job whose last attempt a
// worker failed (an agent it does not run).
import assert from "node:assert/strict";
import {
  type ApiNode,
  apiNode,
  cli,
  SHARED_REDIS_URL,
  sleep,
  until,
  WorkerProcess,
} from "./_harness.ts";

/**
 * Checks what `oao status` and `oao list` say of an execution whose job died:
 * FAILED, retryable, naming the job, the queue's reason and the requeue.
 */
async function assertDeadLettered(
  api: ApiNode,
  executionId: string,
  job: { jobId: string; reason: RegExp },
): Promise<void> {
  const shown = await cli(api.deployment, ["status", executionId, "--json"]);
  assert.equal(shown.code, 0, shown.stderr);
  const status = JSON.parse(shown.stdout);
  assert.equal(status.status, "FAILED");
  assert.equal(status.error.retryable, true);
  assert.equal(status.error.code, "JOB_DEAD_LETTERED");
  const message: string = status.error.message;
  assert.ok(message.includes(`Job "${job.jobId}" of execution "${executionId}"`), message);
  assert.ok(message.includes(`\`oao queue requeue ${job.jobId}\``), message);
  assert.match(message, job.reason);
  const listed = await cli(api.deployment, ["list", "--status", "FAILED", "--json"]);
  assert.equal(listed.code, 0, listed.stderr);
  const failed = JSON.parse(listed.stdout).executions.map((e: { executionId: string }) =>
    e.executionId
  );
  assert.deepEqual(failed, [executionId]);
}

Deno.test("a job that kills its workers is dead-lettered after 3 attempts; its execution is FAILED (retryable); queue lists it and requeue runs it again", async () => {
  await using api = apiNode(SHARED_REDIS_URL, { maxAttempts: 3 });
  const key = api.deployment.effectsKey;
  await api.effects.set(`${key}:poison`, "1");
  // One job per process: a co-located job would die with the poison job each time.
  const flags = ["--concurrency", "1", "--lease-ms", "800", "--heartbeat-ms", "200"];
  const workers: WorkerProcess[] = [];
  let generation = 0;
  let supervising = true;
  // A process supervisor: restarts worker processes that died.
  const supervisor = (async () => {
    workers.push(new WorkerProcess(api.deployment, `p${generation++}`, flags));
    workers.push(new WorkerProcess(api.deployment, `p${generation++}`, flags));
    const exits = new Set<WorkerProcess>();
    while (supervising) {
      for (const worker of workers.slice(-2)) {
        if (exits.has(worker)) continue;
        exits.add(worker);
        void worker.exited().then(() => {
          if (supervising) {
            workers.push(new WorkerProcess(api.deployment, `p${generation++}`, flags));
          }
        });
      }
      await sleep(50);
    }
  })();
  try {
    const poison = await api.backend.submit({
      agent: "tester",
      task: {
        calls: [
          { tool: "effect", args: { n: 1 } },
          { tool: "crash", args: {} },
          { tool: "effect", args: { n: 2 } },
        ],
      },
    });
    const healthy = [];
    for (let i = 0; i < 5; i++) {
      const task = { calls: [{ tool: "effect", args: { n: 100 + i } }] };
      healthy.push((await api.backend.submit({ agent: "tester", task })).executionId);
    }
    await until(
      async () => (await api.queue.stats()).dead === 1,
      "the poison job to die",
      60_000,
      100,
    );
    for (const executionId of healthy) {
      await until(async () => (await api.status(executionId)) === "SUCCESS", `${executionId}`);
    }
    assert.ok(generation >= 5, `${generation} worker processes: each attempt killed one`);

    const stats = await cli(api.deployment, ["queue", "stats", "--json"]);
    assert.equal(stats.code, 0, stats.stderr);
    assert.equal(JSON.parse(stats.stdout).dead, 1);
    const listed = await cli(api.deployment, ["queue", "dead", "--json"]);
    assert.equal(listed.code, 0, listed.stderr);
    const [dead] = JSON.parse(listed.stdout);
    assert.equal(dead.spec.executionId, poison.executionId);
    assert.equal(dead.attempts, 3);
    assert.match(dead.lastError, /Lease of consumer "p\d+" expired/);
    const log = await api.store.readRange(poison.executionId);
    assert.equal(log.filter((e) => e.type === "RETRY_ATTEMPTED").length, 2);
    // The worker whose reserve buried the job recorded the failure.
    await until(
      async () => (await api.status(poison.executionId)) === "FAILED",
      "the poison execution to be FAILED",
    );
    await assertDeadLettered(api, poison.executionId, {
      jobId: dead.jobId,
      reason: /The queue's reason: Lease of consumer "p\d+" expired/,
    });

    // The cause is fixed; the operator re-enqueues the job.
    await api.effects.del(`${key}:poison`);
    const missing = await cli(api.deployment, ["queue", "requeue", "no-such-job"]);
    assert.equal(missing.code, 1);
    const requeued = await cli(api.deployment, ["queue", "requeue", dead.jobId]);
    assert.equal(requeued.code, 0, requeued.stderr);
    assert.match(requeued.stdout, /Requeued job/);
    await until(
      async () => (await api.status(poison.executionId)) === "SUCCESS",
      "the requeued job",
    );
    const effects = await api.effects.hgetall(key);
    const mine = Object.keys(effects).filter((k) => k.startsWith(`${poison.executionId}|`));
    assert.equal(mine.length, 2, "each effect of the poison execution happened once");
    assert.equal((await api.queue.stats()).dead, 0);
    // It went on past its failure, from its log: one failure, retried once, one start.
    const types = (await api.store.readRange(poison.executionId)).map((e) => e.type);
    const count = (type: string) => types.filter((t) => t === type).length;
    assert.deepEqual(
      ["EXECUTION_STARTED", "EXECUTION_FAILED", "EXECUTION_RETRIED", "EXECUTION_COMPLETED"].map(
        count,
      ),
      [1, 1, 1, 1],
    );
    assert.ok(types.indexOf("EXECUTION_RETRIED") > types.indexOf("EXECUTION_FAILED"));
  } catch (error) {
    console.error(`${generation} workers; queue ${JSON.stringify(await api.queue.stats())}`);
    for (const w of workers) {
      console.error(`--- ${w.nodeId}\n${JSON.stringify(w.lines)}\n${w.stderr}`);
    }
    throw error;
  } finally {
    supervising = false;
    await supervisor;
    await sleep(100);
    for (const worker of workers) {
      worker.signal("SIGKILL");
      await worker.exited();
    }
  }
});

Deno.test("a job whose last attempt a worker fails leaves its queued execution FAILED (retryable); requeued, a capable worker completes it", async () => {
  await using api = apiNode(SHARED_REDIS_URL, { maxAttempts: 2, agents: ["tester", "late"] });
  const narrow = new WorkerProcess(api.deployment, "narrow", ["--agents", "tester"]);
  let wide: WorkerProcess | undefined;
  try {
    const task = { calls: [{ tool: "effect", args: { n: 7 } }] };
    const { executionId } = await api.backend.submit({ agent: "late", task });
    assert.equal(await api.status(executionId), "QUEUED");
    // Both attempts fail on the only worker (it does not run "late"); the second is the last.
    await until(
      async () => (await api.status(executionId)) === "FAILED",
      "the execution to be FAILED",
    );
    const [dead] = await api.queue.deadLetters();
    assert.equal(dead?.spec.executionId, executionId);
    assert.equal(dead?.attempts, 2);
    await assertDeadLettered(api, executionId, {
      jobId: dead!.jobId,
      reason: /The queue's reason: Worker node "narrow" cannot run agent "late"/,
    });
    const failures = (await api.store.readRange(executionId)).filter((e) =>
      e.type === "EXECUTION_FAILED"
    );
    assert.equal(failures.length, 1);

    narrow.signal("SIGTERM");
    await narrow.exited();
    wide = new WorkerProcess(api.deployment, "wide");
    const requeued = await cli(api.deployment, ["queue", "requeue", dead!.jobId]);
    assert.equal(requeued.code, 0, requeued.stderr);
    await until(async () => (await api.status(executionId)) === "SUCCESS", "the requeued job");
    const types = (await api.store.readRange(executionId)).map((e) => e.type);
    assert.deepEqual(types.slice(0, 4), [
      "EXECUTION_QUEUED",
      "EXECUTION_FAILED",
      "EXECUTION_RETRIED",
      "EXECUTION_STARTED",
    ]);
    assert.equal(types.at(-1), "EXECUTION_COMPLETED");
    assert.equal(Object.keys(await api.effects.hgetall(api.deployment.effectsKey)).length, 1);
    const listed = await cli(api.deployment, ["list", "--status", "FAILED", "--json"]);
    assert.deepEqual(JSON.parse(listed.stdout).executions, []);
  } catch (error) {
    for (const w of [narrow, wide]) {
      if (w) console.error(`--- ${w.nodeId}\n${JSON.stringify(w.lines)}\n${w.stderr}`);
    }
    throw error;
  } finally {
    for (const worker of [narrow, wide]) {
      worker?.signal("SIGKILL");
      await worker?.exited();
    }
  }
});
