/**
 * Conformance harness for `RedisJobQueue` on any server (the suite's, or a
 * Cluster a test starts): every harness gets its own queue name and key
 * prefix, each peer its own connection, and closing removes every key the
 * queue wrote. Importing this module needs no Redis.
 *
 * @module
 */
import type { Cluster } from "ioredis";
import { connectRedis, type RedisClient } from "../../src/redis/connection.ts";
import { RedisJobQueue } from "../../src/redis/redis_job_queue.ts";
import type { HarnessFactory } from "./_conformance.ts";

/**
 * Builds harnesses on the Redis (or Redis Cluster) at `redisUrl`.
 *
 * @param redisUrl Where to connect.
 * @returns A harness factory for the conformance suite.
 */
export function redisHarnessFactory(redisUrl: string): HarnessFactory {
  return async (options) => {
    const name = `test-${crypto.randomUUID()}`;
    const keyPrefix = `oao-test-${crypto.randomUUID()}:`;
    const queues: RedisJobQueue[] = [];
    const open = () => {
      const connection = { checkServer: false };
      const queue = new RedisJobQueue({ redisUrl, connection, name, keyPrefix, ...options });
      queues.push(queue);
      return Promise.resolve(queue);
    };
    const queue = await open();
    return {
      queue,
      peer: open,
      advance: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
      async close() {
        for (const q of queues) await q.close();
        const client = await connectRedis({ redisUrl, checkServer: false });
        await deleteKeys(client, `${queue.keyPrefix}*`);
        await client.quit();
      },
    };
  };
}

/**
 * Deletes the keys matching `pattern` on every master.
 *
 * @param client A standalone or Cluster client.
 * @param pattern A `SCAN MATCH` pattern.
 */
export async function deleteKeys(client: RedisClient, pattern: string): Promise<void> {
  const nodes = client.isCluster ? (client as Cluster).nodes("master") : [client];
  for (const node of nodes) {
    let cursor = "0";
    do {
      const [next, keys] = await node.scan(cursor, "MATCH", pattern, "COUNT", 1000);
      cursor = next;
      for (const key of keys) await client.del(key);
    } while (cursor !== "0");
  }
}
