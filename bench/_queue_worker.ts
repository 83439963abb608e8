// A worker process of bench/queue_bench.ts. Internal.
//
//   deno run -A --unstable-worker-options bench/_queue_worker.ts <noop|execution>
//
// Environment: REDIS_URL, BENCH_PREFIX (key prefix), BENCH_QUEUE (queue
// name), BENCH_CONCURRENCY, BENCH_LEASE_MS, BENCH_NODE_ID.
// - noop: a JobLoop whose handler completes every job at once (queue
//   throughput: reserve, lease, complete).
// - execution: a WorkerNode running actors/bench_agent.ts, whose one tool
//   call (process_item) never returns here: the job stays with its worker
//   until the worker is killed (reclaim time).
// Prints "ready" once connected, then one JSON line per started job.
import { JobLoop } from "../src/distributed/job_loop.ts";
import { WorkerNode } from "../src/distributed/worker_node.ts";
import { Orchestrator } from "../src/orchestrator/orchestrator.ts";
import { defineTool } from "../src/orchestrator/tool.ts";
import { connectRedis } from "../src/redis/connection.ts";
import { RedisEventStore } from "../src/redis/redis_event_store.ts";
import { RedisJobQueue } from "../src/redis/redis_job_queue.ts";
import { RedisPersistenceAdapter } from "../src/redis/redis_persistence_adapter.ts";

const mode = Deno.args[0];
const env = (name: string, fallback?: string) => {
  const value = Deno.env.get(name) ?? fallback;
  if (value === undefined) throw new Error(`${name} is not set`);
  return value;
};
const client = await connectRedis({ redisUrl: env("REDIS_URL"), checkServer: false });
const keyPrefix = env("BENCH_PREFIX");
const queue = new RedisJobQueue({ client, keyPrefix, name: env("BENCH_QUEUE") });
const concurrency = Number(env("BENCH_CONCURRENCY", "16"));
const leaseMs = Number(env("BENCH_LEASE_MS", "30000"));
const nodeId = env("BENCH_NODE_ID", `bench-${Deno.pid}`);
await queue.stats();

if (mode === "noop") {
  const loop = new JobLoop({
    queue,
    consumer: nodeId,
    concurrency,
    leaseMs,
    handler: { run: () => Promise.resolve({ type: "complete" }) },
  });
  loop.start();
  console.log("ready");
} else if (mode === "execution") {
  const orchestrator = new Orchestrator({
    eventStore: new RedisEventStore({ client, keyPrefix }),
    persistence: new RedisPersistenceAdapter({ client, keyPrefix }),
    agents: [{
      name: "bench",
      module: new URL("../actors/bench_agent.ts", import.meta.url),
      version: "1.0.0",
    }],
    tools: [
      defineTool({
        name: "process_item",
        idempotent: true,
        run: (_args: unknown, ctx) => {
          console.log(JSON.stringify({ started: ctx.executionId, at: Date.now(), nodeId }));
          return new Promise((_, reject) =>
            ctx.signal.addEventListener("abort", () => reject(ctx.signal.reason))
          );
        },
      }) as never,
    ],
  });
  const node = new WorkerNode({ queue, orchestrator, nodeId, concurrency, leaseMs });
  node.start();
  console.log("ready");
} else {
  throw new Error(`Unknown mode "${mode}": expected noop or execution`);
}
