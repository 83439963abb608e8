/**
 * The Redis adapters of OAO, one per port: {@linkcode RedisPersistenceAdapter}
 * (snapshots), {@linkcode RedisEventStore} (event logs on Redis Streams) and
 * {@linkcode RedisJobQueue} (the job queue of distributed workers), plus the
 * connection helpers they share. Standalone Redis and Redis Cluster alike.
 * Importing this module does not load `ioredis`; the first operation of an
 * adapter does.
 *
 * Recommended Redis configuration (a warning is logged otherwise, category
 * `["oao", "redis"]`): Redis 6.2 or newer (required), `appendonly yes`,
 * `maxmemory-policy volatile-lru`.
 *
 * @example An orchestrator on Redis
 * ```ts
 * import { Orchestrator } from "@oao/runtime";
 * import { RedisEventStore, RedisJobQueue, RedisPersistenceAdapter } from "@oao/runtime/redis";
 *
 * const redisUrl = Deno.env.get("REDIS_URL"); // redis://user:password@host:6379/0, default localhost
 * const persistence = new RedisPersistenceAdapter({ redisUrl, keyPrefix: "oao-example:" });
 * const eventStore = new RedisEventStore({ redisUrl, keyPrefix: "oao-example:" });
 * const orchestrator = new Orchestrator({ persistence, eventStore, retentionSeconds: 60 });
 * // ... register agents and tools, run executions ...
 * await orchestrator.close();
 *
 * // The queue API nodes enqueue executions on and worker nodes reserve them from.
 * const queue = new RedisJobQueue({ redisUrl, keyPrefix: "oao-example:", name: "example" });
 * const executionId = `exec-${crypto.randomUUID()}`;
 * await queue.enqueue({ executionId, agent: "researcher", task: { topic: "actors" } });
 * const [lease] = await queue.reserve("worker-1");
 * if (lease) await queue.complete(lease);
 * await Promise.all([queue.close(), eventStore.close(), persistence.close()]);
 * ```
 *
 * @module
 */
export { RedisEventStore, type RedisEventStoreOptions } from "./redis_event_store.ts";
export { RedisJobQueue, type RedisJobQueueOptions } from "./redis_job_queue.ts";
export { RedisScheduleStore, type RedisScheduleStoreOptions } from "./redis_schedule_store.ts";
export {
  RedisRateLimiter,
  type RedisRateLimiterOptions,
  type RedisRateLimitStats,
} from "./redis_rate_limiter.ts";
export {
  RedisPersistenceAdapter,
  type RedisPersistenceAdapterOptions,
} from "./redis_persistence_adapter.ts";
export type { RedisStoreOptions } from "./redis_store_options.ts";
export { parseRedisUrl, redactRedisUrl, type RedisUrlParts } from "./redis_url.ts";
export {
  checkRedisServer,
  connectRedis,
  type ConnectRedisOptions,
  type RedisClient,
} from "./connection.ts";
export {
  DEFAULT_RETRY_OPTIONS,
  isTransientRedisError,
  resolveRetryOptions,
  retryDelay,
  type RetryOptions,
  withRetry,
  type WithRetryOptions,
} from "./retry.ts";
