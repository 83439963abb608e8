// Internal: encodes spans straight into an OTLP/protobuf
// `ExportTraceServiceRequest` (opentelemetry/proto/collector/trace/v1), with
// one resource and one instrumentation scope. Span data may come from a
// worker (untrusted): it is checked with `invalidSpanReason` first, and
// attributes or events OTLP cannot carry are dropped and counted.
import { ProtoWriter } from "./_protobuf_writer.ts";
import type { AttributeValue, PackedSpans, SpanData, SpanLinkData } from "./span_data.ts";
import { parseTraceparent } from "./trace_context.ts";

/** The instrumentation scope of exported spans. */
export interface InstrumentationScope {
  /** Scope name, e.g. `@oao/runtime`. */
  name: string;
  /** Scope version. */
  version?: string;
  /** Schema URL. */
  schemaUrl?: string;
}

// OTLP enums: SpanKind is the SDK's kind + 1; StatusCode unset 0, ok 1, error 2.
const SPAN_KIND: Record<SpanData["kind"], number> = {
  internal: 1,
  server: 2,
  client: 3,
  producer: 4,
  consumer: 5,
};
const STATUS_CODE: Record<SpanData["status"]["code"], number> = { unset: 0, ok: 1, error: 2 };
const SAMPLED = 1;
const TRACE_ID = /^(?!0{32})[0-9a-f]{32}$/;
const SPAN_ID = /^(?!0{16})[0-9a-f]{16}$/;

function _isTime(value: unknown): value is number {
  return typeof value === "number" && Number.isFinite(value) && value > 0;
}

/**
 * Checks that untrusted data is a span that can be exported.
 *
 * @param span Candidate span data.
 * @returns `undefined` when valid, otherwise why it is not.
 */
export function invalidSpanReason(span: unknown): string | undefined {
  if (span === null || typeof span !== "object") return "not an object";
  const s = span as Partial<Record<keyof SpanData, unknown>>;
  if (typeof s.name !== "string" || s.name === "") return "missing name";
  if (typeof s.traceId !== "string" || !TRACE_ID.test(s.traceId)) return "invalid traceId";
  if (typeof s.spanId !== "string" || !SPAN_ID.test(s.spanId)) return "invalid spanId";
  if (
    s.parentSpanId !== undefined &&
    (typeof s.parentSpanId !== "string" || !SPAN_ID.test(s.parentSpanId))
  ) {
    return "invalid parentSpanId";
  }
  if (!_isTime(s.startTime) || !_isTime(s.endTime)) return "invalid start or end time";
  if (s.endTime < s.startTime) return "ends before it starts";
  return undefined;
}

function _isPrimitive(value: unknown): value is string | number | boolean {
  const t = typeof value;
  return t === "string" || t === "boolean" || (t === "number" && Number.isFinite(value));
}

/** Writes an AnyValue; returns false (nothing written) when OTLP cannot carry the value. */
function _anyValue(w: ProtoWriter, value: unknown): boolean {
  switch (typeof value) {
    case "string":
      w.byte(0x0a);
      w.string(value);
      return true;
    case "boolean":
      w.byte(0x10);
      w.byte(value ? 1 : 0);
      return true;
    case "number":
      if (Number.isSafeInteger(value)) {
        w.byte(0x18);
        w.int64(value);
      } else if (Number.isFinite(value)) {
        w.byte(0x21);
        w.double(value);
      } else return false;
      return true;
  }
  if (!_isArrayValue(value)) return false;
  w.byte(0x2a); // array_value
  const array = w.begin();
  for (const item of value) {
    w.byte(0x0a); // values
    const any = w.begin();
    if (item !== null && item !== undefined) _anyValue(w, item); // else an empty AnyValue
    w.end(any);
  }
  w.end(array);
  return true;
}

/** An array OTLP can carry: primitives of one type, `null` and `undefined` allowed. */
function _isArrayValue(value: unknown): value is unknown[] {
  if (!Array.isArray(value)) return false;
  let type: string | undefined;
  for (const item of value) {
    if (item === null || item === undefined) continue;
    if (!_isPrimitive(item) || (type !== undefined && typeof item !== type)) return false;
    type = typeof item;
  }
  return true;
}

/** Writes attributes as repeated KeyValue under `tag`; returns how many were dropped. */
function _attributes(w: ProtoWriter, tag: number, input: unknown): number {
  if (input === null || typeof input !== "object") return 0;
  let dropped = 0;
  for (const key in input) {
    if (!Object.hasOwn(input, key)) continue;
    if (key === "") {
      dropped++;
      continue;
    }
    const start = w.pos;
    w.byte(tag);
    const kv = w.begin();
    w.byte(0x0a);
    w.string(key);
    w.byte(0x12);
    const any = w.begin();
    if (_anyValue(w, (input as Record<string, unknown>)[key])) {
      w.end(any);
      w.end(kv);
    } else {
      w.pos = start;
      dropped++;
    }
  }
  return dropped;
}

