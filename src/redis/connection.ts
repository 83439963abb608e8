/**
 * Connecting to Redis (standalone or Cluster) and retrying store operations.
 *
 * Shared by every Redis adapter of OAO (persistence, event store, job queue):
 *
 * - {@linkcode connectRedis} parses `REDIS_URL`, loads `ioredis` lazily (so
 *   that importing OAO does not load it unless a Redis adapter is used),
 *   waits for the connection within a bounded retry budget, checks the server
 *   once (version ≥ 6.2, `appendonly`, `maxmemory-policy`) and switches to a
 *   Redis Cluster client when the server reports `cluster_enabled:1`.
 * - {@linkcode withRetry} runs one store operation, retrying transient
 *   failures (connection lost, `LOADING`, `TRYAGAIN`, timeouts…) with
 *   exponential, jittered backoff on an injected {@linkcode Clock}, and turns
 *   an exhausted budget into a {@linkcode StoreUnavailableError}.
 *
 * ## How outages are handled
 * The client reconnects forever in the background (ioredis `retryStrategy`,
 * real time, delays from {@linkcode RetryOptions}). A command issued while
 * disconnected fails at once (no offline queue: nothing waits for a Redis
 * that is down, and nothing is sent late after its caller gave up); a
 * command whose connection drops — sent or not — is rejected
 * (`maxRetriesPerRequest: 0`, no automatic resend) so that the retry
 * decision belongs to {@linkcode withRetry}, which retries such failures
 * until the connection is back or `unavailableAfterMs` has passed. Because a
 * dropped command may still have been executed, operations passed to
 * `withRetry` must be idempotent (the OAO scripts are). Connections made
 * elsewhere and passed to the stores as `client` keep their own settings:
 * give them `enableOfflineQueue: false` for the same fast failure.
 *
 * Log category: `["oao", "redis"]`.
 *
 * @module
 */
import type { Cluster, Redis, RedisOptions } from "ioredis";
import type { ConnectionOptions as TlsConnectionOptions } from "node:tls";
import { getLogger } from "@logtape/logtape";
import { type Clock, systemClock, type TimerId } from "../clock.ts";
import { StoreUnavailableError } from "../persistence/store_errors.ts";
import { parseRedisUrl, redactRedisUrl, type RedisUrlParts } from "./redis_url.ts";
import {
  _unavailableAfterMs,
  DEFAULT_RETRY_OPTIONS,
  isTransientRedisError,
  resolveRetryOptions,
  retryDelay,
  type RetryOptions,
  withRetry,
  type WithRetryOptions,
} from "./retry.ts";

// Re-exported so that adapters import connection and retry helpers from one place.
export {
  DEFAULT_RETRY_OPTIONS,
  isTransientRedisError,
  resolveRetryOptions,
  retryDelay,
  type RetryOptions,
  withRetry,
  type WithRetryOptions,
};

/** A connected ioredis client: standalone `Redis` or `Cluster`. */
export type RedisClient = Redis | Cluster;

/** Options of {@linkcode connectRedis}. */
export interface ConnectRedisOptions {
  /**
   * `redis://[user][:password]@host[:port][/db]`, or `rediss://…` for TLS.
   * `undefined` (e.g. an unset `Deno.env.get("REDIS_URL")`) means the default.
   * @default {"redis://127.0.0.1:6379"}
   */
  redisUrl?: string | undefined;
  /** Clock for the connection budget. @default {systemClock} */
  clock?: Clock;
  /**
   * Budget of the initial connection (`maxElapsedMs`, `maxAttempts` are
   * ignored after it) and delays between background reconnection attempts.
   * @default {DEFAULT_RETRY_OPTIONS}
   */
  retry?: RetryOptions;
  /**
   * `"auto"`: use a Cluster client when `INFO cluster` reports
   * `cluster_enabled:1`; `true`/`false`: force one or the other.
   * @default {"auto"}
   */
  cluster?: boolean | "auto";
  /** Batch commands issued in the same tick into one write. @default {true} */
  enableAutoPipelining?: boolean;
  /** `CLIENT SETNAME` of the connection. @default {"oao"} */
  connectionName?: string;
  /**
   * Reject a command without reply after this many ms (it is then retried by
   * {@linkcode withRetry}); `0` disables the timeout.
   * @default {10000}
   */
  commandTimeoutMs?: number;
  /** Abandon one TCP connection attempt after this many ms. @default {5000} */
  connectTimeoutMs?: number;
  /**
   * Give up the first connection once its attempts have been failing for
   * this long, in ms (from the first failure), even if `retry.maxElapsedMs`
   * allows more: Redis is down.
   * @default {Infinity}
   */
  unavailableAfterMs?: number;
  /** Run {@linkcode checkRedisServer} once connected. @default {true} */
  checkServer?: boolean;
  /**
   * Log the durability findings of {@linkcode checkRedisServer}
   * (`appendonly` off, `maxmemory-policy` `allkeys-*`) as warnings; `false`
   * logs them at debug level, for processes that only read (a status query
   * need not repeat a warning meant for the processes that write). The
   * version check applies either way.
   * @default {true}
   */
  configWarnings?: boolean;
  /** Extra TLS options for `rediss://` (CA, client certificate…). @default {{}} */
  tls?: TlsConnectionOptions;
  /**
   * Further ioredis options, applied last (escape hatch). `replyMapping` is
   * excluded: the adapters rely on the default (`"legacy"`) reply shapes.
   * @default {{}}
   */
  redisOptions?: Omit<Partial<RedisOptions>, "replyMapping">;
  /** Abandons the connection attempt (rejects with the signal's reason). */
  signal?: AbortSignal;
}

