/**
 * Forwards an application's OpenTelemetry SDK spans into OAO's
 * {@linkcode SpanSink}: add {@linkcode createOaoSpanProcessor} to the
 * application's `BasicTracerProvider` and its spans are exported by OAO's
 * OTLP sink, in the same traces as OAO's executions (see
 * `traceContextFromActiveSpan`), with OAO's batching and queue limits.
 *
 * Spans are converted with {@linkcode spanDataFromReadableSpan}. The sink
 * exports under its own resource (`OTEL_SERVICE_NAME`,
 * `OTEL_RESOURCE_ATTRIBUTES`) and instrumentation scope, so the span's scope
 * travels as the `otel.scope.name` and `otel.scope.version` attributes.
 * This module only imports OpenTelemetry types: it loads no OpenTelemetry code.
 *
 * @example
 * ```ts
 * import { BasicTracerProvider } from "@opentelemetry/sdk-trace-base";
 * import { createOaoSpanProcessor } from "./otel_span_processor.ts";
 * import type { SpanData } from "./span_data.ts";
 *
 * const spans: SpanData[] = [];
 * const sink = { export: (s: SpanData[]) => void spans.push(...s), flush: async () => {}, shutdown: async () => {} };
 * const provider = new BasicTracerProvider({ spanProcessors: [createOaoSpanProcessor(sink)] });
 * provider.getTracer("shop").startSpan("checkout").end();
 * await provider.shutdown();
 * console.assert(spans[0]?.name === "checkout");
 * ```
 *
 * @module
 */
import type { Attributes as OtelAttributes, HrTime, Link, SpanContext } from "@opentelemetry/api";
import type { ReadableSpan, SpanProcessor } from "@opentelemetry/sdk-trace-base";
import type { Attributes, SpanData, SpanEventData, SpanLinkData, SpanSink } from "./span_data.ts";

// SpanKind and SpanStatusCode of @opentelemetry/api, by value.
const KINDS: SpanData["kind"][] = ["internal", "server", "client", "producer", "consumer"];
const STATUS: SpanData["status"]["code"][] = ["unset", "ok", "error"];
const SAMPLED = 1; // TraceFlags.SAMPLED
const SPAN_ID = /^(?!0{16})[0-9a-f]{16}$/;

/**
 * Converts an HrTime (`[seconds, nanoseconds]` since the epoch) to epoch
 * milliseconds with a fraction: exact to a quarter of a microsecond.
 *
 * @param time The HrTime.
 * @returns Epoch milliseconds.
 *
 * @example
 * ```ts
 * import { hrTimeToEpochMillis } from "./otel_span_processor.ts";
 * console.assert(hrTimeToEpochMillis([1_700_000_000, 500_000]) === 1_700_000_000_000.5);
 * ```
 */
export function hrTimeToEpochMillis(time: HrTime): number {
  return time[0] * 1e3 + time[1] / 1e6;
}

/**
 * Converts an ended OpenTelemetry SDK span to OAO's {@linkcode SpanData}:
 * ids, parent, `tracestate`, kind, times, attributes (arrays included;
 * `undefined` values left out), events, links and status (its message only
 * for an error), plus the span's instrumentation scope as `otel.scope.name`
 * and `otel.scope.version` unless the span has those attributes already.
 *
 * @param span The span, as a span processor's `onEnd` gets it.
 * @returns The span data; nothing is shared with `span` but attribute arrays.
 *
 * @example
 * ```ts
 * import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from "@opentelemetry/sdk-trace-base";
 * import { spanDataFromReadableSpan } from "./otel_span_processor.ts";
 *
 * const exporter = new InMemorySpanExporter();
 * const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
 * provider.getTracer("shop", "1.2.0").startSpan("checkout", { attributes: { items: 3 } }).end();
 * const data = spanDataFromReadableSpan(exporter.getFinishedSpans()[0]!);
 * console.assert(data.attributes.items === 3 && data.attributes["otel.scope.name"] === "shop");
 * await provider.shutdown();
 * ```
 */
