// Fast failure when Redis is down: with `unavailableAfterMs`, a store
// operation that cannot reach Redis rejects with StoreUnavailableError within
// that time (not after the 30 s retry budget), a Redis that is only slow is
// still waited for, closing with Redis down is bounded, and the stores work
// again once Redis is back. Each test runs its own redis-server and stops it.
import assert from "node:assert/strict";
import { StoreUnavailableError } from "../../src/errors.ts";
import { RedisEventStore } from "../../src/redis/redis_event_store.ts";
import { RedisJobQueue } from "../../src/redis/redis_job_queue.ts";
import { RedisPersistenceAdapter } from "../../src/redis/redis_persistence_adapter.ts";
import { withRetry } from "../../src/redis/retry.ts";
import { ManualClock } from "../../src/testing/manual_clock.ts";
import { RedisServer } from "../_support/redis_server.ts";
import { testOrchestrator } from "../orchestrator/_helpers.ts";

const UNAVAILABLE_AFTER_MS = 1_000;
/** Generous for a shared machine; the 30 s retry budget is far above it. */
const LIMIT_MS = 2_500;

function stores(redisUrl: string) {
  const options = { redisUrl, unavailableAfterMs: UNAVAILABLE_AFTER_MS };
  return {
    events: new RedisEventStore(options),
    snapshots: new RedisPersistenceAdapter(options),
    queue: new RedisJobQueue(options),
    close(
      this: { events: RedisEventStore; snapshots: RedisPersistenceAdapter; queue: RedisJobQueue },
    ) {
      return Promise.all([this.events.close(), this.snapshots.close(), this.queue.close()]);
    },
  };
}

/** How long `operation` took to reject, and with what. */
async function timeRejection(operation: () => Promise<unknown>): Promise<[number, unknown]> {
  const start = performance.now();
  try {
    await operation();
  } catch (error) {
    return [performance.now() - start, error];
  }
  throw new Error("the operation succeeded although Redis is down");
}

function assertUnavailable(name: string, [ms, error]: [number, unknown]): void {
  assert.ok(error instanceof StoreUnavailableError, `${name}: ${error}`);
  assert.match(error.message, /could not be reached/, name);
  assert.ok(ms < LIMIT_MS, `${name} took ${Math.round(ms)} ms`);
  assert.ok(ms >= UNAVAILABLE_AFTER_MS - 100, `${name} gave up early: ${Math.round(ms)} ms`);
}

Deno.test("withRetry gives up after unavailableAfterMs while Redis cannot be reached, and waits the full budget for a slow one", async () => {
  const clock = new ManualClock(0);
  const refused = () =>
    Object.assign(new Error("connect ECONNREFUSED 127.0.0.1:1"), { code: "ECONNREFUSED" });
  const options = {
    clock,
    initialDelayMs: 100,
    maxDelayMs: 100,
    jitter: 0,
    maxElapsedMs: 30_000,
    unavailableAfterMs: 1_000,
  };
  let down = 0;
  const unreachable = withRetry('load("a/b")', () => {
    down++;
    return Promise.reject(refused());
  }, options).then(() => undefined, (error: unknown) => error);
  let slow = 0;
  const timedOut = withRetry('load("a/c")', () => {
    slow++;
    return Promise.reject(new Error("Command timed out"));
  }, options).then(() => undefined, (error: unknown) => error);
  await clock.advance(1_000);
  const error = await unreachable;
  assert.ok(error instanceof StoreUnavailableError);
  assert.match(error.message, /load\("a\/b"\).*could not be reached for 1000 ms.*ECONNREFUSED/);
  assert.equal(down, 11, "the first attempt and one every 100 ms");
  assert.ok(slow > 10, "a command that timed out is still retried");
  await clock.advance(29_000);
  assert.ok((await timedOut) instanceof StoreUnavailableError);
  assert.ok(slow > 290);
  await assert.rejects(
    withRetry("x", () => Promise.resolve(1), { unavailableAfterMs: -1 }),
    RangeError,
  );
});

