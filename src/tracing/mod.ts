/**
 * Tracing for OAO: W3C trace context, the runtime's {@linkcode Tracer}, and
 * export of finished spans over OTLP/gRPC, configured from the standard
 * `OTEL_*` environment variables; and interop with an application's own
 * OpenTelemetry instrumentation: executions continue the active
 * OpenTelemetry span's trace ({@linkcode traceContextFromActiveSpan}), tools
 * run with their span as the active one ({@linkcode withOaoSpanContext}),
 * and the application's SDK spans can be exported with OAO's
 * ({@linkcode createOaoSpanProcessor}). Without `OTEL_EXPORTER_OTLP_ENDPOINT`
 * nothing is exported and the OpenTelemetry SDK is never loaded (this module
 * loads only the small `@opentelemetry/api`).
 *
 * @example
 * ```ts
 * import { createTracingFromEnv } from "@oao/runtime/tracing";
 *
 * const tracing = await createTracingFromEnv(); // reads OTEL_* from Deno.env
 * const step = tracing.tracer.startSpan("oao.step.1", { attributes: { "oao.step": 1 } });
 * const tool = tracing.tracer.startSpan("oao.tool.search", { parent: step.context });
 * tool.end();
 * step.end();
 * await tracing.shutdown(); // the CLI does this on SIGTERM/SIGINT
 * ```
 *
 * @module
 */
export type {
  Attributes,
  AttributeValue,
  PackedSpans,
  SpanData,
  SpanEventData,
  SpanLinkData,
  SpanOrigin,
  SpanSink,
} from "./span_data.ts";
export {
  formatTraceparent,
  newSpanId,
  newTraceContext,
  newTraceId,
  parseTraceparent,
  type TraceContext,
} from "./trace_context.ts";
export {
  preciseNow,
  type Span,
  type StartSpanOptions,
  Tracer,
  type TracerOptions,
} from "./tracer.ts";
export {
  BATCH_DEFAULTS,
  type BatchConfig,
  DEFAULT_SERVICE_NAME,
  type Env,
  type OtlpTraceConfig,
  parseOtelEnv,
  readOtelEnv,
} from "./otel_env.ts";
export { type InstrumentationScope, OtlpSpanSink, type OtlpSpanSinkOptions } from "./otlp_sink.ts";
export { createTracingFromEnv, type Tracing, type TracingOptions } from "./tracing_from_env.ts";
export {
  fromOtelSpanContext,
  toOtelSpanContext,
  traceContextFromActiveSpan,
  withOaoSpanContext,
} from "./otel_context.ts";
export {
  createOaoSpanProcessor,
  hrTimeToEpochMillis,
  spanDataFromReadableSpan,
} from "./otel_span_processor.ts";
