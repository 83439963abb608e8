/**
 * The connection of one Redis store: connects lazily on first use (so that a
 * store can be constructed synchronously), retries operations, and releases
 * the connection on close. A client passed in by the caller is borrowed,
 * never closed.
 *
 * @module
 */
import { type Clock, systemClock } from "../clock.ts";
import { StoreUnavailableError } from "../errors.ts";
import { connectRedis, type RedisClient } from "./connection.ts";
import { type RetryOptions, withRetry, type WithRetryOptions } from "./retry.ts";
import type { RedisStoreOptions } from "./redis_store_options.ts";

export type { RedisStoreOptions };
import type { Redis } from "ioredis";
import { type _Scripts, _scripts } from "./_scripts.ts";

const MAX_BATCH = 256;

/** What a batched command is issued on: the client or a pipeline. */
export type _Target =
  & _Scripts
  & Pick<Redis, "hmget" | "xrange" | "xrevrange" | "xlen" | "exists" | "zadd" | "zrevrange">;

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

  constructor(name: string, options: RedisStoreOptions) {
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
    this.#owned = !options.client;
    this.#client = options.client;
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
    this.#connecting ??= connectRedis({
      ...this.#options.connection,
      redisUrl: this.#options.redisUrl,
      clock: this.clock,
      retry: this.retry,
      signal: this.#abort.signal,
    }).then(
      (client) => {
        if (this.#closed) {
          client.disconnect();
          throw this.#closedError();
        }
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

  /** Options for {@linkcode withRetry}: the store's budget, clock and close signal. */
  get retryOptions(): WithRetryOptions {
    return { ...this.retry, clock: this.clock, signal: this.#abort.signal };
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
    return await withRetry(operation, () => fn(client, scripts), this.retryOptions);
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
      return await withRetry(operation, () => call(target), this.retryOptions);
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
    pipeline.exec().then(
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
    const client = this.#client ?? await this.#connecting?.catch(() => undefined);
    if (client && this.#owned) {
      if (client.status !== "ready") return client.disconnect();
      try {
        await client.quit();
      } catch {
        client.disconnect();
      }
    }
  }

  #closedError(): StoreUnavailableError {
    return new StoreUnavailableError(this.#name, { cause: new Error("the store is closed") });
  }
}
