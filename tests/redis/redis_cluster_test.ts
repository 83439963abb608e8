/**
 * The conformance suites (event store, its executions index, persistence) against a one-node Redis Cluster started by this
 * file: Cluster mode is detected from `INFO cluster`, and any script or
 * command that mixed hash slots would fail with CROSSSLOT.
 */
import assert from "node:assert/strict";
import { connectRedis } from "../../src/redis/connection.ts";
import { RedisEventStore } from "../../src/redis/redis_event_store.ts";
import { RedisPersistenceAdapter } from "../../src/redis/redis_persistence_adapter.ts";
import { ManualClock } from "../../src/testing/manual_clock.ts";
import { RedisServer } from "../_support/redis_server.ts";
import { type EventStoreFactory, testEventStoreConformance } from "../events/_conformance.ts";
import { testExecutionIndexConformance } from "../events/_index_conformance.ts";
import { testPersistenceConformance } from "../persistence/_conformance.ts";
import { deleteByPrefix, testPrefix } from "./_redis_helpers.ts";

// Started at module load, so that no single test owns the process.
const server = await RedisServer.start({ cluster: true });
const redisUrl = server.url();
const elapse = (clock: ManualClock) => async (ms: number) => {
  await clock.advance(ms);
  await new Promise((resolve) => setTimeout(resolve, ms));
};

Deno.test("connectRedis detects Redis Cluster and returns a Cluster client", async () => {
  const client = await connectRedis({ redisUrl });
  try {
    assert.equal(client.isCluster, true);
    assert.equal(await client.set("{t}a", "1"), "OK");
  } finally {
    client.disconnect();
  }
  await assert.rejects(
    connectRedis({ redisUrl: server.url({ db: 2 }) }),
    /database index 2 cannot be used with Redis Cluster/,
  );
});

const eventStoreFactory: EventStoreFactory = (options = {}) => {
  const keyPrefix = testPrefix();
  const clock = new ManualClock(1_700_000_000_000);
  const stores: RedisEventStore[] = [];
  const open = () => {
    const store = new RedisEventStore({ redisUrl, keyPrefix, clock, ...options });
    stores.push(store);
    return store;
  };
  return Promise.resolve({
    store: open(),
    clock,
    elapse: elapse(clock),
    another: () => Promise.resolve(open()),
    cleanup: async () => {
      await Promise.all(stores.map((store) => store.close()));
      await deleteByPrefix(keyPrefix, redisUrl);
    },
  });
};
testEventStoreConformance("RedisEventStore on Redis Cluster", eventStoreFactory);
testExecutionIndexConformance("RedisEventStore on Redis Cluster", eventStoreFactory);

testPersistenceConformance("RedisPersistenceAdapter on Redis Cluster", () => {
  const keyPrefix = testPrefix();
  const clock = new ManualClock(1_700_000_000_000);
  const adapter = new RedisPersistenceAdapter({ redisUrl, keyPrefix, clock });
  return Promise.resolve({
    adapter,
    clock,
    elapse: elapse(clock),
    cleanup: async () => {
      await adapter.close();
      await deleteByPrefix(keyPrefix, redisUrl);
    },
  });
});

Deno.test("stop the test cluster", async () => {
  await server.dispose();
});
