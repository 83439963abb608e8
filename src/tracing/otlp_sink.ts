/**
 * {@linkcode OtlpSpanSink}: the host's span exporter. It accepts
 * {@linkcode SpanData} from anywhere (the host's tracer, or workers, which
 * have no network permission), turns each into an OpenTelemetry
 * `ReadableSpan` and feeds it to a `BatchSpanProcessor` in front of the
 * OTLP/gRPC `OTLPTraceExporter`.
 *
 * The OpenTelemetry SDK is loaded by {@linkcode OtlpSpanSink.create} with a
 * dynamic import, so importing this module costs nothing when tracing is off.
 *
 * @example
 * ```ts
 * import { OtlpSpanSink } from "./otlp_sink.ts";
 * import { Tracer } from "./tracer.ts";
 *
 * const sink = await OtlpSpanSink.create({
 *   endpoint: "http://127.0.0.1:4317",
 *   resource: { "service.name": "oao-runtime", env: "staging" },
 *   timeoutMillis: 1_000,
 *   onError: () => {}, // no collector in this example
 * });
 * const tracer = new Tracer(sink);
 * tracer.startSpan("oao.step.1").end();
 * await sink.shutdown(); // flushes what is buffered
 * ```
 *
 * @module
 */
import type { Resource } from "@opentelemetry/resources";
import type { BatchSpanProcessor, SpanExporter } from "@opentelemetry/sdk-trace-base";
import type { AttributeValue, SpanData, SpanSink } from "./span_data.ts";
import type { BatchConfig } from "./otel_env.ts";
import { type InstrumentationScope, invalidSpanReason, toReadableSpan } from "./_readable_span.ts";

export type { InstrumentationScope } from "./_readable_span.ts";

/** Options of {@linkcode OtlpSpanSink.create}. */
export interface OtlpSpanSinkOptions {
  /** Collector URL: `http://host:4317` (plaintext) or `https://host:4317` (TLS). */
  endpoint: string;
  /** gRPC metadata sent with every export, e.g. an API key. @default {{}} */
  headers?: Record<string, string>;
  /** Resource attributes of every span. @default {{ "service.name": "oao" }} */
  resource?: Record<string, AttributeValue>;
  /** Export timeout per request, ms. @default {10000} */
  timeoutMillis?: number;
  /** Payload compression. @default {"none"} */
  compression?: "gzip" | "none";
  /** Batch span processor settings. @default {{}} */
  batch?: BatchConfig;
  /** Instrumentation scope of the spans. @default {{ name: "@oao/runtime" }} */
  scope?: InstrumentationScope;
  /**
   * Told about export failures (once per run of consecutive failures) and
   * about the first invalid span data dropped. Failures never throw into the
   * caller of `export`, `flush` or `shutdown`.
   * @default {a warning on the "oao.tracing" logger}
   */
  onError?: (error: Error) => void;
}

type ExportResult = Parameters<Parameters<SpanExporter["export"]>[1]>[0];

const EXPORT_SUCCESS = 0; // ExportResultCode.SUCCESS in @opentelemetry/core

interface _Parts {
  processor: BatchSpanProcessor;
  exporter: SpanExporter;
  resource: Resource;
  scope: InstrumentationScope;
  onError: (error: Error) => void;
}

/** A {@linkcode SpanSink} exporting over OTLP/gRPC with batching. */
export class OtlpSpanSink implements SpanSink {
  #processor: BatchSpanProcessor;
  #exporter: SpanExporter;
  #target: { resource: Resource; scope: InstrumentationScope };
  #onError: (error: Error) => void;
  #failing = false;
  #dropped = 0;
  #reportedInvalid = false;
  #shutdown: Promise<void> | undefined;

  private constructor(parts: _Parts) {
    this.#processor = parts.processor;
    this.#exporter = parts.exporter;
    this.#target = { resource: parts.resource, scope: parts.scope };
    this.#onError = parts.onError;
  }

