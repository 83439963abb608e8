// The OpenTelemetry SDK span processor: an application's spans, converted
// to OAO's span data (times, kinds, status, events, links, attribute arrays)
// and handed to OAO's sink; and what the OTLP encoder makes of them.
import assert from "node:assert/strict";
import {
  createTraceState,
  type HrTime,
  SpanKind,
  SpanStatusCode,
  TraceFlags,
} from "@opentelemetry/api";
import {
  AlwaysOffSampler,
  BasicTracerProvider,
  type ReadableSpan,
  type Sampler,
  SamplingDecision,
} from "@opentelemetry/sdk-trace-base";
import {
  createOaoSpanProcessor,
  hrTimeToEpochMillis,
  spanDataFromReadableSpan,
} from "../../src/tracing/otel_span_processor.ts";
import type { SpanData, SpanSink } from "../../src/tracing/span_data.ts";
import { encodeRequest, encodeRequestHeader, writeSpan } from "../../src/tracing/_otlp_encode.ts";
import { decodeExportTraceServiceRequest } from "../_support/protobuf_decode.ts";

const TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736";

/** A sink that keeps what it gets and counts flushes. */
function memorySink(): SpanSink & { spans: SpanData[]; flushes: number } {
  const sink = {
    spans: [] as SpanData[],
    flushes: 0,
    export(spans: SpanData[]) {
      sink.spans.push(...spans);
    },
    flush() {
      sink.flushes++;
      return Promise.resolve();
    },
    shutdown: () => Promise.resolve(),
  };
  return sink;
}

/** An ended span as the SDK hands it to `onEnd`, with overrides. */
function readable(overrides: Partial<ReadableSpan> = {}): ReadableSpan {
  const base = {
    name: "payments.charge",
    kind: SpanKind.CLIENT,
    spanContext: () => ({ traceId: TRACE_ID, spanId: "00f067aa0ba902b7", traceFlags: 1 }),
    startTime: [1_700_000_000, 123_456_789] as HrTime,
    endTime: [1_700_000_001, 5_000] as HrTime,
    status: { code: SpanStatusCode.UNSET },
    attributes: {},
    links: [],
    events: [],
    duration: [1, 0] as HrTime,
    ended: true,
    instrumentationScope: { name: "shop", version: "1.2.0" },
    droppedAttributesCount: 0,
    droppedEventsCount: 0,
    droppedLinksCount: 0,
  };
  return { ...base, ...overrides } as ReadableSpan;
}

Deno.test("HrTime becomes epoch milliseconds with the sub-millisecond fraction", () => {
  assert.equal(hrTimeToEpochMillis([0, 0]), 0);
  assert.equal(hrTimeToEpochMillis([1_700_000_000, 500_000]), 1_700_000_000_000.5);
  const ms = hrTimeToEpochMillis([1_700_000_000, 123_456_789]);
  assert.ok(Math.abs(ms - 1_700_000_000_123.456789) < 1e-3 / 4, `${ms}`);
});

Deno.test("a span's ids, parent, name, times and scope are converted", () => {
  const data = spanDataFromReadableSpan(readable({
    parentSpanContext: { traceId: TRACE_ID, spanId: "b7ad6b7169203331", traceFlags: 1 },
  }));
  assert.equal(data.name, "payments.charge");
  assert.equal(data.traceId, TRACE_ID);
  assert.equal(data.spanId, "00f067aa0ba902b7");
  assert.equal(data.parentSpanId, "b7ad6b7169203331");
  assert.equal(data.kind, "client");
  assert.ok(Math.abs(data.startTime - 1_700_000_000_123.456789) < 1e-3);
  assert.ok(Math.abs(data.endTime - 1_700_000_001_000.005) < 1e-3);
  assert.deepEqual(data.attributes, { "otel.scope.name": "shop", "otel.scope.version": "1.2.0" });
  assert.deepEqual(data.events, []);
  assert.equal(data.links, undefined);
  assert.equal(data.tracestate, undefined);
  const root = spanDataFromReadableSpan(readable({
    parentSpanContext: { traceId: TRACE_ID, spanId: "0000000000000000", traceFlags: 1 },
  }));
  assert.equal(root.parentSpanId, undefined, "an invalid parent id means no parent");
});

