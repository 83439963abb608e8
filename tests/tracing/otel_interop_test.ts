// OAO inside an OpenTelemetry-instrumented application: the application's
// SDK (a real BasicTracerProvider, the AsyncLocalStorage context manager)
// and OAO's tracing share one trace — an execution started inside an
// application span is its child, spans the application creates inside a
// tool are children of the tool's span — and everything is exported through
// OAO's sink to a real OTLP/gRPC receiver.
import assert from "node:assert/strict";
import { context, type Span, SpanKind, type Tracer as OtelTracer } from "@opentelemetry/api";
import { AsyncLocalStorageContextManager } from "@opentelemetry/context-async-hooks";
import { resourceFromAttributes } from "@opentelemetry/resources";
import { BasicTracerProvider } from "@opentelemetry/sdk-trace-base";
import { Orchestrator } from "../../src/orchestrator/orchestrator.ts";
import { defineTool, type ToolDefinition } from "../../src/orchestrator/tool.ts";
import { traceContextFromActiveSpan } from "../../src/tracing/otel_context.ts";
import { createOaoSpanProcessor } from "../../src/tracing/otel_span_processor.ts";
import { Tracer } from "../../src/tracing/tracer.ts";
import { createTracingFromEnv, type Tracing } from "../../src/tracing/tracing_from_env.ts";
import {
  type DecodedSpan,
  type OtlpReceiver,
  startOtlpReceiver,
} from "../_support/otlp_receiver.ts";
import type { TestTask } from "../fixtures/test_agent.ts";

const WAIT_MS = 15_000;
const SERVER = 2;
const CLIENT = 3;
const TESTER = {
  name: "tester",
  module: new URL("../fixtures/test_agent.ts", import.meta.url),
  version: "1.0.0",
};
const TASK: TestTask = { calls: [{ tool: "charge", args: { cents: 1250 } }] };

function only(spans: DecodedSpan[], name: string): DecodedSpan {
  const found = spans.filter((s) => s.name === name);
  assert.equal(found.length, 1, `expected one span "${name}", got ${found.length}`);
  return found[0]!;
}

/** A tool instrumented with the OpenTelemetry API: a span, and a child span after an await. */
function chargeTool(app: OtelTracer): ToolDefinition<never, unknown> {
  return defineTool({
    name: "charge",
    run: ({ cents }: { cents: number }) =>
      app.startActiveSpan("payments.charge", {
        kind: SpanKind.CLIENT,
        attributes: { "payment.cents": cents },
      }, async (span: Span) => {
        await new Promise((resolve) => setTimeout(resolve, 5));
        app.startSpan("payments.audit").end();
        span.end();
        return { charged: cents };
      }),
  }) as ToolDefinition<never, unknown>;
}

interface App {
  receiver: OtlpReceiver;
  tracing: Tracing;
  provider: BasicTracerProvider;
  app: OtelTracer;
}

/** The application: OAO's tracing from the environment, its SDK exporting through OAO's sink. */
async function startApp(): Promise<App> {
  const receiver = await startOtlpReceiver();
  const tracing = await createTracingFromEnv({
    OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint,
    OTEL_SERVICE_NAME: "shop",
    OTEL_BSP_SCHEDULE_DELAY: "50",
  });
  assert.ok(
    context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable()),
    "no other context manager is registered",
  );
  const provider = new BasicTracerProvider({
    resource: resourceFromAttributes({ "service.name": "shop" }),
    spanProcessors: [createOaoSpanProcessor(tracing.sink!)],
  });
  return { receiver, tracing, provider, app: provider.getTracer("shop-app", "2.0.0") };
}

async function stopApp({ receiver, tracing, provider }: App): Promise<void> {
  await provider.shutdown(); // flushes OAO's sink, leaves it open
  await tracing.shutdown();
  context.disable();
  await receiver.close();
}

/** Runs `fn` inside an application server span; returns its result and the span's ids. */
function inRequestSpan<T>(
  app: OtelTracer,
  fn: () => Promise<T>,
): Promise<{ result: T; traceId: string; spanId: string }> {
  return app.startActiveSpan("POST /checkout", { kind: SpanKind.SERVER }, async (span) => {
    try {
      return { result: await fn(), ...span.spanContext() };
    } finally {
      span.end();
    }
  });
}

