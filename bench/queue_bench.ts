/**
 * Benchmarks of the distributed job queue, against BullMQ measured in the
 * same run on the same Redis (`REDIS_URL`, default `redis://127.0.0.1:6379`),
 * under dedicated key prefixes removed at the end.
 *
 * - `queue.jobs_per_s` — end-to-end throughput of no-op jobs: from the first
 *   enqueue of a batch until the queue has drained, with 4 worker processes
 *   of the same concurrency, each a `JobLoop` (reserve under a lease,
 *   complete) on `RedisJobQueue`. Baseline: BullMQ 6.7.0 under Node.js (its
 *   supported runtime; installed with npm into a cache directory, install
 *   scripts off), 4 `Worker` processes of the same concurrency, jobs added
 *   with `addBulk` and removed on completion. Rounds alternate; medians.
 *   Target ratio ≥ 1.0.
 * - `queue.reclaim_s` — time from the SIGKILL of the worker process holding
 *   a job (a `WorkerNode` running an execution whose tool call never
 *   returns) until the job runs again in another worker (the tool call
 *   starts again after the takeover: reserve, fence, RETRY_ATTEMPTED,
 *   resume). Baseline: the configured lease. Target ratio ≤ 1.2.
 *
 * Run (on a shared machine, under the benchmark lock):
 * `flock /tmp/oao-bench.lock deno run -A --unstable-worker-options bench/queue_bench.ts
 * [--jobs 20000] [--rounds 3] [--workers 4] [--concurrency 16] [--lease-ms 2000] [--reclaims 5]`.
 * Needs `node` and `npm` for the baseline (`OAO_BENCH_CACHE` overrides the
 * cache directory). The last two lines are JSON.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Cluster } from "ioredis";
import { connectRedis, type RedisClient } from "../src/redis/connection.ts";
import { RedisEventStore } from "../src/redis/redis_event_store.ts";
import { RedisJobQueue } from "../src/redis/redis_job_queue.ts";
import { figure, median } from "./_figure.ts";

const BULLMQ = "6.7.0";
const IOREDIS = "6.0.0";
const WORKER = new URL("./_queue_worker.ts", import.meta.url).pathname;

/** A child process whose stdout is read line by line. */
class Child {
  readonly lines: string[] = [];
  #child: Deno.ChildProcess;
  #waiters: (() => void)[] = [];
  #pump: Promise<void>;