const logger = getLogger(["oao", "redis"]);
const DEFAULT_URL = "redis://127.0.0.1:6379";
const MIN_MAJOR = 6;
const MIN_MINOR = 2;
const checkedClients = new WeakSet<object>();

/**
 * Connects to Redis and resolves once the connection is ready.
 *
 * Loads `ioredis` on first use. The initial connection is retried within
 * `retry.maxElapsedMs`; afterwards the client reconnects by itself forever.
 * With `checkServer` (the default) the server is checked once, see
 * {@linkcode checkRedisServer}. When the server is a Redis Cluster node
 * (`cluster: "auto"`), the returned client is an ioredis `Cluster` seeded with
 * that node and using the same credentials and TLS settings.
 *
 * The caller owns the client: end it with `client.quit()` or `client.disconnect()`.
 *
 * @param options URL, clock, retry budget, cluster mode and ioredis options.
 * @returns A ready client.
 * @throws {TypeError} When the URL is malformed (password redacted), or a
 * database index other than 0 is used with Redis Cluster.
 * @throws {StoreUnavailableError} When Redis cannot be reached within the
 * budget, refuses the credentials, or is older than 6.2.
 *
 * @example
 * ```ts
 * import { connectRedis } from "./connection.ts";
 * const client = await connectRedis({ redisUrl: Deno.env.get("REDIS_URL") });
 * console.log(await client.ping());
 * client.disconnect();
 * ```
 */
export async function connectRedis(options: ConnectRedisOptions = {}): Promise<RedisClient> {
  const url = options.redisUrl ?? DEFAULT_URL;
  const parts = parseRedisUrl(url);
  const redacted = redactRedisUrl(url);
  const clock = options.clock ?? systemClock;
  const retry = resolveRetryOptions(options.retry);
  const unavailableAfterMs = _unavailableAfterMs(options.unavailableAfterMs);
  const { Redis, Cluster } = await import("ioredis");
  const nodeOptions = _nodeOptions(parts, retry, options);

  const standalone = new Redis({
    ...nodeOptions,
    host: parts.host,
    port: parts.port,
    db: parts.db,
    lazyConnect: true,
    enableAutoPipelining: options.enableAutoPipelining ?? true,
    ...options.redisOptions,
  });
  _watch(standalone, redacted);
  try {
    await _waitReady(standalone, {
      clock,
      retry,
      unavailableAfterMs,
      redacted,
      signal: options.signal,
    });
    const mode = options.cluster ?? "auto";
    let clusterEnabled = mode === true;
    if (mode === "auto" || options.checkServer !== false) {
      const info = await _info(standalone, redacted);
      if (mode === "auto") clusterEnabled = /^cluster_enabled:1\s*$/m.test(info);
      if (options.checkServer !== false) {
        await _checkServer(standalone, redacted, info, options.configWarnings !== false);
      }
    }
    if (!clusterEnabled) return standalone;
    if (parts.db !== 0) {
      throw new TypeError(
        `Invalid REDIS_URL "${redacted}": database index ${parts.db} cannot be used with Redis Cluster (only 0)`,
      );
    }
    standalone.disconnect();
    const cluster = new Cluster([{ host: parts.host, port: parts.port }], {
      redisOptions: { ...nodeOptions, ...options.redisOptions },
      lazyConnect: true,
      enableAutoPipelining: options.enableAutoPipelining ?? true,
      enableOfflineQueue: false,
      clusterRetryStrategy: (times: number) => retryDelay(times, retry),
      ...(parts.tls ? { dnsLookup: (address, callback) => callback(null, address) } : {}),
    });
    checkedClients.add(cluster);
    _watch(cluster, redacted);
    try {
      await _waitReady(cluster, {
        clock,
        retry,
        unavailableAfterMs,
        redacted,
        signal: options.signal,
      });
    } catch (error) {
      cluster.disconnect();
      throw error;
    }
    return cluster;
  } catch (error) {
    standalone.disconnect();
    throw error;
  }
}

