/**
 * One call that sets up tracing for an OAO process from the standard
 * OpenTelemetry environment variables (see {@linkcode parseOtelEnv}).
 * Without `OTEL_EXPORTER_OTLP_ENDPOINT` the tracer is disabled (spans only
 * propagate context) and the OpenTelemetry SDK is never loaded. With it, the
 * tracer also joins the application's OpenTelemetry context, if it has one
 * (see {@linkcode TracingOptions.otelContext}).
 *
 * @example
 * ```ts
 * import { createTracingFromEnv } from "./tracing_from_env.ts";
 *
 * const tracing = await createTracingFromEnv({}); // no endpoint: disabled
 * const span = tracing.tracer.startSpan("oao.step.1");
 * console.assert(!span.recording);
 * span.end();
 * await tracing.shutdown();
 * ```
 *
 * @module
 */
import { Tracer, type TracerOptions } from "./tracer.ts";
import type { SpanSink } from "./span_data.ts";
import { type Env, type OtlpTraceConfig, parseOtelEnv, readOtelEnv } from "./otel_env.ts";
import type { InstrumentationScope } from "./_otlp_encode.ts";
import { OtlpSpanSink } from "./otlp_sink.ts";

/** Tracing for a process: the tracer, its sink, and the lifecycle hooks for the CLI. */
export interface Tracing {
  /** The tracer to start spans with; disabled when no endpoint is configured. */
  readonly tracer: Tracer;
  /** The exporting sink (give it worker spans too); absent when disabled. */
  readonly sink: SpanSink | undefined;
  /** The parsed configuration; absent when disabled. */
  readonly config: OtlpTraceConfig | undefined;
  /** Sends buffered spans now. Never rejects. */
  flush(): Promise<void>;
  /** Flushes and closes the exporter (call on SIGTERM/SIGINT and at exit). Idempotent. */
  shutdown(): Promise<void>;
}

/** Options of {@linkcode createTracingFromEnv}. */
export interface TracingOptions {
  /** Told about export failures. @default {a warning on the "oao.tracing" logger} */
  onError?: (error: Error) => void;
  /** Instrumentation scope of the spans. @default {{ name: "@oao/runtime" }} */
  scope?: InstrumentationScope;
  /**
   * Whether the tracer joins the OpenTelemetry API's context when tracing is
   * on: an execution started without `trace` or `traceparent` continues the
   * trace of the active OpenTelemetry span, and every tool runs with its
   * `oao.tool.<name>` span as the active one, so spans the application
   * creates in it are the tool span's children. Changes nothing for an
   * application without OpenTelemetry.
   * @default {true}
   */
  otelContext?: boolean;
}

const DISABLED: Omit<Tracing, "tracer"> = {
  sink: undefined,
  config: undefined,
  flush: () => Promise.resolve(),
  shutdown: () => Promise.resolve(),
};

/**
 * Creates the process's tracing from environment variables.
 *
 * @param env The environment; the `OTEL_*` variables of `Deno.env` when omitted.
 * @param options Error reporting, instrumentation scope, OpenTelemetry context.
 * @returns The tracing handle; call `shutdown()` before exiting so the last
 *   spans are not lost.
 * @throws {RangeError} Naming the variable when an `OTEL_*` value is invalid.
 *
 * @example
 * ```ts
 * import { createTracingFromEnv } from "./tracing_from_env.ts";
 * const tracing = await createTracingFromEnv({
 *   OTEL_EXPORTER_OTLP_ENDPOINT: "http://127.0.0.1:4317",
 *   OTEL_SERVICE_NAME: "oao-runtime",
 * }, { onError: () => {} });
 * console.assert(tracing.tracer.enabled);
 * await tracing.shutdown();
 * ```
 */
export async function createTracingFromEnv(
  env?: Env,
  options: TracingOptions = {},
): Promise<Tracing> {
  const config = parseOtelEnv(env ?? readOtelEnv());
  if (!config) return { tracer: new Tracer(), ...DISABLED };
  const sink = await OtlpSpanSink.create({
    ...config,
    ...(options.onError ? { onError: options.onError } : {}),
    ...(options.scope ? { scope: options.scope } : {}),
  });
  return {
    tracer: new Tracer(sink, options.otelContext === false ? {} : await _otelContextHooks()),
    sink,
    config,
    flush: () => sink.flush(),
    shutdown: () => sink.shutdown(),
  };
}

async function _otelContextHooks(): Promise<TracerOptions> {
  const { traceContextFromActiveSpan, withOaoSpanContext } = await import("./otel_context.ts");
  return { activeContext: traceContextFromActiveSpan, runInContext: withOaoSpanContext };
}
