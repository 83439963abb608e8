/**
 * {@linkcode OtlpSpanSink}: the host's span exporter. It accepts
 * {@linkcode SpanData} from anywhere (the host's tracer, or workers, which
 * have no network permission) and the packed receive spans of actor workers
 * ({@linkcode PackedSpans}), queues them, and exports them in batches over
 * OTLP/gRPC, encoding each batch straight into one protobuf request.
 *
 * Batching follows the OpenTelemetry batch span processor (as the Ruby SDK
 * does it): `scheduledDelayMillis` after the first queued span, or at once
 * when half of `maxQueueSize` spans are queued, everything queued is sent in
 * requests of up to `maxExportBatchSize` spans; when the queue is full,
 * further spans are dropped (and counted in
 * {@linkcode OtlpSpanSink.queueDroppedSpans}) rather than slowing actors
 * down. The gRPC transport (with retries, gzip,
 * metadata and TLS) is OpenTelemetry's, loaded by
 * {@linkcode OtlpSpanSink.create} with a dynamic import, so importing this
 * module costs nothing when tracing is off.
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
import type { AttributeValue, PackedSpans, SpanData, SpanSink } from "./span_data.ts";
import { BATCH_DEFAULTS, type BatchConfig } from "./otel_env.ts";
import { ProtoWriter } from "./_protobuf_writer.ts";
import {
  encodeRequest,
  encodeRequestHeader,
  type InstrumentationScope,
  invalidSpanReason,
  type RequestHeader,
  writePackedSpans,
  writeSpan,
} from "./_otlp_encode.ts";
import { invalidPackedReason } from "./_packed_spans.ts";

export type { InstrumentationScope } from "./_otlp_encode.ts";

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
  /** Batching settings. @default {BATCH_DEFAULTS} */
  batch?: BatchConfig;
  /** Instrumentation scope of the spans. @default {{ name: "@oao/runtime" }} */
  scope?: InstrumentationScope;
  /**
   * Told about export failures (once per run of consecutive failures),
   * about the first invalid span data dropped, and when the queue is full
   * (once until it empties). Failures never throw into the
   * caller of `export`, `flush` or `shutdown`.
   * @default {a warning on the "oao.tracing" logger}
   */
  onError?: (error: Error) => void;
}

const MAX_IN_FLIGHT = 2;
const MAX_REQUEST_BYTES = 3 * 1024 * 1024; // below the 4 MiB collectors accept by default
const PACKED_STEP = 256;

interface _Batch {
  bytes: Uint8Array;
  count: number;
  /** The exporter's metrics count a batch's items with `length`. */
  length: number;
}

type _Item = { spans: SpanData[]; next: number } | { chunk: PackedSpans; from: number; to: number };

interface _ExportResult {
  code: number;
  error?: Error;
}

interface _Delegate {
  export(batch: _Batch, done: (result: _ExportResult) => void): void;
  forceFlush(): Promise<void>;
  shutdown(): Promise<void>;
}

interface _Parts {
  delegate: _Delegate;
  untraced: (fn: () => void) => void;
  header: RequestHeader;
  schemaUrl: string | undefined;
  batch: Required<BatchConfig>;
  onError: (error: Error) => void;
}

const EXPORT_SUCCESS = 0; // ExportResultCode.SUCCESS in @opentelemetry/core

/** A {@linkcode SpanSink} exporting over OTLP/gRPC with batching. */
export class OtlpSpanSink implements SpanSink {
  #delegate: _Delegate;
  #untraced: (fn: () => void) => void;
  #header: RequestHeader;
  #schemaUrl: string | undefined;
  #batch: Required<BatchConfig>;
  #onError: (error: Error) => void;
  #writer = new ProtoWriter(256 * 1024);
  #queue: _Item[] = [];
  #queued = 0;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #exporting = false;
  #overflowing = false; // reported once per episode of a full queue
  #inFlight = new Set<Promise<void>>();
  #failing = false;
  #dropped = 0;
  #queueDropped = 0;
  #exported = 0;
  #failed = 0;
  #reportedInvalid = false;
  #closed = false;
  #shutdown: Promise<void> | undefined;

  private constructor(parts: _Parts) {
    this.#delegate = parts.delegate;
    this.#untraced = parts.untraced;
    this.#header = parts.header;
    this.#schemaUrl = parts.schemaUrl;
    this.#batch = parts.batch;
    this.#onError = parts.onError;
  }

