// Redis (test-owned, appendonly yes) is killed with SIGKILL and restarted
// while two worker processes run executions: the workers reconnect and keep
// pulling, and every acknowledged submit completes.
import assert from "node:assert/strict";
import { RedisServer } from "../_support/redis_server.ts";
import { apiNode, sleep, until, WorkerProcess } from "./_harness.ts";

Deno.test("workers survive a Redis SIGKILL and restart: no acknowledged job is lost, every effect happens once", async () => {
  await using server = await RedisServer.start({ appendonly: true });
  await using api = apiNode(server.url(), { effectDelayMs: 20, maxAttempts: 10 });
  const flags = ["--concurrency", "4", "--lease-ms", "2000", "--heartbeat-ms", "400"];
  const workers = [
    new WorkerProcess(api.deployment, "r1", flags),
    new WorkerProcess(api.deployment, "r2", flags),
  ];
  try {
    const count = 80;
    const ids: string[] = [];
    for (let i = 0; i < count; i++) {
      const task = {
        calls: [{ tool: "effect", args: { n: i } }, { tool: "effect", args: { n: -i } }],
      };
      ids.push((await api.backend.submit({ agent: "tester", task })).executionId);
    }
    const completed = () =>
      workers.reduce((n, w) => n + w.lines.filter((l) => l.type === "completed").length, 0);
    await until(() => completed() >= count / 4, "a quarter of the executions", 60_000);
    await server.kill();
    const beforeRestart = completed();
    assert.ok(beforeRestart < count, "Redis went down in the middle of the run");
    await sleep(1_000);
    await server.restart();

    await until(
      async () => {
        const s = await api.queue.stats();
        return s.waiting + s.delayed + s.inFlight === 0;
      },
      "the queue to drain",
      90_000,
      200,
    );
    for (const executionId of ids) assert.equal(await api.status(executionId), "SUCCESS");
    assert.equal((await api.queue.stats()).dead, 0);
    assert.equal(await api.effects.hlen(api.deployment.effectsKey), 2 * count);
    const reported = workers.flatMap((w) => w.lines.filter((l) => l.type === "completed"));
    assert.equal(new Set(reported.map((l) => l.executionId)).size, reported.length);
    assert.ok(completed() > beforeRestart, "the workers kept pulling after the restart");
    for (const worker of workers) worker.signal("SIGTERM");
    for (const worker of workers) {
      const status = await worker.exited();
      assert.equal(status.code, 0, worker.stderr);
    }
  } finally {
    for (const worker of workers) {
      worker.signal("SIGKILL");
      await worker.exited();
    }
  }
});
