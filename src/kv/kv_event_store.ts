/**
 * The embedded durable {@linkcode EventStore}: per-execution logs in a Deno KV
 * file (SQLite), shared safely by several processes on one machine.
 *
 * ## Layout
 * One entry per event, keyed by execution, generation and sequence number;
 * the last event's header carries the log's state (its expiry, how long
 * Deno KV keeps its entries, its listing time), so the state of a log is one
 * read and an append writes one entry per event. Index keys, the fence and
 * claim record and the executions listing have keys of their own. See
 * `_event_log.ts` for the keys.
 *
 * ## Appends: group commit
 * Appends are queued and committed together: every append waiting when a
 * commit starts travels in it — many events of many executions in one atomic
 * operation, within Deno KV's limits (100 checks, 1,000 mutations, 800 KiB) —
 * so throughput is not bound by one commit per event. A commit checks, per
 * execution, that the slot after the last known event is still empty, and the
 * fence record when an append carries a fencing token, so two writers (two
 * stores, two processes) never store two events at one seq nor leave a gap:
 * the loser re-reads and commits again. Appends of one execution from one
 * store get consecutive sequence numbers in the order they were issued. An
 * append resolves once its commit is durable in the file (write-ahead). See
 * `_append_committer.ts`.
 *
 * Events larger than one Deno KV value (64 KiB with the header) are stored in
 * parts, written before the commit that appends the event (`_chunks.ts`).
 *
 * ## Retention
 * A log expires `expire` seconds (default: the store's `retentionSeconds`, 7
 * days) after its last append, exactly: reads compare the expiry in the last
 * event's header with the store's clock. Deno KV deletes the entries itself
 * later: each is written with an `expireIn` of twice the retention, and a
 * log still appended to when that time comes near has its entries rewritten
 * with a later one first (`_log_refresh.ts`). Deno KV's deletion is
 * best-effort (expired entries stay readable for a while: about a minute,
 * measured), so nothing relies on it; a log whose time has come is dead for
 * every reader at once, and the next append starts a new generation at seq 1.
 *
 * ## Claims and fencing
 * The fence record holds the newest fencing token and the claim of the
 * runner holding the execution; `claim`, `renewClaim`, `releaseClaim` and
 * `fence` change it with a versionstamp check, on the store's clock (every
 * process on one file must use the machine's clock, the default).
 *
 * ## Live tail
 * `subscribe` reads the backlog, then waits: appends of this process (any
 * store on the same `Deno.Kv`) wake it at once; those of other processes are
 * seen by polling every `pollIntervalMs` (`Deno.Kv.watch` does not report
 * other processes' writes in Deno 2.9.6: see `_bus.ts`).
 *
 * @module
 */
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
  _encodeEvent,
  _listLimit,
  _range,
  _subscribeStart,
} from "../events/_event_codec.ts";
import { type _Append, _AppendCommitter, _margin } from "./_append_committer.ts";
import { _split, _writeParts } from "./_chunks.ts";
import {
  _decodeStored,
  _eventValue,
  _HEADER_BYTES,
  _LogKeys,
  _partsReference,
  _readLast,
} from "./_event_log.ts";
import { _listExecutions } from "./_executions_index.ts";
import { _queryStatusIndex } from "./_status_index.ts";
import type { ExecutionPage, ExecutionQuery } from "../events/execution_index.ts";
import { _checkIndexEntry, _checkQuery } from "../events/_index_codec.ts";
import { _alive, _claimed, _raised, _released, _renewed } from "./_fence_record.ts";
import { _FenceChanges } from "./_fence_changes.ts";
import { _KvClient } from "./_kv_client.ts";
import { _checkIdSize, MAX_VALUE_BYTES } from "./_limits.ts";
import { _refreshLog } from "./_log_refresh.ts";
import type { KvStoreOptions } from "./kv_store_options.ts";

/** Options of {@linkcode KvEventStore}. */
export interface KvEventStoreOptions extends KvStoreOptions {
  /**
   * Retention of a log after its last append, in seconds; an append may
   * override it with `expire`.
   * @default {DEFAULT_RETENTION_SECONDS}
   */
  retentionSeconds?: number;
  /**
   * How often a live subscription looks for events appended by other
   * processes, in ms (appends of this process wake it at once).
   * @default {100}
   */
  pollIntervalMs?: number;
}

