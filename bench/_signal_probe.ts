// One measurement of bench/signal_bench.ts, in a process of its own so that
// its RSS is its own. Prints one JSON object on its last line. Internal.
//
//   deno run --unstable-worker-options -A bench/_signal_probe.ts <mode> <n> [stores]
//
// Modes:
//   latency-active | latency-passivated   n executions one after the other, each
//                      waiting for a signal (its worker kept, or given back at
//                      once): { latencyMs } from `orchestrator.signal` to the
//                      end of the step that waited (STEP_COMPLETED, median) as
//                      the orchestrator announces it (`orchestrator.events`:
//                      recorded in the log, then published), { tailMs } the same
//                      as a reader of the log's live tail sees it (store.subscribe,
//                      which runs in this thread after the execution's next steps
//                      began), { askMs }, the median ask round trip to an active
//                      echo actor measured in each round after the same idle time
//                      as the signal, and { hotAskMs }, the same asks back to back
//   wait-pool | wait-execution            n executions waiting for a signal (pooled
//                      and passivated, or one worker each and kept), then all
//                      signalled: { rssPerExecution } bytes while they wait,
//                      { completed } of n, { signalAllMs }
import { ActorSystem } from "../src/actor/actor_system.ts";
import type { EventStore, StoredEvent } from "../src/events/event_store.ts";
import { InMemoryEventStore } from "../src/events/in_memory_event_store.ts";
import { Orchestrator } from "../src/orchestrator/orchestrator.ts";
import { InMemoryPersistenceAdapter } from "../src/persistence/in_memory_persistence_adapter.ts";
import type { PersistenceAdapter } from "../src/persistence/persistence_adapter.ts";
import { RedisEventStore } from "../src/redis/redis_event_store.ts";
import { RedisPersistenceAdapter } from "../src/redis/redis_persistence_adapter.ts";
import { median } from "./_figure.ts";

const [mode = "", count = "100", stores = "memory"] = Deno.args;
const n = Number(count);
const WAITER = new URL("../tests/fixtures/wait_agent.ts", import.meta.url);
const ECHO = new URL("../actors/echo.ts", import.meta.url);
const TASK = { signal: { name: "go" } };

function openStores(): { eventStore: EventStore; persistence: PersistenceAdapter } {
  if (stores !== "redis") {
    return { eventStore: new InMemoryEventStore(), persistence: new InMemoryPersistenceAdapter() };
  }
  const redisUrl = Deno.env.get("REDIS_URL") ?? "redis://127.0.0.1:6379";
  const keyPrefix = `oao-bench-${crypto.randomUUID().slice(0, 8)}:`;
  return {
    eventStore: new RedisEventStore({ redisUrl, keyPrefix, retentionSeconds: 600 }),
    persistence: new RedisPersistenceAdapter({ redisUrl, keyPrefix }),
  };
}

function orchestratorFor(
  isolation: "pool" | "execution",
  passivateAfterMs: number,
): Orchestrator {
  const { eventStore, persistence } = openStores();
  return new Orchestrator({
    eventStore,
    persistence,
    retentionSeconds: 600,
    passivateAfterMs,
    policy: { timeoutMs: 3_600_000, stepTimeoutMs: 3_600_000 },
    agents: [{ name: "waiter", module: WAITER, version: "1.0.0", isolation }],
  });
}

/** Resolves with the first event of `id` after `afterSeq` that `ok` accepts. */
async function next(
  store: EventStore,
  id: string,
  afterSeq: number,
  ok: (e: StoredEvent) => boolean,
): Promise<StoredEvent> {
  const stop = new AbortController();
  try {
    for await (const event of store.subscribe(id, { afterSeq, signal: stop.signal })) {
      if (ok(event)) return event;
    }
    throw new Error(`the log of ${id} ended`);
  } finally {
    stop.abort();
  }
}

