import assert from "node:assert/strict";
import { resourceFromAttributes } from "@opentelemetry/resources";
import { invalidSpanReason, toHrTime, toReadableSpan } from "../../src/tracing/_readable_span.ts";
import type { SpanData } from "../../src/tracing/span_data.ts";

const resource = resourceFromAttributes({ "service.name": "test" });
const scope = { name: "@oao/runtime" };
const target = { resource, scope };

function data(overrides: Partial<SpanData> = {}): SpanData {
  return {
    name: "oao.step.1",
    traceId: "4bf92f3577b34da6a3ce929d0e0e4736",
    spanId: "00f067aa0ba902b7",
    kind: "internal",
    startTime: 1_000.25,
    endTime: 3_500.5,
    attributes: {},
    events: [],
    status: { code: "unset" },
    ...overrides,
  };
}

Deno.test("toHrTime splits epoch milliseconds into seconds and rounded nanoseconds", () => {
  assert.deepEqual(toHrTime(1_700_000_000_123.5), [1_700_000_000, 123_500_000]);
  assert.deepEqual(toHrTime(0), [0, 0]);
  assert.deepEqual(toHrTime(999.9999999), [1, 0]); // rounding carries into the seconds
  assert.deepEqual(toHrTime(1_500), [1, 500_000_000]);
});

Deno.test("a converted span is ended and sampled, with times, duration and shared resource", () => {
  const span = toReadableSpan(data(), target);
  assert.equal(span.ended, true);
  assert.equal(span.spanContext().traceFlags, 1);
  assert.deepEqual(span.startTime, [1, 250_000]);
  assert.deepEqual(span.endTime, [3, 500_500_000]);
  assert.deepEqual(span.duration, [2, 500_250_000]);
  assert.equal(span.resource, resource);
  assert.equal(span.instrumentationScope, scope);
  assert.equal(span.parentSpanContext, undefined);
  assert.deepEqual(span.links, []);
});

Deno.test("kinds and status codes map to the OpenTelemetry enums, unknown ones to internal and unset", () => {
  const kinds = { internal: 0, server: 1, client: 2, producer: 3, consumer: 4 } as const;
  for (const [kind, value] of Object.entries(kinds)) {
    assert.equal(
      toReadableSpan(data({ kind: kind as SpanData["kind"] }), target).kind,
      value,
    );
  }
  const odd = data({ kind: "__proto__" as SpanData["kind"], status: { code: "weird" as "ok" } });
  assert.equal(toReadableSpan(odd, target).kind, 0);
  assert.deepEqual(toReadableSpan(odd, target).status, { code: 0 });
  assert.deepEqual(toReadableSpan(data({ status: { code: "ok" } }), target).status, {
    code: 1,
  });
  assert.deepEqual(
    toReadableSpan(data({ status: { code: "error", message: "boom" } }), target).status,
    { code: 2, message: "boom" },
  );
});

Deno.test("a parent span id becomes the parent span context in the same trace", () => {
  const span = toReadableSpan(data({ parentSpanId: "b7ad6b7169203331" }), target);
  assert.deepEqual(span.parentSpanContext, {
    traceId: "4bf92f3577b34da6a3ce929d0e0e4736",
    spanId: "b7ad6b7169203331",
    traceFlags: 1,
  });
});

Deno.test("attributes OTLP cannot carry are dropped and counted", () => {
  const attributes = {
    ok: "yes",
    n: 1,
    b: true,
    list: ["a", "b"],
    mixed: ["a", 1],
    nan: Number.NaN,
    object: { nested: 1 },
    nil: null,
  } as unknown as SpanData["attributes"];
  const span = toReadableSpan(data({ attributes }), target);
  assert.deepEqual(span.attributes, { ok: "yes", n: 1, b: true, list: ["a", "b"] });
  assert.equal(span.droppedAttributesCount, 4);
});

Deno.test("malformed events are dropped and counted, valid ones keep their attributes", () => {
  const events = [
    { name: "RETRY_ATTEMPTED", time: 2_000, attributes: { attempt: 1 } },
    { name: "no-time" },
    null,
  ] as unknown as SpanData["events"];
  const span = toReadableSpan(data({ events }), target);
  assert.deepEqual(span.events, [{
    name: "RETRY_ATTEMPTED",
    time: [2, 0],
    attributes: { attempt: 1 },
    droppedAttributesCount: 0,
  }]);
  assert.equal(span.droppedEventsCount, 2);
});

Deno.test("invalidSpanReason accepts tracer output and names what is wrong otherwise", () => {
  assert.equal(invalidSpanReason(data()), undefined);
  assert.equal(invalidSpanReason(null), "not an object");
  assert.equal(invalidSpanReason(data({ name: "" })), "missing name");
  assert.equal(
    invalidSpanReason(data({ traceId: "4BF92F3577B34DA6A3CE929D0E0E4736" })),
    "invalid traceId",
  );
  assert.equal(invalidSpanReason(data({ spanId: "0000000000000000" })), "invalid spanId");
  assert.equal(invalidSpanReason(data({ parentSpanId: "123" })), "invalid parentSpanId");
  assert.equal(invalidSpanReason(data({ endTime: Number.NaN })), "invalid start or end time");
  assert.equal(
    invalidSpanReason(data({ startTime: 5_000, endTime: 4_000 })),
    "ends before it starts",
  );
});
