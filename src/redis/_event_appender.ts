/**
 * The write engine of the Redis event store: how an append travels from
 * `appendEvent` to Redis and back.
 *
 * ## Two paths
 * The appends issued in one tick are routed together, per execution:
 *
 * - **Direct** (standalone servers): an execution's lone append of the tick,
 *   without fencing token and index key, on an execution this store has not
 *   fenced and has nothing in flight for, whose last seq the store knows
 *   (from its own earlier appends, recently, in the current connection
 *   generation: see `_append_heads.ts`). The store proposes the next seq and
 *   adds the event with that explicit id (`XADD … NOMKSTREAM <seq>-0`):
 *   plain commands for a few appends, one call of a minimal script for
 *   many (`_fast_appends.ts`). Expiries are set only when they must move
 *   (see Retention). A refused id (another writer took it) or a vanished log
 *   sends the append down the script path.
 * - **Script** (everything else: first appends, fenced, conditional
 *   (`expectedSeq`) or keyed appends,
 *   several appends of one execution in a tick, Redis Cluster): the
 *   group-commit script, one call per tick on a standalone server (up to 512
 *   appends, any executions), one per execution on a Cluster
 *   (`_append_batches.ts`). Per execution it reads the stream length (and
 *   the fencing token when an append carries one), adds each event, sets the
 *   index keys and checks the expiry, so fencing and the expected seq are
 *   atomic with the append.
 *
 * The executions indexes are kept up to date beside both paths
 * (`_index_writes.ts`).
 *
 * ## Idempotent appends
 * A direct append retries with the same id: if the entry at that id holds
 * its event, the earlier attempt stored it. A script batch stores its reply
 * under a key named after the batch, and a retry finds that record and
 * returns the events already stored (see `_batch_scripts.ts`).
 *
 * ## Retention
 * The script reads the expiry in force and sets it when it is off by more
 * than the tolerance (1 % or 1 s, whichever is less); a direct append sets
 * it (`PEXPIRE`, before its `XADD`) unless this store set that very
 * retention less than half the tolerance ago, which holds as long as only
 * appends change expiries (another writer's append makes the direct append's
 * id collide, and the script path then reads the expiry).
 *
 * @module
 */
import { FencedError, StaleVersionError } from "../persistence/store_errors.ts";
import {
  type AppendOptions,
  DEFAULT_RETENTION_SECONDS,
  type EventInput,
  type StoredEvent,
} from "../events/event_store.ts";
import {
  _appendOptions,
  _checkExecutionId,
  _checkRetention,
  _encodeEvent,
} from "../events/_event_codec.ts";
import type { ExecutionIndexEntry } from "../events/execution_index.ts";
import { _checkIndexEntry } from "../events/_index_codec.ts";
import type { RedisClient } from "./connection.ts";
import { _GroupCommit } from "./_group_commit.ts";
import type { _StoreClient } from "./_store_client.ts";
import type { _AppendHeads, _Head } from "./_append_heads.ts";
import { _sendFastAppends } from "./_fast_appends.ts";
import { type _Append, _AppendBatches, type _AppendReply } from "./_append_batches.ts";
import { _IndexWrites } from "./_index_writes.ts";

/** Most appends in one script call (ARGV stays far below Lua's `unpack` limit). */
const MAX_BATCH = 512;
/** Executions with appends in one tick before they are routed without waiting for its end. */
const ROUTE_AT = 256;

/** Options of {@linkcode _EventAppender}. */
export interface _EventAppenderOptions {
  /** The store's heads (shared with the claims, which mark fenced logs). */
  heads: _AppendHeads<_Append>;
  /**
   * The store's retention of a log after its last append, in seconds.
   * @default {DEFAULT_RETENTION_SECONDS}
   */
  retentionSeconds?: number | undefined;
}

/** @internal Routes and sends the appends of one event store. */
export class _EventAppender {
  #redis: _StoreClient;
  #heads: _AppendHeads<_Append>;
  #appends: _GroupCommit<_Append, _AppendReply>;
  #batches: _AppendBatches;
  #index: _IndexWrites;
  #tick: _Head<_Append>[] = [];
  #retentionSeconds: number;
  #ttlMs: number;
  /** The longest retention of this store's appends (ms): index entries older than it are trimmed. */
  #longestTtlMs: number;

