/**
 * The embedded {@linkcode EventStore}: per-execution logs in process memory,
 * with the same validation, encoding, retention and fencing rules as
 * `RedisEventStore`. Events are kept as JSON, so every read returns fresh
 * copies and a caller cannot change a stored event.
 *
 * @module
 */
import { type Clock, systemClock } from "../clock.ts";
import {
  FencedError,
  StaleVersionError,
  StoreUnavailableError,
} from "../persistence/store_errors.ts";
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
} from "./event_store.ts";
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
  _mayReplace,
  _range,
  _storedEvent,
  _subscribeStart,
} from "./_event_codec.ts";
import type {
  ExecutionIndexEntry,
  ExecutionPage,
  ExecutionQuery,
  IndexedExecution,
} from "./execution_index.ts";
import {
  _afterCursor,
  _checkIndexEntry,
  _checkQuery,
  _compare,
  _encodeCursor,
  _matches,
} from "./_index_codec.ts";

/** Options of {@linkcode InMemoryEventStore}. */
export interface InMemoryEventStoreOptions {
  /** Clock for event times and retention. @default {systemClock} */
  clock?: Clock;
  /**
   * Retention of a log after its last append, in seconds.
   * @default {DEFAULT_RETENTION_SECONDS}
   */
  retentionSeconds?: number;
}

interface Log {
  events: string[];
  keys: Map<string, number>;
  fence: number;
  expiresAt: number;
  /** The runner holding the execution (see `claim`). */
  claim?: { owner: string; token: number; until: number };
}

const SWEEP_INTERVAL_MS = 60_000;

/**
 * An {@linkcode EventStore} in process memory. Expired logs are dropped when
 * touched and by a sweep during appends (no timers are kept).
 *
 * @example
 * ```ts
 * import { InMemoryEventStore } from "./in_memory_event_store.ts";
 * const store = new InMemoryEventStore();
 * const event = await store.appendEvent("exec-1", { type: "STATE_ENTER", step: 1 });
 * console.assert(event.seq === 1 && (await store.count("exec-1")) === 1);
 * await store.close();
 * ```
 */
export class InMemoryEventStore implements EventStore {
  #clock: Clock;
  #retentionSeconds: number;
  #logs = new Map<string, Log>();
  /** The executions index: entries with their expiry (epoch ms). */
  #index = new Map<string, { entry: IndexedExecution; expiresAt: number }>();
  #waiters = new Map<string, Set<() => void>>();
  #lastSweep: number;
  #closed = false;