  /**
   * Loads the OpenTelemetry gRPC transport and creates a sink. No
   * connection is made until the first batch is exported.
   *
   * @param options Endpoint, resource, batching and error reporting.
   * @returns The sink; call `shutdown()` before the process exits.
   * @throws {RangeError} When `endpoint` is not an `http://` or `https://` URL,
   *   or a batch setting is not a positive integer (`scheduledDelayMillis` may be 0).
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
    const batch = _batchConfig(options.batch);
    const grpc = await import("@opentelemetry/otlp-grpc-exporter-base");
    const { OTLPTraceExporter } = await import("@opentelemetry/exporter-trace-otlp-grpc");
    const { context } = await import("@opentelemetry/api");
    const { suppressTracing } = await import("@opentelemetry/core");
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
      const metadata = grpc.createEmptyMetadata();
      for (const [key, value] of headers) metadata.set(key.toLowerCase(), value);
      config.metadata = metadata;
    }
    // The export goes through @opentelemetry/exporter-trace-otlp-grpc's own
    // OTLPTraceExporter: its gRPC transport, retries, timeout, compression,
    // metadata and TLS. Only its serializer is replaced: spans arrive here as
    // OAO's plain or packed span data (from workers too), already encoded as
    // the same ExportTraceServiceRequest by OAO's protobuf writer — 20–40×
    // cheaper than building ReadableSpans for the stock serializer.
    const exporter = new OTLPTraceExporter(config);
    const internals = (exporter as unknown as { _delegate?: { _serializer?: unknown } })._delegate;
    if (!internals || typeof internals !== "object" || !("_serializer" in internals)) {
      throw new Error(
        "Cannot use @opentelemetry/exporter-trace-otlp-grpc: its exporter no longer has the export delegate " +
          "this sink plugs its encoder into (check the pinned version in deno.json)",
      );
    }
    internals._serializer = {
      serializeRequest: (request: _Batch) => request.bytes,
      deserializeResponse: () => ({}),
    };
    const scope = options.scope ?? { name: "@oao/runtime" };
    return new OtlpSpanSink({
      delegate: exporter as unknown as _Delegate,
      // As OpenTelemetry's span processors do: instrumented code the export
      // runs (gRPC, HTTP/2) must not record spans about exporting spans.
      untraced: (fn) => context.with(suppressTracing(context.active()), fn),
      header: encodeRequestHeader({ "service.name": "oao", ...options.resource }, scope),
      schemaUrl: scope.schemaUrl,
      batch,
      onError,
    });
  }

  /** Spans rejected as invalid since the sink was created. */
  get droppedSpans(): number {
    return this.#dropped;
  }

  /** Spans dropped because `maxQueueSize` spans were already waiting. */
  get queueDroppedSpans(): number {
    return this.#queueDropped;
  }

  /** Spans the collector accepted since the sink was created. */
  get exportedSpans(): number {
    return this.#exported;
  }

