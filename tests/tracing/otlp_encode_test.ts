import assert from "node:assert/strict";
import {
  encodeRequest,
  encodeRequestHeader,
  invalidSpanReason,
  writePackedSpans,
  writeSpan,
} from "../../src/tracing/_otlp_encode.ts";
import { unpackSpans } from "../../src/tracing/_packed_spans.ts";
import { ReceiveSpanRecorder } from "../../src/tracing/_receive_span_recorder.ts";
import type { SpanData } from "../../src/tracing/span_data.ts";
import { formatTraceparent, newTraceContext } from "../../src/tracing/trace_context.ts";
import { Tracer } from "../../src/tracing/tracer.ts";
import { type DecodedSpan, decodeExportTraceServiceRequest } from "../_support/protobuf_decode.ts";

const HEADER = encodeRequestHeader(
  { "service.name": "oao-test", "deployment.environment": "test", replicas: 3 },
  { name: "@oao/runtime", version: "0.1.0" },
);

function span(overrides: Partial<SpanData> = {}): SpanData {
  return {
    name: "oao.step.1",
    traceId: "4bf92f3577b34da6a3ce929d0e0e4736",
    spanId: "00f067aa0ba902b7",
    kind: "internal",
    startTime: 1_700_000_000_000,
    endTime: 1_700_000_000_250,
    attributes: {},
    events: [],
    status: { code: "unset" },
    ...overrides,
  };
}

function roundTrip(...spans: SpanData[]): DecodedSpan[] {
  return decodeExportTraceServiceRequest(
    encodeRequest(HEADER, undefined, (w) => spans.forEach((s) => writeSpan(w, s))),
  );
}

Deno.test("a span is encoded with its ids, parent, name, kind, times, status, resource and scope", () => {
  const [decoded] = roundTrip(span({ parentSpanId: "b7ad6b7169203331", kind: "server" }));
  assert.ok(decoded);
  assert.equal(decoded.traceId, "4bf92f3577b34da6a3ce929d0e0e4736");
  assert.equal(decoded.spanId, "00f067aa0ba902b7");
  assert.equal(decoded.parentSpanId, "b7ad6b7169203331");
  assert.equal(decoded.name, "oao.step.1");
  assert.equal(decoded.kind, 2);
  assert.equal(decoded.startTimeUnixNano, 1_700_000_000_000_000_000n);
  assert.equal(decoded.endTimeUnixNano, 1_700_000_000_250_000_000n);
  assert.equal(decoded.flags & 0xff, 1);
  assert.deepEqual(decoded.status, { code: 0, message: "" });
  assert.deepEqual(decoded.resource, {
    "service.name": "oao-test",
    "deployment.environment": "test",
    replicas: 3,
  });
  assert.deepEqual(decoded.scope, { name: "@oao/runtime", version: "0.1.0" });
});

Deno.test("times are exact to the nanosecond, rounding up into the next second", () => {
  const [a, b, c] = roundTrip(
    span({ startTime: 1_700_000_000_123.5, endTime: 1_700_000_000_999.75 }),
    span({ startTime: 4_102_444_800_000.25, endTime: 4_102_444_800_000.5 }),
    span({ startTime: 1_000.000001, endTime: 1_999.9999999 }),
  );
  assert.equal(a!.startTimeUnixNano, 1_700_000_000_123_500_000n);
  assert.equal(a!.endTimeUnixNano, 1_700_000_000_999_750_000n);
  assert.equal(b!.startTimeUnixNano, 4_102_444_800_000_250_000n);
  assert.equal(b!.endTimeUnixNano, 4_102_444_800_000_500_000n);
  assert.equal(c!.startTimeUnixNano, 1_000_000_001n);
  assert.equal(c!.endTimeUnixNano, 2_000_000_000n);
});

Deno.test("kinds and status codes map to the OTLP enums, unknown ones to internal and unset", () => {
  const kinds = ["internal", "server", "client", "producer", "consumer", "bogus"] as const;
  const decoded = roundTrip(...kinds.map((kind) => span({ kind: kind as SpanData["kind"] })));
  assert.deepEqual(decoded.map((s) => s.kind), [1, 2, 3, 4, 5, 1]);
  const [ok, error, unset, bogus] = roundTrip(
    span({ status: { code: "ok", message: "ignored unless error" } }),
    span({ status: { code: "error", message: "Tool timed out" } }),
    span({ status: { code: "unset" } }),
    span({ status: { code: "weird" } as unknown as SpanData["status"] }),
  );
  assert.deepEqual(ok!.status, { code: 1, message: "" });
  assert.deepEqual(error!.status, { code: 2, message: "Tool timed out" });
  assert.deepEqual(unset!.status, { code: 0, message: "" });
  assert.deepEqual(bogus!.status, { code: 0, message: "" });
});

Deno.test("attributes OTLP cannot carry are dropped and counted; the others keep their types", () => {
  const [decoded] = roundTrip(span({
    attributes: {
      text: "héllo ✓",
      yes: true,
      count: 42,
      negative: -7,
      ratio: 0.5,
      huge: 2 ** 60,
      tags: ["a", "b"],
      "": "empty key",
      nan: NaN,
      mixed: [1, "a"],
      nested: { a: 1 },
    } as unknown as SpanData["attributes"],
  }));
  assert.deepEqual(decoded!.attributes, {
    text: "héllo ✓",
    yes: true,
    count: 42,
    negative: -7,
    ratio: 0.5,
    huge: 2 ** 60,
    tags: ["a", "b"],
  });
  assert.equal(decoded!.droppedAttributesCount, 4);
});

