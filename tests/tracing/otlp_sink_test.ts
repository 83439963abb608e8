import assert from "node:assert/strict";
import { type Context, context, type ContextManager } from "@opentelemetry/api";
import { AsyncLocalStorageContextManager } from "@opentelemetry/context-async-hooks";
import { isTracingSuppressed } from "@opentelemetry/core";
import { createTracingFromEnv } from "../../src/tracing/tracing_from_env.ts";
import { OtlpSpanSink } from "../../src/tracing/otlp_sink.ts";
import type { PackedSpans, SpanData } from "../../src/tracing/span_data.ts";
import { ReceiveSpanRecorder } from "../../src/tracing/_receive_span_recorder.ts";
import { formatTraceparent, newTraceContext } from "../../src/tracing/trace_context.ts";
import { type DecodedSpan, startOtlpReceiver } from "../_support/otlp_receiver.ts";

const WAIT_MS = 10_000;

function byName(spans: DecodedSpan[], name: string): DecodedSpan {
  const span = spans.find((s) => s.name === name);
  assert.ok(span, `span "${name}" was not received (got ${spans.map((s) => s.name).join(", ")})`);
  return span;
}

function workerSpan(overrides: Partial<SpanData> = {}): SpanData {
  return {
    name: "oao.tool.search",
    traceId: "4bf92f3577b34da6a3ce929d0e0e4736",
    spanId: "00f067aa0ba902b7",
    parentSpanId: "b7ad6b7169203331",
    kind: "client",
    startTime: 1_700_000_000_123.5,
    endTime: 1_700_000_000_250.25,
    attributes: { "oao.tool": "search", "oao.attempt": 2, "oao.cached": false, ratio: 0.5 },
    events: [{ name: "RETRY_ATTEMPTED", time: 1_700_000_000_200, attributes: { attempt: 1 } }],
    status: { code: "error", message: "Tool timed out" },
    ...overrides,
  };
}

Deno.test("spans of the tracer reach a real OTLP gRPC receiver with links, attributes, events, status and resource", async () => {
  const receiver = await startOtlpReceiver();
  try {
    const tracing = await createTracingFromEnv({
      OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint,
      OTEL_SERVICE_NAME: "oao-runtime",
      OTEL_RESOURCE_ATTRIBUTES: "env=production,version=1.1.0,team=agents%2Cplatform",
    });
    assert.equal(tracing.tracer.enabled, true);
    const execution = tracing.tracer.startSpan("oao.execution", {
      kind: "server",
      attributes: { "oao.execution_id": "exec-1" },
    });
    const step = tracing.tracer.startSpan("oao.step.1", {
      parent: execution.context,
      attributes: { "oao.step": 1 },
    });
    const tool = tracing.tracer.startSpan("oao.tool.search", { parent: step.context });
    tool.addEvent("RETRY_ATTEMPTED", { attempt: 1, reason: "timeout" });
    tool.recordException(new RangeError("Query too long"));
    tool.end();
    step.setStatus("ok");
    step.end();
    execution.end();
    await tracing.shutdown();

    const spans = receiver.spans();
    assert.equal(spans.length, 3);
    const [root, child, grandchild] = ["oao.execution", "oao.step.1", "oao.tool.search"].map((
      n,
    ) => byName(spans, n)) as [DecodedSpan, DecodedSpan, DecodedSpan];
    assert.equal(root.traceId, execution.context.traceId);
    assert.equal(child.traceId, root.traceId);
    assert.equal(grandchild.traceId, root.traceId);
    assert.equal(root.spanId, execution.context.spanId);
    assert.equal(root.parentSpanId, undefined);
    assert.equal(child.parentSpanId, root.spanId);
    assert.equal(grandchild.parentSpanId, child.spanId);
    assert.equal(root.kind, 2); // SPAN_KIND_SERVER
    assert.equal(child.kind, 1); // SPAN_KIND_INTERNAL
    assert.equal(root.flags & 0xff, 1); // sampled
    assert.deepEqual(root.attributes, { "oao.execution_id": "exec-1" });
    assert.deepEqual(child.attributes, { "oao.step": 1 });
    assert.deepEqual(child.status, { code: 1, message: "" });
    assert.equal(grandchild.status.code, 2);
    assert.equal(grandchild.status.message, "Query too long");
    assert.deepEqual(grandchild.events.map((e) => e.name), ["RETRY_ATTEMPTED", "exception"]);
    assert.deepEqual(grandchild.events[0]?.attributes, { attempt: 1, reason: "timeout" });
    const exception = grandchild.events[1]!.attributes;
    assert.equal(exception["exception.type"], "RangeError");
    assert.equal(exception["exception.message"], "Query too long");
    assert.match(String(exception["exception.stacktrace"]), /RangeError: Query too long/);
    assert.ok(root.startTimeUnixNano <= child.startTimeUnixNano);
    assert.ok(child.endTimeUnixNano <= root.endTimeUnixNano);
    assert.ok(grandchild.endTimeUnixNano >= grandchild.startTimeUnixNano);
    for (const span of spans) {
      assert.equal(span.resource["service.name"], "oao-runtime");
      assert.equal(span.resource.env, "production");
      assert.equal(span.resource.version, "1.1.0");
      assert.equal(span.resource.team, "agents,platform");
      assert.equal(span.scope.name, "@oao/runtime");
    }
  } finally {
    await receiver.close();
  }
});

