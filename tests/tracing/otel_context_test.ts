// The OpenTelemetry API interop: OAO reads the active OpenTelemetry span as
// a parent, and makes its own spans the active OpenTelemetry span, with a
// real SDK tracer provider and the AsyncLocalStorage context manager an
// application registers.
import assert from "node:assert/strict";
import { context, createTraceState, trace, TraceFlags } from "@opentelemetry/api";
import { AsyncLocalStorageContextManager } from "@opentelemetry/context-async-hooks";
import {
  AlwaysOffSampler,
  BasicTracerProvider,
  InMemorySpanExporter,
  SimpleSpanProcessor,
} from "@opentelemetry/sdk-trace-base";
import {
  fromOtelSpanContext,
  toOtelSpanContext,
  traceContextFromActiveSpan,
  withOaoSpanContext,
} from "../../src/tracing/otel_context.ts";
import type { TraceContext } from "../../src/tracing/trace_context.ts";
import { Tracer } from "../../src/tracing/tracer.ts";
import { createTracingFromEnv } from "../../src/tracing/tracing_from_env.ts";

const OAO_SPAN: TraceContext = {
  traceId: "4bf92f3577b34da6a3ce929d0e0e4736",
  spanId: "00f067aa0ba902b7",
  sampled: true,
};

/** Runs `fn` with a registered context manager and an SDK provider recording into memory. */
async function withOtel(
  fn: (
    app: ReturnType<BasicTracerProvider["getTracer"]>,
    exporter: InMemorySpanExporter,
  ) => unknown,
  options: { sampled?: boolean } = {},
): Promise<void> {
  const manager = new AsyncLocalStorageContextManager().enable();
  assert.ok(context.setGlobalContextManager(manager), "no other context manager is registered");
  const exporter = new InMemorySpanExporter();
  const provider = new BasicTracerProvider({
    spanProcessors: [new SimpleSpanProcessor(exporter)],
    ...(options.sampled === false ? { sampler: new AlwaysOffSampler() } : {}),
  });
  try {
    await fn(provider.getTracer("shop", "1.0.0"), exporter);
  } finally {
    await provider.shutdown();
    context.disable();
  }
}

function tick(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, 1));
}

Deno.test("traceContextFromActiveSpan is the active span's context, also after await, and undefined outside spans", async () => {
  assert.equal(traceContextFromActiveSpan(), undefined, "without a context manager");
  await withOtel(async (app) => {
    assert.equal(traceContextFromActiveSpan(), undefined, "outside any span");
    await app.startActiveSpan("POST /checkout", async (span) => {
      await tick();
      const { traceId, spanId } = span.spanContext();
      assert.deepEqual(traceContextFromActiveSpan(), { traceId, spanId, sampled: true });
      span.end();
    });
    assert.equal(traceContextFromActiveSpan(), undefined, "the span's context ends with it");
  });
});

Deno.test("an unsampled active span gives a context with sampled false", async () => {
  await withOtel((app) =>
    app.startActiveSpan("GET /health", (span) => {
      assert.equal(traceContextFromActiveSpan()?.sampled, false);
      assert.equal(traceContextFromActiveSpan()?.spanId, span.spanContext().spanId);
      span.end();
    }), { sampled: false });
});

Deno.test("fromOtelSpanContext lower-cases ids, keeps tracestate and rejects invalid contexts", () => {
  assert.deepEqual(
    fromOtelSpanContext({
      traceId: "4BF92F3577B34DA6A3CE929D0E0E4736",
      spanId: "00F067AA0BA902B7",
      traceFlags: TraceFlags.SAMPLED,
      traceState: createTraceState("congo=t61rcWkgMzE,rojo=00f067aa0ba902b7"),
    }),
    { ...OAO_SPAN, tracestate: "congo=t61rcWkgMzE,rojo=00f067aa0ba902b7" },
  );
  assert.equal(
    fromOtelSpanContext({ traceId: "0".repeat(32), spanId: OAO_SPAN.spanId, traceFlags: 1 }),
    undefined,
  );
  assert.equal(
    fromOtelSpanContext({ traceId: OAO_SPAN.traceId, spanId: "xyz", traceFlags: 1 }),
    undefined,
  );
});

Deno.test("toOtelSpanContext maps sampled to the trace flags, parses tracestate and round-trips", () => {
  const sampled = toOtelSpanContext({ ...OAO_SPAN, tracestate: "vendor=abc" });
  assert.equal(sampled.traceFlags, TraceFlags.SAMPLED);
  assert.equal(sampled.isRemote, false);
  assert.equal(sampled.traceState?.get("vendor"), "abc");
  assert.deepEqual(fromOtelSpanContext(sampled), { ...OAO_SPAN, tracestate: "vendor=abc" });
  const unsampled = toOtelSpanContext({ ...OAO_SPAN, sampled: false });
  assert.equal(unsampled.traceFlags, TraceFlags.NONE);
  assert.equal(unsampled.traceState, undefined);
});

