/**
 * What a client of `oao start` waits for when Redis goes down: the time to
 * the answer (503 `store_unavailable` with `Retry-After`) of `GET
 * /executions/:id` and `POST /executions`, and of `/metrics` (which never
 * waits on Redis), against `GET /executions/:id` with Redis up, in the same
 * run. Starts its own `redis-server` on a free port and kills it (SIGKILL).
 *
 * ```sh
 * deno run -A bench/redis_down_bench.ts [--requests 20]
 * ```
 *
 * @module
 */
import { parseArgs } from "node:util";
import { figure, median, percentile } from "./_figure.ts";
import { startOaoNode } from "./_oao_node.ts";
import { RedisServer } from "../tests/_support/redis_server.ts";

const ROOT = new URL("..", import.meta.url).pathname;

async function timed(url: string, init?: RequestInit): Promise<[number, number]> {
  const start = performance.now();
  const response = await fetch(url, init);
  await response.body?.cancel();
  return [response.status, performance.now() - start];
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    args: Deno.args,
    options: { requests: { type: "string", default: "20" } },
  });
  const requests = Number(values.requests);
  const redis = await RedisServer.start();
  const port = 20_000 + Math.floor(Math.random() * 20_000);
  const node = await startOaoNode(ROOT, port, {
    env: { REDIS_URL: redis.url(), OAO_KEY_PREFIX: `oao-bench-${crypto.randomUUID()}:` },
  });
  try {
    const submit = await fetch(`${node.url}/executions`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ agent: "flaky", task: { items: 1 } }),
    });
    const { executionId } = await submit.json();
    const statusUrl = `${node.url}/executions/${executionId}`;
    const up: number[] = [];
    for (let i = 0; i < requests; i++) up.push((await timed(statusUrl))[1]);
    await redis.kill();
    const down: number[] = [];
    const posts: number[] = [];
    const metrics: number[] = [];
    for (let i = 0; i < requests; i++) {
      const [status, ms] = await timed(statusUrl);
      if (status !== 503) throw new Error(`GET answered ${status} with Redis down, not 503`);
      down.push(ms);
      posts.push(
        (await timed(`${node.url}/executions`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ agent: "flaky", task: { items: 1 } }),
        }))[1],
      );
      metrics.push((await timed(`${node.url}/metrics`))[1]);
    }
    const baseline = median(up);
    console.log(JSON.stringify(figure("redis_down.get_503_p50", median(down), "ms", baseline)));
    console.log(
      JSON.stringify(figure("redis_down.get_503_p99", percentile(down, 0.99), "ms", baseline)),
    );
    console.log(JSON.stringify(figure("redis_down.post_503_p50", median(posts), "ms", baseline)));
    console.log(JSON.stringify(figure("redis_down.metrics_p50", median(metrics), "ms", baseline)));
  } finally {
    await node.stop();
    await redis.stop().catch(() => {});
  }
}

if (import.meta.main) await main();
