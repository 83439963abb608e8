// One measurement of bench/density_bench.ts, in a process of its own so that
// its RSS is its own. Prints one JSON object on its last line. Internal.
//
//   deno run --unstable-worker-options -A bench/_density_probe.ts <mode> <n> [stores]
//
// Modes:
//   start-pool | start-execution   n executions of the bench agent (3 steps, one
//                                  tool call) to completion, at most 500 at once:
//                                  { rate } executions/s
//   wait-pool | wait-execution     n executions awaiting a 30 s tool:
//                                  { rssPerExecution } bytes
//   wake-passivated | wake-active  n executions one after the other, each awaiting
//                                  a tool for 200 ms: { wakeMs } from the tool's
//                                  result to its step's STEP_COMPLETED (median)
//   actors-shared | actors-worker  n idle counter actors: { rssPerActor } bytes
import { ActorSystem } from "../src/actor/actor_system.ts";
import type { EventStore } from "../src/events/event_store.ts";
import { InMemoryEventStore } from "../src/events/in_memory_event_store.ts";
import { Orchestrator } from "../src/orchestrator/orchestrator.ts";
import { defineTool } from "../src/orchestrator/tool.ts";
import { InMemoryPersistenceAdapter } from "../src/persistence/in_memory_persistence_adapter.ts";
import type { PersistenceAdapter } from "../src/persistence/persistence_adapter.ts";
import { RedisEventStore } from "../src/redis/redis_event_store.ts";
import { RedisPersistenceAdapter } from "../src/redis/redis_persistence_adapter.ts";
import { median } from "./_figure.ts";

const [mode = "", count = "100", stores = "memory"] = Deno.args;
const n = Number(count);
const BENCH_AGENT = new URL("../actors/bench_agent.ts", import.meta.url);
const TEST_AGENT = new URL("../tests/fixtures/test_agent.ts", import.meta.url);

function rss(): number {
  return Deno.memoryUsage().rss;
}

async function settle(ms = 1_000): Promise<void> {
  await new Promise((r) => setTimeout(r, ms));
}

function openStores(): { eventStore: EventStore; persistence: PersistenceAdapter; close(): void } {
  if (stores !== "redis") {
    return {
      eventStore: new InMemoryEventStore(),
      persistence: new InMemoryPersistenceAdapter(),
      close() {},
    };
  }
  const redisUrl = Deno.env.get("REDIS_URL") ?? "redis://127.0.0.1:6379";
  const keyPrefix = `oao-bench-${crypto.randomUUID().slice(0, 8)}:`;
  const eventStore = new RedisEventStore({ redisUrl, keyPrefix });
  const persistence = new RedisPersistenceAdapter({ redisUrl, keyPrefix });
  return {
    eventStore,
    persistence,
    close() {
      void eventStore.close();
      void persistence.close();
    },
  };
}

async function startRate(isolation: "pool" | "execution"): Promise<Record<string, number>> {
  const { eventStore, persistence, close } = openStores();
  const orchestrator = new Orchestrator({
    eventStore,
    persistence,
    retentionSeconds: 600,
    tools: [defineTool({ name: "process_item", run: (a: { item: number }) => a }) as never],
    agents: [{ name: "bench", module: BENCH_AGENT, version: "1.0.0", isolation }],
  });
  const run = (item: number) => orchestrator.run("bench", { item });
  await Promise.all(Array.from({ length: 20 }, (_, i) => run(i))); // warm-up
  const window = Math.min(500, n);
  let next = 0;
  let failed = 0;
  const started = performance.now();
  await Promise.all(Array.from({ length: window }, async () => {
    while (next < n) {
      const report = await run(next++);
      if (report.status !== "SUCCESS") failed++;
    }
  }));
  const seconds = (performance.now() - started) / 1000;
  await orchestrator.close();
  close();
  if (failed) throw new Error(`${failed} of ${n} executions failed`);
  return { rate: n / seconds };
}