  /**
   * Loads the OpenTelemetry SDK and creates a sink. No connection is made
   * until the first batch is exported.
   *
   * @param options Endpoint, resource, batching and error reporting.
   * @returns The sink; call `shutdown()` before the process exits.
   * @throws {RangeError} When `endpoint` is not an `http://` or `https://` URL.
   *
   * @example
   * ```ts
   * import { OtlpSpanSink } from "./otlp_sink.ts";
   * const sink = await OtlpSpanSink.create({ endpoint: "http://127.0.0.1:4317" });
   * await sink.shutdown();
   * ```
   */
  static async create(options: OtlpSpanSinkOptions): Promise<OtlpSpanSink> {
    const protocol = URL.parse(options.endpoint)?.protocol;
    if (protocol !== "http:" && protocol !== "https:") {
      throw new RangeError(
        `Invalid OTLP endpoint "${options.endpoint.replace(/\/\/[^/@]*@/, "//***@")}": ` +
          `expected an http:// or https:// URL such as "http://jaeger:4317"`,
      );
    }
    const modules = await Promise.all([
      import("@opentelemetry/exporter-trace-otlp-grpc"),
      import("@opentelemetry/sdk-trace-base"),
      import("@opentelemetry/resources"),
    ]);
    const [{ OTLPTraceExporter }, { BatchSpanProcessor }, { resourceFromAttributes }] = modules;
    const onError = options.onError ?? await _defaultOnError(options.endpoint);
    const config: ConstructorParameters<typeof OTLPTraceExporter>[0] & object = {
      url: options.endpoint,
    };
    if (options.timeoutMillis !== undefined) config.timeoutMillis = options.timeoutMillis;
    if (options.compression !== undefined) {
      // CompressionAlgorithm is a string enum whose values are "gzip" and "none".
      config.compression = options.compression as unknown as NonNullable<typeof config.compression>;
    }
    const headers = Object.entries(options.headers ?? {});
    if (headers.length > 0) {
      const { createEmptyMetadata } = await import("@opentelemetry/otlp-grpc-exporter-base");
      const metadata = createEmptyMetadata();
      for (const [key, value] of headers) metadata.set(key.toLowerCase(), value);
      config.metadata = metadata;
    }
    const exporter = new OTLPTraceExporter(config);
    const sink: { current?: OtlpSpanSink } = {};
    const observed: SpanExporter = {
      export: (spans, done) =>
        exporter.export(spans, (result: ExportResult) => {
          if (sink.current) sink.current.#observe(result);
          done(result);
        }),
      shutdown: () => exporter.shutdown(),
      forceFlush: () => exporter.forceFlush(),
    };
    const processor = new BatchSpanProcessor(observed, { ...options.batch });
    const resource = resourceFromAttributes({
      "service.name": "oao",
      ...options.resource,
    });
    sink.current = new OtlpSpanSink({
      processor,
      exporter: observed,
      resource,
      scope: options.scope ?? { name: "@oao/runtime" },
      onError,
    });
    return sink.current;
  }

  /** Spans rejected as invalid since the sink was created. */
  get droppedSpans(): number {
    return this.#dropped;
  }

  /**
   * Queues finished spans for export; never blocks or throws. Invalid span
   * data (bad ids, times) is dropped and reported through `onError`. Spans
   * given after `shutdown()` are ignored.
   *
   * @param spans Finished spans, from the host or a worker.
   *
   * @example
   * ```ts
   * import { OtlpSpanSink } from "./otlp_sink.ts";
   * const sink = await OtlpSpanSink.create({
   *   endpoint: "http://127.0.0.1:4317",
   *   timeoutMillis: 1_000,
   *   onError: () => {}, // no collector in this example
   * });
   * sink.export([{
   *   name: "oao.tool.search", traceId: "4bf92f3577b34da6a3ce929d0e0e4736", spanId: "00f067aa0ba902b7",
   *   kind: "internal", startTime: Date.now() - 5, endTime: Date.now(),
   *   attributes: {}, events: [], status: { code: "ok" },
   * }]);
   * await sink.shutdown();
   * ```
   */
  export(spans: SpanData[]): void {
    if (this.#shutdown) return;
    for (const span of spans) {
      const reason = invalidSpanReason(span);
      if (reason !== undefined) {
        this.#dropped++;
        if (!this.#reportedInvalid) {
          this.#reportedInvalid = true;
          this.#notify(new TypeError(`Dropped invalid span data: ${reason}`));
        }
        continue;
      }
      this.#processor.onEnd(toReadableSpan(span, this.#target));
    }
  }

  /**
   * Exports everything buffered and waits for requests in flight. Failures
   * go to `onError`; the promise still resolves.
   *
   * @returns Resolves when the buffer has been sent (or failed to be).
   *
   * @example
   * ```ts
   * import { OtlpSpanSink } from "./otlp_sink.ts";
   * const sink = await OtlpSpanSink.create({ endpoint: "http://127.0.0.1:4317", onError: () => {} });
   * await sink.flush();
   * await sink.shutdown();
   * ```
   */
  async flush(): Promise<void> {
    if (this.#shutdown) return await this.#shutdown;
    try {
      await this.#processor.forceFlush();
      await this.#exporter.forceFlush?.();
    } catch (error) {
      this.#report(error);
    }
  }

  /**
   * Flushes, then closes the gRPC channel. Idempotent; later exports are ignored.
   *
   * @returns Resolves when done; export failures go to `onError`.
   *
   * @example
   * ```ts
   * import { OtlpSpanSink } from "./otlp_sink.ts";
   * const sink = await OtlpSpanSink.create({ endpoint: "http://127.0.0.1:4317" });
   * await sink.shutdown();
   * await sink.shutdown(); // no-op
   * ```
   */
  shutdown(): Promise<void> {
    this.#shutdown ??= this.#processor.shutdown().catch((error) => this.#report(error));
    return this.#shutdown;
  }

  #observe(result: ExportResult): void {
    if (result.code === EXPORT_SUCCESS) this.#failing = false;
    else this.#report(result.error ?? new Error("Span export failed"));
  }

  #report(error: unknown): void {
    if (this.#failing) return;
    this.#failing = true;
    this.#notify(error instanceof Error ? error : new Error(String(error)));
  }

  #notify(error: Error): void {
    try {
      this.#onError(error);
    } catch {
      // A reporting callback must not break export.
    }
  }
}

async function _defaultOnError(endpoint: string): Promise<(error: Error) => void> {
  const { getOaoLogger } = await import("../logging/logger.ts");
  const logger = getOaoLogger("tracing");
  return (error) =>
    logger.warn("Span export to {endpoint} failed: {error}", {
      endpoint,
      error: error.message,
    });
}
