/**
 * The port for the immutable, event-sourced audit log of each execution.
 * Implementations: `InMemoryEventStore` (embedded default) and
 * `RedisEventStore` (production, Redis Streams).
 *
 * Events of one execution are totally ordered: each gets the next sequence
 * number (1, 2, 3, …) and a unique id when it is appended, and is never
 * changed afterwards. An append resolves only once the event is durable in
 * the store (write-ahead): callers await it before acting on the transition.
 *
 * Retention: a log expires `expire` seconds after its last append — 7 days
 * (604,800 s) unless the store or the append says otherwise. A store may
 * renew an expiry lazily, within 1 % of it or 1 s, whichever is less
 * (`RedisEventStore` does, to save two writes per append).
 *
 * @module
 */

import type { ExecutionIndexEntry, ExecutionPage, ExecutionQuery } from "./execution_index.ts";

/** Default retention of an execution's log: 7 days, in seconds. */
export const DEFAULT_RETENTION_SECONDS = 604_800;

/** Running totals of an execution, carried by its events. */
export interface Totals {
  /** Steps entered so far. */
  steps: number;
  /** Tokens recorded so far. */
  tokens: number;
  /** Tool calls made so far (skipped idempotent calls excluded). */
  toolCalls: number;
  /**
   * Cost of the model calls made so far, in USD, from the price table
   * (absent until a model call completes).
   */
  costUsd?: number;
}

/** An event as given to {@linkcode EventStore.appendEvent}. */
export interface EventInput {
  /** Event type, e.g. `"STATE_ENTER"` or `"RETRY_ATTEMPTED"`. */
  type: string;
  /** Step number the event belongs to, when it belongs to one. */
  step?: number;
  /** Event-specific payload. Must be JSON-serializable. */
  data?: Record<string, unknown>;
  /** Running totals after the event. */
  totals?: Totals;
  /** W3C trace id (32 hex) of the span that was active. */
  traceId?: string;
  /** W3C span id (16 hex) of the span that was active. */
  spanId?: string;
  /**
   * An index key: the store remembers the latest event appended with this key
   * so {@linkcode EventStore.findByKey} finds it without scanning the log
   * (used for idempotent tool calls).
   */
  key?: string;
  /** Event time in epoch milliseconds. @default {the store's clock} */
  time?: number;
}

/** An event as stored: the input plus identity and order. */
export interface StoredEvent extends EventInput {
  /** The execution whose log holds the event. */
  executionId: string;
  /** Position in the log, starting at 1, without gaps. */
  seq: number;
  /** Globally unique id. */
  id: string;
  /** Event time in epoch milliseconds. */
  time: number;
}

/** Options of {@linkcode EventStore.appendEvent}. */
export interface AppendOptions {
  /** Retention in seconds, counted from this append. @default {the store's retention} */
  expire?: number;
  /**
   * Writer's fencing token for this execution; the append is rejected with
   * `FencedError` when a newer token was registered with
   * {@linkcode EventStore.fence}.
   */
  fencingToken?: number;
  /**
   * Makes the append conditional: it is stored only when the log's last
   * sequence number is exactly this one (`0`: the log holds no event),
   * otherwise rejected with `StaleVersionError` (whose `actual` is the last
   * seq), atomically with the append. Lets a writer that decided from what
   * it read append only if nothing was appended since (a signal or a
   * decision never lands after the event that finished the execution).
   */
  expectedSeq?: number;
  /**
   * The execution's entry in the executions index after this event (for an
   * event that changes its status, agent or what it waits for), written
   * atomically with the event; see `execution_index.ts`. Only a stored
   * event writes it (a fenced append does not).
   */
  index?: ExecutionIndexEntry;
}

/** Options of {@linkcode EventStore.subscribe}. */
export interface SubscribeOptions {
  /** Deliver events with `seq > afterSeq`. @default {0} */
  afterSeq?: number;
  /** Ends the subscription. */
  signal?: AbortSignal;
}

/** Options of {@linkcode EventStore.readRange}. */
export interface RangeOptions {
  /** First sequence number (inclusive). @default {1} */
  from?: number;
  /** Last sequence number (inclusive). @default {the latest} */
  to?: number;
  /** Maximum number of events. @default {unlimited} */
  limit?: number;
}

