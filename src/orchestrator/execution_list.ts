/**
 * Listing executions: newest first, filtered by status, agent, what they
 * wait for and creation time, a page at a time — read from the executions
 * index the event store keeps in step with every status change (see
 * `src/events/execution_index.ts`). Behind `Orchestrator.listExecutions`,
 * `GET /executions` and `oao list`. Workflows and the system log are not
 * executions and are never listed; an execution leaves the listing when its
 * log's retention (7 days by default) runs out.
 *
 * @example
 * ```ts
 * import { InMemoryEventStore } from "../events/in_memory_event_store.ts";
 * import { listExecutions } from "./execution_list.ts";
 * const store = new InMemoryEventStore();
 * const index = { status: "RUNNING", agent: "researcher", createdAt: Date.now() };
 * await store.appendEvent("exec-1", { type: "EXECUTION_STARTED" }, { index });
 * const { executions } = await listExecutions(store, { status: ["RUNNING", "NEEDS_DECISION"] });
 * console.assert(executions[0]?.executionId === "exec-1");
 * ```
 *
 * @module
 */
import type { EventStore } from "../events/event_store.ts";
import type { ExecutionQuery } from "../events/execution_index.ts";
import { _quote } from "../events/_index_codec.ts";
import { EXECUTION_STATUSES, type ExecutionStatus } from "./execution_report.ts";

/** What an execution can wait for. */
export type WaitKind = "signal" | "timer" | "approval" | "decision";

/** Every {@linkcode WaitKind}. */
export const WAIT_KINDS: readonly WaitKind[] = ["signal", "timer", "approval", "decision"];

/** Filters of {@linkcode listExecutions}; they combine (all must match). */
export interface ExecutionListFilter {
  /** Only these statuses. @default {every status} */
  status?: ExecutionStatus | readonly ExecutionStatus[];
  /** Only this agent. */
  agent?: string;
  /** Only executions waiting for one of these. */
  waitingFor?: WaitKind | readonly WaitKind[];
  /** Only executions created at or after this time (epoch ms or a `Date`). */
  createdAfter?: number | Date;
  /** Only executions created before this time (epoch ms or a `Date`). */
  createdBefore?: number | Date;
  /** The `nextCursor` of the previous page (`undefined`: the first page). */
  cursor?: string | undefined;
  /** Executions per page, 1–500. @default {50} */
  limit?: number;
}

/** One execution in a listing. */
export interface ExecutionSummary {
  /** The execution. */
  executionId: string;
  /** The agent's name. */
  agent: string;
  /** Its status. */
  status: ExecutionStatus;
  /** When it was created (queued or started), epoch ms. */
  createdAt: number;
  /** When its status (or what it waits for) last changed, epoch ms. */
  updatedAt: number;
  /** What it waits for, if anything. */
  waitingFor?: WaitKind;
}

/** A page of executions, newest first. */
export interface ExecutionList {
  /** The executions. */
  executions: ExecutionSummary[];
  /**
   * Pass it as `cursor` for the next page; absent on the last page. A page
   * may hold fewer executions than `limit` (even none) and still have a next
   * one when filters match few of many: page on until it is absent.
   */
  nextCursor?: string;
}

/**
 * A page of executions from an event store's executions index, newest first.
 *
 * @param store The event store.
 * @param filter Filters, cursor and page size.
 * @returns The page.
 * @throws {TypeError} When a status or waitingFor value is unknown, or the cursor is not one.
 * @throws {RangeError} When `limit` or a time bound is out of range.
 * @throws {StoreUnavailableError} When the store stays unreachable.
 */
export async function listExecutions(
  store: EventStore,
  filter: ExecutionListFilter = {},
): Promise<ExecutionList> {
  const query: ExecutionQuery = {};
  const statuses = _list("status", filter.status, EXECUTION_STATUSES);
  if (statuses) query.status = statuses;
  const waits = _list("waitingFor", filter.waitingFor, WAIT_KINDS);
  if (waits) query.waitingFor = waits;
  if (filter.agent !== undefined) query.agent = filter.agent;
  const after = _time("createdAfter", filter.createdAfter);
  if (after !== undefined) query.createdAfter = after;
  const before = _time("createdBefore", filter.createdBefore);
  if (before !== undefined) query.createdBefore = before;
  if (filter.cursor !== undefined) query.cursor = filter.cursor;
  if (filter.limit !== undefined) query.limit = filter.limit;
  const page = await store.queryExecutions(query);
  const list: ExecutionList = {
    executions: page.executions.map((entry) => {
      const summary: ExecutionSummary = {
        executionId: entry.executionId,
        agent: entry.agent,
        status: entry.status as ExecutionStatus,
        createdAt: entry.createdAt,
        updatedAt: entry.updatedAt,
      };
      if (entry.waitingFor !== undefined) summary.waitingFor = entry.waitingFor as WaitKind;
      return summary;
    }),
  };
  if (page.nextCursor !== undefined) list.nextCursor = page.nextCursor;
  return list;
}

function _list<T extends string>(
  name: string,
  value: T | readonly T[] | undefined,
  known: readonly T[],
): T[] | undefined {
  if (value === undefined) return undefined;
  const values = typeof value === "string" ? [value] : [...value];
  if (values.length === 0) {
    throw new TypeError(`Invalid ${name}: expected at least one of ${known.join(", ")}`);
  }
  for (const v of values) {
    if (!known.includes(v)) {
      throw new TypeError(`Invalid ${name} ${_quote(v)}: expected one of ${known.join(", ")}`);
    }
  }
  return values;
}

function _time(name: string, value: number | Date | undefined): number | undefined {
  if (value === undefined) return undefined;
  const ms = value instanceof Date ? value.getTime() : value;
  if (!Number.isSafeInteger(ms) || ms < 0) {
    throw new RangeError(`Invalid ${name} ${_quote(String(value))}: expected a time after 1970`);
  }
  return ms;
}