Deno.test("spans stay buffered until flush, and shutdown exports the rest", async () => {
  const receiver = await startOtlpReceiver();
  try {
    const tracing = await createTracingFromEnv({
      OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint,
      OTEL_BSP_SCHEDULE_DELAY: "60000",
    });
    tracing.tracer.startSpan("oao.step.1").end();
    assert.equal(receiver.requests(), 0, "the batch processor must not export each span at once");
    await tracing.flush();
    assert.deepEqual(receiver.spans().map((s) => s.name), ["oao.step.1"]);

    tracing.tracer.startSpan("oao.step.2").end();
    await tracing.shutdown();
    assert.deepEqual(receiver.spans().map((s) => s.name), ["oao.step.1", "oao.step.2"]);

    tracing.tracer.startSpan("oao.step.3").end(); // after shutdown: ignored
    await tracing.shutdown();
    assert.equal(receiver.spans().length, 2);
  } finally {
    await receiver.close();
  }
});

Deno.test("the scheduled batch export sends spans without an explicit flush", async () => {
  const receiver = await startOtlpReceiver();
  try {
    const tracing = await createTracingFromEnv({
      OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint,
      OTEL_BSP_SCHEDULE_DELAY: "10",
    });
    tracing.tracer.startSpan("oao.step.1").end();
    const spans = await receiver.waitForSpans((s) => s.length === 1, WAIT_MS);
    assert.equal(spans[0]?.name, "oao.step.1");
    await tracing.shutdown();
  } finally {
    await receiver.close();
  }
});

Deno.test("span data from a worker is exported with its own ids, kind, times and events", async () => {
  const receiver = await startOtlpReceiver();
  try {
    const sink = await OtlpSpanSink.create({
      endpoint: receiver.endpoint,
      resource: { "service.name": "oao-worker-test" },
    });
    sink.export([workerSpan()]);
    await sink.shutdown();
    const [span] = receiver.spans();
    assert.ok(span);
    assert.equal(span.traceId, "4bf92f3577b34da6a3ce929d0e0e4736");
    assert.equal(span.spanId, "00f067aa0ba902b7");
    assert.equal(span.parentSpanId, "b7ad6b7169203331");
    assert.equal(span.kind, 3); // SPAN_KIND_CLIENT
    assert.equal(span.startTimeUnixNano, 1_700_000_000_123_500_000n);
    assert.equal(span.endTimeUnixNano, 1_700_000_000_250_250_000n);
    assert.deepEqual(span.attributes, {
      "oao.tool": "search",
      "oao.attempt": 2,
      "oao.cached": false,
      ratio: 0.5,
    });
    assert.deepEqual(span.events, [{
      name: "RETRY_ATTEMPTED",
      timeUnixNano: 1_700_000_000_200_000_000n,
      attributes: { attempt: 1 },
    }]);
    assert.deepEqual(span.status, { code: 2, message: "Tool timed out" });
    assert.equal(span.resource["service.name"], "oao-worker-test");
  } finally {
    await receiver.close();
  }
});

Deno.test("invalid span data is dropped and counted while valid spans of the same batch are exported", async () => {
  const receiver = await startOtlpReceiver();
  const errors: Error[] = [];
  try {
    const sink = await OtlpSpanSink.create({
      endpoint: receiver.endpoint,
      onError: (e) => errors.push(e),
    });
    sink.export([
      workerSpan({ traceId: "00000000000000000000000000000000" }),
      workerSpan({ spanId: "xyz" }),
      workerSpan({ endTime: 0 }),
      workerSpan({ name: "valid", spanId: "1111111111111111" }),
      { nonsense: true } as unknown as SpanData,
    ]);
    assert.equal(sink.droppedSpans, 4);
    await sink.shutdown();
    assert.deepEqual(receiver.spans().map((s) => s.name), ["valid"]);
    assert.equal(errors.length, 1, "invalid data is reported once, not per span");
    assert.match(errors[0]!.message, /invalid traceId/);
  } finally {
    await receiver.close();
  }
});