  /**
   * @param redis The store's client.
   * @param options Heads and retention.
   * @throws {RangeError} When `retentionSeconds` or a `retry` option of the client is out of range.
   */
  constructor(redis: _StoreClient, options: _EventAppenderOptions) {
    this.#redis = redis;
    this.#heads = options.heads;
    this.#appends = new _GroupCommit(redis, {
      maxBatch: MAX_BATCH,
      send: (client, items, batch) => this.#batches.send(client, items, batch),
    });
    this.#retentionSeconds = options.retentionSeconds ?? DEFAULT_RETENTION_SECONDS;
    _checkRetention(this.#retentionSeconds, "retentionSeconds");
    this.#ttlMs = Math.ceil(this.#retentionSeconds * 1000);
    this.#longestTtlMs = this.#ttlMs;
    this.#index = new _IndexWrites(redis, this.#heads);
    this.#batches = new _AppendBatches(redis, {
      heads: this.#heads,
      indexWrites: this.#index,
      ttlMs: this.#ttlMs,
    });
  }

  /** The store's retention in ms. */
  get ttlMs(): number {
    return this.#ttlMs;
  }

  /**
   * Queues an append; it is routed at the end of the tick (or at once when
   * the tick is large).
   *
   * @param executionId The execution whose log receives the event.
   * @param event The event.
   * @param options Retention, fencing token, expected seq and index entry.
   * @returns The stored event.
   */
  append(
    executionId: string,
    event: EventInput,
    options?: AppendOptions,
  ): Promise<StoredEvent> {
    let ttlMs: number, fencingToken: number | undefined, time: number;
    let expectedSeq: number | undefined;
    let index: ExecutionIndexEntry | undefined;
    let head: _Head<_Append>, record: StoredEvent, json: string;
    try {
      _checkExecutionId(executionId);
      if (options === undefined) {
        ttlMs = this.#ttlMs;
        fencingToken = undefined;
      } else {
        ({ ttlMs, fencingToken, expectedSeq } = _appendOptions(options, this.#retentionSeconds));
        if (ttlMs > this.#longestTtlMs) this.#longestTtlMs = ttlMs;
        index = options.index;
        if (index !== undefined) _checkIndexEntry(executionId, index);
      }
      time = this.#redis.clock.now();
      head = this.#heads.get(executionId);
      const encoded = _encodeEvent(executionId, event, {
        id: crypto.randomUUID(),
        time,
        where: head.events,
      });
      // The record is this append's own object: completed with its seq, it is the result.
      record = encoded.record as StoredEvent;
      record.executionId = executionId;
      json = encoded.json;
    } catch (error) {
      return Promise.reject(error);
    }
    return new Promise<StoredEvent>((resolve, reject) => {
      const append: _Append = {
        executionId,
        events: head.events,
        meta: head.meta,
        json,
        seq: 0,
        ttlMs,
        renew: false,
        fencingToken,
        expectedSeq,
        key: record.key,
        index,
        time,
        head,
        record,
        resolve,
        reject,
      };
      if (head.tick) head.tick.push(append);
      else {
        head.tick = [append];
        const size = this.#tick.push(head);
        if (size === 1) queueMicrotask(() => this.#route());
        // A large tick goes out in parts, so that Redis works while the rest is built.
        else if (size >= ROUTE_AT) this.#route();
      }
    });
  }

  /**
   * Waits for the index writes in flight (close).
   *
   * @returns Once they are all answered or failed.
   */
  settle(): Promise<void> {
    return this.#index.settle();
  }

  /**
   * Routes the appends of a tick. An execution's lone append goes directly
   * (`_fast_appends.ts`) when it carries no fencing token, expected seq and index key,
   * the execution is not fenced, nothing of it is in flight and its head is
   * trusted (`_append_heads.ts`); all other appends go to the group-commit
   * script, in the order they were issued.
   */
  #route(): void {
    const heads = this.#tick;
    this.#tick = [];
    const client = this.#redis.current;
    const direct = client !== undefined && !client.isCluster && !this.#redis.closed;
    const now = this.#redis.clock.now();
    this.#index.trimIfDue(now, this.#longestTtlMs);
    const generation = this.#redis.generation;
    const fast: _Append[] = [];
    for (const head of heads) {
      const appends = head.tick!;
      head.tick = undefined;
      const append = appends[0]!;
      if (
        direct && appends.length === 1 && head.busy === 0 && !head.fenced &&
        append.fencingToken === undefined && append.expectedSeq === undefined &&
        append.key === undefined && append.index === undefined &&
        this.#heads.trusted(head, now, generation)
      ) {
        append.seq = head.seq + 1;
        append.renew = this.#heads.mustRenew(head, now, append.ttlMs);
        fast.push(append);
        head.busy++;
        continue;
      }
      for (const append of appends) {
        if (append.fencingToken !== undefined) head.fenced = true;
        this.#script(append);
      }
    }
    if (fast.length > 0) this.#direct(client!, fast, now, generation);
  }

  /** Sends an append through the group-commit script. */
  #script(append: _Append): void {
    const { head } = append;
    head.busy++;
    this.#appends.add(append.executionId, `appendEvent("${append.executionId}")`, append).then(
      ([status, value]) => {
        head.busy--;
        if (status === -1) {
          append.reject(new FencedError(append.executionId, append.fencingToken!, value));
        } else if (status === -2) {
          append.reject(new StaleVersionError(append.executionId, append.expectedSeq!, value));
        } else {
          append.record.seq = value;
          append.resolve(append.record);
        }
      },
      (error: unknown) => {
        head.busy--;
        head.seq = 0;
        append.reject(error);
      },
    );
  }

  /** Sends the direct appends of a tick; those that need the script take it. */
  async #direct(
    client: RedisClient,
    fast: _Append[],
    sentAt: number,
    generation: number,
  ): Promise<void> {
    let outcomes: Awaited<ReturnType<typeof _sendFastAppends>>;
    try {
      outcomes = await _sendFastAppends(this.#redis, client, fast);
    } catch (error) { // not expected (outcomes carry the failures): fail these appends alone
      for (const append of fast) {
        append.head.busy--;
        append.head.seq = 0;
        append.reject(error);
      }
      return;
    }
    const members: (string | number)[] = [];
    for (let i = 0; i < fast.length; i++) {
      const { head, time, executionId } = fast[i]!;
      if (outcomes[i] !== "stored" || time <= head.indexed) continue;
      members.push(time, executionId);
      head.indexed = time;
    }
    if (members.length > 0) this.#index.touchDirect(client, members);
    for (let i = 0; i < fast.length; i++) {
      const append = fast[i]!;
      const { head } = append;
      const outcome = outcomes[i]!;
      head.busy--;
      if (outcome === "stored") {
        this.#heads.learn(head, append.seq, generation, sentAt);
        if (append.renew) this.#heads.renewed(head, append.ttlMs, sentAt, true);
        append.record.seq = append.seq;
        append.resolve(append.record);
        continue;
      }
      head.seq = 0;
      if (outcome === "script") this.#script(append);
      else append.reject(outcome);
    }
  }
}