  /**
   * Creates an empty store.
   *
   * @param options Clock and retention.
   * @throws {RangeError} When `retentionSeconds` is not a positive number.
   */
  constructor(options: InMemoryEventStoreOptions = {}) {
    this.#clock = options.clock ?? systemClock;
    this.#retentionSeconds = options.retentionSeconds ?? DEFAULT_RETENTION_SECONDS;
    _checkRetention(this.#retentionSeconds, "retentionSeconds");
    this.#lastSweep = this.#clock.now();
  }

  /**
   * Appends an event; it gets the next sequence number and a unique id.
   *
   * @param executionId The execution whose log receives the event.
   * @param event The event.
   * @param options Retention (`expire`, seconds from now), fencing token, expected last seq.
   * @returns The stored event.
   * @throws {TypeError} When the execution id or an event field is invalid.
   * @throws {RangeError} When `expire`, `fencingToken` or `expectedSeq` is out of range.
   * @throws {FencedError} When `fencingToken` is older than the registered one.
   * @throws {StaleVersionError} When `expectedSeq` is not the log's last seq.
   * @throws {CorruptDataError} When the event cannot be serialized.
   * @throws {StoreUnavailableError} When the store is closed.
   */
  appendEvent(
    executionId: string,
    event: EventInput,
    options?: AppendOptions,
  ): Promise<StoredEvent> {
    try {
      this.#open("appendEvent", executionId);
      const { ttlMs, fencingToken, expectedSeq } = _appendOptions(
        options,
        this.#retentionSeconds,
      );
      const now = this.#clock.now();
      const { record, json } = _encodeEvent(executionId, event, {
        id: crypto.randomUUID(),
        time: now,
        where: `memory:${executionId}`,
      });
      const index = options?.index;
      if (index !== undefined) _checkIndexEntry(executionId, index);
      const log: Log = this.#live(executionId) ??
        { events: [], keys: new Map(), fence: 0, expiresAt: 0 };
      if (fencingToken !== undefined && fencingToken < log.fence) {
        throw new FencedError(executionId, fencingToken, log.fence);
      }
      if (expectedSeq !== undefined && expectedSeq !== log.events.length) {
        throw new StaleVersionError(executionId, expectedSeq, log.events.length);
      }
      if (index !== undefined) this.#indexEntry(executionId, index, now + ttlMs);
      log.events.push(json);
      const seq = log.events.length;
      if (record.key !== undefined) log.keys.set(record.key, seq);
      log.expiresAt = now + ttlMs;
      this.#logs.delete(executionId); // re-insert: Map order is append recency
      this.#logs.set(executionId, log);
      this.#notify(executionId);
      this.#sweep(now);
      return Promise.resolve(_storedEvent(executionId, seq, record));
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /**
   * Events with `from <= seq <= to`, in order.
   *
   * @param executionId The execution.
   * @param options Bounds and limit.
   * @returns The events (empty for an unknown or expired log).
   * @throws {RangeError} When a bound or the limit is not a valid integer.
   */
  readRange(executionId: string, options?: RangeOptions): Promise<StoredEvent[]> {
    return this.#read("readRange", executionId, () => {
      const { from, to, limit } = _range(options);
      return this.#slice(executionId, from, to, limit);
    });
  }

  /**
   * Events with `seq > afterSeq`, in order.
   *
   * @param executionId The execution.
   * @param afterSeq The last sequence number already seen (0 for all).
   * @param limit Maximum number of events.
   * @returns The events.
   * @throws {RangeError} When `afterSeq` or `limit` is not a valid integer.
   */
  readAfter(executionId: string, afterSeq: number, limit?: number): Promise<StoredEvent[]> {
    return this.#read("readAfter", executionId, () => {
      const { after, limit: max } = _after(afterSeq, limit);
      return this.#slice(executionId, after + 1, Infinity, max);
    });
  }

  /**
   * The last event of a log.
   *
   * @param executionId The execution.
   * @returns The event, or `undefined` for an empty, unknown or expired log.
   */
  latest(executionId: string): Promise<StoredEvent | undefined> {
    return this.#read("latest", executionId, () => {
      const events = this.#live(executionId)?.events ?? [];
      const json = events.at(-1);
      return json === undefined ? undefined : this.#decode(executionId, events.length, json);
    });
  }

  /**
   * Number of events in a log.
   *
   * @param executionId The execution.
   * @returns The count (0 for an unknown or expired log).
   */
  count(executionId: string): Promise<number> {
    return this.#read("count", executionId, () => this.#live(executionId)?.events.length ?? 0);
  }

  /**
   * The latest event appended with the index key `key`.
   *
   * @param executionId The execution.
   * @param key The index key.
   * @returns The event, or `undefined`.
   * @throws {TypeError} When `key` is not a string.
   */
  findByKey(executionId: string, key: string): Promise<StoredEvent | undefined> {
    return this.#read("findByKey", executionId, () => {
      if (typeof key !== "string") throw new TypeError(`Invalid index key: expected a string`);
      const log = this.#live(executionId);
      const seq = log?.keys.get(key);
      const json = seq === undefined ? undefined : log?.events[seq - 1];
      return json === undefined ? undefined : this.#decode(executionId, seq!, json);
    });
  }

  /**
   * Backlog after `afterSeq`, then live events as they are appended, with no
   * gap and no duplicate. Ends when `signal` aborts or the store closes.
   *
   * @param executionId The execution.
   * @param options Start and abort signal.
   * @returns An async iterable of events.
   * @throws {RangeError} When `afterSeq` is not a valid integer (on first read).
   */
  async *subscribe(
    executionId: string,
    options?: SubscribeOptions,
  ): AsyncGenerator<StoredEvent, void, undefined> {
    _checkExecutionId(executionId);
    let cursor = _subscribeStart(options);
    const signal = options?.signal;
    while (!this.#closed && !signal?.aborted) {
      const events = this.#live(executionId)?.events ?? [];
      if (events.length > cursor) {
        const seq = ++cursor;
        yield this.#decode(executionId, seq, events[seq - 1]!);
        continue;
      }
      await this.#wait(executionId, signal);
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
   */
  fence(executionId: string, token: number): Promise<void> {
    return this.#read("fence", executionId, () => {
      _checkToken(token, "token");
      if (token === 0 && !this.#live(executionId)) return;
      const log = this.#logOf(executionId);
      log.fence = Math.max(log.fence, token);
    });
  }

  /**
   * Claims an execution for one runner, with a new fencing token.
   *
   * @param executionId The execution.
   * @param request Owner, duration and whether to take over from a live holder.
   * @returns The token, or who holds the execution.
   * @throws {RangeError} When `ttlMs` is out of range.
   */
  claim(executionId: string, request: ClaimRequest): Promise<ClaimResult> {
    return this.#read("claim", executionId, () => {
      _checkClaim(request);
      const now = this.#clock.now();
      const log = this.#logOf(executionId);
      const held = log.claim;
      if (
        held && !_mayReplace(request, held.owner) && held.until > now && held.token >= log.fence
      ) {
        return { acquired: false, holder: held.owner, expiresInMs: held.until - now };
      }
      const token = log.fence + 1;
      log.fence = token;
      log.claim = { owner: request.owner, token, until: now + request.ttlMs };
      return { acquired: true, token };
    });
  }

  /**
   * Extends the caller's claim.
   *
   * @param executionId The execution.
   * @param token The caller's token.
   * @param ttlMs New duration from now.
   * @returns Whether the claim is still the caller's.
   */
  renewClaim(executionId: string, token: number, ttlMs: number): Promise<boolean> {
    return this.#read("renewClaim", executionId, () => {
      _checkToken(token, "token");
      _checkClaim({ owner: "", ttlMs });
      const log = this.#live(executionId);
      if (log?.claim?.token !== token || log.fence !== token) return false;
      log.claim.until = this.#clock.now() + ttlMs;
      return true;
    });
  }

  /**
   * Gives up the caller's claim, if it still holds it.
   *
   * @param executionId The execution.
   * @param token The caller's token.
   * @returns Once released.
   */
  releaseClaim(executionId: string, token: number): Promise<void> {
    return this.#read("releaseClaim", executionId, () => {
      _checkToken(token, "token");
      const log = this.#live(executionId);
      if (log?.claim?.token === token) delete log.claim;
    });
  }

  /**
   * Ids of executions with a live log, most recently appended first.
   *
   * @param limit Maximum number of ids.
   * @returns The ids.
   * @throws {RangeError} When `limit` is not a non-negative integer.
   */
  listExecutions(limit?: number): Promise<string[]> {
    try {
      this.#open("listExecutions", undefined);
      const max = _listLimit(limit);
      this.#sweep(this.#clock.now(), true);
      const ids: string[] = [];
      for (const [id, log] of [...this.#logs].reverse()) {
        if (ids.length >= max) break;
        if (log.events.length > 0) ids.push(id);
      }
      return Promise.resolve(ids);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /**
   * A page of the executions index, newest first (a sort of the live entries).
   *
   * @param query Filters, cursor and limit.
   * @returns The page.
   * @throws {TypeError} When a filter or the cursor is malformed.
   * @throws {RangeError} When `limit` or a time bound is out of range.
   */
  queryExecutions(query?: ExecutionQuery): Promise<ExecutionPage> {
    try {
      this.#open("queryExecutions", undefined);
      const q = _checkQuery(query);
      const now = this.#clock.now();
      const found: IndexedExecution[] = [];
      for (const [id, { entry, expiresAt }] of this.#index) {
        if (now >= expiresAt) this.#index.delete(id);
        else if (_matches(entry, q) && _afterCursor(_position(entry), q.cursor)) found.push(entry);
      }
      found.sort((a, b) => _compare(_position(a), _position(b)));
      const executions = found.slice(0, q.limit).map((entry) => ({ ...entry }));
      const last = executions.at(-1);
      return Promise.resolve(
        found.length > q.limit && last
          ? { executions, nextCursor: _encodeCursor(_position(last)) }
          : { executions },
      );
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /**
   * Ends subscriptions and refuses further calls. Idempotent.
   *
   * @returns Once closed.
   */
  close(): Promise<void> {
    this.#closed = true;
    for (const id of [...this.#waiters.keys()]) this.#notify(id);
    return Promise.resolve();
  }

  #open(operation: string, executionId: string | undefined): void {
    if (this.#closed) {
      throw new StoreUnavailableError(
        `${operation}(${executionId === undefined ? "" : `"${executionId}"`})`,
        {
          cause: new Error("the store is closed"),
        },
      );
    }
    if (executionId !== undefined) _checkExecutionId(executionId);
  }

  #read<T>(operation: string, executionId: string, fn: () => T): Promise<T> {
    try {
      this.#open(operation, executionId);
      return Promise.resolve(fn());
    } catch (error) {
      return Promise.reject(error);
    }
  }

  #live(executionId: string): Log | undefined {
    const log = this.#logs.get(executionId);
    if (log && this.#clock.now() >= log.expiresAt) {
      this.#logs.delete(executionId);
      return undefined;
    }
    return log;
  }

  // The live log of an execution, created empty (fence and claim only) if none.
  #logOf(executionId: string): Log {
    let log = this.#live(executionId);
    if (!log) {
      log = {
        events: [],
        keys: new Map(),
        fence: 0,
        expiresAt: this.#clock.now() + this.#retentionSeconds * 1000,
      };
      this.#logs.set(executionId, log);
    }
    return log;
  }

  #indexEntry(executionId: string, index: ExecutionIndexEntry, expiresAt: number): void {
    const now = this.#clock.now();
    const old = this.#index.get(executionId);
    const live = old !== undefined && now < old.expiresAt;
    if (live && index.initial) return;
    const createdAt = live ? old.entry.createdAt : index.createdAt;
    const entry: IndexedExecution = {
      executionId,
      status: index.status,
      agent: index.agent,
      createdAt,
      updatedAt: now,
    };
    if (index.waitingFor !== undefined) entry.waitingFor = index.waitingFor;
    this.#index.delete(executionId);
    this.#index.set(executionId, { entry, expiresAt });
  }

  #slice(executionId: string, from: number, to: number, limit: number): StoredEvent[] {
    const events = this.#live(executionId)?.events ?? [];
    const last = Math.min(to, events.length, from - 1 + limit);
    const out: StoredEvent[] = [];
    for (let seq = from; seq <= last; seq++) {
      out.push(this.#decode(executionId, seq, events[seq - 1]!));
    }
    return out;
  }

  #decode(executionId: string, seq: number, json: string): StoredEvent {
    return _decodeEvent(executionId, seq, json, `memory:${executionId}`);
  }

  #sweep(now: number, force = false): void {
    if (!force && now - this.#lastSweep < SWEEP_INTERVAL_MS) return;
    this.#lastSweep = now;
    for (const [id, log] of this.#logs) if (now >= log.expiresAt) this.#logs.delete(id);
    for (const [id, { expiresAt }] of this.#index) if (now >= expiresAt) this.#index.delete(id);
  }

  #wait(executionId: string, signal: AbortSignal | undefined): Promise<void> {
    return new Promise((resolve) => {
      let waiters = this.#waiters.get(executionId);
      if (!waiters) this.#waiters.set(executionId, waiters = new Set());
      const wake = () => {
        signal?.removeEventListener("abort", wake);
        waiters.delete(wake);
        if (waiters.size === 0 && this.#waiters.get(executionId) === waiters) {
          this.#waiters.delete(executionId);
        }
        resolve();
      };
      waiters.add(wake);
      signal?.addEventListener("abort", wake, { once: true });
    });
  }

  #notify(executionId: string): void {
    const waiters = this.#waiters.get(executionId);
    if (waiters) { for (const wake of [...waiters]) wake(); }
  }
}

function _position(entry: IndexedExecution): { c: number; id: string } {
  return { c: entry.createdAt, id: entry.executionId };
}
