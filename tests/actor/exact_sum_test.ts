// An actor summing 10,000 messages while it is made to fail at random points
// — thrown error, unhandled rejection, hang, worker exit, worker termination —
// must end with the exact sum: nothing lost, nothing applied twice.
import assert from "node:assert/strict";
import { InMemoryPersistenceAdapter } from "../../src/persistence/in_memory_persistence_adapter.ts";
import type { PersistenceAdapter } from "../../src/persistence/persistence_adapter.ts";
import { RedisPersistenceAdapter } from "../../src/redis/redis_persistence_adapter.ts";
import type { CrashMode } from "../../actors/summer.ts";
import { actor, testSystem } from "./_helpers.ts";
import { testRedisUrl } from "../_support/test_redis.ts";

const N = 10_000;

// A seeded generator, so that a failing run can be reproduced from its seed.
function mulberry32(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

async function chaosSum(persistence: PersistenceAdapter): Promise<void> {
  const seed = Number(Deno.env.get("OAO_TEST_SEED") ?? Date.now() % 1_000_000);
  const random = mulberry32(seed);
  await using system = testSystem({
    persistence,
    name: `sum-${crypto.randomUUID().slice(0, 8)}`,
    heartbeatMs: 25,
    heartbeatTimeoutMs: 300,
    watchdogIntervalMs: 20,
    root: {
      intensity: 1_000,
      periodMs: 1_000,
      backoff: { minMs: 1, maxMs: 20, factor: 2, jitter: 0.5 },
    },
  });
  const summer = await system.spawn(actor("summer"), { name: "summer", messageTimeoutMs: 200 });
  const modes: (CrashMode | "terminate")[] = ["throw", "reject", "hang", "exit", "terminate"];
  const injected: string[] = [];
  for (let i = 1; i <= N; i++) {
    summer.tell({ type: "add", n: i });
    if (random() < 0.0025) {
      const mode = modes[Math.floor(random() * modes.length)]!;
      injected.push(mode);
      if (mode === "terminate") {
        await new Promise((r) => setTimeout(r, random() * 5));
        try {
          summer.kill("chaos: worker terminated");
        } catch { /* between incarnations: nothing to kill */ }
      } else {
        summer.tell({ type: "crash", mode });
      }
    }
    if (i % 250 === 0) await new Promise((r) => setTimeout(r, 1));
  }
  const result = await summer.ask({ type: "sum" }, { timeoutMs: 60_000 });
  // A crash handled just before the sum can still be detected after the reply
  // (an unhandled rejection, a worker gone quiet): let the system settle.
  const count = (type: string) => system.recorded.filter((e) => e.type === type).length;
  let settled = { failures: -1, since: Date.now() };
  while (Date.now() - settled.since < 600 || count("RETRY_ATTEMPTED") !== count("ACTOR_FAILED")) {
    if (count("ACTOR_FAILED") !== settled.failures) {
      settled = { failures: count("ACTOR_FAILED"), since: Date.now() };
    }
    if (Date.now() - settled.since > 10_000) break;
    await new Promise((r) => setTimeout(r, 25));
  }
  const failures = count("ACTOR_FAILED");
  const retries = count("RETRY_ATTEMPTED");
  assert.deepEqual(
    result,
    { sum: (N * (N + 1)) / 2, count: N },
    `seed ${seed}, injected ${injected.join(",")}`,
  );
  assert.ok(injected.length > 0 ? failures > 0 : true, `seed ${seed}: no failure was recorded`);
  assert.equal(
    retries,
    failures,
    `seed ${seed}: one RETRY_ATTEMPTED per failure, ${
      JSON.stringify(
        system.recorded.filter((e) => e.type === "ACTOR_FAILED" || e.type === "RETRY_ATTEMPTED")
          .map((e) => [e.type, e.data.reason, e.data.incarnation]),
      )
    }`,
  );
}

Deno.test("an actor killed at random points sums 10,000 messages exactly (in-memory snapshots)", async () => {
  await chaosSum(new InMemoryPersistenceAdapter());
});

Deno.test("an actor killed at random points sums 10,000 messages exactly (Redis snapshots)", async () => {
  const persistence = new RedisPersistenceAdapter({
    redisUrl: await testRedisUrl(),
    keyPrefix: `oao-test-${crypto.randomUUID()}:`,
  });
  try {
    await chaosSum(persistence);
  } finally {
    for (const key of await persistence.list("sum")) await persistence.delete(key);
    await persistence.close();
  }
});