Deno.test("a rejected export is reported through onError and flush and shutdown still resolve", async () => {
  const receiver = await startOtlpReceiver({ status: 7 }); // PERMISSION_DENIED: not retried
  const errors: Error[] = [];
  try {
    const tracing = await createTracingFromEnv(
      { OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint },
      { onError: (e) => errors.push(e) },
    );
    tracing.tracer.startSpan("oao.step.1").end();
    await tracing.flush();
    tracing.tracer.startSpan("oao.step.2").end();
    await tracing.shutdown();
    assert.ok(receiver.requests() >= 1);
    assert.equal(errors.length, 1, "consecutive failures are reported once");
    assert.match(errors[0]!.message, /Rejected by test receiver|PERMISSION_DENIED/);
  } finally {
    await receiver.close();
  }
});

Deno.test("OTEL_EXPORTER_OTLP_HEADERS are sent as gRPC metadata and gzip compression is honoured", async () => {
  const receiver = await startOtlpReceiver();
  try {
    const tracing = await createTracingFromEnv({
      OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: receiver.endpoint,
      OTEL_EXPORTER_OTLP_HEADERS: "x-api-key=abc%20123,X-Tenant=oao",
      OTEL_EXPORTER_OTLP_COMPRESSION: "gzip",
    });
    tracing.tracer.startSpan("oao.step.1").end();
    await tracing.shutdown();
    const [meta] = receiver.metadata();
    assert.equal(meta?.["x-api-key"], "abc 123");
    assert.equal(meta?.["x-tenant"], "oao");
    assert.equal(meta?.["grpc-encoding"], "gzip");
    assert.deepEqual(receiver.spans().map((s) => s.name), ["oao.step.1"]);
  } finally {
    await receiver.close();
  }
});

Deno.test("without an endpoint tracing is disabled: spans only propagate context", async () => {
  const tracing = await createTracingFromEnv({ OTEL_SERVICE_NAME: "oao-runtime" });
  assert.equal(tracing.tracer.enabled, false);
  assert.equal(tracing.sink, undefined);
  assert.equal(tracing.config, undefined);
  const span = tracing.tracer.startSpan("oao.step.1");
  assert.equal(span.recording, false);
  assert.match(span.context.traceId, /^[0-9a-f]{32}$/);
  span.end();
  await tracing.flush();
  await tracing.shutdown();
});

/** The OpenTelemetry modules that importing `entry` loads statically. */
async function staticOtelModules(entry: URL): Promise<string[]> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["info", "--json", entry.href],
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.ok(out.success, new TextDecoder().decode(out.stderr));
  const graph = JSON.parse(new TextDecoder().decode(out.stdout)) as {
    modules: {
      specifier: string;
      dependencies?: { code?: { specifier: string }; isDynamic?: boolean }[];
    }[];
  };
  const modules = new Map(graph.modules.map((m) => [m.specifier, m]));
  const reached = new Set<string>();
  const stack = [entry.href];
  while (stack.length > 0) {
    const specifier = stack.pop()!;
    if (reached.has(specifier)) continue;
    reached.add(specifier);
    for (const dep of modules.get(specifier)?.dependencies ?? []) {
      if (dep.code && !dep.isDynamic) stack.push(dep.code.specifier);
    }
  }
  assert.ok(reached.size > 3, "the graph walk found the modules");
  return [...reached].filter((s) => s.includes("opentelemetry"));
}

Deno.test("importing the tracing entry point loads the OpenTelemetry API only, not the SDK or the exporter", async () => {
  const entry = new URL("../../src/tracing/mod.ts", import.meta.url);
  assert.deepEqual(await staticOtelModules(entry), ["npm:@opentelemetry/api@1.9.1"]);
});

Deno.test("importing the runtime's entry point loads no OpenTelemetry code", async () => {
  const entry = new URL("../../mod.ts", import.meta.url);
  assert.deepEqual(await staticOtelModules(entry), []);
});

Deno.test("a full queue drops new spans and counts them; the queued ones are exported", async () => {
  const receiver = await startOtlpReceiver();
  try {
    const errors: Error[] = [];
    const sink = await OtlpSpanSink.create({
      endpoint: receiver.endpoint,
      batch: { maxQueueSize: 10, scheduledDelayMillis: 60_000 },
      onError: (e) => errors.push(e),
    });
    const spans = Array.from(
      { length: 4 },
      (_, i) => workerSpan({ name: `s${i}`, spanId: `${i + 1}`.padStart(16, "0") }),
    );
    sink.export(spans); // 4 queued
    assert.equal(receiver.requests(), 0, "below half the queue nothing is sent before the delay");
    sink.export(Array.from({ length: 10 }, (_, i) => workerSpan({ name: `t${i}` })));
    assert.equal(sink.queueDroppedSpans, 4, "6 of the 10 fit");
    assert.equal(errors.length, 1, "a full queue is reported");
    assert.match(errors[0]!.message, /maxQueueSize 10/);
    await sink.flush();
    assert.equal(receiver.spans().length, 10);
    assert.equal(sink.exportedSpans, 10);
    await sink.shutdown();
  } finally {
    await receiver.close();
  }
});