async function latency(passivated: boolean): Promise<Record<string, number>> {
  const orchestrator = orchestratorFor("pool", passivated ? 0 : Infinity);
  const store = orchestrator.eventStore;
  const system = new ActorSystem({ name: "bench-signal-paced-ask" });
  const echo = await system.spawn(ECHO, { name: "echo", snapshot: "never" });
  const samples: number[] = [];
  const tail: number[] = [];
  const asks: number[] = [];
  for (let i = 0; i < n + 10; i++) {
    const { executionId, done } = await orchestrator.start("waiter", TASK);
    const wait = passivated ? "EXECUTION_PASSIVATED" : "WAITING_FOR_SIGNAL";
    const waiting = await next(store, executionId, 0, (e) => e.type === wait);
    // The baseline under the same conditions as the signal: one ask to an
    // active actor after the same idle time (threads that went to sleep wake
    // for both), not a run of asks back to back.
    await idle();
    const asked = performance.now();
    await echo.ask({ type: "add", n: i });
    const askMs = performance.now() - asked;
    await idle();
    // The step's end: the agent's own code ran on with the payload.
    let announced!: () => void;
    const stepEnded = new Promise<void>((resolve) => announced = resolve);
    let endedAt = 0;
    const stop = orchestrator.events.subscribe((event) => {
      if (event.executionId === executionId && event.type === "STEP_COMPLETED") {
        endedAt ||= performance.now();
        announced();
      }
    });
    const started = performance.now();
    const seq = await orchestrator.signal(executionId, "go", { i });
    await next(store, executionId, Math.max(seq, waiting.seq), (e) => e.type === "STEP_COMPLETED");
    const tailAt = performance.now();
    await stepEnded;
    stop();
    if (i >= 10) { // 10 warm-up rounds
      samples.push(endedAt - started);
      tail.push(tailAt - started);
      asks.push(askMs);
    }
    await done;
  }
  await orchestrator.close();
  await system.shutdown();
  return {
    latencyMs: median(samples),
    tailMs: median(tail),
    askMs: median(asks),
    hotAskMs: await askRoundTrip(),
  };
}

/** The idle time before each measured operation of a latency round. */
const IDLE_MS = 5;

function idle(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, IDLE_MS));
}

async function askRoundTrip(): Promise<number> {
  const system = new ActorSystem({ name: "bench-signal-ask" });
  try {
    const echo = await system.spawn(ECHO, { name: "echo", snapshot: "never" });
    const samples: number[] = [];
    for (let i = 0; i < 1_100; i++) {
      const started = performance.now();
      await echo.ask({ type: "add", n: i });
      if (i >= 100) samples.push(performance.now() - started);
    }
    return median(samples);
  } finally {
    await system.shutdown();
  }
}

async function waiting(isolation: "pool" | "execution"): Promise<Record<string, number>> {
  const orchestrator = orchestratorFor(isolation, isolation === "pool" ? 0 : Infinity);
  const store = orchestrator.eventStore;
  const wait = isolation === "pool" ? "EXECUTION_PASSIVATED" : "WAITING_FOR_SIGNAL";
  // Warm the pool and the module cache, then measure from here.
  const warm = await orchestrator.start("waiter", TASK);
  await next(store, warm.executionId, 0, (e) => e.type === wait);
  await orchestrator.signal(warm.executionId, "go", null);
  await warm.done;
  await new Promise((r) => setTimeout(r, 1_000));
  const before = Deno.memoryUsage().rss;
  const started: { executionId: string; done: Promise<unknown> }[] = [];
  for (let at = 0; at < n; at += 200) {
    const batch = await Promise.all(
      Array.from({ length: Math.min(200, n - at) }, () => orchestrator.start("waiter", TASK)),
    );
    await Promise.all(
      batch.map((s) => next(store, s.executionId, 0, (e) => e.type === wait)),
    );
    started.push(...batch);
  }
  await new Promise((r) => setTimeout(r, 2_000));
  const rssPerExecution = (Deno.memoryUsage().rss - before) / n;
  const t0 = performance.now();
  await Promise.all(started.map((s) => orchestrator.signal(s.executionId, "go", null)));
  const reports = await Promise.all(started.map((s) => s.done)) as { status: string }[];
  const signalAllMs = performance.now() - t0;
  await orchestrator.close();
  return {
    rssPerExecution,
    completed: reports.filter((r) => r.status === "SUCCESS").length,
    signalAllMs,
  };
}

const result = mode === "latency-active"
  ? await latency(false)
  : mode === "latency-passivated"
  ? await latency(true)
  : mode === "wait-pool"
  ? await waiting("pool")
  : mode === "wait-execution"
  ? await waiting("execution")
  : undefined;
if (!result) throw new Error(`Unknown mode "${mode}"`);
console.log(JSON.stringify(result));
Deno.exit(0);
