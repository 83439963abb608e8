/**
 * Group commit: writes issued in the same tick travel together in one script
 * call, so that the fixed cost of a call (a round trip, a script run, a retry
 * loop, a reply) is paid once per batch instead of once per write.
 *
 * On a standalone server a batch may mix any groups (executions, snapshot
 * scopes); on a Redis Cluster a script may only touch one hash slot, so a
 * batch holds the writes of one group (one hash tag). A batch holds at most
 * `maxBatch` writes (a full one is dispatched at once), which bounds the size
 * of one script call. With more than one write lane, the batches of a
 * standalone server spread over several connections (`_write_lanes.ts`).
 *
 * @module
 */
import type { RedisClient } from "./connection.ts";
import { StoreUnavailableError } from "../persistence/store_errors.ts";
import { resolveRetryOptions, withRetry } from "./retry.ts";
import type { _StoreClient } from "./_store_client.ts";
import { _mayResend } from "./_batch_scripts.ts";
import { _WriteLanes } from "./_write_lanes.ts";

/** What identifies one batch across its attempts. */
export interface _Batch {
  /** Unique id of the batch, the same for every attempt (names its record). */
  id: string;
  /** How long Redis keeps the batch record: longer than any retry may come. */
  recordMs: number;
  /** Whether this attempt must look the record up first (see `_batch_scripts.ts`). */
  lookup: boolean;
  /** When the first attempt was made (store clock, ms): the batch ran no earlier. */
  sentAt: number;
  /** The connection generation of the first attempt (see `_StoreClient.generation`). */
  generation: number;
}

/** Options of {@linkcode _GroupCommit}. */
export interface _GroupCommitOptions<I, R> {
  /** Most writes in one call. */
  maxBatch: number;
  /**
   * Most connections the batches of a standalone server use at once (see
   * `_write_lanes.ts`); the writes of one order key stay in order.
   * @default {1}
   */
  lanes?: number;
  /**
   * Sends one batch; resolves with one outcome per item, in order: a result,
   * or an `Error` that rejects that write alone. It is called again with the
   * same `batch` after a transient failure, so it must be idempotent (the
   * batch scripts keep a record named after `batch.id`).
   */
  send(client: RedisClient, items: I[], batch: _Batch): Promise<(R | Error)[]>;
}

const DAY_MS = 86_400_000;

interface _Entry<I, R> {
  item: I;
  order: string;
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
  #recordMs: number;
  #lanes: _WriteLanes | undefined;

  constructor(redis: _StoreClient, options: _GroupCommitOptions<I, R>) {
    this.#redis = redis;
    this.#options = options;
    // A batch record outlives every retry: twice the retry budget plus 30 s
    // (90 s by default), at most a day (an unbounded budget).
    const budget = resolveRetryOptions(redis.retry).maxElapsedMs;
    this.#recordMs = Math.min(DAY_MS, Math.max(60_000, 2 * budget + 30_000));
    const lanes = options.lanes ?? 1;
    if (lanes > 1) this.#lanes = new _WriteLanes(redis, lanes);
  }

  /**
   * Queues a write; it is sent at the end of the tick, or at once when the
   * batch is full.
   *
   * @param group The hash tag the write touches.
   * @param operation For errors, e.g. `appendEvent("exec-1")`.
   * @param item What the batch sender needs.
   * @param order The writes that must apply in the order they were issued
   * share this key (with several lanes). @default {group}
   * @returns The outcome of the write.
   */
  add(group: string, operation: string, item: I, order: string = group): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      const entries = this.#groups.get(group);
      const entry = { item, order, operation, resolve, reject };
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
    const lanes = this.#lanes;
    if (!lanes) {
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
      return;
    }
    // A write joins the lane its key is pinned to, else the freest lane.
    const open = new Map<number, _Entry<I, R>[]>();
    let free = lanes.free();
    for (const entries of groups.values()) {
      for (const entry of entries) {
        const lane = lanes.pinned(entry.order) ?? free;
        lanes.pin(entry.order, lane);
        let batch = open.get(lane);
        if (!batch) open.set(lane, batch = []);
        batch.push(entry);
        if (batch.length < max) continue;
        open.delete(lane);
        this.#onLane(client, lane, batch);
        if (lane === free) free = lanes.free();
      }
    }
    for (const [lane, batch] of open) this.#onLane(client, lane, batch);
  }

  #onLane(main: RedisClient, lane: number, batch: _Entry<I, R>[]): void {
    const lanes = this.#lanes!;
    lanes.sent(lane);
    const client = lanes.client(lane, main);
    this.#run(client, batch).then(async (answered) => {
      // A batch that gave up (a timeout) may still have an attempt queued on
      // its connection: its keys stay on this lane until a command sent after
      // it is answered, or the connection drops and takes the attempt along.
      if (!answered) await client.ping().catch(() => {});
      lanes.settled(lane);
      for (const entry of batch) lanes.unpin(entry.order);
    });
  }

  /** Sends a batch, retrying; resolves `false` when it gave up (its writes are rejected). */
  async #run(client: RedisClient, entries: _Entry<I, R>[]): Promise<boolean> {
    const items = entries.map((entry) => entry.item);
    const first = entries[0]!.operation;
    const operation = entries.length === 1 ? first : `${first} and ${entries.length - 1} more`;
    const id = crypto.randomUUID();
    const recordMs = this.#recordMs;
    const resends = _mayResend(client);
    const sentAt = this.#redis.clock.now();
    const generation = this.#redis.generation;
    let outcomes: (R | Error)[];
    try {
      outcomes = await withRetry(
        operation,
        (attempt) =>
          this.#redis.guard(this.#options.send(client, items, {
            id,
            recordMs,
            lookup: resends || attempt > 1,
            sentAt,
            generation,
          })),
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
      return false;
    }
    entries.forEach((entry, i) => {
      const outcome = outcomes[i];
      if (outcome instanceof Error) entry.reject(outcome);
      else entry.resolve(outcome as R);
    });
    return true;
  }
}
