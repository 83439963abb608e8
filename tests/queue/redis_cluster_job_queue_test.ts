import assert from "node:assert/strict";
import type { Cluster } from "ioredis";
import { connectRedis } from "../../src/redis/connection.ts";
import { RedisJobQueue } from "../../src/redis/redis_job_queue.ts";
import { startRedisCluster } from "../_support/redis_cluster.ts";
import { jobQueueCases } from "./_conformance.ts";
import { deadLetterReportCases } from "./_dead_letter_conformance.ts";
import { deleteKeys, redisHarnessFactory } from "./_redis_queue_harness.ts";

Deno.test("RedisJobQueue on a 3-master Redis Cluster", async (t) => {
  await using cluster = await startRedisCluster();

  await t.step("the client is a Cluster client and queues land on different slots", async () => {
    const client = await connectRedis({ redisUrl: cluster.url, checkServer: false });
    const names = ["alpha", "beta", "gamma", "delta", "epsilon", "zeta"];
    const queues = names.map((name) => new RedisJobQueue({ client, name }));
    try {
      assert.equal(client.isCluster, true);
      const slots = new Set<number>();
      for (const queue of queues) {
        await queue.enqueue({ executionId: "e", agent: "a", task: 1 });
        const [lease] = await queue.reserve("w1");
        await queue.complete(lease!);
        slots.add(Number(await client.call("CLUSTER", "KEYSLOT", `${queue.keyPrefix}ready`)));
      }
      const nodes = (client as Cluster).nodes("master").length;
      assert.equal(nodes, 3);
      assert.ok(slots.size > 1, "queue names spread over slots");
    } finally {
      for (const queue of queues) await queue.close();
      await deleteKeys(client, "oao:{queue:*");
      await client.quit();
    }
  });

  const factory = redisHarnessFactory(cluster.url);
  for (const { name, fn } of [...jobQueueCases(factory), ...deadLetterReportCases(factory)]) {
    await t.step(name, fn);
  }
});
