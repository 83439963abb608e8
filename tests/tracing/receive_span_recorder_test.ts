import assert from "node:assert/strict";
import { ReceiveSpanRecorder } from "../../src/tracing/_receive_span_recorder.ts";
import {
  exportWorkerSpans,
  invalidPackedReason,
  unpackSpans,
} from "../../src/tracing/_packed_spans.ts";
import type { PackedSpans, SpanData } from "../../src/tracing/span_data.ts";
import { formatTraceparent, newTraceContext } from "../../src/tracing/trace_context.ts";

const parent = newTraceContext(true);
const TP = formatTraceparent(parent);

function recorder(rich: SpanData[] = []): ReceiveSpanRecorder {
  return new ReceiveSpanRecorder("exec-1/agent", 2, (span) => rich.push(span));
}

function all(chunks: PackedSpans[]): SpanData[] {
  for (const chunk of chunks) assert.equal(invalidPackedReason(chunk), undefined);
  return chunks.flatMap(unpackSpans);
}

Deno.test("every handled message gets a consumer span, child of the message's context, with its attributes", () => {
  const rec = recorder();
  assert.ok(rec.begin(TP, "vendor=1", "exec-1/lead", 7, true));
  const context = rec.context;
  rec.end();
  const [span] = all(rec.take());
  assert.ok(span);
  assert.equal(span.name, "oao.actor.receive agent");
  assert.equal(span.kind, "consumer");
  assert.equal(span.traceId, parent.traceId);
  assert.equal(span.parentSpanId, parent.spanId);
  assert.equal(span.spanId, context.spanId, "the id children see is the exported one");
  assert.equal(context.traceId, parent.traceId);
  assert.equal(context.tracestate, "vendor=1");
  assert.deepEqual(span.attributes, {
    "oao.actor": "exec-1/agent",
    "oao.message.from": "exec-1/lead",
    "oao.message.seq": 7,
    "oao.actor.incarnation": 2,
    "oao.message.redelivered": true,
  });
  assert.ok(span.startTime > 0 && span.endTime >= span.startTime);
});

Deno.test("messages that are not sampled or have no valid parent are left to the general tracer", () => {
  const rec = recorder();
  assert.equal(
    rec.begin(formatTraceparent(newTraceContext(false)), undefined, "a", 1, false),
    false,
  );
  assert.equal(rec.begin("garbage", undefined, "a", 2, false), false);
  assert.equal(rec.begin("", undefined, "a", 3, false), false);
  assert.deepEqual(rec.take(), []);
});

Deno.test("spans of messages handled back to back get ordered, non-overlapping times within the run", () => {
  const rec = recorder();
  const before = performance.timeOrigin + performance.now();
  for (let i = 1; i <= 5_000; i++) {
    rec.begin(TP, undefined, "src", i, false);
    rec.end();
  }
  rec.idle();
  const after = performance.timeOrigin + performance.now();
  const spans = all(rec.take());
  assert.equal(spans.length, 5_000);
  assert.deepEqual(spans.map((s) => s.attributes["oao.message.seq"]), spans.map((_, i) => i + 1));
  assert.equal(new Set(spans.map((s) => s.spanId)).size, 5_000);
  for (const [i, span] of spans.entries()) {
    assert.ok(span.startTime >= before - 0.001 && span.endTime <= after + 0.001, `span ${i}`);
    assert.ok(span.endTime >= span.startTime, `span ${i}`);
    if (i > 0) assert.ok(span.startTime >= spans[i - 1]!.endTime - 1e-6, `span ${i} overlaps`);
  }
});

Deno.test("a handler that goes asynchronous gets exact start and end times", async () => {
  const rec = recorder();
  rec.begin(TP, undefined, "src", 1, false);
  rec.end();
  rec.begin(TP, undefined, "src", 2, false);
  rec.suspend();
  await new Promise((r) => setTimeout(r, 30));
  rec.end();
  rec.idle();
  const [, slow] = all(rec.take());
  assert.ok(slow);
  assert.ok(slow.endTime - slow.startTime >= 25, `duration ${slow.endTime - slow.startTime}`);
});

