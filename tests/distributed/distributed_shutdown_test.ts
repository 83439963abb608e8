// SIGTERM makes a worker process stop taking jobs and hand its running jobs
// back (nothing recorded for them) within its grace period, then exit 0;
// another worker resumes them.
import assert from "node:assert/strict";
import { apiNode, SHARED_REDIS_URL, until, WorkerProcess } from "./_harness.ts";

Deno.test("SIGTERM hands running jobs back within the grace period and exits 0; another worker resumes them", async () => {
  await using api = apiNode(SHARED_REDIS_URL);
  const key = api.deployment.effectsKey;
  await api.effects.set(`${key}:hold`, "1");
  const flags = ["--concurrency", "4", "--lease-ms", "5000", "--grace-ms", "300"];
  const first = new WorkerProcess(api.deployment, "leaving", flags);
  let second: WorkerProcess | undefined;
  try {
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) {
      const task = {
        calls: [
          { tool: "effect", args: { n: i } },
          { tool: "hold", args: {} },
          { tool: "effect", args: { n: -i } },
        ],
      };
      ids.push((await api.backend.submit({ agent: "tester", task })).executionId);
    }
    for (const executionId of ids) {
      await until(
        async () =>
          (await api.store.readRange(executionId)).some((e) =>
            e.type === "TOOL_CALL" && (e.data as { tool: string }).tool === "hold"
          ),
        `${executionId} to reach the hold`,
      );
    }
    const sent = Date.now();
    first.signal("SIGTERM");
    const status = await first.exited();
    assert.equal(status.code, 0, first.stderr);
    assert.ok(Date.now() - sent < 10_000, "exited within the grace period and the hand-back");
    const released = first.lines.filter((l) => l.type === "released").map((l) => l.executionId);
    assert.deepEqual(released.sort(), [...ids].sort());
    assert.deepEqual(await api.queue.stats(), { waiting: 3, delayed: 0, inFlight: 0, dead: 0 });
    for (const executionId of ids) {
      const types = (await api.store.readRange(executionId)).map((e) => e.type);
      assert.ok(!types.includes("EXECUTION_CANCELLED") && !types.includes("EXECUTION_FAILED"));
      assert.equal(await api.status(executionId), "RUNNING");
    }

    await api.effects.del(`${key}:hold`);
    second = new WorkerProcess(api.deployment, "arriving", flags);
    for (const executionId of ids) {
      await until(async () => (await api.status(executionId)) === "SUCCESS", `${executionId}`);
    }
    const reserved = second.lines.filter((l) => l.type === "reserved");
    assert.ok(reserved.every((l) => l.reason === "requeued" && l.attempt === 1));
    assert.equal(await api.effects.hlen(key), 6, "each effect once");
  } finally {
    for (const worker of [first, second]) {
      worker?.signal("SIGKILL");
      await worker?.exited();
    }
  }
});
