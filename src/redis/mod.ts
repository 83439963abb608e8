/**
 * The Redis adapters of OAO: {@linkcode RedisPersistenceAdapter} (snapshots)
 * and {@linkcode RedisEventStore} (event logs on Redis Streams), plus the
 * connection helpers they share. Importing this module does not load
 * `ioredis`; the first operation of an adapter does.
 *
 * Recommended Redis configuration (a warning is logged otherwise, category
 * `["oao", "redis"]`): Redis 6.2 or newer (required), `appendonly yes`,
 * `maxmemory-policy volatile-lru`.
 *
 * @example
 * ```ts
 * import { RedisEventStore, RedisPersistenceAdapter } from "./mod.ts";
 *
 * const redisUrl = Deno.env.get("REDIS_URL"); // redis://user:password@host:6379/0
 * const persistence = new RedisPersistenceAdapter({ redisUrl, keyPrefix: "oao-example:" });
 * const events = new RedisEventStore({ redisUrl, keyPrefix: "oao-example:" });
 * await events.appendEvent("exec-1", { type: "STATE_ENTER", step: 1 }, { expire: 60 });
 * await persistence.save("exec-1/agent", { step: 1 }, { ttlSeconds: 60 });
 * await Promise.all([events.close(), persistence.close()]);
 * ```
 *
 * @module
 */
export { RedisEventStore, type RedisEventStoreOptions } from "./redis_event_store.ts";
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