/**
 * Writes one span (field 2 of ScopeSpans) from data that passed
 * {@linkcode invalidSpanReason}. Unknown kinds and status codes become
 * internal and unset.
 *
 * @param w The writer, inside a ScopeSpans message.
 * @param span Valid span data.
 */
export function writeSpan(w: ProtoWriter, span: SpanData): void {
  w.byte(0x12);
  const mark = w.begin();
  w.byte(0x0a);
  w.hex(span.traceId);
  w.byte(0x12);
  w.hex(span.spanId);
  if (typeof span.tracestate === "string" && span.tracestate !== "") {
    w.byte(0x1a);
    w.string(span.tracestate);
  }
  if (span.parentSpanId !== undefined) {
    w.byte(0x22);
    w.hex(span.parentSpanId);
  }
  w.byte(0x2a);
  w.string(span.name);
  w.byte(0x30);
  w.byte(_lookup(SPAN_KIND, span.kind) || SPAN_KIND.internal);
  w.byte(0x39);
  w.timeNs(span.startTime);
  w.byte(0x41);
  w.timeNs(span.endTime);
  const droppedAttributes = _attributes(w, 0x4a, span.attributes);
  if (droppedAttributes > 0) {
    w.byte(0x50);
    w.varint(droppedAttributes);
  }
  let droppedEvents = 0;
  for (const event of Array.isArray(span.events) ? span.events : []) {
    if (typeof event?.name !== "string" || !_isTime(event.time)) {
      droppedEvents++;
      continue;
    }
    w.byte(0x5a);
    const e = w.begin();
    w.byte(0x09);
    w.timeNs(event.time);
    w.byte(0x12);
    w.string(event.name);
    const dropped = _attributes(w, 0x1a, event.attributes);
    if (dropped > 0) {
      w.byte(0x20);
      w.varint(dropped);
    }
    w.end(e);
  }
  if (droppedEvents > 0) {
    w.byte(0x60);
    w.varint(droppedEvents);
  }
  if (span.links !== undefined) _links(w, span.links);
  const status: Partial<SpanData["status"]> = span.status ?? {};
  const code = _lookup(STATUS_CODE, status.code);
  w.byte(0x7a);
  const st = w.begin();
  if (code === STATUS_CODE.error && typeof status.message === "string") {
    w.byte(0x12);
    w.string(status.message);
  }
  if (code !== 0) {
    w.byte(0x18);
    w.byte(code);
  }
  w.end(st);
  w.byte(0x85); // flags, field 16, fixed32
  w.byte(0x01);
  w.fixed32(SAMPLED);
  w.end(mark);
}

/** Writes links (field 13 of Span) and the count of malformed ones dropped (field 14). */
function _links(w: ProtoWriter, links: unknown): void {
  if (!Array.isArray(links)) return;
  let dropped = 0;
  for (const link of links as Partial<SpanLinkData>[]) {
    if (
      typeof link?.traceId !== "string" || !TRACE_ID.test(link.traceId) ||
      typeof link.spanId !== "string" || !SPAN_ID.test(link.spanId)
    ) {
      dropped++;
      continue;
    }
    w.byte(0x6a);
    const l = w.begin();
    w.byte(0x0a);
    w.hex(link.traceId);
    w.byte(0x12);
    w.hex(link.spanId);
    if (typeof link.tracestate === "string" && link.tracestate !== "") {
      w.byte(0x1a);
      w.string(link.tracestate);
    }
    const droppedAttributes = _attributes(w, 0x22, link.attributes);
    if (droppedAttributes > 0) {
      w.byte(0x28);
      w.varint(droppedAttributes);
    }
    w.end(l);
  }
  if (dropped > 0) {
    w.byte(0x70);
    w.varint(dropped);
  }
}

function _lookup<T extends string>(table: Record<T, number>, key: unknown): number {
  return typeof key === "string" && Object.hasOwn(table, key) ? table[key as T] : 0;
}

const SEQ_KEY = new Uint8Array([0x0a, 15, ...new TextEncoder().encode("oao.message.seq")]);