Deno.test("toOtelSpanContext rejects malformed ids with a TypeError naming the id", () => {
  assert.throws(
    () => toOtelSpanContext({ ...OAO_SPAN, traceId: "4BF92F3577B34DA6A3CE929D0E0E4736" }),
    { name: "TypeError", message: /trace id "4BF92F3577B34DA6A3CE929D0E0E4736"/ },
  );
  assert.throws(
    () => toOtelSpanContext({ ...OAO_SPAN, spanId: "0".repeat(16) }),
    { name: "TypeError", message: /span id "0000000000000000"/ },
  );
  assert.throws(() => withOaoSpanContext({ ...OAO_SPAN, spanId: "short" }, () => 1), TypeError);
});

Deno.test("spans started in withOaoSpanContext are children of the OAO span, also after await", async () => {
  await withOtel(async (app, exporter) => {
    const result = await withOaoSpanContext(OAO_SPAN, async () => {
      app.startSpan("sync-child").end();
      await tick();
      await app.startActiveSpan("async-child", async (span) => {
        await tick();
        app.startSpan("grandchild").end();
        span.end();
      });
      return "done";
    });
    assert.equal(result, "done");
    assert.equal(traceContextFromActiveSpan(), undefined, "the previous context is restored");
    const spans = new Map(exporter.getFinishedSpans().map((s) => [s.name, s]));
    for (const name of ["sync-child", "async-child"]) {
      const span = spans.get(name);
      assert.equal(span?.spanContext().traceId, OAO_SPAN.traceId, name);
      assert.equal(span?.parentSpanContext?.spanId, OAO_SPAN.spanId, name);
    }
    assert.equal(
      spans.get("grandchild")?.parentSpanContext?.spanId,
      spans.get("async-child")?.spanContext().spanId,
    );
  });
});

Deno.test("under an unsampled OAO span the application's spans are not sampled either", async () => {
  await withOtel((app, exporter) => {
    withOaoSpanContext({ ...OAO_SPAN, sampled: false }, () => {
      const span = app.startSpan("child");
      assert.equal(span.spanContext().traceFlags & TraceFlags.SAMPLED, 0);
      assert.equal(span.isRecording(), false);
      span.end();
    });
    assert.equal(exporter.getFinishedSpans().length, 0);
  });
});

Deno.test("a Tracer uses its context hooks; without them it has no active context and just calls fn", () => {
  const plain = new Tracer();
  assert.equal(plain.activeContext(), undefined);
  assert.equal(plain.runInContext(OAO_SPAN, () => 7), 7);
  const calls: TraceContext[] = [];
  const hooked = new Tracer(undefined, {
    activeContext: () => OAO_SPAN,
    runInContext: (ctx, fn) => {
      calls.push(ctx);
      return fn();
    },
  });
  assert.deepEqual(hooked.activeContext(), OAO_SPAN);
  assert.equal(hooked.runInContext(OAO_SPAN, () => "ran"), "ran");
  assert.deepEqual(calls, [OAO_SPAN]);
});

Deno.test("createTracingFromEnv's tracer joins the OpenTelemetry context unless otelContext is false", async () => {
  const env = { OTEL_EXPORTER_OTLP_ENDPOINT: "http://127.0.0.1:4317" };
  const joined = await createTracingFromEnv(env, { onError: () => {} });
  const apart = await createTracingFromEnv(env, { onError: () => {}, otelContext: false });
  const disabled = await createTracingFromEnv({});
  try {
    await withOtel((app) =>
      app.startActiveSpan("POST /checkout", (span) => {
        const { traceId, spanId } = span.spanContext();
        assert.deepEqual(joined.tracer.activeContext(), { traceId, spanId, sampled: true });
        assert.equal(apart.tracer.activeContext(), undefined);
        assert.equal(disabled.tracer.activeContext(), undefined);
        joined.tracer.runInContext(OAO_SPAN, () => {
          assert.equal(trace.getActiveSpan()?.spanContext().spanId, OAO_SPAN.spanId);
        });
        apart.tracer.runInContext(OAO_SPAN, () => {
          assert.equal(trace.getActiveSpan()?.spanContext().spanId, spanId);
        });
        span.end();
      })
    );
  } finally {
    await joined.shutdown();
    await apart.shutdown();
  }
});