  /** Spans whose export failed (after the transport's retries). */
  get failedSpans(): number {
    return this.#failed;
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
    if (this.#closed) return;
    const valid: SpanData[] = [];
    for (const span of spans) {
      const reason = invalidSpanReason(span);
      if (reason === undefined) valid.push(span);
      else this.#invalid(1, reason);
    }
    if (valid.length > 0) this.#enqueue({ spans: valid, next: 0 }, valid.length);
  }

  /**
   * Queues packed receive spans from actor workers; never blocks or throws.
   * A chunk that is not valid is dropped whole and reported through `onError`.
   *
   * @param chunks Packed spans, as a worker sent them.
   *
   * @example
   * ```ts
   * import { OtlpSpanSink } from "./otlp_sink.ts";
   * const sink = await OtlpSpanSink.create({ endpoint: "http://127.0.0.1:4317", onError: () => {} });
   * sink.exportPacked([]);
   * await sink.shutdown();
   * ```
   */
  exportPacked(chunks: PackedSpans[]): void {
    if (this.#closed || !Array.isArray(chunks)) return;
    for (const chunk of chunks) {
      const reason = invalidPackedReason(chunk);
      if (reason !== undefined) {
        const count = (chunk as { count?: unknown })?.count;
        this.#invalid(typeof count === "number" && count > 0 ? count : 1, reason);
      } else if (chunk.count > 0) {
        this.#enqueue({ chunk, from: 0, to: chunk.count }, chunk.count);
      }
    }
  }

  /**
   * Exports everything queued and waits for requests in flight. Failures
   * go to `onError`; the promise still resolves.
   *
   * @returns Resolves when the queue has been sent (or failed to be).
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
    await this.#drain();
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
    this.#shutdown ??= (async () => {
      this.#closed = true;
      await this.#drain();
      try {
        await this.#delegate.shutdown();
      } catch (error) {
        this.#report(error);
      }
    })();
    return this.#shutdown;
  }

  #invalid(count: number, reason: string): void {
    this.#dropped += count;
    if (this.#reportedInvalid) return;
    this.#reportedInvalid = true;
    this.#notify(new TypeError(`Dropped invalid span data: ${reason}`));
  }

  #enqueue(item: _Item, count: number): void {
    const room = this.#batch.maxQueueSize - this.#queued;
    if (count > room) {
      this.#queueDropped += count - Math.max(room, 0);
      if (!this.#overflowing) {
        this.#overflowing = true;
        this.#notify(
          new RangeError(
            `Span queue full: dropping spans until the exporter catches up (maxQueueSize ${this.#batch.maxQueueSize}, OTEL_BSP_MAX_QUEUE_SIZE)`,
          ),
        );
      }
      if (room <= 0) return;
      if ("spans" in item) item.spans.length = room;
      else item.to = item.from + room;
      count = room;
    }
    this.#queue.push(item);
    this.#queued += count;
    if (this.#queued * 2 >= this.#batch.maxQueueSize) this.#exporting = true;
    this.#pump();
  }

  // During an export cycle (started by the scheduled delay, a half-full
  // queue, flush or shutdown), sends batch after batch, at most
  // MAX_IN_FLIGHT at a time, until the queue is empty; otherwise arms the
  // scheduled delay for what is queued.
  #pump(): void {
    if (this.#exporting) {
      while (this.#queued > 0 && this.#inFlight.size < MAX_IN_FLIGHT) {
        this.#send(this.#takeBatch());
      }
      if (this.#queued === 0) this.#exporting = this.#overflowing = false;
    }
    if (this.#queued === 0 || this.#exporting) {
      if (this.#timer !== undefined) clearTimeout(this.#timer);
      this.#timer = undefined;
    } else if (this.#timer === undefined) {
      const timer = setTimeout(() => {
        this.#timer = undefined;
        this.#exporting = true;
        this.#pump();
      }, this.#batch.scheduledDelayMillis);
      Deno.unrefTimer(timer);
      this.#timer = timer;
    }
  }

  #takeBatch(): _Batch {
    const max = this.#batch.maxExportBatchSize;
    let count = 0;
    const bytes = encodeRequest(this.#header, this.#schemaUrl, (w: ProtoWriter) => {
      while (count < max && w.pos < MAX_REQUEST_BYTES) {
        const item = this.#queue[0];
        if (!item) break;
        if ("spans" in item) {
          writeSpan(w, item.spans[item.next++]!);
          count++;
          if (item.next === item.spans.length) this.#queue.shift();
        } else {
          const to = Math.min(item.to, item.from + max - count, item.from + PACKED_STEP);
          writePackedSpans(w, item.chunk, { from: item.from, to });
          count += to - item.from;
          item.from = to;
          if (item.from === item.to) this.#queue.shift();
        }
      }
    }, this.#writer);
    this.#queued -= count;
    return { bytes: bytes.slice(), count, length: count };
  }

  #send(batch: _Batch): void {
    let settle!: () => void;
    const done = new Promise<void>((resolve) => (settle = resolve));
    let finished = false;
    const timer = setTimeout(
      () => finish({ code: 1, error: new Error("Span export timed out") }),
      this.#batch.exportTimeoutMillis,
    );
    Deno.unrefTimer(timer);
    const finish = (result: _ExportResult) => {
      if (finished) return;
      finished = true;
      clearTimeout(timer);
      this.#observe(result, batch.count);
      this.#inFlight.delete(done);
      settle();
      this.#pump();
    };
    this.#inFlight.add(done);
    try {
      this.#untraced(() => this.#delegate.export(batch, finish));
    } catch (error) {
      finish({ code: 1, error: error instanceof Error ? error : new Error(String(error)) });
    }
  }

  async #drain(): Promise<void> {
    while (this.#queued > 0 || this.#inFlight.size > 0) {
      if (this.#queued > 0) this.#exporting = true;
      this.#pump();
      if (this.#inFlight.size > 0) await Promise.race(this.#inFlight);
    }
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    try {
      await this.#delegate.forceFlush();
    } catch (error) {
      this.#report(error);
    }
  }

  #observe(result: _ExportResult, count: number): void {
    if (result.code === EXPORT_SUCCESS) {
      this.#failing = false;
      this.#exported += count;
    } else {
      this.#failed += count;
      this.#report(result.error ?? new Error("Span export failed"));
    }
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

function _batchConfig(batch: BatchConfig = {}): Required<BatchConfig> {
  const config = { ...BATCH_DEFAULTS };
  for (const key of Object.keys(BATCH_DEFAULTS) as (keyof BatchConfig)[]) {
    const value = batch[key];
    if (value === undefined) continue;
    const min = key === "scheduledDelayMillis" ? 0 : 1;
    if (!Number.isSafeInteger(value) || value < min) {
      throw new RangeError(
        `Invalid batch setting ${key} ${
          JSON.stringify(value)
        }: expected an integer of at least ${min}`,
      );
    }
    config[key] = value;
  }
  if (batch.maxQueueSize !== undefined && batch.maxExportBatchSize === undefined) {
    config.maxExportBatchSize = Math.min(config.maxExportBatchSize, config.maxQueueSize);
  }
  if (config.maxExportBatchSize > config.maxQueueSize) {
    throw new RangeError(
      `Invalid batch setting maxExportBatchSize ${config.maxExportBatchSize}: it exceeds maxQueueSize ${config.maxQueueSize}`,
    );
  }
  return config;
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
