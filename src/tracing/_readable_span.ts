/**
 * Internal: turns plain {@linkcode SpanData} (possibly received from a worker,
 * so untrusted) into the OpenTelemetry SDK 2.x `ReadableSpan` shape that the
 * OTLP exporter serializes. Only types are imported from the SDK, so this
 * module costs nothing when tracing is off.
 *
 * @module
 */
import type { HrTime, SpanContext, SpanKind, SpanStatusCode } from "@opentelemetry/api";
import type { Resource } from "@opentelemetry/resources";
import type { ReadableSpan } from "@opentelemetry/sdk-trace-base";
import type { SpanData } from "./span_data.ts";

/** The instrumentation scope of exported spans. */
export type InstrumentationScope = ReadableSpan["instrumentationScope"];

type OtelAttributes = ReadableSpan["attributes"];
type OtelAttributeValue = NonNullable<OtelAttributes[string]>;

// @opentelemetry/api enums, as numbers so that the API is not loaded at runtime.
const SPAN_KIND: Record<SpanData["kind"], number> = {
  internal: 0,
  server: 1,
  client: 2,
  producer: 3,
  consumer: 4,
};
const STATUS_CODE: Record<SpanData["status"]["code"], number> = { unset: 0, ok: 1, error: 2 };
const TRACE_FLAG_SAMPLED = 1;
const TRACE_ID = /^(?!0{32})[0-9a-f]{32}$/;
const SPAN_ID = /^(?!0{16})[0-9a-f]{16}$/;

/**
 * Converts epoch milliseconds (fractional) to an OTel `HrTime`
 * (`[seconds, nanoseconds]`), rounding to the nearest nanosecond.
 *
 * @param ms Epoch milliseconds.
 * @returns The same instant as `[seconds, nanoseconds]`.
 */
export function toHrTime(ms: number): HrTime {
  let seconds = Math.floor(ms / 1000);
  let nanos = Math.round((ms - seconds * 1000) * 1e6);
  if (nanos >= 1e9) {
    seconds += 1;
    nanos -= 1e9;
  }
  return [seconds, nanos];
}

function _lookup<T extends string>(table: Record<T, number>, key: unknown): number {
  return typeof key === "string" && Object.hasOwn(table, key) ? table[key as T] : 0;
}

function _isPrimitive(value: unknown): value is string | number | boolean {
  const t = typeof value;
  return t === "string" || t === "boolean" || (t === "number" && Number.isFinite(value));
}

function _attributeValue(value: unknown): OtelAttributeValue | undefined {
  if (_isPrimitive(value)) return value;
  if (Array.isArray(value) && value.every(_isPrimitive)) {
    const types = new Set(value.map((v) => typeof v));
    if (types.size <= 1) return value as OtelAttributeValue;
  }
  return undefined;
}

/** Keeps attributes OTLP can carry (finite numbers, strings, booleans, homogeneous arrays). */
function _attributes(input: unknown): { attributes: OtelAttributes; dropped: number } {
  const attributes: OtelAttributes = {};
  let dropped = 0;
  if (input === null || typeof input !== "object") return { attributes, dropped };
  for (const [key, raw] of Object.entries(input)) {
    const value = _attributeValue(raw);
    if (value === undefined || key === "") dropped++;
    else attributes[key] = value;
  }
  return { attributes, dropped };
}

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

/**
 * Builds a `ReadableSpan` from span data that passed {@linkcode invalidSpanReason}.
 * Unknown kinds and status codes fall back to `internal` and `unset`; events
 * and attributes OTLP cannot carry are dropped and counted.
 *
 * @param span Valid span data.
 * @param target The resource every exported span shares (one object, so the
 *   exporter groups spans under one `ResourceSpans`) and the instrumentation scope.
 * @returns An ended, sampled `ReadableSpan`.
 */
export function toReadableSpan(
  span: SpanData,
  target: { resource: Resource; scope: InstrumentationScope },
): ReadableSpan {
  const { resource, scope } = target;
  const context: SpanContext = {
    traceId: span.traceId,
    spanId: span.spanId,
    traceFlags: TRACE_FLAG_SAMPLED,
  };
  const { attributes, dropped } = _attributes(span.attributes);
  const events: ReadableSpan["events"] = [];
  let droppedEvents = 0;
  for (const event of Array.isArray(span.events) ? span.events : []) {
    if (typeof event?.name !== "string" || !_isTime(event.time)) {
      droppedEvents++;
      continue;
    }
    const converted = _attributes(event.attributes);
    events.push({
      name: event.name,
      time: toHrTime(event.time),
      attributes: converted.attributes,
      droppedAttributesCount: converted.dropped,
    });
  }
  const status: Partial<SpanData["status"]> = span.status ?? {};
  const code = _lookup(STATUS_CODE, status.code) as SpanStatusCode;
  const readable: ReadableSpan = {
    name: span.name,
    kind: _lookup(SPAN_KIND, span.kind) as SpanKind,
    spanContext: () => context,
    startTime: toHrTime(span.startTime),
    endTime: toHrTime(span.endTime),
    duration: toHrTime(span.endTime - span.startTime),
    status: code === STATUS_CODE.error && typeof status.message === "string"
      ? { code, message: status.message }
      : { code },
    attributes,
    links: [],
    events,
    ended: true,
    resource,
    instrumentationScope: scope,
    droppedAttributesCount: dropped,
    droppedEventsCount: droppedEvents,
    droppedLinksCount: 0,
  };
  if (span.parentSpanId === undefined) return readable;
  return {
    ...readable,
    parentSpanContext: {
      traceId: span.traceId,
      spanId: span.parentSpanId,
      traceFlags: TRACE_FLAG_SAMPLED,
    },
  };
}
