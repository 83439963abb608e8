// The host's check of every control message a worker posts. A worker runs
// actor code, which may be hostile: nothing it sends is believed before its
// shape, types, sizes and counters are checked here. A message that fails
// fails its actor with reason "protocol_violation". Internal.
//
// Checks are plain `typeof` tests on the fields the host reads, written out
// by hand: they sit on the ask path, and a schema library costs more per
// message than the rest of the hop (measured by bench/actor_throughput_bench.ts).
// Payloads (message bodies, service payloads, snapshot state) are not walked
// here; the layer that records them checks their size.
import type { Limits } from "../limits.ts";
import { MAX_BATCH } from "./_protocol.ts";

// Packed spans allowed per full span of the limit (a packed span is a few numbers).
const PACKED_PER_SPAN = 100;

/** Longest actor path, link key, service name or module URL a worker may send. */
export const MAX_NAME_CHARS = 2048;

const FAILURE_REASONS = new Set([
  "exception",
  "unhandled_rejection",
  "worker_error",
  "worker_exited",
]);
const LOG_LEVELS = new Set(["debug", "info", "warning", "error"]);
const SPAN_KINDS = new Set(["internal", "server", "client", "producer", "consumer"]);
const STATUS_CODES = new Set(["unset", "ok", "error"]);
const HEX32 = /^[0-9a-f]{32}$/;
const HEX16 = /^[0-9a-f]{16}$/;

type Guard = Pick<
  Limits,
  "maxErrorChars" | "maxStackChars" | "maxLogMessageChars" | "maxLogRecords" | "maxSpans"
>;

