/**
 * Validation of index entries and queries, the cursor format and the order
 * of the executions index, shared by the event stores so that they accept
 * and answer exactly the same things (see `execution_index.ts`).
 *
 * @module
 */
import {
  DEFAULT_QUERY_LIMIT,
  type ExecutionIndexEntry,
  type ExecutionQuery,
  MAX_QUERY_LIMIT,
} from "./execution_index.ts";

/** Status and waiting-for values: safe in Redis key names and in the stored line. */
const WORD = /^[A-Za-z0-9_.-]{1,64}$/;
/** Entries a store examines for one query at most (beyond them, the page ends with a cursor). */
export const _SCAN_BUDGET = 2_000;

/** A validated query. */
export interface _Query {
  statuses: string[] | undefined;
  agent: string | undefined;
  waitingFor: string[] | undefined;
  /** Inclusive lower bound of `createdAt` (or -Infinity). */
  after: number;
  /** Exclusive upper bound of `createdAt` (or Infinity). */
  before: number;
  cursor: _Position | undefined;
  limit: number;
}

/** A position in the index order. */
export interface _Position {
  c: number;
  id: string;
}

/**
 * Validates the index entry of an append.
 *
 * @throws {TypeError} When a field is missing or has the wrong form.
 */
export function _checkIndexEntry(executionId: string, entry: ExecutionIndexEntry): void {
  const fail = (what: string) => {
    throw new TypeError(`Cannot index "${executionId}": ${what}`);
  };
  if (typeof entry !== "object" || entry === null) fail("the index entry must be an object");
  if (typeof entry.status !== "string" || !WORD.test(entry.status)) {
    fail(`invalid status ${_quote(entry.status)}: expected 1–64 characters of A–Z a–z 0–9 _ . -`);
  }
  if (typeof entry.agent !== "string" || entry.agent.length === 0 || entry.agent.length > 200) {
    fail(`invalid agent ${_quote(entry.agent)}: expected a string of 1–200 characters`);
  }
  if (!Number.isSafeInteger(entry.createdAt) || entry.createdAt < 0) {
    fail(`invalid createdAt ${_quote(entry.createdAt)}: expected epoch milliseconds`);
  }
  if (entry.initial !== undefined && typeof entry.initial !== "boolean") {
    fail(`invalid initial ${_quote(entry.initial)}: expected a boolean`);
  }
  if (
    entry.waitingFor !== undefined &&
    (typeof entry.waitingFor !== "string" || !WORD.test(entry.waitingFor))
  ) {
    fail(
      `invalid waitingFor ${
        _quote(entry.waitingFor)
      }: expected 1–64 characters of A–Z a–z 0–9 _ . -`,
    );
  }
}

/**
 * Validates a query.
 *
 * @throws {TypeError} When a filter or the cursor is malformed.
 * @throws {RangeError} When `limit` or a time bound is out of range.
 */
export function _checkQuery(query: ExecutionQuery = {}): _Query {
  const words = (name: string, values: readonly string[] | undefined) => {
    if (values === undefined) return undefined;
    if (!Array.isArray(values) || values.length === 0 || values.length > 32) {
      throw new TypeError(`Invalid ${name}: expected a list of 1–32 values`);
    }
    for (const value of values) {
      if (typeof value !== "string" || !WORD.test(value)) {
        throw new TypeError(
          `Invalid ${name} ${_quote(value)}: expected 1–64 characters of A–Z a–z 0–9 _ . -`,
        );
      }
    }
    return [...new Set(values)];
  };
  const time = (name: string, value: number | undefined, absent: number) => {
    if (value === undefined) return absent;
    if (!Number.isSafeInteger(value) || value < 0) {
      throw new RangeError(`Invalid ${name} ${_quote(value)}: expected epoch milliseconds`);
    }
    return value;
  };
  const limit = query.limit ?? DEFAULT_QUERY_LIMIT;
  if (!Number.isSafeInteger(limit) || limit < 1 || limit > MAX_QUERY_LIMIT) {
    throw new RangeError(
      `Invalid limit ${_quote(limit)}: expected an integer 1–${MAX_QUERY_LIMIT}`,
    );
  }
  if (
    query.agent !== undefined &&
    (typeof query.agent !== "string" || query.agent.length === 0 || query.agent.length > 200)
  ) {
    throw new TypeError(`Invalid agent ${_quote(query.agent)}: expected 1–200 characters`);
  }
  return {
    statuses: words("status", query.status),
    agent: query.agent,
    waitingFor: words("waitingFor", query.waitingFor),
    after: time("createdAfter", query.createdAfter, -Infinity),
    before: time("createdBefore", query.createdBefore, Infinity),
    cursor: query.cursor === undefined ? undefined : _decodeCursor(query.cursor),
    limit,
  };
}

/** The opaque cursor of a position. */
export function _encodeCursor(position: _Position): string {
  const bytes = new TextEncoder().encode(JSON.stringify([position.c, position.id]));
  let binary = "";
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary).replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, "");
}

/**
 * The position of a cursor.
 *
 * @throws {TypeError} When it is not a cursor this module made.
 */
export function _decodeCursor(cursor: string): _Position {
  const invalid = () =>
    new TypeError(
      `Invalid cursor ${_quote(cursor)}: expected the nextCursor of the previous page`,
    );
  if (typeof cursor !== "string" || cursor.length > 1_000 || !/^[A-Za-z0-9_-]+$/.test(cursor)) {
    throw invalid();
  }
  let parsed: unknown;
  try {
    const binary = atob(cursor.replaceAll("-", "+").replaceAll("_", "/"));
    parsed = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(
      Uint8Array.from(binary, (ch) => ch.charCodeAt(0)),
    ));
  } catch {
    throw invalid();
  }
  if (
    !Array.isArray(parsed) || parsed.length !== 2 || !Number.isSafeInteger(parsed[0]) ||
    parsed[0] < 0 || typeof parsed[1] !== "string" || parsed[1].length === 0
  ) throw invalid();
  return { c: parsed[0], id: parsed[1] };
}

/** Index order: newest `createdAt` first, then the greater id first (by UTF-8 bytes). */
export function _compare(a: _Position, b: _Position): number {
  return b.c - a.c || _compareIds(b.id, a.id);
}

/** Byte order of the UTF-8 forms (what Redis and Deno KV use). */
export function _compareIds(a: string, b: string): number {
  if (a === b) return 0;
  const x = new TextEncoder().encode(a), y = new TextEncoder().encode(b);
  const n = Math.min(x.length, y.length);
  for (let i = 0; i < n; i++) if (x[i] !== y[i]) return x[i]! - y[i]!;
  return x.length - y.length;
}

/** Whether a position comes after the cursor (is on a later page). */
export function _afterCursor(position: _Position, cursor: _Position | undefined): boolean {
  return cursor === undefined || _compare(cursor, position) < 0;
}

/** Whether an entry passes the filters of a query (the time bounds and cursor aside). */
export function _matches(entry: ExecutionIndexEntry, query: _Query): boolean {
  return (query.statuses === undefined || query.statuses.includes(entry.status)) &&
    (query.agent === undefined || entry.agent === query.agent) &&
    (query.waitingFor === undefined ||
      (entry.waitingFor !== undefined && query.waitingFor.includes(entry.waitingFor))) &&
    entry.createdAt >= query.after && entry.createdAt < query.before;
}

/** A value for a message: quoted, at most 60 characters. */
export function _quote(value: unknown): string {
  const text = typeof value === "string" ? value : JSON.stringify(value) ?? String(value);
  return `"${text.length > 60 ? `${text.slice(0, 57)}...` : text}"`;
}
