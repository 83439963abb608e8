/**
 * Orchestrator benchmark: executions per second of 100 concurrent executions
 * of a three-step agent making one tool call each (actors/bench_agent.ts), on
 * Redis stores (`execution.throughput`) and on a Deno KV file
 * (`execution.throughput_kv`), each against the same with in-memory stores
 * in the same run.
 *
 * Run: `deno run --unstable-worker-options --unstable-kv -A bench/orchestrator_bench.ts`
 * (Redis at REDIS_URL, default redis://127.0.0.1:6379). Prints one JSON line
 * per figure as its last lines.
 *
 * @module
 */
import { figure, median } from "./_figure.ts";
import { processItem } from "../actors/example_tools.ts";
import { InMemoryEventStore } from "../src/events/in_memory_event_store.ts";
import { Orchestrator } from "../src/orchestrator/orchestrator.ts";
import { InMemoryPersistenceAdapter } from "../src/persistence/in_memory_persistence_adapter.ts";
import type { EventStore } from "../src/events/event_store.ts";
import type { PersistenceAdapter } from "../src/persistence/persistence_adapter.ts";
import { RedisEventStore } from "../src/redis/redis_event_store.ts";
import { RedisPersistenceAdapter } from "../src/redis/redis_persistence_adapter.ts";
import { KvEventStore } from "../src/kv/kv_event_store.ts";
import { KvPersistenceAdapter } from "../src/kv/kv_persistence_adapter.ts";

const CONCURRENT = 100;
const ROUNDS = 5;
const redisUrl = Deno.env.get("REDIS_URL") ?? "redis://127.0.0.1:6379";

async function round(eventStore: EventStore, persistence: PersistenceAdapter): Promise<number> {
  const orchestrator = new Orchestrator({
    eventStore,
    persistence,
    tools: [processItem as never],
    agents: [{
      name: "bench",
      module: new URL("../actors/bench_agent.ts", import.meta.url),
      version: "1.0.0",
    }],
  });
  try {
    const started = performance.now();
    const reports = await Promise.all(
      Array.from({ length: CONCURRENT }, (_, item) => orchestrator.run("bench", { item })),
    );
    const elapsed = performance.now() - started;
    const failed = reports.filter((r) => r.status !== "SUCCESS");
    if (failed.length) {
      throw new Error(`${failed.length} executions failed: ${failed[0]!.error?.message}`);
    }
    return CONCURRENT / (elapsed / 1000);
  } finally {
    await orchestrator.close();
  }
}

const prefix = `oao-bench-${crypto.randomUUID().slice(0, 8)}:`;
const redisEvents = new RedisEventStore({ redisUrl, keyPrefix: prefix });
const redisSnapshots = new RedisPersistenceAdapter({ redisUrl, keyPrefix: prefix });
const kvDir = await Deno.makeTempDir({ prefix: "oao-bench-kv-" });
const kvEvents = new KvEventStore({ path: `${kvDir}/oao.kv` });
const kvSnapshots = new KvPersistenceAdapter({ path: `${kvDir}/oao.kv` });
const memory: number[] = [];
const redis: number[] = [];
const kv: number[] = [];
try {
  // One warm-up round per store: the first round of each pays for compiling its code paths
  // and opening its connections or file.
  await round(new InMemoryEventStore(), new InMemoryPersistenceAdapter());
  await round(redisEvents, redisSnapshots);
  await round(kvEvents, kvSnapshots);
  for (let i = 0; i < ROUNDS; i++) {
    memory.push(await round(new InMemoryEventStore(), new InMemoryPersistenceAdapter()));
    redis.push(await round(redisEvents, redisSnapshots));
    kv.push(await round(kvEvents, kvSnapshots));
    console.error(
      `round ${i + 1}: in-memory ${memory.at(-1)!.toFixed(1)}/s, Redis ${
        redis.at(-1)!.toFixed(1)
      }/s, Deno KV ${kv.at(-1)!.toFixed(1)}/s`,
    );
  }
} finally {
  const { Redis } = await import("ioredis");
  const client = new Redis(redisUrl);
  let cursor = "0";
  do {
    const [next, keys] = await client.scan(cursor, "MATCH", `${prefix}*`, "COUNT", 1000);
    cursor = next;
    if (keys.length) await client.del(...keys);
  } while (cursor !== "0");
  client.disconnect();
  await redisEvents.close();
  await redisSnapshots.close();
  await kvEvents.close();
  await kvSnapshots.close();
  await Deno.remove(kvDir, { recursive: true });
}
const value = median(redis);
const baseline = median(memory);
console.log(JSON.stringify(figure("execution.throughput", value, "executions/s", baseline)));
console.log(
  JSON.stringify(figure("execution.throughput_kv", median(kv), "executions/s", baseline)),
);
