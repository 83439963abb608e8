/**
 * Benchmarks of supervision and durable state against raw baselines measured
 * in the same run. Snapshots go to Redis (`REDIS_URL`, default
 * `redis://127.0.0.1:6379`) through `RedisPersistenceAdapter`, under a
 * dedicated key prefix removed at the end.
 *
 * - `supervisor.restart_p50` — ms from the failure (`ref.kill()`) of a
 *   counter actor (`actors/counter.ts`, snapshot every message) until the
 *   restarted actor has answered the next message with its state restored
 *   from Redis. The root supervisor restarts without backoff delay (the
 *   delay is a policy, not a cost). Baseline: `new Worker` of a raw echo
 *   worker until its first reply. Target ≤ 1.5. Each sample starts settled,
 *   80 ms after the last worker ended (`settle` in _figure.ts).
 * - `supervisor.restart_pooled_p50` — the same with `warmSpare: true`: the
 *   restart takes a pre-started worker. Target well below 1.
 * - `supervisor.durable_throughput` — msg/s through one counter actor whose
 *   every message is acknowledged only once a snapshot that includes it is
 *   in Redis: `--messages` tells, until `ref.whenAcknowledged()` resolves.
 *   Baseline: pipelined raw `SET`s (ioredis) of a value of the snapshot's
 *   size, one per message. Target ≥ 0.8 (group commit: one snapshot in
 *   flight covers everything processed meanwhile).
 *
 * Runtime and baseline rounds alternate, after warm-up rounds; figures are
 * medians. Run under the shared benchmark lock:
 * `flock /tmp/oao-bench.lock deno run --unstable-worker-options -A bench/supervision_bench.ts`
 * (`--help` lists the flags). The last lines are JSON.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { ActorSystem } from "../src/actor/actor_system.ts";
import type { ActorRef } from "../src/actor/actor_ref.ts";
import { RedisPersistenceAdapter } from "../src/redis/redis_persistence_adapter.ts";
import { PARK_AFTER_READY_MS } from "../src/actor/_parked_worker.ts";
import { type Figure, figure, median, nextMessage, settle } from "./_figure.ts";

const COUNTER = new URL("../actors/counter.ts", import.meta.url);
const RAW_ECHO = new URL("./_raw/echo.ts", import.meta.url);
// The actor system's watchdog tick (its default), on which parked workers end.
const WATCHDOG_INTERVAL_MS = 50;

interface BenchOptions {
  restarts: number;
  warmup: number;
  rounds: number;
  messages: number;
  spareWaitMs: number;
}

const HELP = `Usage: deno run --unstable-worker-options -A bench/supervision_bench.ts [flags]

  --restarts <n>       restarts sampled per figure (default 30)
  --warmup <n>         warm-up samples or rounds before them (default 3)
  --rounds <n>         durable throughput rounds (default 7)
  --messages <n>       messages per durable throughput round (default 20000)
  --spare-wait <ms>    pause before a pooled restart, for the spare to load (default 300)
  --only <names>       comma-separated subset: restart,pooled,durable
  --help               this help

Environment: REDIS_URL (default redis://127.0.0.1:6379).`;

async function main(): Promise<void> {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      restarts: { type: "string", default: "30" },
      warmup: { type: "string", default: "3" },
      rounds: { type: "string", default: "7" },
      messages: { type: "string", default: "20000" },
      "spare-wait": { type: "string", default: "300" },
      only: { type: "string" },
      help: { type: "boolean", default: false },
    },
  });
  if (values.help) return console.log(HELP);
  const options: BenchOptions = {
    restarts: count(values.restarts, "restarts"),
    warmup: count(values.warmup, "warmup", 0),
    rounds: count(values.rounds, "rounds"),
    messages: count(values.messages, "messages"),
    spareWaitMs: count(values["spare-wait"], "spare-wait", 0),
  };
  const only = new Set((values.only ?? "restart,pooled,durable").split(","));
  const redisUrl = Deno.env.get("REDIS_URL") ?? "redis://127.0.0.1:6379";
  const prefix = `oao-bench-${crypto.randomUUID()}:`;
  const persistence = new RedisPersistenceAdapter({ redisUrl, keyPrefix: prefix });
  const system = new ActorSystem({
    name: "bench-supervision",
    persistence,
    // Restart at once, however often: the backoff delay is a policy, not a cost.
    root: { intensity: 1_000_000, periodMs: 1_000, backoff: { minMs: 0, maxMs: 0, jitter: 0 } },
  });
  const { Redis } = await import("ioredis");
  const raw = new Redis(redisUrl, { lazyConnect: true });
  await raw.connect();
  try {
    const figures: Figure[] = [];
    if (only.has("restart")) {
      figures.push(await measureRestart(system, options, false));
    }
    if (only.has("pooled")) {
      figures.push(await measureRestart(system, options, true));
    }
    if (only.has("durable")) {
      figures.push(await measureDurable(system, persistence, raw, prefix, options));
    }
    console.log(
      `# medians; ${options.restarts} restarts per restart figure after ${options.warmup} warm-up ones; durable: ${options.rounds} rounds of ${options.messages} messages; snapshots in Redis`,
    );
    for (const f of figures) console.log(JSON.stringify(f));
  } finally {
    await system.shutdown();
    await persistence.close();
    let cursor = "0";
    do {
      const [next, keys] = await raw.scan(cursor, "MATCH", `${prefix}*`, "COUNT", 1000);
      cursor = next;
      if (keys.length > 0) await raw.unlink(...keys);
    } while (cursor !== "0");
    raw.disconnect();
  }
}

// ---- restart until the next message is handled ---------------------------

async function measureRestart(
  system: ActorSystem,
  options: BenchOptions,
  pooled: boolean,
): Promise<Figure> {
  const name = pooled ? "counter-pooled" : "counter";
  const ref = await system.spawn(COUNTER, {
    name,
    snapshot: "every-message",
    warmSpare: pooled,
  });
  const restartMs: number[] = [];
  const rawMs: number[] = [];
  let total = 0;
  try {
    for (let i = 0; i < options.warmup + options.restarts; i++) {
      // Some state to restore, durable before the failure.
      for (let n = 1; n <= 10; n++) ref.tell({ type: "add", n });
      total += 55;
      await ref.whenAcknowledged();
      await (pooled ? sleep(options.spareWaitMs) : settle());
      const a = await timeRestart(ref, total);
      // The failed incarnation's worker is parked until a watchdog tick at
      // least PARK_AFTER_READY_MS after the restart: the raw sample starts
      // once it has ended.
      await settle(PARK_AFTER_READY_MS + WATCHDOG_INTERVAL_MS);
      const b = await timeRawWorker(i);
      if (i < options.warmup) continue;
      restartMs.push(a);
      rawMs.push(b);
    }
  } finally {
    await ref.stop({ mode: "immediate" });
  }
  const bench = pooled ? "supervisor.restart_pooled_p50" : "supervisor.restart_p50";
  return figure(bench, median(restartMs), "ms", median(rawMs));
}

async function timeRestart(ref: ActorRef, expected: number): Promise<number> {
  const started = performance.now();
  ref.kill("benchmark failure");
  const got = await ref.ask({ type: "get" }, { timeoutMs: 30_000 });
  const elapsed = performance.now() - started;
  if (got !== expected) {
    throw new Error(`The restarted counter holds ${got}, expected ${expected}`);
  }
  return elapsed;
}

async function timeRawWorker(i: number): Promise<number> {
  const started = performance.now();
  const worker = new Worker(RAW_ECHO, { type: "module" });
  const reply = nextMessage(worker);
  worker.postMessage({ type: "get", n: i });
  await reply;
  const elapsed = performance.now() - started;
  worker.terminate();
  return elapsed;
}

// ---- durable throughput ---------------------------------------------------

interface RawRedis {
  pipeline(): { set(key: string, value: string): unknown; exec(): Promise<unknown> };
}

async function measureDurable(
  system: ActorSystem,
  persistence: RedisPersistenceAdapter,
  raw: RawRedis,
  prefix: string,
  options: BenchOptions,
): Promise<Figure> {
  const ref = await system.spawn(COUNTER, { name: "durable", snapshot: "every-message" });
  const n = options.messages;
  try {
    // The snapshot as stored, to give the baseline values of the same size.
    ref.tell({ type: "add", n: 1 });
    await ref.whenAcknowledged();
    const key = `${system.name}/actor:durable`;
    const stored = await persistence.load(key);
    if (!stored) throw new Error(`No snapshot of "${key}" in Redis`);
    const value = JSON.stringify(stored.data);
    const actorRates: number[] = [];
    const setRates: number[] = [];
    for (let round = 0; round < options.warmup + options.rounds; round++) {
      let started = performance.now();
      for (let i = 0; i < n; i++) ref.tell({ type: "add", n: i });
      await ref.whenAcknowledged();
      const actor = n / ((performance.now() - started) / 1000);
      const pipeline = raw.pipeline();
      started = performance.now();
      for (let i = 0; i < n; i++) pipeline.set(`${prefix}raw:{durable}:snap`, value);
      await pipeline.exec();
      const baseline = n / ((performance.now() - started) / 1000);
      if (round < options.warmup) continue;
      actorRates.push(actor);
      setRates.push(baseline);
    }
    return figure("supervisor.durable_throughput", median(actorRates), "msg/s", median(setRates));
  } finally {
    await ref.stop({ mode: "immediate" });
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function count(value: string | undefined, flag: string, min = 1): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < min) {
    throw new RangeError(
      `Invalid --${flag} ${JSON.stringify(value)}: expected an integer >= ${min}`,
    );
  }
  return n;
}

if (import.meta.main) await main();