/** What a runner asks for in {@linkcode EventStore.claim}. */
export interface ClaimRequest {
  /** Who asks, as shown to a runner that is refused (e.g. `"process 42 on host-a"`). */
  owner: string;
  /** How long the claim holds unless renewed, in ms (1 – 2^31−1). */
  ttlMs: number;
  /**
   * Take the execution even from a live holder, whose writes are then fenced
   * (for a runner that holds another authority over it, such as a job
   * queue's lease). @default {false}
   */
  takeOver?: boolean;
  /**
   * Take the execution from this holder only, even before its claim expires
   * (one known to have died): a claim held by anyone else, or taken over by
   * another runner meanwhile, is refused as usual. Ignored when `takeOver`.
   */
  replacing?: string;
}

/** What {@linkcode EventStore.claim} answered. */
export type ClaimResult =
  | {
    /** The execution is the caller's until the claim expires or is released. */
    acquired: true;
    /** The caller's fencing token, registered as the newest (see {@linkcode EventStore.fence}). */
    token: number;
  }
  | {
    /** Another runner holds the execution. */
    acquired: false;
    /** Its `owner`. */
    holder: string;
    /** Milliseconds until its claim expires unless renewed. */
    expiresInMs: number;
  };

/** Append-only, per-execution event logs. */
export interface EventStore {
  /**
   * Appends an event; resolves once it is durable.
   *
   * @throws {FencedError} When `fencingToken` is stale.
   * @throws {StaleVersionError} When `expectedSeq` is not the log's last seq.
   * @throws {CorruptDataError} When the event cannot be serialized.
   * @throws {StoreUnavailableError} When the store stays unreachable.
   */
  appendEvent(
    executionId: string,
    event: EventInput,
    options?: AppendOptions,
  ): Promise<StoredEvent>;
  /** Events with `from <= seq <= to`, in order. */
  readRange(executionId: string, options?: RangeOptions): Promise<StoredEvent[]>;
  /** Events with `seq > afterSeq`, in order. */
  readAfter(executionId: string, afterSeq: number, limit?: number): Promise<StoredEvent[]>;
  /** The last event, if any. */
  latest(executionId: string): Promise<StoredEvent | undefined>;
  /** Number of events in the log. */
  count(executionId: string): Promise<number>;
  /** The latest event appended with the index key `key`. */
  findByKey(executionId: string, key: string): Promise<StoredEvent | undefined>;
  /**
   * Backlog after `afterSeq`, then live events as they are appended, with no
   * gap and no duplicate between the two. Ends when `signal` aborts.
   */
  subscribe(executionId: string, options?: SubscribeOptions): AsyncIterable<StoredEvent>;
  /**
   * Registers `token` as the newest fencing token of an execution: later
   * appends that carry an older token are rejected. Tokens only grow.
   */
  fence(executionId: string, token: number): Promise<void>;
  /**
   * Claims an execution for one runner: granted when nobody holds it (or the
   * holder's claim expired, or `takeOver`), atomically with a new fencing
   * token one above the newest, so that the writes of every earlier holder
   * are rejected from then on. A claim whose token was fenced out is no
   * longer held.
   *
   * @throws {RangeError} When `ttlMs` is out of range.
   */
  claim(executionId: string, request: ClaimRequest): Promise<ClaimResult>;
  /**
   * Extends the caller's claim by `ttlMs` from now.
   *
   * @returns `false` when the claim is no longer the caller's (fenced out or
   *   released); an expired claim nobody took since is renewed.
   */
  renewClaim(executionId: string, token: number, ttlMs: number): Promise<boolean>;
  /** Gives up the caller's claim, if it still holds it; the fencing token stays. */
  releaseClaim(executionId: string, token: number): Promise<void>;
  /** Ids of executions with a log, most recently appended first. */
  listExecutions(limit?: number): Promise<string[]>;
  /**
   * A page of the executions index (entries written with
   * `AppendOptions.index`), newest first; expired entries are never listed.
   *
   * @throws {TypeError} When a filter or the cursor is malformed.
   * @throws {RangeError} When `limit` or a time bound is out of range.
   * @throws {StoreUnavailableError} When the store stays unreachable.
   */
  queryExecutions(query?: ExecutionQuery): Promise<ExecutionPage>;
  /** Releases connections and ends subscriptions. Idempotent. */
  close(): Promise<void>;
}