  constructor(command: string, args: string[], env: Record<string, string>, cwd?: string) {
    this.#child = new Deno.Command(command, {
      args,
      env,
      ...(cwd ? { cwd } : {}),
      stdin: "null",
      stdout: "piped",
      stderr: "inherit",
    }).spawn();
    const stdout = this.#child.stdout;
    this.#pump = (async () => {
      let buffer = "";
      for await (const chunk of stdout.pipeThrough(new TextDecoderStream())) {
        buffer += chunk;
        let newline;
        while ((newline = buffer.indexOf("\n")) >= 0) {
          this.lines.push(buffer.slice(0, newline));
          buffer = buffer.slice(newline + 1);
          for (const wake of this.#waiters.splice(0)) wake();
        }
      }
    })();
  }

  /** Waits for a line matching `match`, at most `timeoutMs`. */
  async line(match: (line: string) => boolean, timeoutMs = 60_000): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    while (true) {
      const found = this.lines.find(match);
      if (found !== undefined) return found;
      if (Date.now() > deadline) throw new Error(`No matching line within ${timeoutMs} ms`);
      await new Promise<void>((resolve) => {
        this.#waiters.push(resolve);
        setTimeout(resolve, 100);
      });
    }
  }

  kill(signal: Deno.Signal = "SIGKILL"): void {
    try {
      this.#child.kill(signal);
    } catch { /* exited */ }
  }

  async exited(): Promise<void> {
    await this.#child.status;
    await this.#pump;
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      jobs: { type: "string", default: "20000" },
      rounds: { type: "string", default: "3" },
      workers: { type: "string", default: "4" },
      concurrency: { type: "string", default: "16" },
      "lease-ms": { type: "string", default: "2000" },
      reclaims: { type: "string", default: "5" },
    },
  });
  const jobs = Number(values.jobs);
  const rounds = Number(values.rounds);
  const workers = Number(values.workers);
  const concurrency = Number(values.concurrency);
  const leaseMs = Number(values["lease-ms"]);
  const reclaims = Number(values.reclaims);
  const redisUrl = Deno.env.get("REDIS_URL") ?? "redis://127.0.0.1:6379";
  const id = crypto.randomUUID().slice(0, 8);
  const prefix = `oao-bench-${id}:`;
  const bullPrefix = `oao-bench-bull-${id}`;
  const client = await connectRedis({ redisUrl, checkServer: false });
  const cache = await prepareBullmq();
  const children: Child[] = [];
  try {
    // Throughput: OAO and BullMQ workers are up at the same time (idle when not measured).
    const oaoQueue = new RedisJobQueue({ client, keyPrefix: prefix, name: "throughput" });
    const oaoEnv = {
      REDIS_URL: redisUrl,
      BENCH_PREFIX: prefix,
      BENCH_QUEUE: "throughput",
      BENCH_CONCURRENCY: String(concurrency),
      BENCH_LEASE_MS: "30000",
    };
    const bullEnv = {
      REDIS_URL: redisUrl,
      BULL_PREFIX: bullPrefix,
      BULL_QUEUE: "throughput",
      BULL_CONCURRENCY: String(concurrency),
    };
    const oaoWorkers = Array.from(
      { length: workers },
      (_, i) =>
        new Child(Deno.execPath(), ["run", "-A", "--unstable-worker-options", WORKER, "noop"], {
          ...oaoEnv,
          BENCH_NODE_ID: `oao-${i}`,
        }),
    );
    const bullWorkers = Array.from(
      { length: workers },
      () => new Child("node", ["bullmq_worker.mjs"], bullEnv, cache),
    );
    children.push(...oaoWorkers, ...bullWorkers);
    await Promise.all([...oaoWorkers, ...bullWorkers].map((c) => c.line((l) => l === "ready")));

    const oaoRound = async (n: number, round: number) => {
      const started = performance.now();
      for (let i = 0; i < n; i += 1_000) {
        await Promise.all(
          Array.from(
            { length: Math.min(1_000, n - i) },
            (_, k) =>
              oaoQueue.enqueue({ executionId: `r${round}-${i + k}`, agent: "noop", task: null }),
          ),
        );
      }
      while (true) {
        const s = await oaoQueue.stats();
        if (s.waiting + s.delayed + s.inFlight === 0) break;
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
      return n / ((performance.now() - started) / 1000);
    };
    const bullRound = async (n: number) => {
      const producer = new Child("node", ["bullmq_producer.mjs", String(n)], bullEnv, cache);
      const line = await producer.line((l) => l.startsWith("{"), 600_000);
      await producer.exited();
      return n / (JSON.parse(line).ms / 1000);
    };
    await oaoRound(Math.max(100, jobs / 10), 0);
    await bullRound(Math.max(100, jobs / 10));
    const oao: number[] = [];
    const bull: number[] = [];
    for (let round = 1; round <= rounds; round++) {
      oao.push(await oaoRound(jobs, round));
      bull.push(await bullRound(jobs));
      console.log(
        `round ${round}: oao ${oao.at(-1)!.toFixed(0)} jobs/s, bullmq ${
          bull.at(-1)!.toFixed(0)
        } jobs/s`,
      );
    }
    for (const child of [...oaoWorkers, ...bullWorkers]) child.kill("SIGTERM");
    await Promise.all([...oaoWorkers, ...bullWorkers].map((c) => c.exited()));
    await oaoQueue.close();

    // Reclaim: kill the worker holding the job; the other one takes it over.
    const reclaimQueue = new RedisJobQueue({ client, keyPrefix: prefix, name: "reclaim" });
    let generation = 0;
    const spawnExecutionWorker = () => {
      const child = new Child(
        Deno.execPath(),
        ["run", "-A", "--unstable-worker-options", WORKER, "execution"],
        {
          REDIS_URL: redisUrl,
          BENCH_PREFIX: prefix,
          BENCH_QUEUE: "reclaim",
          BENCH_CONCURRENCY: "1",
          BENCH_LEASE_MS: String(leaseMs),
          BENCH_NODE_ID: `reclaim-${generation++}`,
        },
      );
      children.push(child);
      return child;
    };
    let pair = [spawnExecutionWorker(), spawnExecutionWorker()];
    await Promise.all(pair.map((c) => c.line((l) => l === "ready")));
    const executionId = `exec-reclaim-${id}`;
    const events = new RedisEventStore({ client, keyPrefix: prefix });
    await reclaimQueue.enqueue(
      { executionId, agent: "bench", task: { item: 1 } },
      { maxAttempts: 1_000 },
    );
    const startedAfter = (child: Child, after: number) =>
      child.line((l) => l.startsWith("{") && JSON.parse(l).at > after, 60_000);
    const first = await Promise.any(pair.map(async (c) => (await startedAfter(c, 0), c)));
    let holder = first;
    let other = pair.find((c) => c !== holder)!;
    const samples: number[] = [];
    for (let k = 0; k < reclaims; k++) {
      await new Promise((resolve) => setTimeout(resolve, Math.random() * leaseMs / 3));
      const killedAt = Date.now();
      holder.kill("SIGKILL");
      await holder.exited();
      const line = await startedAfter(other, killedAt);
      samples.push((JSON.parse(line).at - killedAt) / 1000);
      const log = await events.readRange(executionId);
      const after = (type: string) =>
        ((log.findLast((e) => e.type === type)?.time ?? NaN) - killedAt) / 1000;
      console.log(
        `reclaim ${k + 1}: ${samples.at(-1)!.toFixed(3)} s (lease ${leaseMs / 1000} s; ` +
          `RETRY_ATTEMPTED at ${after("RETRY_ATTEMPTED").toFixed(3)} s, ` +
          `EXECUTION_RESUMED at ${after("EXECUTION_RESUMED").toFixed(3)} s)`,
      );
      const replacement = spawnExecutionWorker();
      await replacement.line((l) => l === "ready");
      holder = other;
      other = replacement;
      pair = [holder, other];
    }
    for (const child of pair) child.kill("SIGKILL");
    await Promise.all(pair.map((c) => c.exited()));
    await reclaimQueue.close();
    await events.close();

    console.log(JSON.stringify(figure("queue.jobs_per_s", median(oao), "jobs/s", median(bull))));
    console.log(JSON.stringify(figure("queue.reclaim_s", median(samples), "s", leaseMs / 1000)));
  } finally {
    for (const child of children) child.kill("SIGKILL");
    await Promise.all(children.map((c) => c.exited()));
    await deleteKeys(client, `${prefix}*`);
    await deleteKeys(client, `${bullPrefix}:*`);
    await client.quit();
  }
}

