/**
 * Validation, encoding and decoding of events, shared by the event store
 * implementations so that they accept, store and return exactly the same
 * things. An event is stored as JSON without its execution id and sequence
 * number (the log and the position carry them).
 *
 * @module
 */
import { CorruptDataError } from "../persistence/store_errors.ts";
import type {
  AppendOptions,
  EventInput,
  RangeOptions,
  StoredEvent,
  SubscribeOptions,
} from "./event_store.ts";

/** The stored JSON form of an event. */
export interface _EventRecord extends EventInput {
  id: string;
  time: number;
}

const OPTIONAL_FIELDS = ["step", "data", "totals", "traceId", "spanId", "key"] as const;

/** Throws a TypeError unless `executionId` is a non-empty string. */
export function _checkExecutionId(executionId: unknown): asserts executionId is string {
  if (typeof executionId !== "string" || executionId.length === 0) {
    throw new TypeError(
      `Invalid execution id ${
        JSON.stringify(executionId) ?? String(executionId)
      }: expected a non-empty string`,
    );
  }
}

/**
 * Validates an event and builds its stored JSON.
 *
 * @throws {TypeError} When a field has the wrong type.
 * @throws {CorruptDataError} When the event cannot be serialized (`where` is the key named).
 */
export function _encodeEvent(
  executionId: string,
  event: EventInput,
  init: { id: string; time: number; where: string },
): { record: _EventRecord; json: string } {
  if (typeof event !== "object" || event === null) {
    throw new TypeError(`Cannot append to "${executionId}": the event must be an object`);
  }
  if (typeof event.type !== "string" || event.type.length === 0) {
    throw new TypeError(
      `Cannot append to "${executionId}": event "type" must be a non-empty string`,
    );
  }
  const time = event.time ?? init.time;
  const record: _EventRecord = { id: init.id, type: event.type, time };
  _field(executionId, "time", time, "number");
  for (const field of OPTIONAL_FIELDS) {
    const value = event[field];
    if (value === undefined) continue;
    const expected = field === "step"
      ? "number"
      : field === "data" || field === "totals"
      ? "object"
      : "string";
    _field(executionId, field, value, expected);
    (record as unknown as Record<string, unknown>)[field] = value;
  }
  let json: string;
  try {
    json = JSON.stringify(record);
  } catch (error) {
    throw new CorruptDataError(
      init.where,
      `event "${event.type}" of execution "${executionId}" cannot be serialized as JSON (${
        error instanceof Error ? error.message : String(error)
      })`,
      { cause: error },
    );
  }
  return { record, json };
}

function _field(executionId: string, field: string, value: unknown, expected: string): void {
  const ok = expected === "number"
    ? typeof value === "number" && Number.isFinite(value)
    : expected === "object"
    ? typeof value === "object" && value !== null && !Array.isArray(value)
    : typeof value === "string";
  if (!ok) {
    throw new TypeError(
      `Cannot append to "${executionId}": event "${field}" must be ${
        expected === "number"
          ? "a finite number"
          : expected === "object"
          ? "a plain object"
          : "a string"
      }`,
    );
  }
}

/** The stored event of a record. */
export function _storedEvent(executionId: string, seq: number, record: _EventRecord): StoredEvent {
  return { ...record, executionId, seq };
}

/**
 * Decodes a stored JSON event.
 *
 * @throws {CorruptDataError} When the JSON is invalid or lacks `id`, `type` or `time`.
 */
export function _decodeEvent(
  executionId: string,
  seq: number,
  json: unknown,
  where: string,
): StoredEvent {
  let record: unknown;
  try {
    if (typeof json !== "string") throw new Error(`expected a string, got ${typeof json}`);
    record = JSON.parse(json);
  } catch (error) {
    throw new CorruptDataError(
      where,
      `event ${seq} of execution "${executionId}" is not valid JSON (${
        error instanceof Error ? error.message : String(error)
      })`,
      { cause: error },
    );
  }
  const r = record as Partial<_EventRecord> | null;
  if (
    typeof r !== "object" || r === null || typeof r.id !== "string" || typeof r.type !== "string" ||
    typeof r.time !== "number"
  ) {
    throw new CorruptDataError(
      where,
      `event ${seq} of execution "${executionId}" lacks a string "id", a string "type" or a numeric "time"`,
    );
  }
  return { ...(r as _EventRecord), executionId, seq };
}

