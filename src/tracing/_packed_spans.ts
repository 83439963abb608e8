// Internal: checks packed receive spans received from a worker (untrusted:
// actor code shares the worker) and turns them into SpanData for sinks that
// only take SpanData.
import { hex8 } from "./_random.ts";
import type { PackedSpans, SpanData, SpanSink } from "./span_data.ts";
import { parseTraceparent } from "./trace_context.ts";

function _isTime(value: number): boolean {
  return value > 0 && value < 1e15; // finite, after 1970, before year 33658
}

/**
 * Checks that untrusted data is a packed chunk that can be exported.
 *
 * @param chunk Candidate chunk.
 * @returns `undefined` when valid, otherwise why it is not.
 */
export function invalidPackedReason(chunk: unknown): string | undefined {
  if (chunk === null || typeof chunk !== "object") return "not an object";
  const c = chunk as Partial<Record<keyof PackedSpans, unknown>>;
  if (typeof c.name !== "string" || c.name === "") return "missing name";
  if (typeof c.actor !== "string" || typeof c.incarnation !== "number") return "missing actor";
  const count = c.count;
  if (typeof count !== "number" || !Number.isSafeInteger(count) || count < 0) {
    return "invalid count";
  }
  if (
    !(c.ids instanceof Uint32Array) || !(c.times instanceof Float64Array) ||
    !(c.seqs instanceof Float64Array) || !(c.origin instanceof Uint32Array) ||
    c.ids.length < 2 * count || c.times.length < 2 * count || c.seqs.length < count ||
    c.origin.length < count
  ) {
    return "invalid columns";
  }
  if (!Array.isArray(c.origins)) return "invalid origins";
  for (const origin of c.origins as unknown[]) {
    const o = origin as Record<string, unknown> | null;
    if (
      typeof o !== "object" || o === null || typeof o.from !== "string" ||
      typeof o.redelivered !== "boolean" || (o.ts !== undefined && typeof o.ts !== "string") ||
      typeof o.tp !== "string" || parseTraceparent(o.tp) === undefined
    ) {
      return "invalid origin";
    }
  }
  const { ids, times, seqs, origin } = c as PackedSpans;
  const origins = c.origins.length;
  for (let i = 0; i < count; i++) {
    if (origin[i]! >= origins) return "invalid origin index";
    if (ids[2 * i] === 0 && ids[2 * i + 1] === 0) return "invalid span id";
    const seq = seqs[i]!;
    if (!(seq >= 0 && seq <= Number.MAX_SAFE_INTEGER && Math.floor(seq) === seq)) {
      return "invalid seq";
    }
    const start = times[2 * i]!, end = times[2 * i + 1]!;
    if (!_isTime(start) || !_isTime(end)) return "invalid start or end time";
    if (end < start) return "ends before it starts";
  }
  return undefined;
}

/**
 * Unpacks a valid chunk into SpanData.
 *
 * @param chunk A chunk that passed {@linkcode invalidPackedReason}.
 * @returns One SpanData per span.
 */
export function unpackSpans(chunk: PackedSpans): SpanData[] {
  const parents = chunk.origins.map((o) => parseTraceparent(o.tp)!);
  const out: SpanData[] = [];
  for (let i = 0; i < chunk.count; i++) {
    const origin = chunk.origins[chunk.origin[i]!]!;
    const parent = parents[chunk.origin[i]!]!;
    out.push({
      name: chunk.name,
      traceId: parent.traceId,
      spanId: hex8(chunk.ids[2 * i]!) + hex8(chunk.ids[2 * i + 1]!),
      parentSpanId: parent.spanId,
      kind: "consumer",
      startTime: chunk.times[2 * i]!,
      endTime: chunk.times[2 * i + 1]!,
      attributes: {
        "oao.actor": chunk.actor,
        "oao.message.from": origin.from,
        "oao.message.seq": chunk.seqs[i]!,
        "oao.actor.incarnation": chunk.incarnation,
        "oao.message.redelivered": origin.redelivered,
      },
      events: [],
      status: { code: "unset" },
    });
  }
  return out;
}

/**
 * Hands what a worker's `spans` frame carries to a sink: SpanData as they
 * are, packed chunks to `exportPacked`, or unpacked (valid ones only) when
 * the sink has no `exportPacked`. Tolerates malformed frames.
 *
 * @param sink The host's sink.
 * @param spans The frame's SpanData.
 * @param packed The frame's packed chunks.
 */
export function exportWorkerSpans(
  sink: SpanSink,
  spans: unknown,
  packed: unknown,
): void {
  if (Array.isArray(spans) && spans.length > 0) sink.export(spans);
  if (!Array.isArray(packed) || packed.length === 0) return;
  if (sink.exportPacked) return sink.exportPacked(packed);
  for (const chunk of packed) {
    if (invalidPackedReason(chunk) === undefined) sink.export(unpackSpans(chunk));
  }
}
