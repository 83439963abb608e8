// A poison job — one that kills every worker process that runs it — ends in
// the dead-letter queue after its attempts, visible to `oao queue`, while
// other jobs complete; once the cause is fixed, `oao queue requeue` runs it
// again and it resumes from its log.
import assert from "node:assert/strict";
import { apiNode, cli, SHARED_REDIS_URL, sleep, until, WorkerProcess } from "./_harness.ts";

Deno.test("a job that kills its workers is dead-lettered after 3 attempts; queue lists it and requeue runs it again", async () => {
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