/** Installs BullMQ (exact version) with npm into the cache directory and writes its scripts. */
async function prepareBullmq(): Promise<string> {
  const cache = Deno.env.get("OAO_BENCH_CACHE") ?? join(tmpdir(), `oao-bench-bullmq-${BULLMQ}`);
  await Deno.mkdir(cache, { recursive: true });
  const installed = await Deno.readTextFile(join(cache, "node_modules/bullmq/package.json"))
    .then((text) => JSON.parse(text).version, () => undefined);
  if (installed !== BULLMQ) {
    await Deno.writeTextFile(
      join(cache, "package.json"),
      JSON.stringify({ name: "oao-bench-bullmq", private: true, type: "module" }),
    );
    const npm = await new Deno.Command("npm", {
      args: [
        "install",
        "--no-audit",
        "--no-fund",
        "--ignore-scripts",
        "--loglevel=error",
        `bullmq@${BULLMQ}`,
        `ioredis@${IOREDIS}`,
      ],
      cwd: cache,
      stdin: "null",
      stdout: "inherit",
      stderr: "inherit",
    }).output();
    if (!npm.success) throw new Error(`Cannot install bullmq@${BULLMQ} with npm in "${cache}"`);
  }
  await Deno.writeTextFile(join(cache, "bullmq_common.mjs"), BULL_COMMON);
  await Deno.writeTextFile(join(cache, "bullmq_worker.mjs"), BULL_WORKER);
  await Deno.writeTextFile(join(cache, "bullmq_producer.mjs"), BULL_PRODUCER);
  return cache;
}

const BULL_COMMON = `
const url = new URL(process.env.REDIS_URL);
export const connection = {
  host: url.hostname,
  port: Number(url.port || 6379),
  db: Number(url.pathname.slice(1) || 0),
  ...(url.password ? { password: decodeURIComponent(url.password) } : {}),
  ...(url.username ? { username: decodeURIComponent(url.username) } : {}),
  maxRetriesPerRequest: null,
};
export const prefix = process.env.BULL_PREFIX;
export const name = process.env.BULL_QUEUE;
`;

const BULL_WORKER = `
import { Worker } from "bullmq";
import { connection, name, prefix } from "./bullmq_common.mjs";
const concurrency = Number(process.env.BULL_CONCURRENCY);
const worker = new Worker(name, async () => {}, { connection, prefix, concurrency });
await worker.waitUntilReady();
console.log("ready");
process.on("SIGTERM", async () => {
  await worker.close();
  process.exit(0);
});
`;

const BULL_PRODUCER = `
import { Queue } from "bullmq";
import { connection, name, prefix } from "./bullmq_common.mjs";
const n = Number(process.argv[2]);
const queue = new Queue(name, { connection, prefix });
await queue.waitUntilReady();
const opts = { removeOnComplete: true, removeOnFail: true };
const started = performance.now();
for (let i = 0; i < n; i += 1000) {
  const size = Math.min(1000, n - i);
  await queue.addBulk(Array.from({ length: size }, (_, k) => ({ name: "noop", data: { i: i + k }, opts })));
}
while (true) {
  const c = await queue.getJobCounts("wait", "active", "delayed", "prioritized", "paused");
  if (Object.values(c).reduce((a, b) => a + b, 0) === 0) break;
  await new Promise((resolve) => setTimeout(resolve, 5));
}
console.log(JSON.stringify({ ms: performance.now() - started }));
await queue.close();
`;

async function deleteKeys(client: RedisClient, pattern: string): Promise<void> {
  const nodes = client.isCluster ? (client as Cluster).nodes("master") : [client];
  for (const node of nodes) {
    let cursor = "0";
    do {
      const [next, keys] = await node.scan(cursor, "MATCH", pattern, "COUNT", 1000);
      cursor = next;
      if (keys.length) await Promise.all(keys.map((key) => client.del(key)));
    } while (cursor !== "0");
  }
}

if (import.meta.main) await main();