Deno.test("span kinds and status codes map to OAO's, the status message only for errors", () => {
  const kinds = [
    SpanKind.INTERNAL,
    SpanKind.SERVER,
    SpanKind.CLIENT,
    SpanKind.PRODUCER,
    SpanKind.CONSUMER,
    99,
  ];
  assert.deepEqual(
    kinds.map((kind) => spanDataFromReadableSpan(readable({ kind })).kind),
    ["internal", "server", "client", "producer", "consumer", "internal"],
  );
  const status = (code: SpanStatusCode, message?: string) =>
    spanDataFromReadableSpan(readable({ status: message ? { code, message } : { code } })).status;
  assert.deepEqual(status(SpanStatusCode.UNSET), { code: "unset" });
  assert.deepEqual(status(SpanStatusCode.OK, "fine"), { code: "ok" });
  assert.deepEqual(status(SpanStatusCode.ERROR, "card declined"), {
    code: "error",
    message: "card declined",
  });
  assert.deepEqual(status(SpanStatusCode.ERROR), { code: "error" });
});

Deno.test("attributes keep arrays and drop undefined values; the span's own otel.scope.* win", () => {
  const data = spanDataFromReadableSpan(readable({
    attributes: {
      "http.method": "POST",
      retries: 2,
      cached: false,
      tags: ["a", null, "b"],
      sizes: [1, 2.5, undefined],
      absent: undefined,
      "otel.scope.name": "custom",
    },
  }));
  assert.deepEqual(data.attributes, {
    "http.method": "POST",
    retries: 2,
    cached: false,
    tags: ["a", null, "b"],
    sizes: [1, 2.5, undefined],
    "otel.scope.name": "custom",
  });
});

Deno.test("events keep their times and attributes; links their ids, tracestate and attributes", () => {
  const data = spanDataFromReadableSpan(readable({
    spanContext: () => ({
      traceId: TRACE_ID,
      spanId: "00f067aa0ba902b7",
      traceFlags: 1,
      traceState: createTraceState("vendor=abc"),
    }),
    events: [
      { name: "retry", time: [1_700_000_000, 250_000_000], attributes: { attempt: 1 } },
      { name: "exception", time: [1_700_000_000, 750_000_500], attributes: { x: undefined } },
    ],
    links: [
      {
        context: {
          traceId: "0af7651916cd43dd8448eb211c80319c",
          spanId: "b9c7c989f97918e1",
          traceFlags: 1,
          traceState: createTraceState("rojo=1"),
        },
        attributes: { "messaging.batch": true },
      },
      { context: { traceId: TRACE_ID, spanId: "53995c3f42cd8ad8", traceFlags: 0 } },
    ],
  }));
  assert.equal(data.tracestate, "vendor=abc");
  assert.deepEqual(data.events, [
    { name: "retry", time: 1_700_000_000_250, attributes: { attempt: 1 } },
    { name: "exception", time: 1_700_000_000_750.0005 },
  ]);
  assert.deepEqual(data.links, [
    {
      traceId: "0af7651916cd43dd8448eb211c80319c",
      spanId: "b9c7c989f97918e1",
      tracestate: "rojo=1",
      attributes: { "messaging.batch": true },
    },
    { traceId: TRACE_ID, spanId: "53995c3f42cd8ad8" },
  ]);
});

