/**
 * The executions index of an {@linkcode EventStore}: one entry per
 * execution — its status, agent, creation time and what it waits for —
 * written by the appends that change them and queried newest first, with
 * filters and a cursor ({@linkcode EventStore.queryExecutions}).
 *
 * The store does not interpret events: the writer of an event that changes
 * the status passes the execution's entry with it (`AppendOptions.index`),
 * and the store writes it atomically with the event. Appends without an
 * entry (most events; logs that are not executions, such as a workflow's or
 * the system's) leave the index alone. An entry keeps the `createdAt` of the
 * first append that indexed it; later ones change everything else.
 *
 * Retention: an entry expires with the retention of the append that last
 * wrote it (`expire`, or the store's), counted from that append: never later
 * than the log it describes, which every append renews.
 *
 * @example
 * ```ts
 * import { InMemoryEventStore } from "./in_memory_event_store.ts";
 * const store = new InMemoryEventStore();
 * const index = { status: "RUNNING", agent: "researcher", createdAt: Date.now() };
 * await store.appendEvent("exec-1", { type: "EXECUTION_STARTED" }, { index });
 * const page = await store.queryExecutions({ status: ["RUNNING"] });
 * console.assert(page.executions[0]?.executionId === "exec-1");
 * await store.close();
 * ```
 *
 * @module
 */

/** What an append says about its execution (see `AppendOptions.index`). */
export interface ExecutionIndexEntry {
  /**
   * The status after the event: 1–64 characters of `A–Z a–z 0–9 _ . -`
   * (the store does not interpret it).
   */
  status: string;
  /** The agent's name (1–200 characters). */
  agent: string;
  /** When the execution was created, epoch ms (kept from the first indexed append). */
  createdAt: number;
  /**
   * What the execution waits for, if anything (e.g. `"signal"`, `"timer"`,
   * `"approval"`, `"decision"`): 1–64 characters of `A–Z a–z 0–9 _ . -`.
   */
  waitingFor?: string;
  /**
   * Write the entry only when the execution has none (a first status, such
   * as a queued one that may be recorded after the execution started).
   * @default {false}
   */
  initial?: boolean;
}

/** An entry of the index, as {@linkcode EventStore.queryExecutions} returns it. */
export interface IndexedExecution extends ExecutionIndexEntry {
  /** The execution. */
  executionId: string;
  /** Time of the append that last wrote the entry, epoch ms. */
  updatedAt: number;
}

/** A query of the executions index. Filters combine (all must match). */
export interface ExecutionQuery {
  /** Only these statuses. @default {every status} */
  status?: readonly string[];
  /** Only this agent. */
  agent?: string;
  /** Only executions waiting for one of these. */
  waitingFor?: readonly string[];
  /** Only executions created at or after this time (epoch ms). */
  createdAfter?: number;
  /** Only executions created before this time (epoch ms). */
  createdBefore?: number;
  /** The `nextCursor` of the previous page. */
  cursor?: string;
  /** Most entries in the page (1–{@linkcode MAX_QUERY_LIMIT}). @default {50} */
  limit?: number;
}

/** A page of the executions index, newest first (by `createdAt`, then id). */
export interface ExecutionPage {
  /** The entries. */
  executions: IndexedExecution[];
  /**
   * Where the next page starts, absent on the last page. A page may hold
   * fewer than `limit` entries, even none, and still have a next one: a
   * store examines a bounded number of entries per query (filters that
   * match few of many), so page on until `nextCursor` is absent.
   */
  nextCursor?: string;
}

/** The default `limit` of an {@linkcode ExecutionQuery}. */
export const DEFAULT_QUERY_LIMIT = 50;
/** The largest `limit` of an {@linkcode ExecutionQuery}. */
export const MAX_QUERY_LIMIT = 500;
