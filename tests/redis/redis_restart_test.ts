/**
 * Redis outages against a test-owned `redis-server` (`--appendonly yes
 * --appendfsync always`), killed with SIGKILL and restarted on the same port
 * and directory.
 */
import assert from "node:assert/strict";
import { StoreUnavailableError } from "../../src/errors.ts";
import type { StoredEvent } from "../../src/events/event_store.ts";
import { RedisEventStore } from "../../src/redis/redis_event_store.ts";
import { RedisPersistenceAdapter } from "../../src/redis/redis_persistence_adapter.ts";
import { RedisServer } from "../_support/redis_server.ts";

const delay = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function until(condition: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`Timed out waiting for ${what}`);
    await delay(10);
  }
}
const retry = { maxDelayMs: 100, maxElapsedMs: 15_000 };

Deno.test("every append that resolved survives Redis being killed and restarted mid-stream, once", async () => {
  await using server = await RedisServer.start({ appendonly: true, appendfsync: "always" });
  const store = new RedisEventStore({ redisUrl: server.url(), retry });
  const acknowledged: StoredEvent[] = [];
  const failures: unknown[] = [];
  let running = true;
  const writer = async (executionId: string) => {
    for (let i = 0; running; i++) {
      try {
        acknowledged.push(await store.appendEvent(executionId, { type: "E", data: { i } }));
      } catch (error) {
        failures.push(error);
      }
    }
  };
  const burst = async () => {
    while (running) {
      const results = await Promise.allSettled(
        Array.from({ length: 20 }, () => store.appendEvent("exec-shared", { type: "B" })),
      );
      for (const r of results) {
        r.status === "fulfilled" ? acknowledged.push(r.value) : failures.push(r.reason);
      }
    }
  };
  try {
    const writers = [writer("exec-a"), writer("exec-b"), writer("exec-shared"), burst()];
    await until(() => acknowledged.length >= 100, "appends before the kill");
    await server.kill();
    await delay(300);
    await server.restart();
    const afterRestart = acknowledged.length;
    await until(() => acknowledged.length >= afterRestart + 100, "appends after the restart");
    running = false;
    await Promise.all(writers);
    for (const failure of failures) {
      assert.ok(failure instanceof StoreUnavailableError, String(failure));
    }

    for (const executionId of ["exec-a", "exec-b", "exec-shared"]) {
      const log = await store.readRange(executionId);
      assert.deepEqual(log.map((e) => e.seq), log.map((_, i) => i + 1), `${executionId}: no gap`);
      assert.equal(
        new Set(log.map((e) => e.id)).size,
        log.length,
        `${executionId}: no event twice`,
      );
      const byId = new Map(log.map((e) => [e.id, e]));
      for (const event of acknowledged.filter((e) => e.executionId === executionId)) {
        assert.deepEqual(
          byId.get(event.id),
          event,
          `${executionId}: acknowledged event ${event.seq} kept`,
        );
      }
    }
  } finally {
    running = false;
    await store.close();
  }
});

Deno.test("operations wait while Redis is down and complete when it returns", async () => {
  await using server = await RedisServer.start({ appendonly: true });
  const events = new RedisEventStore({ redisUrl: server.url(), retry });
  const snapshots = new RedisPersistenceAdapter({ redisUrl: server.url(), retry });
  try {
    await events.appendEvent("exec-1", { type: "A" });
    await snapshots.save("exec-1/agent", 1);
    await server.kill();
    const append = events.appendEvent("exec-1", { type: "B" });
    const save = snapshots.save("exec-1/agent", 2);
    const read = events.count("exec-1");
    await delay(400);
    await server.restart();
    assert.equal((await append).seq, 2);
    assert.equal((await save).version, 2);
    assert.ok((await read) >= 1);
    assert.equal((await snapshots.load("exec-1/agent"))!.data, 2);
  } finally {
    await events.close();
    await snapshots.close();
  }
});

Deno.test("an operation fails with StoreUnavailableError when Redis stays down past the budget; later ones succeed", async () => {
  await using server = await RedisServer.start({ appendonly: true });
  const store = new RedisEventStore({
    redisUrl: server.url(),
    retry: { maxDelayMs: 50, maxElapsedMs: 400 },
  });
  try {
    await store.appendEvent("exec-1", { type: "A" });
    await server.kill();
    await assert.rejects(store.appendEvent("exec-1", { type: "LOST?" }), (error: unknown) => {
      assert.ok(error instanceof StoreUnavailableError);
      assert.match(error.message, /appendEvent\("exec-1"\)/);
      return true;
    });
    await server.restart();
    // Later operations succeed once the client has reconnected (which may take
    // longer than this store's 400 ms budget on a loaded machine).
    let next;
    const deadline = Date.now() + 10_000;
    while (!next) {
      try {
        next = await store.appendEvent("exec-1", { type: "C" });
      } catch (error) {
        if (!(error instanceof StoreUnavailableError) || Date.now() > deadline) throw error;
      }
    }
    assert.equal(next.seq, 2, "the rejected append was not stored");
  } finally {
    await store.close();
  }
});

Deno.test("a live tail continues from its cursor after Redis restarts, without gap or duplicate", async () => {
  await using server = await RedisServer.start({ appendonly: true, appendfsync: "always" });
  const writer = new RedisEventStore({ redisUrl: server.url(), retry });
  const reader = new RedisEventStore({ redisUrl: server.url(), retry, subscribeBlockMs: 100 });
  try {
    const seen: number[] = [];
    const controller = new AbortController();
    const tail = (async () => {
      for await (const event of reader.subscribe("exec-1", { signal: controller.signal })) {
        seen.push(event.seq);
        if (event.seq === 20) controller.abort();
      }
    })();
    for (let i = 0; i < 10; i++) await writer.appendEvent("exec-1", { type: "E" });
    await delay(50);
    await server.kill();
    await delay(200);
    await server.restart();
    for (let i = 0; i < 10; i++) await writer.appendEvent("exec-1", { type: "E" });
    await tail;
    assert.deepEqual(seen, Array.from({ length: 20 }, (_, i) => i + 1));
  } finally {
    await writer.close();
    await reader.close();
  }
});