Deno.test("converted spans encode to OTLP with arrays, null items, tracestate and links", () => {
  const data = spanDataFromReadableSpan(readable({
    spanContext: () => ({
      traceId: TRACE_ID,
      spanId: "00f067aa0ba902b7",
      traceFlags: 1,
      traceState: createTraceState("vendor=abc"),
    }),
    attributes: { tags: ["a", null, "b"], flags: [true, false], mixed: [1, "a"] as never },
    links: [
      {
        context: { traceId: "0af7651916cd43dd8448eb211c80319c", spanId: "b9c7c989f97918e1" },
        attributes: { n: 1 },
      } as never,
    ],
  }));
  data.links!.push({ traceId: "nope", spanId: "b9c7c989f97918e1" });
  const header = encodeRequestHeader({ "service.name": "shop" }, { name: "@oao/runtime" });
  const [span] = decodeExportTraceServiceRequest(
    encodeRequest(header, undefined, (w) => writeSpan(w, data)),
  );
  assert.ok(span);
  assert.equal(span.traceState, "vendor=abc");
  assert.deepEqual(span.attributes.tags, ["a", null, "b"]);
  assert.deepEqual(span.attributes.flags, [true, false]);
  assert.equal(span.attributes.mixed, undefined, "mixed-type arrays are dropped");
  assert.equal(span.droppedAttributesCount, 1);
  assert.equal(span.kind, 3);
  assert.equal(span.startTimeUnixNano / 1000n, 1_700_000_000_123_456n, "exact to the microsecond");
  assert.deepEqual(span.links, [{
    traceId: "0af7651916cd43dd8448eb211c80319c",
    spanId: "b9c7c989f97918e1",
    attributes: { n: 1 },
  }], "the malformed link is dropped");
});

Deno.test("the processor hands sampled spans to the sink as they end", async () => {
  const sink = memorySink();
  const provider = new BasicTracerProvider({ spanProcessors: [createOaoSpanProcessor(sink)] });
  const app = provider.getTracer("shop", "1.2.0");
  const parent = app.startSpan("POST /checkout", { kind: SpanKind.SERVER });
  parent.setAttribute("http.route", "/checkout");
  assert.equal(sink.spans.length, 0, "nothing before a span ends");
  parent.addEvent("validated", { items: 3 });
  parent.setStatus({ code: SpanStatusCode.ERROR, message: "out of stock" });
  parent.end();
  assert.equal(sink.spans.length, 1);
  const [data] = sink.spans;
  const { traceId, spanId } = parent.spanContext();
  assert.equal(data?.traceId, traceId);
  assert.equal(data?.spanId, spanId);
  assert.equal(data?.kind, "server");
  assert.equal(data?.attributes["http.route"], "/checkout");
  assert.equal(data?.events[0]?.name, "validated");
  assert.deepEqual(data?.status, { code: "error", message: "out of stock" });
  assert.ok(data!.endTime >= data!.startTime && data!.startTime > Date.now() - 60_000);
  await provider.forceFlush();
  assert.equal(sink.flushes, 1);
  await provider.shutdown();
});

Deno.test("spans recorded but not sampled are not forwarded", async () => {
  const sink = memorySink();
  const recordOnly: Sampler = {
    shouldSample: () => ({ decision: SamplingDecision.RECORD }),
    toString: () => "RecordOnly",
  };
  for (const sampler of [recordOnly, new AlwaysOffSampler()]) {
    const provider = new BasicTracerProvider({
      sampler,
      spanProcessors: [createOaoSpanProcessor(sink)],
    });
    const span = provider.getTracer("shop").startSpan("unsampled");
    assert.equal(span.spanContext().traceFlags & TraceFlags.SAMPLED, 0);
    span.end();
    await provider.shutdown();
  }
  assert.deepEqual(sink.spans, []);
});

Deno.test("shutdown flushes the sink and stops forwarding but leaves the sink open", async () => {
  const sink = memorySink();
  let closed = false;
  sink.shutdown = () => {
    closed = true;
    return Promise.resolve();
  };
  const processor = createOaoSpanProcessor(sink);
  await processor.shutdown();
  assert.equal(sink.flushes, 1);
  assert.equal(closed, false);
  processor.onEnd(readable());
  assert.deepEqual(sink.spans, []);
});

Deno.test("a processor needs a sink with export and flush", () => {
  for (const bad of [undefined, {}, { export: () => {} }]) {
    assert.throws(() => createOaoSpanProcessor(bad as unknown as SpanSink), {
      name: "TypeError",
      message: /Invalid span sink/,
    });
  }
});