Deno.test("an exception turns the span into span data with the error, sent apart from the packed ones", () => {
  const rich: SpanData[] = [];
  const rec = recorder(rich);
  rec.begin(TP, undefined, "src", 1, false);
  rec.end();
  rec.begin(TP, undefined, "src", 2, false);
  const spanId = rec.context.spanId;
  rec.recordException(new RangeError("bad message"));
  rec.end();
  rec.recordException(new Error("after the end: ignored"));
  assert.equal(rich.length, 1);
  const [failed] = rich;
  assert.equal(failed!.spanId, spanId);
  assert.equal(failed!.parentSpanId, parent.spanId);
  assert.deepEqual(failed!.status, { code: "error", message: "bad message" });
  assert.equal(failed!.events[0]!.name, "exception");
  assert.equal(failed!.events[0]!.attributes!["exception.type"], "RangeError");
  assert.equal(failed!.attributes["oao.message.seq"], 2);
  assert.ok(failed!.endTime >= failed!.startTime);
  const packed = all(rec.take());
  assert.deepEqual(packed.map((s) => s.attributes["oao.message.seq"]), [1]);
});

Deno.test("taking spans while a handler is suspended keeps the open span and its context", () => {
  const rec = recorder();
  rec.begin(TP, undefined, "src", 1, false);
  rec.end();
  rec.begin(TP, undefined, "src", 2, false);
  rec.suspend();
  const open = rec.context.spanId;
  assert.deepEqual(all(rec.take()).map((s) => s.attributes["oao.message.seq"]), [1]);
  assert.equal(rec.context.spanId, open);
  rec.end();
  const [second] = all(rec.take());
  assert.equal(second!.spanId, open);
  assert.equal(second!.attributes["oao.message.seq"], 2);
});

Deno.test("messages from several senders and traces share chunks with one origin each", () => {
  const rec = recorder();
  const other = formatTraceparent(newTraceContext(true));
  for (let i = 0; i < 5_000; i++) {
    rec.begin(i % 3 === 0 ? other : TP, undefined, i % 2 === 0 ? "a" : "b", i, i % 5 === 0);
    rec.end();
  }
  const chunks = rec.take();
  assert.ok(chunks.length >= 3, "5,000 spans take several chunks");
  for (const chunk of chunks) assert.ok(chunk.origins.length <= 8);
  const spans = all(chunks);
  assert.equal(spans.length, 5_000);
  for (const [i, span] of spans.entries()) {
    assert.equal(span.traceId, i % 3 === 0 ? other.slice(3, 35) : parent.traceId);
    assert.equal(span.attributes["oao.message.from"], i % 2 === 0 ? "a" : "b");
    assert.equal(span.attributes["oao.message.redelivered"], i % 5 === 0);
  }
});

Deno.test("malformed packed chunks are rejected with a reason", () => {
  const rec = recorder();
  rec.begin(TP, undefined, "src", 1, false);
  rec.end();
  const [chunk] = rec.take();
  assert.ok(chunk);
  assert.equal(invalidPackedReason(chunk), undefined);
  const bad: [Partial<PackedSpans> | null, RegExp][] = [
    [null, /not an object/],
    [{ ...chunk, name: "" }, /name/],
    [{ ...chunk, count: 5 }, /columns/],
    [{ ...chunk, ids: new Uint32Array(2) }, /span id/],
    [{ ...chunk, times: new Float64Array([5, 1]) }, /ends before/],
    [{ ...chunk, times: new Float64Array([NaN, 1]) }, /time/],
    [{ ...chunk, seqs: new Float64Array([-1]) }, /seq/],
    [{ ...chunk, origin: new Uint32Array([3]) }, /origin index/],
    [{ ...chunk, origins: [{ tp: "nope", from: "x", redelivered: false }] }, /origin/],
    [{ ...chunk, ids: [1, 2] as unknown as Uint32Array }, /columns/],
  ];
  for (const [value, reason] of bad) assert.match(invalidPackedReason(value) ?? "", reason);
});

Deno.test("a sink without exportPacked receives valid packed spans as span data", () => {
  const rec = recorder();
  rec.begin(TP, undefined, "src", 1, false);
  rec.end();
  const got: SpanData[] = [];
  const sink = {
    export: (s: SpanData[]) => got.push(...s),
    flush: async () => {},
    shutdown: async () => {},
  };
  exportWorkerSpans(sink, [], [...rec.take(), { nonsense: true }]);
  exportWorkerSpans(sink, "not spans", "not chunks");
  assert.deepEqual(got.map((s) => s.attributes["oao.message.seq"]), [1]);
});
