// Nothing accepted is lost across a crash of `oao start` on Redis: the
// executions it had accepted and queued but not started are taken back into
// line by the next run of the node.
import assert from "node:assert/strict";
import { oaoServer } from "./_cli.ts";
import { redisTestEnv, slowAgentConfig } from "./_redis_env.ts";

Deno.test("`start` killed with SIGKILL while executions wait in line: the next `start` runs them", async () => {
  await using redis = redisTestEnv();
  const dir = await Deno.makeTempDir();
  try {
    const config = await slowAgentConfig(dir, 3_000);
    const args = ["start", "--port", "0", "--max-running", "1", "--config", config];
    const first = await oaoServer(args, { env: redis.env });
    const submit = async (url: string) => {
      const answer = await fetch(`${url}/executions`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ agent: "slow", task: {} }),
      });
      return await answer.json() as { executionId: string; status: string };
    };
    const running = await submit(first.url);
    const queued = [await submit(first.url), await submit(first.url)];
    assert.equal(running.status, "RUNNING");
    assert.deepEqual(queued.map((q) => q.status), ["QUEUED", "QUEUED"]);
    await first.stop("SIGKILL");

    const second = await oaoServer(args, { env: redis.env });
    try {
      for (const { executionId } of queued) {
        const deadline = Date.now() + 30_000;
        let status = "";
        while (status !== "SUCCESS" && Date.now() < deadline) {
          const answer = await fetch(`${second.url}/executions/${executionId}`);
          status = (await answer.json()).status;
          await new Promise((r) => setTimeout(r, 100));
        }
        assert.equal(status, "SUCCESS", `${executionId} ran after the restart`);
      }
    } finally {
      const stopped = await second.stop();
      assert.match(stopped.stderr, /2 executions accepted by an earlier run of this node/);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