export function spanDataFromReadableSpan(span: ReadableSpan): SpanData {
  const spanContext = span.spanContext();
  const attributes = _attributes(span.attributes) ?? {};
  const scope = span.instrumentationScope;
  if (scope?.name && !("otel.scope.name" in attributes)) {
    attributes["otel.scope.name"] = scope.name;
    if (scope.version && !("otel.scope.version" in attributes)) {
      attributes["otel.scope.version"] = scope.version;
    }
  }
  const data: SpanData = {
    name: span.name,
    traceId: spanContext.traceId,
    spanId: spanContext.spanId,
    kind: KINDS[span.kind] ?? "internal",
    startTime: hrTimeToEpochMillis(span.startTime),
    endTime: hrTimeToEpochMillis(span.endTime),
    attributes,
    events: span.events.map((event) => {
      const out: SpanEventData = { name: event.name, time: hrTimeToEpochMillis(event.time) };
      const eventAttributes = _attributes(event.attributes);
      if (eventAttributes) out.attributes = eventAttributes;
      return out;
    }),
    status: _status(span.status),
  };
  const parentSpanId = span.parentSpanContext?.spanId;
  if (parentSpanId !== undefined && SPAN_ID.test(parentSpanId)) data.parentSpanId = parentSpanId;
  const tracestate = _tracestate(spanContext);
  if (tracestate) data.tracestate = tracestate;
  if (span.links.length > 0) data.links = span.links.map(_link);
  return data;
}

/**
 * A span processor for an application's OpenTelemetry `BasicTracerProvider`
 * that hands every sampled span, when it ends, to OAO's sink. `forceFlush`
 * flushes the sink; `shutdown` flushes it and stops forwarding but leaves the
 * sink open: it belongs to OAO's tracing, which `Tracing.shutdown()` closes.
 *
 * @param sink OAO's sink, e.g. `tracing.sink` of `createTracingFromEnv`.
 * @returns The span processor.
 * @throws {TypeError} When `sink` has no `export` and `flush` methods.
 *
 * @example
 * ```ts
 * import { BasicTracerProvider } from "@opentelemetry/sdk-trace-base";
 * import { createOaoSpanProcessor } from "./otel_span_processor.ts";
 * import { createTracingFromEnv } from "./tracing_from_env.ts";
 *
 * const tracing = await createTracingFromEnv({ OTEL_EXPORTER_OTLP_ENDPOINT: "http://127.0.0.1:4317" }, {
 *   onError: () => {}, // no collector in this example
 * });
 * const provider = new BasicTracerProvider({ spanProcessors: [createOaoSpanProcessor(tracing.sink!)] });
 * provider.getTracer("shop").startSpan("checkout").end(); // exported with OAO's spans
 * await provider.shutdown();
 * await tracing.shutdown();
 * ```
 */
export function createOaoSpanProcessor(sink: SpanSink): SpanProcessor {
  if (typeof sink?.export !== "function" || typeof sink.flush !== "function") {
    throw new TypeError(
      "Invalid span sink: expected an object with export and flush methods, such as tracing.sink",
    );
  }
  let open = true;
  return {
    onStart() {},
    onEnd(span: ReadableSpan) {
      if (!open || (span.spanContext().traceFlags & SAMPLED) === 0) return;
      sink.export([spanDataFromReadableSpan(span)]);
    },
    forceFlush: () => sink.flush(),
    shutdown() {
      open = false;
      return sink.flush();
    },
  };
}

function _attributes(input: OtelAttributes | undefined): Attributes | undefined {
  if (!input) return undefined;
  let out: Attributes | undefined;
  for (const key in input) {
    const value = input[key];
    if (value !== undefined && Object.hasOwn(input, key)) (out ??= {})[key] = value;
  }
  return out;
}

function _status(status: ReadableSpan["status"]): SpanData["status"] {
  const code = STATUS[status.code] ?? "unset";
  return code === "error" && typeof status.message === "string"
    ? { code, message: status.message }
    : { code };
}

function _tracestate(spanContext: SpanContext): string | undefined {
  return spanContext.traceState?.serialize() || undefined;
}

function _link(link: Link): SpanLinkData {
  const out: SpanLinkData = { traceId: link.context.traceId, spanId: link.context.spanId };
  const tracestate = _tracestate(link.context);
  if (tracestate) out.tracestate = tracestate;
  const attributes = _attributes(link.attributes);
  if (attributes) out.attributes = attributes;
  return out;
}
