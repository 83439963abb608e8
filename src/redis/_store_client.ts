/**
 * The connection of one Redis store: connects lazily on first use (so that a
 * store can be constructed synchronously), retries operations, and releases
 * the connection on close. A client passed in by the caller is borrowed,
 * never closed.
 *
 * With `watchdog` (the event store and the snapshot adapter), an owned
 * connection is opened without ioredis's per-command timer and every
 * operation is guarded by one {@linkcode _CommandWatchdog} instead, with the
 * same timeout (`connection.commandTimeoutMs`, 10 s by default). A borrowed
 * client keeps its own settings.
 *
 * The client counts "generations": a new one starts whenever the connection
 * closes or an operation meets a transient failure (the server may have
 * restarted, failed over, or lost recent writes). Knowledge a store caches
 * about the data (the event store's sequence numbers) is trusted only within
 * the generation that learned it.
 *
 * @module
 */
import { type Clock, systemClock } from "../clock.ts";
import { StoreUnavailableError } from "../persistence/store_errors.ts";
import { connectRedis, type RedisClient } from "./connection.ts";
import {
  _unavailableAfterMs,
  type RetryOptions,
  withRetry,
  type WithRetryOptions,
} from "./retry.ts";
import type { RedisStoreOptions } from "./redis_store_options.ts";

export type { RedisStoreOptions };
import type { Command, Redis } from "ioredis";
import { type _Scripts, _scripts } from "./_scripts.ts";
import { _CommandWatchdog } from "./_command_watchdog.ts";
import { isTransientRedisError } from "./retry.ts";

const MAX_BATCH = 256;
/** ioredis's default and `connectRedis`'s: see `ConnectRedisOptions.commandTimeoutMs`. */
const DEFAULT_COMMAND_TIMEOUT_MS = 10_000;

/** Options of {@linkcode _StoreClient} beyond the store's. */
export interface _StoreClientOptions {
  /** Guard an owned connection with a {@linkcode _CommandWatchdog} instead of ioredis timers. */
  watchdog?: boolean;
}

/** What a batched command is issued on: the client or a pipeline. */
export type _Target =
  & _Scripts
  & Pick<
    Redis,
    "hmget" | "xrange" | "xrevrange" | "xlen" | "exists" | "zadd" | "zrevrange" | "zremrangebyscore"
  >;

