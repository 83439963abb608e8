/**
 * The production {@linkcode EventStore}: one Redis Stream per execution.
 *
 * ## Keys (prefix `oao:` by default)
 * - `oao:{<executionId>}:events` — the stream; entry id `<seq>-0`, field `e`
 *   holds the event as JSON (without execution id and sequence number).
 *   Entries are never deleted, so the length of the stream is the last seq.
 * - `oao:{<executionId>}:meta` — a hash, created by the first fence, claim or
 *   index key: `fence` (fencing token), `k:<key>` (index key → seq, for
 *   {@linkcode RedisEventStore.findByKey}) and the claim of the runner that
 *   holds the execution (`owner`, `otoken`, `ountil`).
 * - `oao:{<executionId>}:batch:<uuid>` — the reply of one script batch of
 *   appends, kept 90 s (twice the retry budget plus 30 s) so that a retried
 *   batch is answered, not applied again.
 * - `oao:executions` — a sorted set of execution ids scored by the time of
 *   their last append, for {@linkcode RedisEventStore.listExecutions}.
 * - `oao:{executions-index}:…` — the executions index of
 *   {@linkcode RedisEventStore.queryExecutions} (sorted sets by creation
 *   time, overall and per status, and the entries; see `_index_scripts.ts`).
 *   An append with `index` writes its entry in its script on a standalone
 *   server (atomically with the event); on a Cluster the index is in another
 *   slot, so a second script writes it right after, before the append
 *   resolves (a process that dies in between leaves the entry at its
 *   previous state until the execution's next indexed append). Indexed
 *   appends always take the script path.
 *
 * The hash tag `{<executionId>}` keeps the keys of one execution in one
 * Redis Cluster slot. The stream id carries the order: Redis accepts an
 * entry only with an id greater than the last one, so two writers can never
 * both store an event at one seq, nor leave a gap. An append resolves only
 * once Redis has acknowledged it, durable as far as its `appendfsync` makes
 * it (write-ahead).
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
 * - **Script** (everything else: first appends, fenced or keyed appends,
 *   several appends of one execution in a tick, Redis Cluster): the
 *   group-commit script, one call per tick on a standalone server (up to 512
 *   appends, any executions), one per execution on a Cluster. Per execution
 *   it reads the stream length (and the fencing token when an append carries
 *   one), adds each event, sets the index keys and checks the expiry, so
 *   fencing is atomic with the append.
 *
 * Concurrent appends of one execution from one store get consecutive
 * sequence numbers in the order they were issued, unless a direct append is
 * refused and takes the script path (then it follows those issued after it).
 * An append that fails in Redis (a key of the wrong type…) fails alone.
 *
 * ## Idempotent appends
 * A retry after an ambiguous failure (the connection dropped or the command
 * timed out after it was sent), or a resend by the client library, stores
 * nothing twice. A direct append retries with the same id: if the entry at
 * that id holds its event, the earlier attempt stored it. A script batch
 * stores its reply under a key named after the batch, and a retry finds that
 * record and returns the events already stored (see `_batch_scripts.ts`).
 *
 * ## The executions index
 * The script updates `oao:executions` itself (`ZADD GT`) on a standalone
 * server. Direct appends update it with one `ZADD GT` for the tick, written
 * before they resolve (so this store's later commands follow it) and only
 * when the score grows. On a Redis Cluster the index lives in another slot,
 * so it is updated by a `ZADD GT` sent right after the scripts (one for the
 * appends of a tick); it may then list an execution whose append was
 * rejected by fencing. Listing skips logs that no longer exist and removes
 * them from the index, and the index is trimmed: at most once a minute, an
 * append removes the ids whose last append is older than the longest
 * retention the store has used (plus a minute), so the index holds the
 * executions of one retention, not every execution ever run. (An execution
 * whose appends give a longer `expire` than those of the store that trims
 * may leave the listing before its log expires; give one retention to every
 * writer.) A failure to update or trim the index is logged, never reported
 * as a failed append.
 *
 * ## Retention
 * An append keeps the expiry of the stream and the meta hash at `expire`
 * seconds (default: the store's `retentionSeconds`, 7 days) from now, within
 * 1 % or 1 s, whichever is less: a log expires between `expire − min(1 %,
 * 1 s)` and `expire` after its last append. The script reads the expiry in
 * force and sets it when it is off by more; a direct append sets it
 * (`PEXPIRE`, before its `XADD`) unless this store set that very retention
 * less than half the tolerance ago, which holds as long as only appends
 * change expiries (another writer's append makes the direct append's id
 * collide, and the script path then reads the expiry). Of the appends of one
 * execution in one batch, the last one stored decides.
 *
 * @module
 */