/** Validated append options: retention in ms, the fencing token and the expected last seq. */
export function _appendOptions(
  options: AppendOptions | undefined,
  retentionSeconds: number,
): { ttlMs: number; fencingToken: number | undefined; expectedSeq: number | undefined } {
  const expire = options?.expire ?? retentionSeconds;
  _checkRetention(expire, "expire");
  const fencingToken = options?.fencingToken;
  if (fencingToken !== undefined) _checkToken(fencingToken, "fencingToken");
  const expectedSeq = options?.expectedSeq;
  if (expectedSeq !== undefined) _checkToken(expectedSeq, "expectedSeq");
  return { ttlMs: Math.ceil(expire * 1000), fencingToken, expectedSeq };
}

/** Throws unless `request` is a valid claim: an owner string and `ttlMs` in 1 – 2^31−1. */
export function _checkClaim(request: { owner: unknown; ttlMs: unknown }): void {
  if (typeof request?.owner !== "string") {
    throw new TypeError(`Invalid claim owner ${String(request?.owner)}: expected a string`);
  }
  const { replacing } = request as { replacing?: unknown };
  if (replacing !== undefined && typeof replacing !== "string") {
    throw new TypeError(`Invalid claim replacing ${String(replacing)}: expected a string`);
  }
  const { ttlMs } = request;
  if (typeof ttlMs !== "number" || !Number.isInteger(ttlMs) || ttlMs < 1 || ttlMs > 2 ** 31 - 1) {
    throw new RangeError(
      `Invalid claim ttlMs ${String(ttlMs)}: expected an integer from 1 to ${2 ** 31 - 1}`,
    );
  }
}

/**
 * Whether a claim request may take the execution from the live holder
 * `holder` (`takeOver`, or `replacing` names exactly that holder).
 */
export function _mayReplace(
  request: { takeOver?: boolean; replacing?: string },
  holder: string,
): boolean {
  return request.takeOver === true ||
    (typeof request.replacing === "string" && request.replacing !== "" &&
      request.replacing === holder);
}

/** Throws a RangeError unless `seconds` is a positive finite number. */
export function _checkRetention(seconds: unknown, name: string): asserts seconds is number {
  if (typeof seconds !== "number" || !Number.isFinite(seconds) || seconds <= 0) {
    throw new RangeError(
      `Invalid ${name} ${String(seconds)}: expected a positive number of seconds`,
    );
  }
}

/** Throws a RangeError unless `token` is a non-negative safe integer. */
export function _checkToken(token: unknown, name: string): asserts token is number {
  if (typeof token !== "number" || !Number.isSafeInteger(token) || token < 0) {
    throw new RangeError(`Invalid ${name} ${String(token)}: expected a non-negative safe integer`);
  }
}

/** Validated range: inclusive bounds (`to` may be Infinity) and a limit (Infinity when absent). */
export function _range(
  options: RangeOptions | undefined,
): { from: number; to: number; limit: number } {
  const from = options?.from ?? 1;
  const to = options?.to ?? Infinity;
  const limit = options?.limit ?? Infinity;
  _checkSeq(from, "from", 1);
  if (to !== Infinity) _checkSeq(to, "to", 0);
  if (limit !== Infinity) _checkSeq(limit, "limit", 0);
  return { from, to, limit };
}

/** Validated `readAfter` arguments. */
export function _after(
  afterSeq: number,
  limit: number | undefined,
): { after: number; limit: number } {
  _checkSeq(afterSeq, "afterSeq", 0);
  if (limit !== undefined) _checkSeq(limit, "limit", 0);
  return { after: afterSeq, limit: limit ?? Infinity };
}

/** Validated subscription start. */
export function _subscribeStart(options: SubscribeOptions | undefined): number {
  const after = options?.afterSeq ?? 0;
  _checkSeq(after, "afterSeq", 0);
  return after;
}

/** Validated `listExecutions` limit (Infinity when absent). */
export function _listLimit(limit: number | undefined): number {
  if (limit === undefined) return Infinity;
  _checkSeq(limit, "limit", 0);
  return limit;
}

function _checkSeq(value: unknown, name: string, min: number): void {
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value < min) {
    throw new RangeError(`Invalid ${name} ${String(value)}: expected an integer ≥ ${min}`);
  }
}