// Names a value in a refusal without running any of its code (no toString).
function describe(value: unknown): string {
  if (typeof value === "string") return JSON.stringify(value.slice(0, 40));
  if (typeof value === "number" || typeof value === "boolean") return `${value}`;
  return value === null ? "null" : typeof value;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function isName(value: unknown): value is string {
  return typeof value === "string" && value.length > 0 && value.length <= MAX_NAME_CHARS;
}

function isCount(value: unknown): value is number {
  return typeof value === "number" && Number.isSafeInteger(value) && value >= 0;
}

/**
 * Why `value` is not error data a worker may send, or `undefined`.
 * Overlong messages are not a violation: the host cuts them (see boundErrorInfo).
 */
export function invalidErrorInfo(value: unknown, limits: Guard): string | undefined {
  if (!isObject(value)) return "error is not an object";
  if (typeof value.name !== "string" || typeof value.message !== "string") {
    return "error name or message is not a string";
  }
  // A message far over the limit is not cut, it is refused: copying it costs the host.
  if (value.message.length > limits.maxErrorChars * 1024) return "error message is far too long";
  if (value.code !== undefined && typeof value.code !== "string") {
    return "error code is not a string";
  }
  if (value.stack !== undefined && typeof value.stack !== "string") {
    return "error stack is not a string";
  }
  if (typeof value.stack === "string" && value.stack.length > limits.maxStackChars * 1024) {
    return "error stack is far too long";
  }
  return undefined;
}

function isErrorLike(value: unknown): boolean {
  return isObject(value) && typeof value.name === "string" && typeof value.message === "string" &&
    (value.code === undefined || typeof value.code === "string") &&
    (value.stack === undefined || typeof value.stack === "string");
}

function invalidAttributes(value: unknown): string | undefined {
  if (value === undefined) return undefined;
  if (!isObject(value)) return "attributes are not an object";
  for (const v of Object.values(value)) {
    const t = typeof v;
    if (t === "string" || t === "number" || t === "boolean") continue;
    if (
      Array.isArray(v) && v.every((x) => x === null || x === undefined || typeof x !== "object")
    ) continue;
    return "an attribute value is not a primitive or an array of primitives";
  }
  return undefined;
}

function isTime(value: unknown): boolean {
  return typeof value === "number" && value > 0 && value < 1e15;
}

/** Why `span` is not span data a worker may send, or `undefined`. */
export function invalidSpan(span: unknown): string | undefined {
  if (!isObject(span)) return "span is not an object";
  if (!isName(span.name)) return "span name is not a string";
  if (typeof span.traceId !== "string" || !HEX32.test(span.traceId)) return "invalid trace id";
  if (typeof span.spanId !== "string" || !HEX16.test(span.spanId)) return "invalid span id";
  if (
    span.parentSpanId !== undefined &&
    (typeof span.parentSpanId !== "string" || !HEX16.test(span.parentSpanId))
  ) return "invalid parent span id";
  if (span.tracestate !== undefined && typeof span.tracestate !== "string") {
    return "invalid tracestate";
  }
  if (!SPAN_KINDS.has(span.kind as string)) return "invalid span kind";
  if (!isTime(span.startTime) || !isTime(span.endTime)) return "invalid span times";
  const attributes = invalidAttributes(span.attributes);
  if (attributes || span.attributes === undefined) return attributes ?? "missing attributes";
  if (!Array.isArray(span.events)) return "span events are not an array";
  for (const event of span.events) {
    if (!isObject(event) || !isName(event.name) || !isTime(event.time)) return "invalid span event";
    const bad = invalidAttributes(event.attributes);
    if (bad) return bad;
  }
  if (span.links !== undefined) {
    if (!Array.isArray(span.links)) return "span links are not an array";
    for (const link of span.links) {
      if (
        !isObject(link) || typeof link.traceId !== "string" || !HEX32.test(link.traceId) ||
        typeof link.spanId !== "string" || !HEX16.test(link.spanId)
      ) return "invalid span link";
      const bad = invalidAttributes(link.attributes);
      if (bad) return bad;
    }
  }
  if (!isObject(span.status) || !STATUS_CODES.has(span.status.code as string)) {
    return "invalid span status";
  }
  if (span.status.message !== undefined && typeof span.status.message !== "string") {
    return "invalid span status message";
  }
  return undefined;
}

function invalidRequest(value: unknown): string | undefined {
  if (!isObject(value)) return "request is not an object";
  switch (value.op) {
    case "spawn":
      if (!isName(value.module)) return "spawn module is not a string";
      if (!isObject(value.options)) return "spawn options are not an object";
      return undefined;
    case "stop":
      if (!isName(value.target)) return "stop target is not a string";
      if (value.mode !== "graceful" && value.mode !== "immediate") return "invalid stop mode";
      return undefined;
    case "call":
      if (!isName(value.service)) return "service name is not a string";
      return undefined;
    default:
      return `unknown request op ${describe(value.op)}`;
  }
}

/**
 * Checks a control message from a worker.
 *
 * @param message What the worker posted.
 * @param limits The limits that apply.
 * @returns `undefined` when the host may act on it, otherwise what is wrong.
 */
export function invalidWorkerMessage(message: unknown, limits: Guard): string | undefined {
  if (!isObject(message)) return `message is ${message === null ? "null" : typeof message}`;
  const m = message as Record<string, unknown>;
  switch (m.k) {
    case "ready":
      return isCount(m.restoredSeq) ? undefined : "ready without a valid restoredSeq";
    case "init-failed":
      return invalidErrorInfo(m.error, limits);
    case "connect":
      if (!isName(m.target)) return "connect target is not a string";
      return isName(m.space) ? undefined : "connect space is not a string";
    case "request":
      if (!isCount(m.id)) return "request id is not a non-negative integer";
      return invalidRequest(m.request);
    case "snapshot":
      if (!isCount(m.incarnation) || !isCount(m.version)) {
        return "snapshot incarnation or version is not a non-negative integer";
      }
      if (!isObject(m.data)) return "snapshot data is not an object";
      if (!isCount(m.data.processed)) return "snapshot processed count is invalid";
      if (!isObject(m.data.cursors) || !Object.values(m.data.cursors).every(isCount)) {
        return "snapshot cursors are invalid";
      }
      if (!isObject(m.data.outbox)) return "snapshot outbox is not an object";
      return undefined;
    case "failed":
      if (!FAILURE_REASONS.has(m.reason as string)) {
        return `invalid failure reason ${describe(m.reason)}`;
      }
      if (m.key !== undefined && !isName(m.key)) return "failed key is not a string";
      if (m.seq !== undefined && !isCount(m.seq)) return "failed seq is not a non-negative integer";
      return invalidErrorInfo(m.error, limits);
    case "dead-letter":
      if (!isName(m.key) || !isName(m.from)) return "dead-letter key or sender is not a string";
      if (!isCount(m.seq) || !isCount(m.attempts)) return "dead-letter seq or attempts is invalid";
      return invalidErrorInfo(m.error, limits);
    case "dropped":
      if (!isName(m.key) || !isName(m.from) || !isCount(m.seq)) return "invalid dropped message";
      return typeof m.policy === "string" && m.policy.length <= 40
        ? undefined
        : "dropped policy is not a string";
    case "undeliverable":
      if (!isName(m.target)) return "undeliverable target is not a string";
      return invalidErrorInfo(m.error, limits);
    case "spans": {
      if (!Array.isArray(m.spans)) return "spans is not an array";
      if (m.packed !== undefined && !Array.isArray(m.packed)) return "packed spans is not an array";
      if (m.spans.length > limits.maxSpans) {
        return `${m.spans.length} spans in one batch, over ${limits.maxSpans}`;
      }
      // Packed receive spans are 40 bytes each: a busy actor sends many per batch.
      let packed = 0;
      for (const chunk of (m.packed as unknown[] | undefined) ?? []) {
        packed += isObject(chunk) && isCount(chunk.count) ? chunk.count : 0;
      }
      if (packed > limits.maxSpans * PACKED_PER_SPAN) {
        return `${packed} packed spans in one batch, over ${limits.maxSpans * PACKED_PER_SPAN}`;
      }
      for (const span of m.spans) {
        const bad = invalidSpan(span);
        if (bad) return bad;
      }
      return undefined;
    }
    case "logs": {
      if (!Array.isArray(m.records)) return "log records are not an array";
      if (m.records.length > limits.maxLogRecords) {
        return `${m.records.length} log records in one batch, over ${limits.maxLogRecords}`;
      }
      for (const record of m.records) {
        if (!isObject(record)) return "a log record is not an object";
        if (!LOG_LEVELS.has(record.level as string)) return "a log record has an unknown level";
        if (typeof record.message !== "string") return "a log message is not a string";
        if (record.message.length > limits.maxLogMessageChars * 1024) {
          return "a log message is far too long";
        }
        if (!isObject(record.properties)) return "log record properties are not an object";
      }
      return undefined;
    }
    case "stopped":
      return undefined;
    default:
      return `unknown message kind ${describe(m.k)}`;
  }
}

/**
 * Checks a reply frame that a receiver posted on a link from the host.
 *
 * @param reply What arrived on the link's port.
 * @param sent Highest sequence number the host sent on the link.
 * @returns `undefined` when valid, otherwise what is wrong.
 */
export function invalidLinkReply(reply: unknown, sent: number): string | undefined {
  const isList = (value: unknown): value is unknown[] =>
    Array.isArray(value) && value.length <= MAX_BATCH;
  if (!isObject(reply)) return `link reply is ${reply === null ? "null" : typeof reply}`;
  const r = reply as Partial<Record<string, unknown>>;
  const upTo = r.upTo;
  if (upTo !== undefined && (!isCount(upTo) || upTo > sent)) {
    return "acknowledgement of messages that were never sent";
  }
  switch (r.k) {
    case "a":
      return upTo === undefined ? "acknowledgement without upTo" : undefined;
    case "r":
      if (!isCount(r.a)) return "reply without a valid ask id";
      if (r.ok === true) return undefined;
      if (r.ok !== false) return "reply ok is not a boolean";
      return isErrorLike(r.e) ? undefined : "reply error is invalid";
    case "x": // a refusal names messages of one frame
      if (!isList(r.seqs) || !r.seqs.every((seq) => isCount(seq) && seq <= sent)) {
        return "refused seqs are invalid or were never sent";
      }
      if (r.seqs.length === 0) return "a refusal of no message";
      if (!isList(r.asks) || !r.asks.every(isCount)) return "refused asks are invalid";
      return isErrorLike(r.e) ? undefined : "refusal error is invalid";
    case "z":
      return isErrorLike(r.e) ? undefined : "last word error is invalid";
    default:
      return "unknown link reply kind";
  }
}