import { getLogger } from "@logtape/logtape";
import { FencedError } from "../errors.ts";
import {
  type AppendOptions,
  type ClaimRequest,
  type ClaimResult,
  DEFAULT_RETENTION_SECONDS,
  type EventInput,
  type EventStore,
  type RangeOptions,
  type StoredEvent,
  type SubscribeOptions,
} from "../events/event_store.ts";
import {
  _after,
  _appendOptions,
  _checkClaim,
  _checkExecutionId,
  _checkRetention,
  _checkToken,
  _decodeEvent,
  _encodeEvent,
  _listLimit,
  _range,
  _subscribeStart,
} from "../events/_event_codec.ts";
import type { Cluster } from "ioredis";
import type {
  ExecutionIndexEntry,
  ExecutionPage,
  ExecutionQuery,
  IndexedExecution,
} from "../events/execution_index.ts";
import {
  _checkIndexEntry,
  _checkQuery,
  _encodeCursor,
  _SCAN_BUDGET,
} from "../events/_index_codec.ts";
import { _INDEX_SCRIPTS, _runIndexScript } from "./_index_scripts.ts";
import { type RedisClient, withRetry } from "./connection.ts";
import { type _Batch, _GroupCommit } from "./_group_commit.ts";
import { _BATCH_SCRIPTS, _replyError, _runBatchScript } from "./_batch_scripts.ts";
import { _StoreClient, type _Target } from "./_store_client.ts";
import { _AppendHeads, type _Head } from "./_append_heads.ts";
import { type _FastAppend, _sendFastAppends, _sendIndex } from "./_fast_appends.ts";
import type { RedisStoreOptions } from "./redis_store_options.ts";

/** Options of {@linkcode RedisEventStore}. */
export interface RedisEventStoreOptions extends RedisStoreOptions {
  /**
   * Retention of a log after its last append, in seconds; an append may
   * override it with `expire`.
   * @default {DEFAULT_RETENTION_SECONDS}
   */
  retentionSeconds?: number;
  /**
   * How long one blocking read of a live subscription waits (`XREAD BLOCK`)
   * before it is reissued, in milliseconds.
   * @default {5000}
   */
  subscribeBlockMs?: number;
}

const logger = getLogger(["oao", "redis"]);
const PAGE = 1_000;
/** Most appends in one script call (ARGV stays far below Lua's `unpack` limit). */
const MAX_BATCH = 512;
/** Executions with appends in one tick before they are routed without waiting for its end. */
const ROUTE_AT = 256;
/** How often the executions index is trimmed, and how much older than the retention an id must be. */
const TRIM_EVERY_MS = 60_000;

/**
 * One append, from the call to its outcome: routed at the end of its tick,
 * then sent directly (see `_fast_appends.ts`, which reads its `_FastAppend`
 * fields) or through the group-commit script.
 */
interface _Append extends _FastAppend {
  fencingToken: number | undefined;
  key: string | undefined;
  /** The status index entry the append writes, if any. */
  index: ExecutionIndexEntry | undefined;
  time: number;
  head: _Head<_Append>;
  /** The stored event, completed with its seq when the append succeeds. */
  record: StoredEvent;
  resolve(stored: StoredEvent): void;
  reject(error: unknown): void;
}

/** What the script answered for one append: status (1 appended, -1 fenced) and seq or fence. */
type _AppendReply = [number, number];

/**
 * An {@linkcode EventStore} on Redis Streams. Connects on first use.
 *
 * Each active {@linkcode RedisEventStore.subscribe} holds a connection of its
 * own (a blocking `XREAD`), released when the subscription ends.
 *
 * @example
 * ```ts
 * import { RedisEventStore } from "./redis_event_store.ts";
 * const store = new RedisEventStore({ redisUrl: Deno.env.get("REDIS_URL"), keyPrefix: "oao-example:" });
 * // Keep this log 60 s after its last append instead of 7 days.
 * const event = await store.appendEvent("exec-1", { type: "STATE_ENTER", step: 1 }, { expire: 60 });
 * console.assert((await store.latest("exec-1"))?.id === event.id);
 * await store.close();
 * ```
 */
export class RedisEventStore implements EventStore {
  #redis: _StoreClient;
  #appends: _GroupCommit<_Append, _AppendReply>;
  #heads: _AppendHeads<_Append> = new _AppendHeads((id) => this.#tag(id));
  #tick: _Head<_Append>[] = [];
  #retentionSeconds: number;
  #ttlMs: number;
  /** The longest retention of this store's appends (ms): index entries older than it are trimmed. */
  #longestTtlMs: number;
  #trimmedAt = -Infinity;
  #blockMs: number;
  #pending = new Map<string, number>();
  #flush: Promise<void> | undefined;
  #inflight = new Set<Promise<void>>();
  #tails = new Set<AbortController>();

