/**
 * A worker process for the kill -9 test: reserves one job with a 300 ms
 * lease, prints it as one JSON line, then hangs without heartbeats.
 *
 * @module
 */
import { RedisJobQueue } from "../../src/redis/redis_job_queue.ts";

const queue = new RedisJobQueue({
  redisUrl: Deno.env.get("REDIS_URL"),
  connection: { checkServer: false },
  keyPrefix: Deno.env.get("KEY_PREFIX") ?? "",
});
const [lease] = await queue.reserve("doomed", { blockMs: 5_000, leaseMs: 300 });
console.log(JSON.stringify(lease));
await new Promise(() => setInterval(() => {}, 60_000));
