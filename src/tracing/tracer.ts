/**
 * The runtime's tracer: starts spans from a parent {@linkcode TraceContext}
 * and hands finished ones to a {@linkcode SpanSink}. When no sink is set,
 * spans are non-recording: they still propagate context (every message
 * carries a `traceparent`) but record and export nothing.
 *
 * @example
 * ```ts
 * import { Tracer } from "./tracer.ts";
 * import type { SpanData } from "./span_data.ts";
 * const finished: SpanData[] = [];
 * const tracer = new Tracer({ export: (s) => finished.push(...s), flush: async () => {}, shutdown: async () => {} });
 * const span = tracer.startSpan("oao.step.1", { attributes: { "oao.step": 1 } });
 * span.end();
 * console.assert(finished[0]?.name === "oao.step.1");
 * ```
 *
 * @module
 */
import type { Attributes, SpanData, SpanSink } from "./span_data.ts";
import { newSpanId, newTraceContext, type TraceContext } from "./trace_context.ts";
import { type ErrorInfo, toErrorInfo } from "../oao_error.ts";

/** Options of {@linkcode Tracer.startSpan}. */
export interface StartSpanOptions {
  /** Parent context; a new trace is started when absent. */
  parent?: TraceContext | undefined;
  /** Initial attributes. */
  attributes?: Attributes;
  /** Span kind. @default {"internal"} */
  kind?: SpanData["kind"];
  /** Start time, epoch ms. @default {now} */
  startTime?: number;
}

/** A span being recorded. */
export interface Span {
  /** This span's context, to pass to children and across boundaries. */
  readonly context: TraceContext;
  /** Whether anything is recorded. */
  readonly recording: boolean;
  /** Sets one attribute. */
  setAttribute(key: string, value: Attributes[string]): void;
  /** Adds a span event. */
  addEvent(name: string, attributes?: Attributes): void;
  /** Records an exception event and sets status ERROR. */
  recordException(error: unknown): void;
  /** Sets the status. */
  setStatus(code: "ok" | "error", message?: string): void;
  /** Ends the span (idempotent). */
  end(endTime?: number): void;
}

/**
 * Hooks that connect the tracer to another tracing API's current context —
 * OpenTelemetry's, with `traceContextFromActiveSpan` and `withOaoSpanContext`
 * (what `createTracingFromEnv` installs). Without them OAO's spans only
 * follow the parents they are given.
 */
export interface TracerOptions {
  /**
   * The caller's current context (e.g. the active OpenTelemetry span's), the
   * parent of an execution started without `trace` or `traceparent`.
   * @default {() => undefined}
   */
  activeContext?: () => TraceContext | undefined;
  /**
   * Runs host code under one of OAO's spans (a tool's `run`) with that span's
   * context as the current context, so that spans the code creates with the
   * other API are children of OAO's span.
   * @default {(context, fn) => fn()}
   */
  runInContext?: <T>(context: TraceContext, fn: () => T) => T;
}

/**
 * The attributes of a span's `exception` event, as OpenTelemetry's semantic
 * conventions name them. Internal: shared by the tracer's spans and the
 * worker's receive spans.
 *
 * @param info The error.
 * @returns `exception.type`, `exception.message` and, when known,
 *   `exception.stacktrace`.
 */
export function _exceptionAttributes(info: ErrorInfo): Attributes {
  const attributes: Attributes = {
    "exception.type": info.name,
    "exception.message": info.message,
  };
  if (info.stack) attributes["exception.stacktrace"] = info.stack;
  return attributes;
}

/** Epoch milliseconds with sub-millisecond precision. */
export function preciseNow(): number {
  return performance.timeOrigin + performance.now();
}

class RecordingSpan implements Span {
  readonly context: TraceContext;
  readonly recording = true;
  #data: SpanData;
  #sink: SpanSink;
  #ended = false;