  /**
   * Creates a store; the connection is opened by the first operation.
   *
   * @param options URL (or client), key prefix, retention, clock and retry budget.
   * @throws {TypeError} When `keyPrefix` is invalid.
   * @throws {RangeError} When `retentionSeconds`, `subscribeBlockMs`, `unavailableAfterMs` or a
   * `retry` option is out of range.
   */
  constructor(options: RedisEventStoreOptions = {}) {
    this.#redis = new _StoreClient("RedisEventStore", options, { watchdog: true });
    this.#appends = new _GroupCommit(this.#redis, {
      maxBatch: MAX_BATCH,
      send: (client, items, batch) => this.#sendAppends(client, items, batch),
    });
    this.#retentionSeconds = options.retentionSeconds ?? DEFAULT_RETENTION_SECONDS;
    _checkRetention(this.#retentionSeconds, "retentionSeconds");
    this.#ttlMs = Math.ceil(this.#retentionSeconds * 1000);
    this.#longestTtlMs = this.#ttlMs;
    this.#blockMs = options.subscribeBlockMs ?? 5_000;
    if (!Number.isSafeInteger(this.#blockMs) || this.#blockMs < 1) {
      throw new RangeError(
        `Invalid subscribeBlockMs ${this.#blockMs}: expected a positive integer`,
      );
    }
  }

  /**
   * Appends an event; resolves once Redis has acknowledged it (the appends of
   * one tick travel together, directly or in one script call: see the module
   * doc).
   *
   * @param executionId The execution whose log receives the event.
   * @param event The event.
   * @param options Retention (`expire`, seconds from now) and fencing token.
   * @returns The stored event with its sequence number and id.
   * @throws {TypeError} When the execution id or an event field is invalid.
   * @throws {RangeError} When `expire` or `fencingToken` is out of range.
   * @throws {FencedError} When `fencingToken` is older than the registered one.
   * @throws {CorruptDataError} When the event cannot be serialized.
   * @throws {StoreUnavailableError} When Redis stays unreachable.
   */
  appendEvent(
    executionId: string,
    event: EventInput,
    options?: AppendOptions,
  ): Promise<StoredEvent> {
    let ttlMs: number, fencingToken: number | undefined, time: number;
    let index: ExecutionIndexEntry | undefined;
    let head: _Head<_Append>, record: StoredEvent, json: string;
    try {
      _checkExecutionId(executionId);
      if (options === undefined) {
        ttlMs = this.#ttlMs;
        fencingToken = undefined;
      } else {
        ({ ttlMs, fencingToken } = _appendOptions(options, this.#retentionSeconds));
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
   * Events with `from <= seq <= to`, in order (one `XRANGE`).
   *
   * @param executionId The execution.
   * @param options Bounds and limit.
   * @returns The events.
   * @throws {RangeError} When a bound or the limit is not a valid integer.
   * @throws {CorruptDataError} When a stored event cannot be decoded.
   * @throws {StoreUnavailableError} When Redis stays unreachable.
   */
  async readRange(executionId: string, options?: RangeOptions): Promise<StoredEvent[]> {
    _checkExecutionId(executionId);
    const { from, to, limit } = _range(options);
    return await this.#xrange("readRange", executionId, from, to, limit);
  }

  /**
   * Events with `seq > afterSeq`, in order.
   *
   * @param executionId The execution.
   * @param afterSeq The last sequence number already seen (0 for all).
   * @param limit Maximum number of events.
   * @returns The events.
   * @throws {RangeError} When `afterSeq` or `limit` is not a valid integer.
   * @throws {CorruptDataError} When a stored event cannot be decoded.
   * @throws {StoreUnavailableError} When Redis stays unreachable.
   */
  async readAfter(executionId: string, afterSeq: number, limit?: number): Promise<StoredEvent[]> {
    _checkExecutionId(executionId);
    const { after, limit: max } = _after(afterSeq, limit);
    return await this.#xrange("readAfter", executionId, after + 1, Infinity, max);
  }

  /**
   * The last event of a log.
   *
   * @param executionId The execution.
   * @returns The event, or `undefined` for an empty, unknown or expired log.
   * @throws {CorruptDataError} When the stored event cannot be decoded.
   * @throws {StoreUnavailableError} When Redis stays unreachable.
   */
  async latest(executionId: string): Promise<StoredEvent | undefined> {
    _checkExecutionId(executionId);
    const key = this.#keys(executionId).events;
    const reply = await this.#redis.send(
      `latest("${executionId}")`,
      (target) => target.xrevrange(key, "+", "-", "COUNT", 1),
    );
    return this.#decode(executionId, key, reply)[0];
  }

  /**
   * Number of events in a log (`XLEN`).
   *
   * @param executionId The execution.
   * @returns The count.
   * @throws {StoreUnavailableError} When Redis stays unreachable.
   */
  async count(executionId: string): Promise<number> {
    _checkExecutionId(executionId);
    const key = this.#keys(executionId).events;
    return await this.#redis.send(`count("${executionId}")`, (target) => target.xlen(key));
  }

  /**
   * The latest event appended with the index key `key` (one script: an
   * `HGET` in the meta hash, then an `XRANGE` of that entry).
   *
   * @param executionId The execution.
   * @param key The index key.
   * @returns The event, or `undefined`.
   * @throws {TypeError} When `key` is not a string.
   * @throws {CorruptDataError} When the stored event cannot be decoded.
   * @throws {StoreUnavailableError} When Redis stays unreachable.
   */
  async findByKey(executionId: string, key: string): Promise<StoredEvent | undefined> {
    _checkExecutionId(executionId);
    if (typeof key !== "string") throw new TypeError(`Invalid index key: expected a string`);
    const keys = this.#keys(executionId);
    const reply = await this.#redis.send(
      `findByKey("${executionId}")`,
      (target) => target.oaoFindByKey(keys.events, keys.meta, key),
    );
    return this.#decode(executionId, keys.events, reply)[0];
  }

  /**
   * Backlog after `afterSeq`, then live events as they are appended, with no
   * gap and no duplicate: one cursor (`XREAD BLOCK … STREAMS key <seq>-0`)
   * reads both. Holds a dedicated connection while it runs; a dropped
   * connection is retried from the cursor. Ends when `signal` aborts, the
   * consumer stops iterating, or the store closes.
   *
   * @param executionId The execution.
   * @param options Start and abort signal.
   * @returns An async iterable of events.
   * @throws {RangeError} When `afterSeq` is not a valid integer.
   * @throws {CorruptDataError} When a stored event cannot be decoded.
   * @throws {StoreUnavailableError} When Redis stays unreachable.
   */
  async *subscribe(
    executionId: string,
    options?: SubscribeOptions,
  ): AsyncGenerator<StoredEvent, void, undefined> {
    _checkExecutionId(executionId);
    let cursor = _subscribeStart(options);
    const key = this.#keys(executionId).events;
    const stop = new AbortController();
    const onAbort = () => stop.abort();
    options?.signal?.addEventListener("abort", onAbort, { once: true });
    if (options?.signal?.aborted) return;
    this.#tails.add(stop);
    let tail: RedisClient | undefined;
    try {
      const client = await this.#redis.get();
      const timeout = this.#redis.commandTimeoutMs;
      tail = _duplicate(client, timeout > 0 ? timeout + this.#blockMs : 0);
      const reader = tail;
      stop.signal.addEventListener("abort", () => reader.disconnect(), { once: true });
      while (!stop.signal.aborted) {
        let reply: unknown;
        try {
          reply = await withRetry(
            `subscribe("${executionId}")`,
            () =>
              reader.xread("COUNT", PAGE, "BLOCK", this.#blockMs, "STREAMS", key, `${cursor}-0`),
            { ...this.#redis.retryOptions, signal: stop.signal },
          );
        } catch (error) {
          if (stop.signal.aborted) return;
          throw error;
        }
        for (const event of this.#decode(executionId, key, _streamEntries(reply))) {
          cursor = event.seq;
          yield event;
          if (stop.signal.aborted) return;
        }
      }
    } finally {
      options?.signal?.removeEventListener("abort", onAbort);
      this.#tails.delete(stop);
      tail?.disconnect();
    }
  }

  /**
   * Registers a fencing token (atomically, in Lua): later appends with an
   * older token are rejected. A lower token than the registered one is ignored.
   *
   * @param executionId The execution.
   * @param token The new owner's token.
   * @returns Once registered.
   * @throws {RangeError} When the token is not a non-negative safe integer.
   * @throws {StoreUnavailableError} When Redis stays unreachable.
   */
  async fence(executionId: string, token: number): Promise<void> {
    _checkExecutionId(executionId);
    _checkToken(token, "token");
    const meta = this.#keys(executionId).meta;
    const ttlMs = Math.ceil(this.#retentionSeconds * 1000);
    this.#heads.get(executionId).fenced = true;
    await this.#redis.run(
      `fence("${executionId}")`,
      (_, scripts) => scripts.oaoFence(meta, token, ttlMs),
    );
  }

  /**
   * Claims an execution for one runner (atomically, in Lua, on the Redis
   * server's clock), with a new fencing token.
   *
   * @param executionId The execution.
   * @param request Owner, duration and whether to take over from a live holder.
   * @returns The token, or who holds the execution.
   * @throws {RangeError} When `ttlMs` is out of range.
   * @throws {StoreUnavailableError} When Redis stays unreachable.
   */
  async claim(executionId: string, request: ClaimRequest): Promise<ClaimResult> {
    _checkExecutionId(executionId);
    _checkClaim(request);
    const meta = this.#keys(executionId).meta;
    const retentionMs = Math.ceil(this.#retentionSeconds * 1000);
    const [ok, value, expiresInMs] = await this.#redis.run(
      `claim("${executionId}")`,
      (_, scripts) =>
        scripts.oaoClaim(
          meta,
          request.owner,
          request.ttlMs,
          request.takeOver ? "1" : "",
          retentionMs,
          request.replacing ?? "",
        ),
    );
    this.#heads.get(executionId).fenced = true;
    return ok === 1
      ? { acquired: true, token: Number(value) }
      : { acquired: false, holder: String(value), expiresInMs: Number(expiresInMs) };
  }

  /**
   * Extends the caller's claim by `ttlMs` from now.
   *
   * @param executionId The execution.
   * @param token The caller's token.
   * @param ttlMs New duration from now.
   * @returns Whether the claim is still the caller's.
   * @throws {StoreUnavailableError} When Redis stays unreachable.
   */
  async renewClaim(executionId: string, token: number, ttlMs: number): Promise<boolean> {
    _checkExecutionId(executionId);
    _checkToken(token, "token");
    _checkClaim({ owner: "", ttlMs });
    const meta = this.#keys(executionId).meta;
    return (await this.#redis.run(
      `renewClaim("${executionId}")`,
      (_, scripts) => scripts.oaoRenewClaim(meta, token, ttlMs),
    )) === 1;
  }

  /**
   * Gives up the caller's claim, if it still holds it.
   *
   * @param executionId The execution.
   * @param token The caller's token.
   * @returns Once released.
   * @throws {StoreUnavailableError} When Redis stays unreachable.
   */
  async releaseClaim(executionId: string, token: number): Promise<void> {
    _checkExecutionId(executionId);
    _checkToken(token, "token");
    const meta = this.#keys(executionId).meta;
    await this.#redis.run(
      `releaseClaim("${executionId}")`,
      (_, scripts) => scripts.oaoReleaseClaim(meta, token),
    );
  }

  /**
   * Ids of executions with a live log, most recently appended first. Ids
   * whose log has expired are skipped and removed from the index.
   *
   * @param limit Maximum number of ids.
   * @returns The ids.
   * @throws {RangeError} When `limit` is not a non-negative integer.
   * @throws {StoreUnavailableError} When Redis stays unreachable.
   */
  async listExecutions(limit?: number): Promise<string[]> {
    const max = _listLimit(limit);
    const index = this.#indexKey;
    const ids: string[] = [];
    const seen = new Set<string>();
    let offset = 0;
    while (ids.length < max) {
      const batch = Math.min(PAGE, Math.max(16, max - ids.length));
      const page = await this.#redis.run(
        "listExecutions()",
        (client) => client.zrevrange(index, offset, offset + batch - 1, "WITHSCORES"),
      );
      if (page.length === 0) break;
      const members: string[] = [];
      const scores: string[] = [];
      for (let i = 0; i < page.length; i += 2) {
        members.push(page[i]!);
        scores.push(page[i + 1]!);
      }
      const exists = await this.#redis.run(
        "listExecutions()",
        (client) => Promise.all(members.map((id) => client.exists(this.#keys(id).events))),
      );
      const dead: string[] = [];
      members.forEach((id, i) => {
        if (exists[i]) {
          if (!seen.has(id) && ids.length < max) ids.push(id);
          seen.add(id);
        } else dead.push(id, scores[i]!);
      });
      if (dead.length) {
        await this.#redis.run("listExecutions()", (_, scripts) => scripts.oaoPrune(index, ...dead));
      }
      offset += members.length - dead.length / 2;
      if (members.length < batch) break;
    }
    return ids;
  }

  /**
   * A page of the executions index, newest first: one script in the index's
   * slot merges the sorted sets of the statuses asked for (or of all
   * entries) from the cursor on, examining at most 2,000 entries, and
   * removes expired entries on the way (see `_index_scripts.ts`).
   *
   * @param query Filters, cursor and limit.
   * @returns The page.
   * @throws {TypeError} When a filter or the cursor is malformed.
   * @throws {RangeError} When `limit` or a time bound is out of range.
   * @throws {StoreUnavailableError} When Redis stays unreachable.
   */
  async queryExecutions(query?: ExecutionQuery): Promise<ExecutionPage> {
    const q = _checkQuery(query);
    const base = this.#indexBase;
    const args: (string | number)[] = [
      base,
      this.#redis.clock.now(),
      q.limit,
      _SCAN_BUDGET,
      q.cursor ? q.cursor.c : "",
      q.cursor ? q.cursor.id : "",
      q.after === -Infinity ? "" : q.after,
      q.before === Infinity ? "" : q.before,
      q.agent === undefined ? 0 : 1,
      q.agent ?? "",
      q.waitingFor?.join(",") ?? "",
      ...(q.statuses ?? []),
    ];
    const reply = await this.#redis.run(
      "queryExecutions()",
      (client) =>
        _runIndexScript(
          client,
          _INDEX_SCRIPTS.query,
          [`${base}all`, `${base}entries`, `${base}expiry`],
          args,
        ),
    ) as string[];
    const executions: IndexedExecution[] = [];
    for (let i = 2; i + 1 < reply.length; i += 2) {
      const entry = _parseIndexLine(reply[i]!, reply[i + 1]!);
      if (entry) executions.push(entry);
    }
    const [score, id] = reply;
    return score && id
      ? { executions, nextCursor: _encodeCursor({ c: Number(score), id }) }
      : { executions };
  }

  /**
   * Ends subscriptions, waits for pending index updates and closes the
   * connection (unless it was passed in as `client`). Idempotent.
   *
   * @returns Once closed.
   */
  async close(): Promise<void> {
    for (const tail of this.#tails) tail.abort();
    await Promise.allSettled([...this.#inflight]);
    await this.#redis.close();
    this.#heads.clear();
  }

  get #indexKey(): string {
    return `${this.#redis.prefix}executions`;
  }

  /** The key base of the status index (one hash tag: see `_index_scripts.ts`). */
  get #indexBase(): string {
    return `${this.#redis.prefix}{executions-index}:`;
  }

  /**
   * Writes the status index entries of stored appends on a Cluster (the
   * index is in another slot than the logs), before the appends resolve.
   * Never rejects: a failure is logged (the events are stored; the entry
   * keeps its previous state until the execution's next indexed append).
   */
  async #putIndex(
    items: _Append[],
    outcomes: (_AppendReply | Error)[],
    now: number,
  ): Promise<void> {
    const base = this.#indexBase;
    const args: (string | number)[] = [base, now];
    const ids: string[] = [];
    items.forEach((item, i) => {
      const outcome = outcomes[i]!;
      if (!item.index || outcome instanceof Error || outcome[0] !== 1) return;
      const [c, x, u, s, w, agent, initial] = _indexFields(item);
      args.push(item.executionId, c, x, u, outcome[1], s, w, agent, initial);
      ids.push(item.executionId);
    });
    if (ids.length === 0) return;
    try {
      await this.#redis.run(
        "executions index update",
        (target) =>
          _runIndexScript(
            target,
            _INDEX_SCRIPTS.put,
            [`${base}all`, `${base}entries`, `${base}expiry`],
            args,
          ),
      );
    } catch (error) {
      logger.warn("Cannot update the status index for {ids}: {error}", {
        ids,
        error: error instanceof Error ? error.message : String(error),
      });
    }
  }

  #tag(executionId: string): string {
    return `${this.#redis.prefix}{${executionId}}`;
  }

  #keys(executionId: string): { events: string; meta: string } {
    const tag = this.#tag(executionId);
    return { events: `${tag}:events`, meta: `${tag}:meta` };
  }

  /**
   * Routes the appends of a tick. An execution's lone append goes directly
   * (`_fast_appends.ts`) when it carries no fencing token and no index key,
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
    if (now - this.#trimmedAt >= TRIM_EVERY_MS) this.#trimIndex(now);
    const generation = this.#redis.generation;
    const fast: _Append[] = [];
    for (const head of heads) {
      const appends = head.tick!;
      head.tick = undefined;
      const append = appends[0]!;
      if (
        direct && appends.length === 1 && head.busy === 0 && !head.fenced &&
        append.fencingToken === undefined && append.key === undefined &&
        append.index === undefined && this.#heads.trusted(head, now, generation)
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
    if (members.length > 0) this.#index(client, members);
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

  /**
   * Removes from the executions index the ids whose last append is older
   * than the longest retention in use (their logs have expired). Never
   * rejects: a failure is logged, and the next trim catches up.
   */
  #trimIndex(now: number): void {
    this.#trimmedAt = now;
    const before = now - this.#longestTtlMs - TRIM_EVERY_MS;
    const done: Promise<void> = this.#redis.send(
      "executions index trim",
      (target) => target.zremrangebyscore(this.#indexKey, "-inf", `(${before}`),
    ).then(
      () => {},
      (error: unknown) => {
        logger.debug("Cannot trim the executions index: {error}", {
          error: error instanceof Error ? error.message : String(error),
        });
      },
    ).finally(() => this.#inflight.delete(done));
    this.#inflight.add(done);
  }

  /**
   * Updates the executions index for direct appends (see `_sendIndex`).
   * Never rejects: a failure is logged (the events are stored; only the
   * listing may lag), and those executions are indexed again next time.
   */
  #index(client: RedisClient, members: (string | number)[]): void {
    const done: Promise<void> = _sendIndex(this.#redis, client, this.#indexKey, members).then(
      () => {},
      (error: unknown) => {
        const ids: string[] = [];
        for (let i = 1; i < members.length; i += 2) {
          const id = String(members[i]);
          ids.push(id);
          this.#heads.get(id).indexed = 0;
        }
        logger.warn("Cannot update the executions index for {ids}: {error}", {
          ids,
          error: error instanceof Error ? error.message : String(error),
        });
      },
    ).finally(() => this.#inflight.delete(done));
    this.#inflight.add(done);
  }

  async #xrange(
    operation: string,
    executionId: string,
    from: number,
    to: number,
    limit: number,
  ): Promise<StoredEvent[]> {
    if (limit === 0 || to < from) return [];
    const key = this.#keys(executionId).events;
    const end = to === Infinity ? "+" : `${to}-0`;
    const reply = await this.#redis.send(
      `${operation}("${executionId}")`,
      (target) =>
        limit === Infinity
          ? target.xrange(key, `${from}-0`, end)
          : target.xrange(key, `${from}-0`, end, "COUNT", limit),
    );
    return this.#decode(executionId, key, reply);
  }

  /**
   * Sends one batch of appends as one script call. On a Cluster (a batch is
   * one execution) the executions index is updated apart, in another slot.
   */
  async #sendAppends(
    client: RedisClient,
    items: _Append[],
    batch: _Batch,
  ): Promise<(_AppendReply | Error)[]> {
    const byExecution = new Map<string, number[]>();
    let score = 0;
    items.forEach((item, i) => {
      const positions = byExecution.get(item.executionId);
      if (positions) positions.push(i);
      else byExecution.set(item.executionId, [i]);
      if (item.time > score) score = item.time;
    });
    const withIndex = !client.isCluster;
    const tag = this.#tag(items[0]!.executionId);
    const keys = [`${tag}:batch:${batch.id}`];
    if (withIndex) keys.push(this.#indexKey);
    const ttlMs = this.#ttlMs;
    let indexed = 0;
    for (const item of items) if (item.index) indexed++;
    const args: (string | number)[] = [
      batch.recordMs,
      batch.lookup ? 1 : 0,
      withIndex ? 1 : 0,
      score,
      ttlMs,
      withIndex ? indexed : 0,
      this.#indexBase,
    ];
    const order: number[] = [];
    for (const [executionId, positions] of byExecution) {
      const { events, meta } = items[positions[0]!]!;
      keys.push(events, meta);
      args.push(executionId, positions.length);
      for (const i of positions) {
        const item = items[i]!;
        const plain = item.ttlMs === ttlMs && item.fencingToken === undefined &&
          item.key === undefined;
        args.push(
          item.json,
          plain
            ? ""
            : `${item.ttlMs === ttlMs ? "" : item.ttlMs},${item.fencingToken ?? ""},${
              item.key ?? ""
            }`,
        );
        order.push(i);
      }
    }
    if (withIndex && indexed > 0) {
      order.forEach((i, n) => {
        const item = items[i]!;
        if (item.index) args.push(n + 1, item.executionId, ..._indexFields(item));
      });
    }
    const touched = withIndex ? undefined : this.#touch(byExecution.keys(), score);
    const reply = await _runBatchScript(client, _BATCH_SCRIPTS.append, keys, args);
    await touched;
    if (reply[0]) {
      logger.warn("Cannot update the executions index for {ids}: {error}", {
        ids: [...byExecution.keys()],
        error: String(reply[0]),
      });
    }
    const outcomes: (_AppendReply | Error)[] = new Array(items.length);
    order.forEach((i, n) => {
      const line = reply[1 + n] ?? "";
      const kind = line.charCodeAt(0);
      outcomes[i] = kind === 70 // "F"
        ? [-1, Number(line.slice(1))]
        : kind === 69 // "E"
        ? _replyError(line.slice(1))
        : [1, Number(line)];
    });
    this.#learn(items, byExecution, outcomes, batch, withIndex ? score : 0);
    if (!withIndex && indexed > 0) await this.#putIndex(items, outcomes, score);
    return outcomes;
  }

  /**
   * Updates the heads from a script's reply: the last event stored per
   * execution gives its seq, and the expiry is within tolerance of its
   * retention as of the first attempt.
   */
  #learn(
    items: _Append[],
    byExecution: Map<string, number[]>,
    outcomes: (_AppendReply | Error)[],
    batch: _Batch,
    score: number,
  ): void {
    for (const positions of byExecution.values()) {
      const { head } = items[positions[0]!]!;
      let last: number | undefined;
      for (const i of positions) {
        const outcome = outcomes[i]!;
        if (outcome instanceof Error) {
          last = undefined;
          break;
        }
        if (outcome[0] === 1) last = i;
      }
      if (last === undefined) {
        head.seq = 0;
        continue;
      }
      this.#heads.learn(head, (outcomes[last] as _AppendReply)[1], batch.generation, batch.sentAt);
      this.#heads.renewed(head, items[last]!.ttlMs, batch.sentAt, false);
      if (score > head.indexed) head.indexed = score;
    }
  }

  #decode(executionId: string, key: string, entries: unknown): StoredEvent[] {
    if (!Array.isArray(entries)) return [];
    return entries.map((entry) => {
      const [id, fields] = entry as [string, unknown[]];
      const seq = Number.parseInt(String(id), 10);
      let json: unknown;
      if (Array.isArray(fields)) {
        for (let i = 0; i < fields.length; i += 2) if (fields[i] === "e") json = fields[i + 1];
      }
      return _decodeEvent(executionId, seq, json, `${key} ${id}`);
    });
  }

  /**
   * Records appends in the executions index of a Cluster (another slot than
   * the logs): the batches of one tick share one `ZADD GT`, issued right
   * after their scripts. Never rejects: a failure is logged (the events are
   * stored; only the listing may lag).
   */
  #touch(executionIds: Iterable<string>, score: number): Promise<void> {
    for (const executionId of executionIds) {
      const previous = this.#pending.get(executionId);
      if (previous === undefined || score > previous) this.#pending.set(executionId, score);
    }
    if (this.#flush) return this.#flush;
    const batch = this.#pending;
    // Called when the command is issued: later appends of the tick are included.
    const issue = (target: _Target) => {
      if (this.#pending === batch) {
        this.#pending = new Map();
        this.#flush = undefined;
      }
      const args: (string | number)[] = [];
      for (const [id, s] of batch) args.push(s, id);
      return target.zadd(this.#indexKey, "GT", ...args);
    };
    const operation = "listExecutions index update";
    const sent = Promise.resolve().then(() => this.#redis.send(operation, issue));
    const flush: Promise<void> = sent.then(
      () => {},
      (error: unknown) => {
        logger.warn("Cannot update the executions index for {ids}: {error}", {
          ids: [...batch.keys()],
          error: error instanceof Error ? error.message : String(error),
        });
      },
    ).finally(() => {
      this.#inflight.delete(flush);
      if (this.#pending === batch) { // never issued (no connection): start afresh
        this.#pending = new Map();
        this.#flush = undefined;
      }
    });
    this.#flush = flush;
    this.#inflight.add(flush);
    return flush;
  }
}

/**
 * A connection of its own for blocking reads, without auto-pipelining; a
 * command without reply is abandoned after `timeoutMs` (the block time plus
 * the store's command timeout; 0 for none). It connects on its first read,
 * which waits for the connection (offline queue on: a read is safe to send
 * late).
 */
function _duplicate(client: RedisClient, timeoutMs: number): RedisClient {
  let tail: RedisClient;
  if (_isCluster(client)) {
    const { replyMapping: _, commandTimeout: __, ...redisOptions } = client.options.redisOptions ??
      {};
    tail = client.duplicate(undefined, {
      enableAutoPipelining: false,
      enableOfflineQueue: true,
      redisOptions: { ...redisOptions, ...(timeoutMs > 0 ? { commandTimeout: timeoutMs } : {}) },
    });
  } else {
    tail = client.duplicate({
      enableAutoPipelining: false,
      enableOfflineQueue: true,
      commandTimeout: timeoutMs > 0 ? timeoutMs : undefined,
    });
  }
  tail.on("error", (error: unknown) => {
    logger.debug("Subscription connection: {error}", {
      error: error instanceof Error ? error.message : String(error),
    });
  });
  return tail;
}

function _isCluster(client: RedisClient): client is Cluster {
  return client.isCluster;
}

/** The entries of a one-stream `XREAD` reply (RESP2 nesting or RESP3 flattened map). */
function _streamEntries(reply: unknown): unknown {
  if (!Array.isArray(reply) || reply.length === 0) return [];
  if (typeof reply[0] === "string") return reply[1];
  return (reply[0] as unknown[] | undefined)?.[1] ?? [];
}

/** The fields of an append's status index entry, as the scripts take them. */
function _indexFields(
  item: _Append,
): [number, number, number, string, string, string, number] {
  const index = item.index!;
  return [
    index.createdAt,
    item.time + item.ttlMs,
    item.time,
    index.status,
    index.waitingFor ?? "-",
    index.agent,
    index.initial ? 1 : 0,
  ];
}

/** An entry from its line in the index hash (see `_index_scripts.ts`). */
function _parseIndexLine(executionId: string, line: string): IndexedExecution | undefined {
  const match = /^(\d+) \d+ (\d+) \d+ (\S+) (\S+) ([\s\S]*)$/.exec(line);
  if (!match) return undefined;
  const entry: IndexedExecution = {
    executionId,
    status: match[3]!,
    agent: match[5]!,
    createdAt: Number(match[1]),
    updatedAt: Number(match[2]),
  };
  if (match[4] !== "-") entry.waitingFor = match[4]!;
  return entry;
}