/** The bytes every span of one origin of a packed chunk shares. */
function _template(chunk: PackedSpans, index: number): Uint8Array {
  const origin = chunk.origins[index]!;
  const parent = parseTraceparent(origin.tp)!;
  const w = new ProtoWriter(256);
  w.byte(0x0a);
  w.hex(parent.traceId);
  w.byte(0x22);
  w.hex(parent.spanId);
  w.byte(0x2a);
  w.string(chunk.name);
  w.byte(0x30);
  w.byte(SPAN_KIND.consumer);
  _attributes(w, 0x4a, {
    "oao.actor": chunk.actor,
    "oao.message.from": origin.from,
    "oao.actor.incarnation": chunk.incarnation,
    "oao.message.redelivered": origin.redelivered,
  });
  w.byte(0x85);
  w.byte(0x01);
  w.fixed32(SAMPLED);
  return w.bytes().slice();
}

/**
 * Writes spans `from` to `to` (exclusive) of a packed chunk that passed
 * `invalidPackedReason`.
 *
 * @param w The writer, inside a ScopeSpans message.
 * @param chunk The chunk.
 * @param range The spans to write.
 */
export function writePackedSpans(
  w: ProtoWriter,
  chunk: PackedSpans,
  range: { from: number; to: number },
): void {
  const templates: (Uint8Array | undefined)[] = [];
  const { ids, times, seqs, origin } = chunk;
  for (let i = range.from; i < range.to; i++) {
    const o = origin[i]!;
    const template = templates[o] ??= _template(chunk, o);
    const seq = seqs[i]!;
    let seqSize = 1;
    for (let n = seq; n >= 128; n = Math.floor(n / 128)) seqSize++;
    // id (10) + start (9) + end (9) + seq attribute (2 + 17 + 3 + seqSize)
    const len = template.length + 50 + seqSize;
    w.ensure(len + 4);
    w.byte(0x12);
    w.varint(len);
    w.raw(template);
    const buf = w.buf, view = w.view;
    let pos = w.pos;
    buf[pos++] = 0x12;
    buf[pos++] = 8;
    view.setUint32(pos, ids[2 * i]!, false);
    view.setUint32(pos + 4, ids[2 * i + 1]!, false);
    w.pos = pos + 8;
    w.byte(0x39);
    w.timeNs(times[2 * i]!);
    w.byte(0x41);
    w.timeNs(times[2 * i + 1]!);
    w.byte(0x4a);
    w.byte(20 + seqSize);
    w.raw(SEQ_KEY);
    w.byte(0x12);
    w.byte(1 + seqSize);
    w.byte(0x18);
    w.varint(seq);
  }
}

/** The Resource and InstrumentationScope messages every request repeats, pre-encoded. */
export interface RequestHeader {
  resource: Uint8Array;
  scope: Uint8Array;
}

/**
 * Pre-encodes the resource and scope of every request.
 *
 * @param resource Resource attributes.
 * @param scope Instrumentation scope.
 * @returns The encoded parts.
 */
export function encodeRequestHeader(
  resource: Record<string, AttributeValue>,
  scope: InstrumentationScope,
): RequestHeader {
  const r = new ProtoWriter(256);
  _attributes(r, 0x0a, resource);
  const s = new ProtoWriter(128);
  s.byte(0x0a);
  s.string(scope.name);
  if (scope.version !== undefined) {
    s.byte(0x12);
    s.string(scope.version);
  }
  return { resource: r.bytes().slice(), scope: s.bytes().slice() };
}

/**
 * Writes a whole `ExportTraceServiceRequest`; `writeSpans` writes the spans
 * (with {@linkcode writeSpan} and {@linkcode writePackedSpans}).
 *
 * @param header Resource and scope.
 * @param schemaUrl The scope's schema URL, if any.
 * @param writeSpans Writes the spans into the ScopeSpans message.
 * @param w The writer to use (its buffer is reused; it is reset first).
 * @returns The request bytes: a view of the writer's buffer, valid until its next use.
 */
export function encodeRequest(
  header: RequestHeader,
  schemaUrl: string | undefined,
  writeSpans: (w: ProtoWriter) => void,
  w: ProtoWriter = new ProtoWriter(64 * 1024),
): Uint8Array {
  w.pos = 0;
  w.byte(0x0a); // resource_spans
  const rs = w.begin();
  w.byte(0x0a); // resource
  const res = w.begin();
  w.raw(header.resource);
  w.end(res);
  w.byte(0x12); // scope_spans
  const ss = w.begin();
  w.byte(0x0a); // scope
  const sc = w.begin();
  w.raw(header.scope);
  w.end(sc);
  writeSpans(w);
  if (schemaUrl !== undefined) {
    w.byte(0x1a);
    w.string(schemaUrl);
  }
  w.end(ss);
  w.end(rs);
  return w.bytes();
}