/**
 * Checks a Redis server once per client: rejects Redis older than 6.2, and
 * logs a warning (category `["oao", "redis"]`) when `appendonly` is off
 * (acknowledged writes can be lost on restart) or when `maxmemory-policy` is
 * `allkeys-*` (Redis may evict logs and snapshots); the deployment guide
 * recommends `appendonly yes` and `volatile-lru`. When `CONFIG GET` is not
 * permitted (managed Redis), logs at debug level and carries on.
 * {@linkcode connectRedis} calls it; call it for clients created elsewhere.
 *
 * @param client A connected client.
 * @param options The URL, for messages (redacted).
 * @returns Once checked (immediately for a client already checked).
 * @throws {StoreUnavailableError} When the server is older than Redis 6.2.
 *
 * @example
 * ```ts
 * import { Redis } from "ioredis";
 * import { checkRedisServer } from "./connection.ts";
 * const client = new Redis(Deno.env.get("REDIS_URL") ?? "redis://127.0.0.1:6379");
 * await checkRedisServer(client);
 * client.disconnect();
 * ```
 */
export async function checkRedisServer(
  client: RedisClient,
  options: { redisUrl?: string } = {},
): Promise<void> {
  if (checkedClients.has(client)) return;
  const redacted = redactRedisUrl(options.redisUrl ?? "redis");
  await _checkServer(client, redacted, await _info(client, redacted));
}

async function _checkServer(
  client: RedisClient,
  redacted: string,
  info: string,
  warn = true,
): Promise<void> {
  if (checkedClients.has(client)) return;
  const version = /^redis_version:(\S+)/m.exec(info)?.[1];
  const [major = 0, minor = 0] = (version ?? "").split(".").map(Number);
  if (version === undefined) {
    logger.debug("Cannot tell the version of Redis at {url}: skipping the version check", {
      url: redacted,
    });
  } else if (!(major > MIN_MAJOR || (major === MIN_MAJOR && minor >= MIN_MINOR))) {
    throw new StoreUnavailableError(`connecting to "${redacted}"`, {
      cause: new Error(
        `Redis version "${version}" is not supported: OAO needs Redis ${MIN_MAJOR}.${MIN_MINOR} or newer`,
      ),
    });
  }
  checkedClients.add(client);
  let appendonly: string | undefined;
  let policy: string | undefined;
  try {
    const [aof, memory] = await Promise.all([
      client.call("CONFIG", "GET", "appendonly"),
      client.call("CONFIG", "GET", "maxmemory-policy"),
    ]);
    appendonly = _configValue(aof);
    policy = _configValue(memory);
  } catch (error) {
    logger.debug(
      "Cannot read the configuration of Redis at {url} ({error}): skipping the appendonly and maxmemory-policy checks",
      { url: redacted, error: _message(error) },
    );
    return;
  }
  logger.debug("Redis {version} at {url}: appendonly {appendonly}, maxmemory-policy {policy}", {
    version,
    url: redacted,
    appendonly,
    policy,
  });
  const level = warn ? "warn" : "debug";
  if (appendonly === "no") {
    logger[level](
      "Redis at {url} has appendonly off: events and snapshots acknowledged since the last RDB save are lost if Redis restarts; the deployment guide recommends appendonly yes",
      { url: redacted, appendonly },
    );
  }
  if (policy?.startsWith("allkeys-")) {
    logger[level](
      "Redis at {url} uses maxmemory-policy {policy}: under memory pressure it may evict event logs and snapshots; the deployment guide recommends volatile-lru",
      { url: redacted, policy },
    );
  }
}

