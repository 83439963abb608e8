// Redis deployments from the command line: `start` on Redis (readiness
// follows Redis), `serve` with a `worker` (the API node queues, the worker runs).
import assert from "node:assert/strict";
import { oaoServer } from "./_cli.ts";
import { redisTestEnv } from "./_redis_env.ts";
import { RedisServer } from "../_support/redis_server.ts";

async function poll(url: string, until: (body: Record<string, unknown>) => boolean) {
  const deadline = Date.now() + 20_000;
  while (true) {
    const response = await fetch(url);
    const body = await response.json();
    if (until(body) || Date.now() > deadline) return body;
    await new Promise((r) => setTimeout(r, 50));
  }
}

Deno.test("`start` on Redis: /readyz is 200 while Redis answers and 503 once it is down; SIGTERM still exits 0", async () => {
  await using redis = await RedisServer.start();
  await using server = await oaoServer(["start", "--port", "0"], {
    env: { REDIS_URL: redis.url(), OAO_LOG_LEVEL: "INFO" },
  });
  const ready = await fetch(`${server.url}/readyz`);
  assert.equal(ready.status, 200);
  await ready.body?.cancel();
  await redis.kill();
  const down = await fetch(`${server.url}/readyz`);
  assert.equal(down.status, 503);
  assert.equal((await down.json()).error.code, "not_ready");
  const live = await fetch(`${server.url}/healthz`);
  assert.equal(live.status, 200, "liveness does not depend on Redis");
  await live.body?.cancel();
  const { code, stderr } = await server.stop();
  assert.equal(code, 0, stderr);
  assert.match(stderr, /Using Redis at "redis:\/\/127\.0\.0\.1:\d+"/);
});

Deno.test("`serve` queues executions that a `worker` runs; both stop with exit 0", async () => {
  await using redis = redisTestEnv();
  await using api = await oaoServer(["serve", "--port", "0"], { env: redis.env });
  const submit = await fetch(`${api.url}/executions`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ agent: "flaky", task: { items: 2 } }),
  });
  assert.equal(submit.status, 202);
  const { executionId, status } = await submit.json();
  assert.equal(status, "QUEUED");
  const queued = await (await fetch(`${api.url}/executions/${executionId}`)).json();
  assert.equal(queued.status, "QUEUED", "no worker yet");
  const worker = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--unstable-worker-options",
      "--allow-read",
      "--allow-env",
      "--allow-net",
      "--allow-sys",
      new URL("../../src/cli/main.ts", import.meta.url).pathname,
      "worker",
      "--concurrency",
      "2",
    ],
    env: redis.env,
    stdout: "null",
    stderr: "piped",
  }).spawn();
  try {
    const done = await poll(
      `${api.url}/executions/${executionId}`,
      (b) => b.status !== "QUEUED" && b.status !== "RUNNING",
    );
    assert.equal(done.status, "SUCCESS");
  } finally {
    worker.kill("SIGTERM");
    const result = await worker.output();
    assert.equal(result.code, 0, new TextDecoder().decode(result.stderr));
  }
  const stopped = await api.stop();
  assert.equal(stopped.code, 0, stopped.stderr);
});