Deno.test("half a queue of spans is exported at once, without waiting for the scheduled delay", async () => {
  const receiver = await startOtlpReceiver();
  try {
    const sink = await OtlpSpanSink.create({
      endpoint: receiver.endpoint,
      batch: { maxQueueSize: 8, maxExportBatchSize: 3, scheduledDelayMillis: 60_000 },
    });
    sink.export(Array.from({ length: 4 }, (_, i) => workerSpan({ name: `s${i}` })));
    const spans = await receiver.waitForSpans((s) => s.length === 4, WAIT_MS);
    assert.deepEqual(spans.map((s) => s.name).sort(), ["s0", "s1", "s2", "s3"]);
    assert.equal(receiver.requests(), 2, "in requests of at most 3 spans");
    await sink.shutdown();
  } finally {
    await receiver.close();
  }
});

Deno.test("packed receive spans of a worker are exported with their parent, ids and attributes", async () => {
  const receiver = await startOtlpReceiver();
  try {
    const sink = await OtlpSpanSink.create({ endpoint: receiver.endpoint });
    const parent = newTraceContext(true);
    const recorder = new ReceiveSpanRecorder("exec-1/agent", 1, () => {});
    const ids: string[] = [];
    for (let seq = 1; seq <= 3; seq++) {
      recorder.begin(formatTraceparent(parent), undefined, "exec-1/lead", seq, false);
      ids.push(recorder.context.spanId);
      recorder.end();
    }
    sink.exportPacked([...recorder.take(), { bogus: true } as unknown as PackedSpans]);
    assert.equal(sink.droppedSpans, 1);
    await sink.shutdown();
    const spans = receiver.spans();
    assert.deepEqual(spans.map((s) => s.spanId), ids);
    for (const [i, span] of spans.entries()) {
      assert.equal(span.name, "oao.actor.receive agent");
      assert.equal(span.traceId, parent.traceId);
      assert.equal(span.parentSpanId, parent.spanId);
      assert.equal(span.kind, 5);
      assert.equal(span.attributes["oao.message.seq"], i + 1);
      assert.equal(span.attributes["oao.message.from"], "exec-1/lead");
    }
    assert.equal(sink.exportedSpans, 3);
  } finally {
    await receiver.close();
  }
});

Deno.test("invalid batch settings are an error naming the setting", async () => {
  await assert.rejects(
    () => OtlpSpanSink.create({ endpoint: "http://127.0.0.1:4317", batch: { maxQueueSize: 0 } }),
    (e: unknown) => e instanceof RangeError && e.message.includes("maxQueueSize"),
  );
  await assert.rejects(
    () =>
      OtlpSpanSink.create({
        endpoint: "http://127.0.0.1:4317",
        batch: { maxQueueSize: 10, maxExportBatchSize: 20 },
      }),
    (e: unknown) => e instanceof RangeError && e.message.includes("maxExportBatchSize"),
  );
});

Deno.test("the sink exports with OpenTelemetry tracing suppressed, so instrumented transports do not trace the export", async () => {
  const receiver = await startOtlpReceiver();
  const als = new AsyncLocalStorageContextManager();
  const entered: Context[] = [];
  const spy: ContextManager = {
    active: () => als.active(),
    with(ctx, fn, thisArg, ...args) {
      entered.push(ctx);
      return als.with(ctx, fn, thisArg, ...args);
    },
    bind: (ctx, target) => als.bind(ctx, target),
    enable() {
      als.enable();
      return spy;
    },
    disable() {
      als.disable();
      return spy;
    },
  };
  assert.ok(context.setGlobalContextManager(spy.enable()));
  const sink = await OtlpSpanSink.create({ endpoint: receiver.endpoint });
  try {
    sink.export([workerSpan()]);
    assert.equal(entered.length, 0, "nothing is exported before the batch is sent");
    await sink.flush();
    await receiver.waitForSpans((spans) => spans.length === 1, WAIT_MS);
    assert.ok(entered.length >= 1 && entered.every(isTracingSuppressed));
  } finally {
    await sink.shutdown();
    context.disable();
    await receiver.close();
  }
});