/** `INFO`, or "" when the server does not permit it (managed Redis). */
async function _info(client: RedisClient, redacted: string): Promise<string> {
  try {
    return await client.info();
  } catch (error) {
    if (isTransientRedisError(error)) throw error;
    logger.debug("Cannot run INFO on Redis at {url} ({error}): assuming a standalone server", {
      url: redacted,
      error: _message(error),
    });
    return "";
  }
}

function _configValue(reply: unknown): string | undefined {
  if (Array.isArray(reply)) return reply[1] === undefined ? undefined : String(reply[1]);
  if (reply && typeof reply === "object") {
    const value = Object.values(reply as Record<string, unknown>)[0];
    return value === undefined ? undefined : String(value);
  }
  return undefined;
}

function _nodeOptions(
  parts: RedisUrlParts,
  retry: Required<RetryOptions>,
  options: ConnectRedisOptions,
): Omit<Partial<RedisOptions>, "replyMapping"> {
  const nodeOptions: Omit<Partial<RedisOptions>, "replyMapping"> = {
    connectionName: options.connectionName ?? "oao",
    connectTimeout: options.connectTimeoutMs ?? 5_000,
    maxRetriesPerRequest: 0,
    autoResendUnfulfilledCommands: false,
    enableOfflineQueue: false,
    retryStrategy: (times: number) => retryDelay(times, retry),
  };
  const commandTimeout = options.commandTimeoutMs ?? 10_000;
  if (commandTimeout > 0) nodeOptions.commandTimeout = commandTimeout;
  if (parts.username !== undefined) nodeOptions.username = parts.username;
  if (parts.password !== undefined) nodeOptions.password = parts.password;
  if (parts.tls) nodeOptions.tls = { servername: parts.host, ...options.tls };
  return nodeOptions;
}

interface WaitOptions {
  clock: Clock;
  retry: Required<RetryOptions>;
  unavailableAfterMs: number;
  redacted: string;
  signal: AbortSignal | undefined;
}

function _waitReady(client: RedisClient, options: WaitOptions): Promise<void> {
  const { clock, retry, unavailableAfterMs, redacted, signal } = options;
  return new Promise<void>((resolve, reject) => {
    let lastError: unknown;
    let failures = 0;
    let down: TimerId | undefined;
    const cleanup = () => {
      clock.clearTimeout(timer);
      if (down !== undefined) clock.clearTimeout(down);
      client.off("ready", onReady);
      client.off("error", onError);
      signal?.removeEventListener("abort", onAbort);
    };
    const fail = (error: unknown) => {
      cleanup();
      reject(error);
    };
    const giveUp = () =>
      fail(new StoreUnavailableError(`connecting to "${redacted}"`, { cause: lastError }));
    const onReady = () => {
      cleanup();
      resolve();
    };
    const onError = (error: unknown) => {
      lastError = error;
      failures++;
      const message = _message(error);
      if (/^(WRONGPASS|NOAUTH|NOPERM|ERR AUTH|ERR invalid password)/.test(message)) {
        return fail(
          new StoreUnavailableError(`connecting to "${redacted}"`, {
            cause: new Error(`Redis refused the credentials: ${message}`),
          }),
        );
      }
      if (failures >= retry.maxAttempts) return giveUp();
      if (down === undefined && unavailableAfterMs < retry.maxElapsedMs) {
        down = clock.setTimeout(giveUp, Math.min(unavailableAfterMs, 2 ** 31 - 1));
      }
    };
    const onAbort = () => fail(signal?.reason);
    const timer = clock.setTimeout(
      giveUp,
      retry.maxElapsedMs === Infinity ? 2 ** 31 - 1 : retry.maxElapsedMs,
    );
    if (signal?.aborted) return onAbort();
    client.on("ready", onReady);
    client.on("error", onError);
    signal?.addEventListener("abort", onAbort, { once: true });
    client.connect().catch(() => {/* reported through "error"; ioredis keeps reconnecting */});
  });
}

/** Logs connection loss and recovery once per outage, never the password. */
function _watch(client: RedisClient, redacted: string): void {
  let wasReady = false;
  let down = false;
  client.on("ready", () => {
    if (down) logger.info("Connection to Redis at {url} restored", { url: redacted });
    wasReady = true;
    down = false;
  });
  client.on("error", (error: unknown) => {
    if (wasReady && !down) {
      down = true;
      logger.warn("Connection to Redis at {url} lost ({error}); reconnecting", {
        url: redacted,
        error: _message(error),
      });
    } else {
      logger.debug("Redis at {url}: {error}", { url: redacted, error: _message(error) });
    }
  });
}

function _message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
