/**
 * Connection options shared by `RedisEventStore` and `RedisPersistenceAdapter`.
 *
 * @module
 */
import type { Clock } from "../clock.ts";
import type { ConnectRedisOptions, RedisClient } from "./connection.ts";
import type { RetryOptions } from "./retry.ts";

/** Connection options shared by the Redis stores. */
export interface RedisStoreOptions {
  /**
   * `redis://[user][:password]@host[:port][/db]` or `rediss://…`; pass
   * `Deno.env.get("REDIS_URL")` directly (`undefined` means the default).
   * Ignored when `client` is given.
   * @default {"redis://127.0.0.1:6379"}
   */
  redisUrl?: string | undefined;
  /**
   * A connected client to use instead of connecting (for sharing one
   * connection between stores); the store does not close it. (The snapshot
   * adapter opens copies of it under a burst of saves, and closes those: see
   * `RedisPersistenceAdapterOptions.writeConnections`.)
   */
  client?: RedisClient;
  /**
   * Prefix of every key. Keys of one execution (or snapshot scope) also
   * carry a hash tag: `<prefix>{<id>}:…`.
   * @default {"oao:"}
   */
  keyPrefix?: string;
  /** Clock for event times, scores and retry delays. @default {systemClock} */
  clock?: Clock;
  /** Retry backoff and budget of each operation (and of the connection). @default {DEFAULT_RETRY_OPTIONS} */
  retry?: RetryOptions;
  /**
   * How long an operation waits for a Redis it cannot reach before it fails
   * with `StoreUnavailableError`, in ms: while the connection is down
   * (refused, reset, closed, not yet open) or Redis answers `LOADING`,
   * commands fail at once and are retried for this long (first connection
   * included). A Redis that is reachable but slow is waited for up to
   * `retry.maxElapsedMs`, each command up to `connection.commandTimeoutMs`.
   * Short values suit request paths (an HTTP API answers 503 at once);
   * long ones let running work ride out a Redis restart or failover.
   * @default {the retry budget, `retry.maxElapsedMs` (30000)}
   */
  unavailableAfterMs?: number;
  /** Further connection options (cluster mode, timeouts, TLS, ioredis options). @default {{}} */
  connection?: Omit<ConnectRedisOptions, "redisUrl" | "clock" | "retry" | "signal">;
}
