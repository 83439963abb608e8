/**
 * Interop with the OpenTelemetry API's context (`@opentelemetry/api`), for
 * applications that embed OAO and are instrumented with OpenTelemetry:
 * continue the application's trace in an execution
 * ({@linkcode traceContextFromActiveSpan}), and make an OAO span the active
 * OpenTelemetry span so that spans the application creates under it are its
 * children ({@linkcode withOaoSpanContext}). `createTracingFromEnv` installs
 * both in its tracer, so executions and tools do this by themselves.
 *
 * The OpenTelemetry context only propagates through `await` when the
 * application registered an async context manager (e.g.
 * `AsyncLocalStorageContextManager` from `@opentelemetry/context-async-hooks`,
 * or Deno's own with `OTEL_DENO=true`); without one there is no active span
 * and these functions change nothing.
 *
 * @example
 * ```ts
 * import { traceContextFromActiveSpan, withOaoSpanContext } from "./otel_context.ts";
 * import { newTraceContext } from "./trace_context.ts";
 *
 * const toolSpan = newTraceContext(true); // e.g. the context of an `oao.tool.<name>` span
 * withOaoSpanContext(toolSpan, () => {
 *   // Spans started here with the OpenTelemetry API are children of toolSpan
 *   // (when the application registered a context manager).
 *   const active = traceContextFromActiveSpan();
 *   console.assert(active === undefined || active.spanId === toolSpan.spanId);
 * });
 * ```
 *
 * @module
 */
import {
  context,
  createTraceState,
  isSpanContextValid,
  type SpanContext,
  trace,
  TraceFlags,
} from "@opentelemetry/api";
import type { TraceContext } from "./trace_context.ts";

const TRACE_ID = /^(?!0{32})[0-9a-f]{32}$/;
const SPAN_ID = /^(?!0{16})[0-9a-f]{16}$/;

/**
 * The context of the active OpenTelemetry span, to pass as the parent of an
 * execution (`orchestrator.run(agent, task, { trace })`).
 *
 * @returns The active span's context, or `undefined` when no valid span is
 *   active (or no context manager is registered).
 *
 * @example
 * ```ts
 * import { traceContextFromActiveSpan } from "./otel_context.ts";
 * // Outside any span: nothing to continue.
 * console.assert(traceContextFromActiveSpan() === undefined);
 * ```
 */
export function traceContextFromActiveSpan(): TraceContext | undefined {
  const spanContext = trace.getSpanContext(context.active());
  return spanContext ? fromOtelSpanContext(spanContext) : undefined;
}

/**
 * Converts an OpenTelemetry span context to OAO's trace context.
 *
 * @param spanContext The OpenTelemetry span context.
 * @returns The context (ids in lower case, `sampled` from the trace flags,
 *   `tracestate` serialized), or `undefined` when the span context is invalid.
 *
 * @example
 * ```ts
 * import { fromOtelSpanContext } from "./otel_context.ts";
 * const ctx = fromOtelSpanContext({
 *   traceId: "4bf92f3577b34da6a3ce929d0e0e4736",
 *   spanId: "00f067aa0ba902b7",
 *   traceFlags: 1,
 * });
 * console.assert(ctx?.sampled === true);
 * ```
 */
export function fromOtelSpanContext(spanContext: SpanContext): TraceContext | undefined {
  if (!isSpanContextValid(spanContext)) return undefined;
  const ctx: TraceContext = {
    traceId: spanContext.traceId.toLowerCase(),
    spanId: spanContext.spanId.toLowerCase(),
    sampled: (spanContext.traceFlags & TraceFlags.SAMPLED) === TraceFlags.SAMPLED,
  };
  const tracestate = spanContext.traceState?.serialize();
  if (tracestate) ctx.tracestate = tracestate;
  return ctx;
}

/**
 * Converts OAO's trace context to an OpenTelemetry span context. The span is
 * taken as local (`isRemote: false`): OAO's spans live in the same process.
 *
 * @param ctx OAO's trace context.
 * @returns The span context, sampled when `ctx.sampled`.
 * @throws {TypeError} When the trace id is not 32 or the span id not 16
 *   lower-case hex characters, or either is all zeros.
 *
 * @example
 * ```ts
 * import { toOtelSpanContext } from "./otel_context.ts";
 * const spanContext = toOtelSpanContext({
 *   traceId: "4bf92f3577b34da6a3ce929d0e0e4736",
 *   spanId: "00f067aa0ba902b7",
 *   sampled: true,
 *   tracestate: "vendor=abc",
 * });
 * console.assert(spanContext.traceFlags === 1);
 * console.assert(spanContext.traceState?.get("vendor") === "abc");
 * ```
 */
export function toOtelSpanContext(ctx: TraceContext): SpanContext {
  if (typeof ctx?.traceId !== "string" || !TRACE_ID.test(ctx.traceId)) {
    throw new TypeError(
      `Invalid trace context: trace id "${ctx?.traceId}" is not 32 lower-case hex characters (not all zeros)`,
    );
  }
  if (typeof ctx.spanId !== "string" || !SPAN_ID.test(ctx.spanId)) {
    throw new TypeError(
      `Invalid trace context: span id "${ctx.spanId}" is not 16 lower-case hex characters (not all zeros)`,
    );
  }
  const spanContext: SpanContext = {
    traceId: ctx.traceId,
    spanId: ctx.spanId,
    traceFlags: ctx.sampled ? TraceFlags.SAMPLED : TraceFlags.NONE,
    isRemote: false,
  };
  if (ctx.tracestate) spanContext.traceState = createTraceState(ctx.tracestate);
  return spanContext;
}

/**
 * Calls `fn` with an OAO span as the active OpenTelemetry span
 * (`trace.setSpanContext` and `context.with`), so that spans started in it
 * with the OpenTelemetry API — synchronously, or after `await` when a
 * context manager is registered — are children of that span. Tools need not
 * call it: the tracer of `createTracingFromEnv` runs every tool this way
 * under its `oao.tool.<name>` span.
 *
 * @param ctx The OAO span's context.
 * @param fn The code to run.
 * @returns What `fn` returns (its promise, for an async function).
 * @throws {TypeError} When `ctx` is not a valid trace context.
 * @throws What `fn` throws.
 *
 * @example
 * ```ts
 * import { withOaoSpanContext } from "./otel_context.ts";
 * const ctx = { traceId: "4bf92f3577b34da6a3ce929d0e0e4736", spanId: "00f067aa0ba902b7", sampled: true };
 * const answer = await withOaoSpanContext(ctx, async () => 42);
 * console.assert(answer === 42);
 * ```
 */
export function withOaoSpanContext<T>(ctx: TraceContext, fn: () => T): T {
  const spanContext = toOtelSpanContext(ctx);
  return context.with(trace.setSpanContext(context.active(), spanContext), fn);
}