const PAGE = 1_000;

/**
 * An {@linkcode EventStore} in a Deno KV file. Opens the file on first use
 * (see {@linkcode KvStoreOptions.path}); needs `--unstable-kv`.
 *
 * @example
 * ```ts
 * import { KvEventStore } from "./kv_event_store.ts";
 * const dir = await Deno.makeTempDir();
 * const store = new KvEventStore({ path: `${dir}/oao.kv` });
 * const event = await store.appendEvent("exec-1", { type: "STATE_ENTER", step: 1 });
 * console.assert(event.seq === 1 && (await store.count("exec-1")) === 1);
 * await store.close();
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export class KvEventStore implements EventStore {
  #client: _KvClient;
  #keys: _LogKeys;
  #committer: _AppendCommitter;
  #fenceChanges: _FenceChanges;
  #retentionSeconds: number;
  #ttlMs: number;
  #pollIntervalMs: number;

  /**
   * Creates a store; the file is opened by the first operation.
   *
   * @param options File (or `Deno.Kv`), key prefix, clock, retention, polling.
   * @throws {TypeError} When `keyPrefix` is not a non-empty string.
   * @throws {RangeError} When `retentionSeconds`, `pollIntervalMs` or
   *   `unavailableAfterMs` is out of range.
   */
  constructor(options: KvEventStoreOptions = {}) {
    this.#client = new _KvClient("KvEventStore", options);
    this.#keys = new _LogKeys(this.#client.prefix, () => this.#where);
    this.#retentionSeconds = options.retentionSeconds ?? DEFAULT_RETENTION_SECONDS;
    _checkRetention(this.#retentionSeconds, "retentionSeconds");
    this.#ttlMs = Math.ceil(this.#retentionSeconds * 1000);
    this.#pollIntervalMs = options.pollIntervalMs ?? 100;
    if (!Number.isSafeInteger(this.#pollIntervalMs) || this.#pollIntervalMs < 1) {
      throw new RangeError(
        `Invalid KvEventStore option "pollIntervalMs" ${this.#pollIntervalMs}: expected a positive integer`,
      );
    }
    const client = this.#client;
    const keys = this.#keys;
    this.#committer = new _AppendCommitter({
      client,
      keys,
      refresh: (executionId, target) => _refreshLog(client, keys, { executionId, ...target }),
      notify: (ids) => {
        client.bus("notify").then((bus) => {
          for (const id of ids) bus.notify(this.#topic(id));
        }, () => {});
      },
    });
    this.#fenceChanges = new _FenceChanges({
      client,
      keys,
      committer: this.#committer,
      ttlMs: this.#ttlMs,
      where: () => this.#where,
    });
  }

  /**
   * Appends an event; resolves once the commit that carries it is durable
   * (the appends waiting for a commit travel together: see the module doc).
   *
   * @param executionId The execution whose log receives the event.
   * @param event The event.
   * @param options Retention (`expire`, seconds from now), fencing token, expected last seq.
   * @returns The stored event with its sequence number and id.
   * @throws {TypeError} When the execution id or an event field is invalid.
   * @throws {RangeError} When `expire`, `fencingToken` or `expectedSeq` is out of range, or
   *   the execution id is longer than 1,024 bytes.
   * @throws {FencedError} When `fencingToken` is older than the registered one.
   * @throws {StaleVersionError} When `expectedSeq` is not the log's last seq.
   * @throws {CorruptDataError} When the event cannot be serialized.
   * @throws {StoreUnavailableError} When the store is closed or the file fails.
   */
  appendEvent(
    executionId: string,
    event: EventInput,
    options?: AppendOptions,
  ): Promise<StoredEvent> {
    let append: _Append;
    let promise: Promise<StoredEvent>;
    try {
      _checkExecutionId(executionId);
      _checkIdSize(executionId, "execution id");
      if (this.#client.closed) throw this.#client.closedError(`appendEvent("${executionId}")`);
      const { ttlMs, fencingToken, expectedSeq } = options === undefined
        ? { ttlMs: this.#ttlMs, fencingToken: undefined, expectedSeq: undefined }
        : _appendOptions(options, this.#retentionSeconds);
      const index = options?.index;
      if (index !== undefined) _checkIndexEntry(executionId, index);
      const time = this.#client.clock.now();
      const { record, json } = _encodeEvent(executionId, event, {
        id: crypto.randomUUID(),
        time,
        where: `${this.#where} log of "${executionId}"`,
      });
      // The record is this append's own object: completed with its seq, it is the result.
      const stored = record as StoredEvent;
      stored.executionId = executionId;
      let resolve!: (event: StoredEvent) => void, reject!: (error: unknown) => void;
      promise = new Promise<StoredEvent>((res, rej) => {
        resolve = res;
        reject = rej;
      });
      append = {
        executionId,
        value: _eventValue(json),
        parts: undefined,
        ready: undefined,
        ttlMs,
        fencingToken,
        expectedSeq,
        key: record.key,
        index,
        time,
        record: stored,
        resolve,
        reject,
      };
    } catch (error) {
      return Promise.reject(error);
    }
    if (append.value.length > MAX_VALUE_BYTES) this.#appendInParts(append);
    else this.#committer.add(append);
    return promise;
  }

  /**
   * Events with `from <= seq <= to`, in order.
   *
   * @param executionId The execution.
   * @param options Bounds and limit.
   * @returns The events (none for an unknown or expired log).
   * @throws {RangeError} When a bound or the limit is not a valid integer.
   * @throws {CorruptDataError} When a stored event cannot be decoded.
   * @throws {StoreUnavailableError} When the store is closed or the file fails.
   */
  async readRange(executionId: string, options?: RangeOptions): Promise<StoredEvent[]> {
    _checkExecutionId(executionId);
    const { from, to, limit } = _range(options);
    return await this.#read(executionId, { operation: "readRange", from, to, limit });
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
   * @throws {StoreUnavailableError} When the store is closed or the file fails.
   */
  async readAfter(executionId: string, afterSeq: number, limit?: number): Promise<StoredEvent[]> {
    _checkExecutionId(executionId);
    const { after, limit: max } = _after(afterSeq, limit);
    return await this.#read(executionId, {
      operation: "readAfter",
      from: after + 1,
      to: Infinity,
      limit: max,
    });
  }

  /**
   * The last event of a log.
   *
   * @param executionId The execution.
   * @returns The event, or `undefined` for an empty, unknown or expired log.
   * @throws {CorruptDataError} When the stored event cannot be decoded.
   * @throws {StoreUnavailableError} When the store is closed or the file fails.
   */
  async latest(executionId: string): Promise<StoredEvent | undefined> {
    _checkExecutionId(executionId);
    return await this.#client.run(`latest("${executionId}")`, async (kv) => {
      const last = await _readLast(kv, { keys: this.#keys, executionId });
      if (!last || !_alive(last.head, this.#client.clock.now())) return undefined;
      return await _decodeStored(kv, { keys: this.#keys, entry: last.entry });
    });
  }

  /**
   * Number of events in a log.
   *
   * @param executionId The execution.
   * @returns The count (0 for an unknown or expired log).
   * @throws {StoreUnavailableError} When the store is closed or the file fails.
   */
  async count(executionId: string): Promise<number> {
    _checkExecutionId(executionId);
    return await this.#client.run(`count("${executionId}")`, async (kv) => {
      const last = await _readLast(kv, { keys: this.#keys, executionId });
      return last && _alive(last.head, this.#client.clock.now()) ? last.head.s : 0;
    });
  }

  /**
   * The latest event appended with the index key `key`.
   *
   * @param executionId The execution.
   * @param key The index key.
   * @returns The event, or `undefined`.
   * @throws {TypeError} When `key` is not a string.
   * @throws {CorruptDataError} When the stored event cannot be decoded.
   * @throws {StoreUnavailableError} When the store is closed or the file fails.
   */
  async findByKey(executionId: string, key: string): Promise<StoredEvent | undefined> {
    _checkExecutionId(executionId);
    if (typeof key !== "string") throw new TypeError(`Invalid index key: expected a string`);
    return await this.#client.run(`findByKey("${executionId}")`, async (kv) => {
      const last = await _readLast(kv, { keys: this.#keys, executionId });
      if (!last || !_alive(last.head, this.#client.clock.now())) return undefined;
      const gen = last.head.g;
      let seq: number | undefined;
      const prefix = this.#keys.indexKey(executionId, { gen, key });
      for await (const entry of kv.list({ prefix }, { reverse: true, limit: 1 })) {
        seq = entry.key[entry.key.length - 1] as number;
      }
      if (seq === undefined) return undefined;
      const entry = await kv.get<unknown>(this.#keys.event(executionId, { gen, seq }));
      if (entry.versionstamp === null) return undefined;
      return await _decodeStored(kv, { keys: this.#keys, entry });
    });
  }

  /**
   * Backlog after `afterSeq`, then live events as they are appended, with no
   * gap and no duplicate. Appends of this process wake it at once, those of
   * other processes within `pollIntervalMs`. Ends when `signal` aborts, the
   * consumer stops iterating, or the store closes.
   *
   * @param executionId The execution.
   * @param options Start and abort signal.
   * @returns An async iterable of events.
   * @throws {RangeError} When `afterSeq` is not a valid integer.
   * @throws {CorruptDataError} When a stored event cannot be decoded.
   * @throws {StoreUnavailableError} When the file fails.
   */
  async *subscribe(
    executionId: string,
    options?: SubscribeOptions,
  ): AsyncGenerator<StoredEvent, void, undefined> {
    _checkExecutionId(executionId);
    let cursor = _subscribeStart(options);
    const signals = [this.#client.closing.signal];
    if (options?.signal) signals.push(options.signal);
    const stop = AbortSignal.any(signals);
    if (stop.aborted) return;
    const bus = await this.#client.bus(`subscribe("${executionId}")`);
    const topic = this.#topic(executionId);
    while (!stop.aborted) {
      const ticket = bus.listen(topic);
      let events: StoredEvent[];
      try {
        events = await this.#read(executionId, {
          operation: "subscribe",
          from: cursor + 1,
          to: Infinity,
          limit: PAGE,
        });
      } catch (error) {
        ticket.close();
        if (stop.aborted) return;
        throw error;
      }
      if (events.length === 0) {
        await ticket.wait({ ms: this.#pollIntervalMs, clock: this.#client.clock, signal: stop });
        continue;
      }
      ticket.close();
      for (const event of events) {
        cursor = event.seq;
        yield event;
        if (stop.aborted) return;
      }
    }
  }

  /**
   * Registers a fencing token: later appends with an older token are
   * rejected. A lower token than the registered one is ignored.
   *
   * @param executionId The execution.
   * @param token The new owner's token.
   * @returns Once registered.
   * @throws {RangeError} When the token is not a non-negative safe integer.
   * @throws {StoreUnavailableError} When the store is closed or the file fails.
   */
  async fence(executionId: string, token: number): Promise<void> {
    _checkExecutionId(executionId);
    _checkToken(token, "token");
    await this.#fenceChanges.change({
      executionId,
      operation: `fence("${executionId}")`,
      change: (ctx) => ({ record: _raised(ctx, token), result: undefined }),
    });
  }

  /**
   * Claims an execution for one runner, with a new fencing token (on the
   * store's clock).
   *
   * @param executionId The execution.
   * @param request Owner, duration and whether to take over from a live holder.
   * @returns The token, or who holds the execution.
   * @throws {RangeError} When `ttlMs` is out of range.
   * @throws {StoreUnavailableError} When the store is closed or the file fails.
   */
  async claim(executionId: string, request: ClaimRequest): Promise<ClaimResult> {
    _checkExecutionId(executionId);
    _checkClaim(request);
    return await this.#fenceChanges.change({
      executionId,
      operation: `claim("${executionId}")`,
      change: (ctx) => _claimed(ctx, request),
    });
  }

  /**
   * Extends the caller's claim by `ttlMs` from now.
   *
   * @param executionId The execution.
   * @param token The caller's token.
   * @param ttlMs New duration from now.
   * @returns Whether the claim is still the caller's.
   * @throws {RangeError} When `token` or `ttlMs` is out of range.
   * @throws {StoreUnavailableError} When the store is closed or the file fails.
   */
  async renewClaim(executionId: string, token: number, ttlMs: number): Promise<boolean> {
    _checkExecutionId(executionId);
    _checkToken(token, "token");
    _checkClaim({ owner: "", ttlMs });
    return await this.#fenceChanges.change({
      executionId,
      operation: `renewClaim("${executionId}")`,
      change: (ctx) => {
        const record = _renewed(ctx, { token, ttlMs });
        return { record, result: record !== undefined };
      },
    });
  }

  /**
   * Gives up the caller's claim, if it still holds it.
   *
   * @param executionId The execution.
   * @param token The caller's token.
   * @returns Once released.
   * @throws {RangeError} When `token` is out of range.
   * @throws {StoreUnavailableError} When the store is closed or the file fails.
   */
  async releaseClaim(executionId: string, token: number): Promise<void> {
    _checkExecutionId(executionId);
    _checkToken(token, "token");
    await this.#fenceChanges.change({
      executionId,
      operation: `releaseClaim("${executionId}")`,
      change: (ctx) => ({ record: _released(ctx, token), result: undefined }),
    });
  }

  /**
   * Ids of executions with a live log, most recently appended first. Listing
   * keys of expired logs are removed on the way.
   *
   * @param limit Maximum number of ids.
   * @returns The ids.
   * @throws {RangeError} When `limit` is not a non-negative integer.
   * @throws {StoreUnavailableError} When the store is closed or the file fails.
   */
  async listExecutions(limit?: number): Promise<string[]> {
    const max = _listLimit(limit);
    return await _listExecutions(this.#client, { keys: this.#keys, limit: max });
  }

  /**
   * A page of the executions index, newest first: one reverse listing of
   * the entries (keyed by creation time), from the cursor on, examining at
   * most 2,000 entries; expired entries are skipped.
   *
   * @param query Filters, cursor and limit.
   * @returns The page.
   * @throws {TypeError} When a filter or the cursor is malformed.
   * @throws {RangeError} When `limit` or a time bound is out of range.
   * @throws {StoreUnavailableError} When the store is closed or the file fails.
   */
  async queryExecutions(query?: ExecutionQuery): Promise<ExecutionPage> {
    const q = _checkQuery(query);
    return await _queryStatusIndex(this.#client, { keys: this.#keys, query: q });
  }

  /**
   * Refuses further calls, ends subscriptions, waits for the appends in
   * flight and releases the file (unless the `Deno.Kv` was given as option
   * `kv`). Idempotent.
   *
   * @returns Once closed.
   */
  async close(): Promise<void> {
    await this.#client.close(() => this.#committer.drained());
  }

  get #where(): string {
    return `Deno KV "${this.#client.where}"`;
  }

  #topic(executionId: string): string {
    return `e\u0000${this.#client.prefix}\u0000${executionId}`;
  }

  /** Events `from`…`to` (at most `limit`) of the live log. */
  #read(
    executionId: string,
    range: { operation: string; from: number; to: number; limit: number },
  ): Promise<StoredEvent[]> {
    const { operation, from, to, limit } = range;
    return this.#client.run(`${operation}("${executionId}")`, async (kv) => {
      if (limit === 0 || to < from) return [];
      const last = await _readLast(kv, { keys: this.#keys, executionId });
      if (!last || !_alive(last.head, this.#client.clock.now())) return [];
      const { g, s } = last.head;
      const end = Math.min(to, s);
      if (end < from) return [];
      const events: StoredEvent[] = [];
      const iterator = kv.list<unknown>({
        start: this.#keys.event(executionId, { gen: g, seq: from }),
        end: this.#keys.event(executionId, { gen: g, seq: end + 1 }),
      }, { batchSize: Math.min(PAGE, limit === Infinity ? PAGE : limit) });
      for await (const entry of iterator) {
        events.push(await _decodeStored(kv, { keys: this.#keys, entry }));
        if (events.length >= limit) break;
      }
      return events;
    });
  }

  /** Writes the parts of a large event, then queues its append. */
  #appendInParts(append: _Append): void {
    const { executionId } = append;
    const parts = _split(append.value.subarray(_HEADER_BYTES));
    const until = append.time + 2 * append.ttlMs + _margin(append.ttlMs);
    append.value = _eventValue(_partsReference(append.record.id, parts.length));
    append.parts = { count: parts.length, until };
    const written = _writeParts(this.#client, this.#keys.parts(executionId, append.record.id), {
      operation: `appendEvent("${executionId}")`,
      parts,
      expireIn: Math.max(1, Math.ceil(until - this.#client.clock.now())),
    });
    written.catch(() => {}); // awaited by the committer, which reports a failure
    append.ready = written;
    // Queued now, so that it keeps its place among the appends of its execution.
    this.#committer.add(append);
  }
}