async function waitingRss(isolation: "pool" | "execution"): Promise<Record<string, number>> {
  let open!: () => void;
  const opened = new Promise<void>((resolve) => (open = resolve));
  const orchestrator = new Orchestrator({
    // The old behaviour for the baseline: one worker per execution, held while waiting.
    ...(isolation === "execution" ? { passivateAfterMs: Infinity } : { passivateAfterMs: 200 }),
    // Measured once the pools have shrunk: the steady state of waiting executions.
    actorSystem: { pool: { idleMs: 5_000 } },
    policy: { timeoutMs: 600_000 },
    tools: [defineTool({ name: "wait", timeoutMs: 600_000, run: () => opened }) as never],
    agents: [{ name: "waiter", module: TEST_AGENT, version: "1.0.0", isolation }],
  });
  // A few first, so that pools, bundles and caches are made before the measure.
  const warm = await Promise.all(
    Array.from({ length: 10 }, () => orchestrator.start("waiter", { calls: [{ tool: "wait" }] })),
  );
  await settle(2_000);
  const before = rss();
  const started = [...warm];
  for (let i = 0; i < n; i += 500) {
    const batch = Math.min(500, n - i);
    started.push(
      ...await Promise.all(
        Array.from(
          { length: batch },
          () => orchestrator.start("waiter", { calls: [{ tool: "wait" }] }),
        ),
      ),
    );
  }
  // Every execution waits on its tool (passivated, in pool mode).
  const target = isolation === "pool" ? "EXECUTION_PASSIVATED" : "TOOL_CALL";
  for (let checked = 0; checked < started.length;) {
    const events = await orchestrator.eventStore.readRange(started[checked]!.executionId);
    if (events.some((e) => e.type === target)) checked++;
    else await settle(50);
  }
  for (let i = 0; i < 100 && orchestrator.system.pooledWorkers > 0; i++) await settle(100);
  await settle(2_000);
  const perExecution = (rss() - before) / n;
  const actors = orchestrator.system.actors.length;
  const workers = orchestrator.system.pooledWorkers;
  open();
  await Promise.all(started.map((s) => s.done));
  await orchestrator.close();
  return {
    rssPerExecution: perExecution,
    actorsWhileWaiting: actors,
    workersWhileWaiting: workers,
  };
}

async function wake(passivated: boolean): Promise<Record<string, number>> {
  let resultAt = 0;
  const orchestrator = new Orchestrator({
    passivateAfterMs: passivated ? 20 : Infinity,
    tools: [defineTool({
      name: "wait",
      run: async () => {
        await settle(200);
        resultAt = performance.now();
        return "done";
      },
    }) as never],
    agents: [{ name: "waiter", module: TEST_AGENT, version: "1.0.0" }],
  });
  const samples: number[] = [];
  for (let i = 0; i < n + 3; i++) {
    let wokeAt = 0;
    const { executionId, done } = await orchestrator.start("waiter", {
      calls: [{ tool: "wait" }],
    });
    const off = orchestrator.events.subscribe((event) => {
      if (
        event.executionId === executionId && event.type === "STEP_COMPLETED" &&
        event.data.state === "EXECUTE"
      ) wokeAt = performance.now();
    });
    await done;
    off();
    if (i >= 3) samples.push(wokeAt - resultAt); // the first runs warm up
  }
  await orchestrator.close();
  return { wakeMs: median(samples) };
}

async function idleActors(isolation: "shared" | "worker"): Promise<Record<string, number>> {
  const system = new ActorSystem();
  const counter = new URL("../actors/counter.ts", import.meta.url);
  await system.spawn(counter, { name: "warm", isolation, snapshot: "never" });
  await settle(1_000);
  const before = rss();
  for (let i = 0; i < n; i += 1_000) {
    await Promise.all(
      Array.from(
        { length: Math.min(1_000, n - i) },
        (_, j) => system.spawn(counter, { name: `c${i + j}`, isolation, snapshot: "never" }),
      ),
    );
  }
  await settle(2_000);
  const perActor = (rss() - before) / n;
  const workers = system.pooledWorkers;
  await system.shutdown();
  return { rssPerActor: perActor, pooledWorkers: workers };
}

const modes: Record<string, () => Promise<Record<string, number>>> = {
  "start-pool": () => startRate("pool"),
  "start-execution": () => startRate("execution"),
  "wait-pool": () => waitingRss("pool"),
  "wait-execution": () => waitingRss("execution"),
  "wake-passivated": () => wake(true),
  "wake-active": () => wake(false),
  "actors-shared": () => idleActors("shared"),
  "actors-worker": () => idleActors("worker"),
};
const measure = modes[mode];
if (!measure || !(n > 0)) {
  console.error(`Usage: _density_probe.ts <${Object.keys(modes).join("|")}> <n> [memory|redis]`);
  Deno.exit(2);
}
console.log(JSON.stringify(await measure()));
Deno.exit(0);