Deno.test("malformed events are dropped, valid ones keep their time and attributes", () => {
  const [decoded] = roundTrip(span({
    events: [
      { name: "RETRY_ATTEMPTED", time: 1_700_000_000_100.5, attributes: { attempt: 1 } },
      { name: 5, time: 1 } as unknown as SpanData["events"][number],
      { name: "no time" } as unknown as SpanData["events"][number],
      { name: "exception", time: 1_700_000_000_200 },
    ],
  }));
  assert.deepEqual(decoded!.events, [
    {
      name: "RETRY_ATTEMPTED",
      timeUnixNano: 1_700_000_000_100_500_000n,
      attributes: { attempt: 1 },
    },
    { name: "exception", timeUnixNano: 1_700_000_000_200_000_000n, attributes: {} },
  ]);
});

Deno.test("long strings and many spans get multi-byte lengths right", () => {
  const long = "x".repeat(70_000);
  const spans = Array.from({ length: 300 }, (_, i) =>
    span({
      spanId: (i + 1).toString(16).padStart(16, "0"),
      attributes: { "exception.stacktrace": i === 150 ? long : "short", i },
    }));
  const decoded = roundTrip(...spans);
  assert.equal(decoded.length, 300);
  assert.equal(decoded[150]!.attributes["exception.stacktrace"], long);
  assert.deepEqual(decoded.map((s) => s.attributes.i), spans.map((_, i) => i));
});

Deno.test("packed receive spans encode to the same spans as their span data", () => {
  const parent = newTraceContext(true);
  const rec = new ReceiveSpanRecorder("exec-1/agent", 3, () => {});
  for (let i = 0; i < 600; i++) {
    rec.begin(
      formatTraceparent(parent),
      undefined,
      i % 2 ? "exec-1/a" : "exec-1/b",
      i * 1000,
      i === 5,
    );
    rec.end();
  }
  const [chunk] = rec.take();
  assert.ok(chunk);
  const encoded = encodeRequest(HEADER, undefined, (w) => {
    writePackedSpans(w, chunk, { from: 0, to: 300 });
    writePackedSpans(w, chunk, { from: 300, to: 600 });
  });
  const decoded = decodeExportTraceServiceRequest(encoded);
  const expected = roundTrip(...unpackSpans(chunk));
  assert.equal(decoded.length, 600);
  assert.deepEqual(decoded, expected);
  assert.equal(decoded[0]!.kind, 5);
  assert.equal(decoded[0]!.parentSpanId, parent.spanId);
});

Deno.test("invalidSpanReason accepts tracer output and names what is wrong otherwise", () => {
  const finished: SpanData[] = [];
  const tracer = new Tracer({
    export: (s) => finished.push(...s),
    flush: () => Promise.resolve(),
    shutdown: () => Promise.resolve(),
  });
  tracer.startSpan("oao.step.1").end();
  assert.equal(invalidSpanReason(finished[0]), undefined);
  assert.equal(invalidSpanReason(null), "not an object");
  assert.equal(invalidSpanReason(span({ name: "" })), "missing name");
  assert.equal(invalidSpanReason(span({ traceId: "0".repeat(32) })), "invalid traceId");
  assert.equal(invalidSpanReason(span({ spanId: "ABCDEF0123456789" })), "invalid spanId");
  assert.equal(invalidSpanReason(span({ parentSpanId: "x" })), "invalid parentSpanId");
  assert.equal(invalidSpanReason(span({ startTime: Infinity })), "invalid start or end time");
  assert.equal(invalidSpanReason(span({ endTime: 1 })), "ends before it starts");
});

Deno.test("a span's tracestate, from its parent's context, is exported with it", () => {
  const finished: SpanData[] = [];
  const tracer = new Tracer({
    export: (s) => finished.push(...s),
    flush: () => Promise.resolve(),
    shutdown: () => Promise.resolve(),
  });
  const parent = { ...newTraceContext(true), tracestate: "rojo=00f067aa0ba902b7" };
  tracer.startSpan("oao.execution", { parent }).end();
  tracer.startSpan("oao.step.1").end();
  const [child, root] = roundTrip(...finished);
  assert.equal(child!.traceState, "rojo=00f067aa0ba902b7");
  assert.equal(child!.parentSpanId, parent.spanId);
  assert.equal(root!.traceState, undefined);
});

Deno.test("attribute arrays may hold null and undefined items, exported as empty values", () => {
  const [decoded] = roundTrip(span({
    attributes: { tags: ["a", null, undefined, "b"], empty: [], counts: [null, 2, 3.5] },
  }));
  assert.deepEqual(decoded!.attributes, {
    tags: ["a", null, null, "b"],
    empty: [],
    counts: [null, 2, 3.5],
  });
  assert.equal(decoded!.droppedAttributesCount, 0);
});
