/**
 * Group commit: writes issued in the same tick travel together in one script
 * call, so that the fixed cost of a call (a round trip, a script run, a retry
 * loop, a reply) is paid once per batch instead of once per write.
 *
 * On a standalone server a batch may mix any groups (executions, snapshot
 * scopes); on a Redis Cluster a script may only touch one hash slot, so a
 * batch holds the writes of one group (one hash tag). A batch holds at most
 * `maxBatch` writes: a full one is sent at once, so that Redis executes it
 * while the next one is being built.
 *
 * @module
 */
import type { RedisClient } from "./connection.ts";
import { StoreUnavailableError } from "../errors.ts";
import { withRetry } from "./retry.ts";
import type { _StoreClient } from "./_store_client.ts";

/** Options of {@linkcode _GroupCommit}. */
export interface _GroupCommitOptions<I, R> {
  /** Most writes in one call. */
  maxBatch: number;
  /**
   * Sends one batch; resolves with one outcome per item, in order: a result,
   * or an `Error` that rejects that write alone. It is called again (attempt
   * 2, 3, …) after a transient failure, so it must be idempotent.
   */
  send(client: RedisClient, items: I[], attempt: number): Promise<(R | Error)[]>;
}

interface _Entry<I, R> {
  item: I;
  operation: string;
  resolve(value: R): void;
  reject(error: unknown): void;
}

/** @internal Coalesces the writes of one tick into batches. */
export class _GroupCommit<I, R> {
  #redis: _StoreClient;
  #options: _GroupCommitOptions<I, R>;
  #groups = new Map<string, _Entry<I, R>[]>();
  #size = 0;
  #scheduled = false;

  constructor(redis: _StoreClient, options: _GroupCommitOptions<I, R>) {
    this.#redis = redis;
    this.#options = options;
  }

  /**
   * Queues a write; it is sent at the end of the tick, or at once when the
   * batch is full.
   *
   * @param group The hash tag the write touches.
   * @param operation For errors, e.g. `appendEvent("exec-1")`.
   * @param item What the batch sender needs.
   * @returns The outcome of the write.
   */
  add(group: string, operation: string, item: I): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      const entries = this.#groups.get(group);
      const entry = { item, operation, resolve, reject };
      if (entries) entries.push(entry);
      else this.#groups.set(group, [entry]);
      if (++this.#size >= this.#options.maxBatch) this.#flush();
      else if (!this.#scheduled) {
        this.#scheduled = true;
        queueMicrotask(() => {
          this.#scheduled = false;
          this.#flush();
        });
      }
    });
  }

  #flush(): void {
    if (this.#size === 0) return;
    const groups = this.#groups;
    this.#groups = new Map();
    this.#size = 0;
    const client = this.#redis.current;
    if (client && !this.#redis.closed) return this.#dispatch(client, groups);
    this.#redis.get().then(
      (connected) => this.#dispatch(connected, groups),
      (error: unknown) => {
        for (const entries of groups.values()) for (const entry of entries) entry.reject(error);
      },
    );
  }

  #dispatch(client: RedisClient, groups: Map<string, _Entry<I, R>[]>): void {
    const max = this.#options.maxBatch;
    if (client.isCluster) {
      for (const entries of groups.values()) {
        for (let i = 0; i < entries.length; i += max) this.#run(client, entries.slice(i, i + max));
      }
      return;
    }
    let batch: _Entry<I, R>[] = [];
    for (const entries of groups.values()) {
      for (const entry of entries) {
        batch.push(entry);
        if (batch.length === max) {
          this.#run(client, batch);
          batch = [];
        }
      }
    }
    if (batch.length) this.#run(client, batch);
  }

  async #run(client: RedisClient, entries: _Entry<I, R>[]): Promise<void> {
    const items = entries.map((entry) => entry.item);
    const first = entries[0]!.operation;
    const operation = entries.length === 1 ? first : `${first} and ${entries.length - 1} more`;
    let outcomes: (R | Error)[];
    try {
      outcomes = await withRetry(
        operation,
        (attempt) => this.#options.send(client, items, attempt),
        this.#redis.retryOptions,
      );
    } catch (error) {
      for (const entry of entries) {
        entry.reject(
          error instanceof StoreUnavailableError && entries.length > 1
            ? new StoreUnavailableError(entry.operation, { cause: error.cause })
            : error,
        );
      }
      return;
    }
    entries.forEach((entry, i) => {
      const outcome = outcomes[i];
      if (outcome instanceof Error) entry.reject(outcome);
      else entry.resolve(outcome as R);
    });
  }
}