Deno.test("an execution run inside an application span is its child, and a tool's OpenTelemetry spans are children of the tool span", async () => {
  const env = await startApp();
  const orchestrator = new Orchestrator({
    tracer: env.tracing.tracer,
    agents: [TESTER],
    tools: [chargeTool(env.app)],
  });
  try {
    const request = await inRequestSpan(env.app, () => orchestrator.run("tester", TASK));
    const report = request.result;
    assert.equal(report.status, "SUCCESS", JSON.stringify(report.error));
    await orchestrator.close();
    await env.provider.forceFlush();
    await env.tracing.flush();
    const spans = await env.receiver.waitForSpans(
      (all) =>
        ["POST /checkout", "oao.execution", "payments.audit"].every((n) =>
          all.some((s) => s.name === n)
        ),
      WAIT_MS,
    );

    // One trace: the application's, which the report names too.
    assert.equal(report.traceId, request.traceId);
    assert.deepEqual([...new Set(spans.map((s) => s.traceId))], [request.traceId]);
    for (const span of spans) assert.equal(span.resource["service.name"], "shop", span.name);

    // The application's request span is the root; the execution its child.
    const checkout = only(spans, "POST /checkout");
    assert.equal(checkout.spanId, request.spanId);
    assert.equal(checkout.parentSpanId, undefined);
    assert.equal(checkout.kind, SERVER);
    assert.equal(checkout.attributes["otel.scope.name"], "shop-app");
    assert.equal(checkout.attributes["otel.scope.version"], "2.0.0");
    const execution = only(spans, "oao.execution");
    assert.equal(execution.parentSpanId, checkout.spanId);
    assert.equal(execution.attributes["oao.execution.id"], report.executionId);

    // The tool span is the child of the EXECUTE step; the application's
    // spans created inside the tool are the tool span's descendants.
    const execute = only(spans, "oao.step.3");
    assert.equal(execute.parentSpanId, execution.spanId);
    const tool = only(spans, "oao.tool.charge");
    assert.equal(tool.parentSpanId, execute.spanId);
    const charge = only(spans, "payments.charge");
    assert.equal(charge.parentSpanId, tool.spanId);
    assert.equal(charge.kind, CLIENT);
    assert.equal(charge.attributes["payment.cents"], 1250);
    assert.equal(only(spans, "payments.audit").parentSpanId, charge.spanId);

    // The agent's receive spans, from its worker, are in the same trace.
    const receives = spans.filter((s) => s.name.startsWith("oao.actor.receive "));
    assert.ok(receives.length >= 5, `one per step, got ${receives.length}`);
  } finally {
    await orchestrator.close();
    await stopApp(env);
  }
});

Deno.test("with a tracer of its own, run's trace option continues the active span's trace", async () => {
  const env = await startApp();
  // No context hooks: the application passes the parent itself.
  const orchestrator = new Orchestrator({
    tracer: new Tracer(env.tracing.sink),
    agents: [TESTER],
    tools: [chargeTool(env.app)],
  });
  try {
    const request = await inRequestSpan(env.app, () => {
      const trace = traceContextFromActiveSpan();
      assert.ok(trace);
      return orchestrator.run("tester", TASK, { trace });
    });
    assert.equal(request.result.status, "SUCCESS", JSON.stringify(request.result.error));
    await orchestrator.close();
    await env.provider.forceFlush();
    await env.tracing.flush();
    const spans = await env.receiver.waitForSpans(
      (all) => ["POST /checkout", "oao.execution"].every((n) => all.some((s) => s.name === n)),
      WAIT_MS,
    );
    assert.equal(request.result.traceId, request.traceId);
    assert.equal(only(spans, "oao.execution").parentSpanId, request.spanId);
  } finally {
    await orchestrator.close();
    await stopApp(env);
  }
});

Deno.test("without an active span an execution starts its own trace", async () => {
  const env = await startApp();
  const orchestrator = new Orchestrator({
    tracer: env.tracing.tracer,
    agents: [TESTER],
    tools: [chargeTool(env.app)],
  });
  try {
    const report = await orchestrator.run("tester", TASK);
    assert.equal(report.status, "SUCCESS", JSON.stringify(report.error));
    await orchestrator.close();
    await env.tracing.flush();
    const spans = await env.receiver.waitForSpans(
      (all) => all.some((s) => s.name === "oao.execution"),
      WAIT_MS,
    );
    const execution = only(spans, "oao.execution");
    assert.equal(execution.parentSpanId, undefined);
    assert.equal(execution.traceId, report.traceId);
  } finally {
    await orchestrator.close();
    await stopApp(env);
  }
});
