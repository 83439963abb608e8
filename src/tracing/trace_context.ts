/**
 * W3C Trace Context (`traceparent`, `tracestate`) for message envelopes, jobs
 * and events. Dependency-free so that it also runs inside actor workers.
 *
 * @example
 * ```ts
 * import { formatTraceparent, newTraceContext, parseTraceparent } from "./trace_context.ts";
 * const ctx = newTraceContext(true);
 * const parsed = parseTraceparent(formatTraceparent(ctx));
 * console.assert(parsed?.traceId === ctx.traceId && parsed.sampled);
 * ```
 *
 * @module
 */
import { hex8, randomU32 } from "./_random.ts";

/** A span's identity as carried across process and worker boundaries. */
export interface TraceContext {
  /** 32 lowercase hex characters, not all zero. */
  traceId: string;
  /** 16 lowercase hex characters, not all zero. */
  spanId: string;
  /** Whether the trace is sampled (recorded and exported). */
  sampled: boolean;
  /** Vendor `tracestate`, passed through unchanged. */
  tracestate?: string;
}

const TRACEPARENT = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;
const TRACEPARENT_FUTURE =
  /^([0-9a-e][0-9a-f]|f[0-9a-e])-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(?:-.*)?$/;

/**
 * Generates a random 16-hex-character span id.
 *
 * @returns A non-zero span id.
 *
 * @example
 * ```ts
 * import { newSpanId } from "./trace_context.ts";
 * console.assert(newSpanId().length === 16);
 * ```
 */
export function newSpanId(): string {
  const hi = randomU32(), lo = randomU32();
  return hi === 0 && lo === 0 ? newSpanId() : hex8(hi) + hex8(lo);
}

/**
 * Generates a random 32-hex-character trace id.
 *
 * @returns A non-zero trace id.
 *
 * @example
 * ```ts
 * import { newTraceId } from "./trace_context.ts";
 * console.assert(newTraceId().length === 32);
 * ```
 */
export function newTraceId(): string {
  const id = hex8(randomU32()) + hex8(randomU32()) + hex8(randomU32()) + hex8(randomU32());
  return id === "00000000000000000000000000000000" ? newTraceId() : id;
}

/**
 * Starts a new trace.
 *
 * @param sampled Whether spans of this trace are recorded.
 * @returns A root context with fresh ids.
 *
 * @example
 * ```ts
 * import { newTraceContext } from "./trace_context.ts";
 * console.assert(newTraceContext(false).sampled === false);
 * ```
 */
export function newTraceContext(sampled: boolean): TraceContext {
  return { traceId: newTraceId(), spanId: newSpanId(), sampled };
}

/**
 * Formats a context as a version-00 `traceparent` header value.
 *
 * @param ctx The context.
 * @returns `00-<traceId>-<spanId>-<flags>`.
 *
 * @example
 * ```ts
 * import { formatTraceparent } from "./trace_context.ts";
 * const header = formatTraceparent({ traceId: "4bf92f3577b34da6a3ce929d0e0e4736", spanId: "00f067aa0ba902b7", sampled: true });
 * console.assert(header === "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
 * ```
 */
export function formatTraceparent(ctx: TraceContext): string {
  return `00-${ctx.traceId}-${ctx.spanId}-${ctx.sampled ? "01" : "00"}`;
}

/**
 * Parses a `traceparent` header value; returns `undefined` when it is invalid
 * (as the W3C spec asks: an invalid header starts a new trace, it is not an error).
 *
 * @param header The `traceparent` value.
 * @param tracestate Optional `tracestate` to attach.
 * @returns The context, or `undefined`.
 *
 * @example
 * ```ts
 * import { parseTraceparent } from "./trace_context.ts";
 * console.assert(parseTraceparent("garbage") === undefined);
 * ```
 */
export function parseTraceparent(
  header: string | null | undefined,
  tracestate?: string,
): TraceContext | undefined {
  if (!header) return undefined;
  // Uppercase hex is invalid per W3C; versions above 00 may carry more fields.
  const value = header.trim();
  const m = TRACEPARENT.exec(value) ?? TRACEPARENT_FUTURE.exec(value);
  if (!m || m[1] === "ff" || (m[1] === "00" && value.length !== 55)) return undefined;
  const traceId = m[2]!, spanId = m[3]!;
  if (/^0+$/.test(traceId) || /^0+$/.test(spanId)) return undefined;
  const ctx: TraceContext = { traceId, spanId, sampled: (parseInt(m[4]!, 16) & 1) === 1 };
  if (tracestate) ctx.tracestate = tracestate;
  return ctx;
}
