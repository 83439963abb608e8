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
 * ## Appends
 * The appends issued in one tick are routed together, per execution: an
 * execution's lone append whose last seq the store knows goes directly (an
 * `XADD` with the next id), every other append through one call of the
 * group-commit script (see `_event_appender.ts`). Concurrent appends of one
 * execution from one store get consecutive sequence numbers in the order
 * they were issued, unless a direct append is refused and takes the script
 * path (then it follows those issued after it). An append that fails in
 * Redis (a key of the wrong type…) fails alone.
 *
 * ## Idempotent appends
 * A retry after an ambiguous failure (the connection dropped or the command
 * timed out after it was sent), or a resend by the client library, stores
 * nothing twice (see `_event_appender.ts`).
 *
 * ## The executions index
 * The appends keep `oao:executions` up to date (`ZADD GT`, sent before they
 * resolve; see `_index_writes.ts`). On a Redis Cluster the index lives in
 * another slot than the logs, so it is updated right after the scripts; it
 * may then list an execution whose append was rejected by fencing. Listing
 * skips logs that no longer exist and removes them from the index, and the
 * index is trimmed: at most once a minute, an append removes the ids whose
 * last append is older than the longest retention the store has used (plus a
 * minute), so the index holds the executions of one retention, not every
 * execution ever run. (An execution whose appends give a longer `expire` than
 * those of the store that trims may leave the listing before its log expires;
 * give one retention to every writer.) A failure to update or trim the index
 * is logged, never reported as a failed append.
 *
 * ## Retention
 * An append keeps the expiry of the stream and the meta hash at `expire`
 * seconds (default: the store's `retentionSeconds`, 7 days) from now, within
 * 1 % or 1 s, whichever is less: a log expires between `expire − min(1 %,
 * 1 s)` and `expire` after its last append (see `_event_appender.ts`). Of
 * the appends of one execution in one batch, the last one stored decides.
 *
 * ## Where the parts are
 * {@linkcode RedisEventStore} is the front of the parts it wires together:
 * the write engine (`_event_appender.ts`, with `_append_batches.ts` for the
 * script path, `_fast_appends.ts` for the direct one and `_index_writes.ts`
 * for the indexes), the reads (`_event_reads.ts`), the live subscriptions
 * (`_event_subscriptions.ts`), fences and claims (`_execution_claims.ts`) and
 * the executions listing (`_execution_listing.ts`). Key names are in
 * `_event_keys.ts`.
 *
 * @module
 */
import type {
  AppendOptions,
  ClaimRequest,
  ClaimResult,
  EventInput,
  EventStore,
  RangeOptions,
  StoredEvent,
  SubscribeOptions,
} from "../events/event_store.ts";
import type { ExecutionPage, ExecutionQuery } from "../events/execution_index.ts";
import { _StoreClient } from "./_store_client.ts";
import { _AppendHeads } from "./_append_heads.ts";
import type { _Append } from "./_append_batches.ts";
import { _EventAppender } from "./_event_appender.ts";
import { _EventReads } from "./_event_reads.ts";
import { _EventSubscriptions } from "./_event_subscriptions.ts";
import { _ExecutionClaims } from "./_execution_claims.ts";
import { _ExecutionListing } from "./_execution_listing.ts";
import { _executionTag } from "./_event_keys.ts";
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
  #heads: _AppendHeads<_Append>;
  #appender: _EventAppender;
  #reads: _EventReads;
  #subscriptions: _EventSubscriptions;
  #claims: _ExecutionClaims;
  #listing: _ExecutionListing;

  /**
   * Creates a store; the connection is opened by the first operation.
   *
   * @param options URL (or client), key prefix, retention, clock and retry budget.
   * @throws {TypeError} When `keyPrefix` is invalid.
   * @throws {RangeError} When `retentionSeconds`, `subscribeBlockMs`, `unavailableAfterMs` or a
   * `retry` option is out of range.
   */
  constructor(options: RedisEventStoreOptions = {}) {
    const redis = new _StoreClient("RedisEventStore", options, { watchdog: true });
    const heads = new _AppendHeads<_Append>((id) => _executionTag(redis.prefix, id));
    this.#redis = redis;
    this.#heads = heads;
    this.#appender = new _EventAppender(redis, {
      heads,
      retentionSeconds: options.retentionSeconds,
    });
    this.#subscriptions = new _EventSubscriptions(redis, options.subscribeBlockMs);
    this.#reads = new _EventReads(redis);
    this.#claims = new _ExecutionClaims(redis, { heads, retentionMs: this.#appender.ttlMs });
    this.#listing = new _ExecutionListing(redis);
  }

  /**
   * Appends an event; resolves once Redis has acknowledged it (the appends of
   * one tick travel together, directly or in one script call: see the module
   * doc).
   *
   * @param executionId The execution whose log receives the event.
   * @param event The event.
   * @param options Retention (`expire`, seconds from now), fencing token, expected last seq.
   * @returns The stored event with its sequence number and id.
   * @throws {TypeError} When the execution id or an event field is invalid.
   * @throws {RangeError} When `expire`, `fencingToken` or `expectedSeq` is out of range.
   * @throws {FencedError} When `fencingToken` is older than the registered one.
   * @throws {StaleVersionError} When `expectedSeq` is not the log's last seq.
   * @throws {CorruptDataError} When the event cannot be serialized.
   * @throws {StoreUnavailableError} When Redis stays unreachable.
   */
  appendEvent(
    executionId: string,
    event: EventInput,
    options?: AppendOptions,
  ): Promise<StoredEvent> {
    return this.#appender.append(executionId, event, options);
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
  readRange(executionId: string, options?: RangeOptions): Promise<StoredEvent[]> {
    return this.#reads.readRange(executionId, options);
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
  readAfter(executionId: string, afterSeq: number, limit?: number): Promise<StoredEvent[]> {
    return this.#reads.readAfter(executionId, afterSeq, limit);
  }

  /**
   * The last event of a log.
   *
   * @param executionId The execution.
   * @returns The event, or `undefined` for an empty, unknown or expired log.
   * @throws {CorruptDataError} When the stored event cannot be decoded.
   * @throws {StoreUnavailableError} When Redis stays unreachable.
   */
  latest(executionId: string): Promise<StoredEvent | undefined> {
    return this.#reads.latest(executionId);
  }

  /**
   * Number of events in a log (`XLEN`).
   *
   * @param executionId The execution.
   * @returns The count.
   * @throws {StoreUnavailableError} When Redis stays unreachable.
   */
  count(executionId: string): Promise<number> {
    return this.#reads.count(executionId);
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
  findByKey(executionId: string, key: string): Promise<StoredEvent | undefined> {
    return this.#reads.findByKey(executionId, key);
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
  subscribe(
    executionId: string,
    options?: SubscribeOptions,
  ): AsyncGenerator<StoredEvent, void, undefined> {
    return this.#subscriptions.subscribe(executionId, options);
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
  fence(executionId: string, token: number): Promise<void> {
    return this.#claims.fence(executionId, token);
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
  claim(executionId: string, request: ClaimRequest): Promise<ClaimResult> {
    return this.#claims.claim(executionId, request);
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
  renewClaim(executionId: string, token: number, ttlMs: number): Promise<boolean> {
    return this.#claims.renewClaim(executionId, token, ttlMs);
  }

  /**
   * Gives up the caller's claim, if it still holds it.
   *
   * @param executionId The execution.
   * @param token The caller's token.
   * @returns Once released.
   * @throws {StoreUnavailableError} When Redis stays unreachable.
   */
  releaseClaim(executionId: string, token: number): Promise<void> {
    return this.#claims.releaseClaim(executionId, token);
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
  listExecutions(limit?: number): Promise<string[]> {
    return this.#listing.listExecutions(limit);
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
  queryExecutions(query?: ExecutionQuery): Promise<ExecutionPage> {
    return this.#listing.queryExecutions(query);
  }

  /**
   * Ends subscriptions, waits for pending index updates and closes the
   * connection (unless it was passed in as `client`). Idempotent.
   *
   * @returns Once closed.
   */
  async close(): Promise<void> {
    this.#subscriptions.close();
    await this.#appender.settle();
    await this.#redis.close();
    this.#heads.clear();
  }
}