/** @internal Lazily connected client of one store. */
export class _StoreClient {
  readonly clock: Clock;
  readonly prefix: string;
  readonly retry: RetryOptions;
  #options: RedisStoreOptions;
  #connecting: Promise<RedisClient> | undefined;
  #client: RedisClient | undefined;
  #owned: boolean;
  #closed = false;
  #abort = new AbortController();
  #name: string;
  #queue: {
    call: (target: _Target) => unknown;
    resolve(value: unknown): void;
    reject(error: unknown): void;
  }[] = [];
  #watchdog: _CommandWatchdog | undefined;
  #timeoutMs: number;
  #unavailableAfterMs: number;
  #lanes = new Set<RedisClient>();
  #generation = 0;
  #onClose = () => this.#generation++;
  #retryIf = (error: unknown) => this.transient(error);

  constructor(name: string, options: RedisStoreOptions, extra: _StoreClientOptions = {}) {
    this.#name = name;
    this.#options = options;
    this.clock = options.clock ?? systemClock;
    this.prefix = options.keyPrefix ?? "oao:";
    if (typeof this.prefix !== "string") {
      throw new TypeError(`Invalid keyPrefix: expected a string, got ${typeof this.prefix}`);
    }
    if (/[{}]/.test(this.prefix)) {
      throw new TypeError(`Invalid keyPrefix "${this.prefix}": it must not contain "{" or "}"`);
    }
    this.retry = options.retry ?? {};
    this.#unavailableAfterMs = _unavailableAfterMs(options.unavailableAfterMs);
    this.#owned = !options.client;
    this.#client = options.client;
    options.client?.on("close", this.#onClose);
    this.#timeoutMs = options.connection?.commandTimeoutMs ?? DEFAULT_COMMAND_TIMEOUT_MS;
    if (extra.watchdog && this.#owned && this.#timeoutMs > 0) {
      this.#watchdog = new _CommandWatchdog(this.clock, this.#timeoutMs);
    }
  }

  /**
   * The current generation (see the module doc): it changes when the
   * connection closes or an operation fails transiently.
   */
  get generation(): number {
    return this.#generation;
  }

  /**
   * The timeout for a command without reply (ms; 0 for none): the store's
   * watchdog's, or the client's own `commandTimeout`.
   */
  get commandTimeoutMs(): number {
    if (this.#watchdog) return this.#timeoutMs;
    const client = this.#client;
    if (!client) return 0;
    const options = client.isCluster
      ? (client as unknown as { options: { redisOptions?: { commandTimeout?: number } } })
        .options.redisOptions
      : (client as Redis).options;
    return options?.commandTimeout ?? 0;
  }

  /**
   * Tells whether an error is transient (see `isTransientRedisError`); a
   * transient error starts a new generation.
   *
   * @param error What an operation failed with.
   * @returns True when a retry may succeed.
   */
  transient(error: unknown): boolean {
    if (!isTransientRedisError(error)) return false;
    this.#generation++;
    return true;
  }

  /**
   * Guards an operation sent on the store's connection with the command
   * timeout (a no-op when ioredis times commands itself).
   *
   * @param operation The operation, already sent.
   * @returns The operation, rejected with `Command timed out` when it takes too long.
   */
  guard<T>(operation: Promise<T>): Promise<T> {
    return this.#watchdog ? this.#watchdog.guard(operation) : operation;
  }

  /**
   * Sends commands in one write (a pipeline when there are several) and
   * waits for all their replies, guarded by the command timeout.
   *
   * @param client The connected client (standalone).
   * @param commands The commands.
   * @returns One outcome per command: its reply, or the `Error` it failed with.
   */
  exec(client: RedisClient, commands: Command[]): Promise<unknown[]> {
    const redis = client as Redis;
    const socket = redis.stream as typeof redis.stream | undefined;
    const sent: Promise<unknown>[] = [];
    if (
      commands.length === 1 || redis.status !== "ready" || !socket?.writable ||
      socket.writableEnded
    ) {
      for (const command of commands) sent.push(redis.sendCommand(command) as Promise<unknown>);
    } else {
      // One write for all: ioredis queues each command for its reply and hands
      // its bytes to the stream it is given (as its own pipelines do). A
      // command ioredis sends again after a reconnection goes straight out.
      let data: string | undefined = "";
      const buffer = {
        write(chunk: string) {
          if (data === undefined) redis.stream.write(chunk);
          else data += chunk;
        },
      };
      for (const command of commands) {
        sent.push(redis.sendCommand(command, buffer as never) as Promise<unknown>);
      }
      socket.write(data);
      data = undefined;
    }
    return this.guard(Promise.all(sent.map((reply) => reply.catch((error: Error) => error))));
  }

  /** True once {@linkcode _StoreClient.close} was called. */
  get closed(): boolean {
    return this.#closed;
  }

  /** The client once connected (or borrowed), else undefined. */
  get current(): RedisClient | undefined {
    return this.#client;
  }

  /** The connected client (connects on first call). */
  get(): Promise<RedisClient> {
    if (this.#closed) return Promise.reject(this.#closedError());
    if (this.#client) return Promise.resolve(this.#client);
    this.#connecting ??= this.#connect({}).then(
      (client) => {
        if (this.#closed) {
          client.disconnect();
          throw this.#closedError();
        }
        client.on("close", this.#onClose);
        this.#client = client;
        return client;
      },
      (error) => {
        this.#connecting = undefined;
        throw error;
      },
    );
    return this.#connecting;
  }

  /**
   * Opens another connection to the store's server for its write lanes
   * (`_write_lanes.ts`), closed with the store: made like the store's own,
   * or, when the store borrows its client, a copy of that client (same
   * options). Its closing starts a new generation, as the store's own does.
   *
   * @returns The connection once ready; `undefined` when the store is
   * closed or not connected to a standalone server.
   */
  openLane(): Promise<RedisClient> | undefined {
    const main = this.#client;
    if (this.#closed || !main || main.isCluster) return undefined;
    const opening = this.#owned
      ? this.#connect({ cluster: false, checkServer: false })
      : _copy(main as Redis);
    return opening.then((client) => {
      if (this.#closed) {
        client.disconnect();
        throw this.#closedError();
      }
      client.on("close", this.#onClose);
      this.#lanes.add(client);
      return client;
    });
  }

  #connect(extra: { cluster?: false; checkServer?: false }): Promise<RedisClient> {
    return connectRedis({
      ...this.#options.connection,
      ...(this.#watchdog ? { commandTimeoutMs: 0 } : {}),
      ...extra,
      redisUrl: this.#options.redisUrl,
      clock: this.clock,
      retry: this.retry,
      unavailableAfterMs: this.#unavailableAfterMs,
      signal: this.#abort.signal,
    });
  }

  /**
   * Options for {@linkcode withRetry}: the store's budgets, clock and close
   * signal; a transient failure starts a new generation.
   */
  get retryOptions(): WithRetryOptions {
    return {
      ...this.retry,
      unavailableAfterMs: this.#unavailableAfterMs,
      clock: this.clock,
      signal: this.#abort.signal,
      retryIf: this.#retryIf,
    };
  }

  /**
   * Runs an idempotent operation with the client's scripts, retrying
   * transient failures.
   */
  async run<T>(
    operation: string,
    fn: (client: RedisClient, scripts: _Scripts) => Promise<T>,
  ): Promise<T> {
    const client = this.#client ?? await this.get();
    const scripts = _scripts(client);
    return await withRetry(operation, () => this.guard(fn(client, scripts)), this.retryOptions);
  }

  /**
   * Sends one idempotent command, retrying transient failures. On a
   * standalone server the commands sent in one tick travel in one pipeline
   * (one write, one read); a Cluster client sends them directly (ioredis
   * groups them by node when auto-pipelining is on).
   *
   * @param operation For the error message.
   * @param call Issues exactly one command on its target and returns its result.
   */
  async send<T>(operation: string, call: (target: _Target) => Promise<T>): Promise<T> {
    const client = this.#client ?? await this.get();
    if (client.isCluster) {
      const target = _scripts(client) as unknown as _Target;
      return await withRetry(operation, () => this.guard(call(target)), this.retryOptions);
    }
    return await withRetry(operation, () => this.#batch(client, call), this.retryOptions);
  }

  #batch<T>(client: RedisClient, call: (target: _Target) => Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const queue = this.#queue;
      queue.push({ call, resolve: resolve as (value: unknown) => void, reject });
      if (queue.length === 1) queueMicrotask(() => queue === this.#queue && this.#flush(client));
      // A full batch goes out at once, so that Redis works while the next one is built.
      else if (queue.length >= MAX_BATCH) this.#flush(client);
    });
  }

  #flush(client: RedisClient): void {
    const queue = this.#queue;
    this.#queue = [];
    _scripts(client); // a pipeline copies the scripts defined on its client
    const pipeline = (client as Redis).pipeline() as unknown as _Target & {
      exec(): Promise<[Error | null, unknown][] | null>;
    };
    for (const item of queue) item.call(pipeline);
    this.guard(pipeline.exec()).then(
      (results) => {
        queue.forEach((item, i) => {
          const [error, value] = results?.[i] ?? [new Error("Connection is closed."), undefined];
          if (error) item.reject(error);
          else item.resolve(value);
        });
      },
      (error: unknown) => {
        for (const item of queue) item.reject(error);
      },
    );
  }

  /** Closes an owned client; idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#abort.abort(this.#closedError());
    this.#watchdog?.close();
    const client = this.#client ?? await this.#connecting?.catch(() => undefined);
    const owned = this.#owned && client ? [client, ...this.#lanes] : [...this.#lanes];
    for (const connection of [client, ...this.#lanes]) connection?.off("close", this.#onClose);
    this.#lanes.clear();
    await Promise.all(owned.map(_quit));
  }

  #closedError(): StoreUnavailableError {
    return new StoreUnavailableError(this.#name, { cause: new Error("the store is closed") });
  }
}

/** Closes a connection: after the replies it waits for when it is ready, at once otherwise. */
async function _quit(client: RedisClient): Promise<void> {
  if (client.status !== "ready") return client.disconnect();
  try {
    await client.quit();
  } catch {
    client.disconnect();
  }
}

/** A new connection with the options of a borrowed client, once ready. */
async function _copy(main: Redis): Promise<RedisClient> {
  const copy = main.duplicate({ lazyConnect: true });
  copy.on("error", () => {}); // the borrowed client reports the same failures
  try {
    await copy.connect();
  } catch (error) {
    copy.disconnect();
    throw error;
  }
  return copy;
}