  constructor(
    name: string,
    context: TraceContext,
    parentSpanId: string | undefined,
    options: StartSpanOptions,
    sink: SpanSink,
  ) {
    this.context = context;
    this.#sink = sink;
    this.#data = {
      name,
      traceId: context.traceId,
      spanId: context.spanId,
      kind: options.kind ?? "internal",
      startTime: options.startTime ?? preciseNow(),
      endTime: 0,
      attributes: { ...options.attributes },
      events: [],
      status: { code: "unset" },
    };
    if (parentSpanId) this.#data.parentSpanId = parentSpanId;
    if (context.tracestate) this.#data.tracestate = context.tracestate;
  }

  setAttribute(key: string, value: Attributes[string]): void {
    if (!this.#ended) this.#data.attributes[key] = value;
  }

  addEvent(name: string, attributes?: Attributes): void {
    if (this.#ended) return;
    if (attributes) attributes = { ...attributes };
    this.#data.events.push(
      attributes ? { name, time: preciseNow(), attributes } : { name, time: preciseNow() },
    );
  }

  recordException(error: unknown): void {
    const info: ErrorInfo = toErrorInfo(error);
    this.addEvent("exception", _exceptionAttributes(info));
    this.setStatus("error", info.message);
  }

  setStatus(code: "ok" | "error", message?: string): void {
    if (this.#ended) return;
    this.#data.status = message === undefined ? { code } : { code, message };
  }

  end(endTime?: number): void {
    if (this.#ended) return;
    this.#ended = true;
    this.#data.endTime = endTime ?? preciseNow();
    this.#sink.export([this.#data]);
  }
}

class NonRecordingSpan implements Span {
  readonly recording = false;
  constructor(readonly context: TraceContext) {}
  setAttribute(): void {}
  addEvent(): void {}
  recordException(): void {}
  setStatus(): void {}
  end(): void {}
}

/** Creates spans; recording only when a sink is configured. */
export class Tracer {
  #sink: SpanSink | undefined;
  #activeContext: (() => TraceContext | undefined) | undefined;
  #runInContext: (<T>(context: TraceContext, fn: () => T) => T) | undefined;

  /**
   * @param sink Where finished spans go; omit to disable recording.
   * @param options Hooks into another tracing API's current context.
   */
  constructor(sink?: SpanSink, options: TracerOptions = {}) {
    this.#sink = sink;
    this.#activeContext = options.activeContext;
    this.#runInContext = options.runInContext;
  }

  /** Whether spans are recorded and exported. */
  get enabled(): boolean {
    return this.#sink !== undefined;
  }

  /** The sink, when enabled. */
  get sink(): SpanSink | undefined {
    return this.#sink;
  }

  /**
   * The caller's current context, from the `activeContext` hook.
   *
   * @returns The context, or `undefined` without a hook or an active span.
   *
   * @example
   * ```ts
   * import { Tracer } from "./tracer.ts";
   * console.assert(new Tracer().activeContext() === undefined);
   * ```
   */
  activeContext(): TraceContext | undefined {
    return this.#activeContext?.();
  }

  /**
   * Calls `fn` with `context` as the current context of the `runInContext`
   * hook's tracing API; just calls it without a hook.
   *
   * @param context The span context to make current.
   * @param fn The code to run.
   * @returns What `fn` returns.
   * @throws What `fn` throws.
   *
   * @example
   * ```ts
   * import { Tracer } from "./tracer.ts";
   * const tracer = new Tracer();
   * const span = tracer.startSpan("oao.tool.search");
   * console.assert(tracer.runInContext(span.context, () => 42) === 42);
   * ```
   */
  runInContext<T>(context: TraceContext, fn: () => T): T {
    return this.#runInContext ? this.#runInContext(context, fn) : fn();
  }

  /**
   * Exports spans that are already finished (the spans a killed process
   * never exported, rebuilt from its log); nothing when recording is off.
   *
   * @param spans The finished spans.
   *
   * @example
   * ```ts
   * import { Tracer } from "./tracer.ts";
   * new Tracer().exportFinished([]); // recording is off: nothing happens
   * ```
   */
  exportFinished(spans: SpanData[]): void {
    if (this.#sink && spans.length > 0) this.#sink.export(spans);
  }

  /**
   * Starts a span as a child of `options.parent` (or of a new trace).
   *
   * @param name Span name.
   * @param options Parent, attributes, kind, start time.
   * @returns The span; call `end()` when done.
   */
  startSpan(name: string, options: StartSpanOptions = {}): Span {
    const parent = options.parent;
    if (!this.#sink || (parent && !parent.sampled)) {
      const context: TraceContext = parent
        ? { traceId: parent.traceId, spanId: newSpanId(), sampled: parent.sampled }
        : newTraceContext(this.#sink !== undefined);
      if (parent?.tracestate) context.tracestate = parent.tracestate;
      return new NonRecordingSpan(context);
    }
    const context: TraceContext = parent
      ? { traceId: parent.traceId, spanId: newSpanId(), sampled: true }
      : newTraceContext(true);
    if (parent?.tracestate) context.tracestate = parent.tracestate;
    return new RecordingSpan(name, context, parent?.spanId, options, this.#sink);
  }
}