Deno.test("with Redis stopped, an event store read, a snapshot load and a queue enqueue reject with StoreUnavailableError within unavailableAfterMs; after Redis returns they work", async () => {
  await using server = await RedisServer.start({ appendonly: true });
  const s = stores(server.url());
  try {
    await s.events.appendEvent("exec-1", { type: "A" });
    await s.snapshots.save("exec-1/state", { step: 1 });
    await s.queue.enqueue({ executionId: "exec-1", agent: "echo", task: 1 });
    await server.kill();
    const [read, load, enqueue] = await Promise.all([
      timeRejection(() => s.events.readRange("exec-1")),
      timeRejection(() => s.snapshots.load("exec-1/state")),
      timeRejection(() => s.queue.enqueue({ executionId: "exec-2", agent: "echo", task: 2 })),
    ]);
    assertUnavailable("readRange", read);
    assertUnavailable("load", load);
    assertUnavailable("enqueue", enqueue);
    assertUnavailable(
      "append",
      await timeRejection(() => s.events.appendEvent("exec-1", { type: "B" })),
    );

    await server.restart();
    // Each store's client reconnects by itself, within its reconnection delay: wait for all three.
    const deadline = Date.now() + 10_000;
    for (
      const probe of [
        () => s.events.latest("exec-1"),
        () => s.snapshots.load("x"),
        () => s.queue.stats(),
      ]
    ) {
      while (true) {
        try {
          await probe();
          break;
        } catch (error) {
          if (!(error instanceof StoreUnavailableError) || Date.now() > deadline) throw error;
        }
      }
    }
    assert.equal((await s.events.appendEvent("exec-1", { type: "C" })).seq, 2);
    assert.deepEqual((await s.snapshots.load("exec-1/state"))?.data, { step: 1 });
    assert.equal(
      (await s.queue.enqueue({ executionId: "exec-3", agent: "echo", task: 3 })).duplicate,
      false,
    );
    assert.equal((await s.queue.stats()).waiting, 2);
  } finally {
    await s.close();
  }
});

Deno.test("stores used for the first time while Redis is down fail within unavailableAfterMs", async () => {
  await using server = await RedisServer.start();
  await server.stop();
  const s = stores(server.url());
  try {
    const [read, load, enqueue] = await Promise.all([
      timeRejection(() => s.events.count("exec-1")),
      timeRejection(() => s.snapshots.load("exec-1/state")),
      timeRejection(() => s.queue.enqueue({ executionId: "exec-1", agent: "echo", task: 1 })),
    ]);
    for (
      const [name, outcome] of [["count", read], ["load", load], ["enqueue", enqueue]] as const
    ) {
      assert.ok(outcome[1] instanceof StoreUnavailableError, `${name}: ${outcome[1]}`);
      assert.ok(outcome[0] < LIMIT_MS, `${name} took ${Math.round(outcome[0])} ms`);
    }
  } finally {
    await s.close();
  }
});

Deno.test("a Redis that is slow but reachable is waited for beyond unavailableAfterMs", async () => {
  await using server = await RedisServer.start({ args: ["--enable-debug-command", "yes"] });
  const s = stores(server.url());
  try {
    await s.snapshots.save("exec-1/state", { step: 1 });
    const busy = server.command("DEBUG", "SLEEP", "1.5"); // Redis answers nothing for 1.5 s
    await new Promise((resolve) => setTimeout(resolve, 100));
    const start = performance.now();
    assert.deepEqual((await s.snapshots.load("exec-1/state"))?.data, { step: 1 });
    assert.ok(performance.now() - start > UNAVAILABLE_AFTER_MS, "it waited for the answer");
    await busy;
  } finally {
    await s.close();
  }
});

Deno.test("closing an orchestrator and its stores with Redis down returns within a bounded time", async () => {
  await using server = await RedisServer.start();
  const s = stores(server.url());
  const orchestrator = testOrchestrator({
    eventStore: s.events,
    persistence: s.snapshots,
    sandbox: "thread",
  });
  const started = await orchestrator.start("tester", { calls: [{ tool: "hang" }] });
  const outcome = started.done.then((report) => report.status, (error: unknown) => error);
  const deadline = Date.now() + 20_000;
  while (
    !(await s.events.readRange(started.executionId)).some((e) => e.type === "TOOL_CALL")
  ) {
    assert.ok(Date.now() < deadline, "the tool call started");
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  await server.kill();
  const start = performance.now();
  await orchestrator.close();
  await s.close();
  const ms = performance.now() - start;
  // Cancelling the run and stopping the actor system each write one event that
  // cannot be written: two waits of unavailableAfterMs, not two of 30 s.
  assert.ok(ms < 2 * UNAVAILABLE_AFTER_MS + LIMIT_MS, `close took ${Math.round(ms)} ms`);
  assert.notEqual(await outcome, "SUCCESS");
});
