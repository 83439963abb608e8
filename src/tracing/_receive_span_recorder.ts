// Internal: records the `oao.actor.receive <name>` span of every message an
// actor worker handles into columns (PackedSpans), with no object per span.
// It is the worker's "current message span": one at a time, like messages.
//
// Reading the clock can cost more than handling a small message, so for
// messages handled back to back the clock is read every `stride` messages
// (1 to 32, growing while messages take under 50 µs each) and the spans in
// between get evenly interpolated start and end times. The clock is read
// exactly at the start of a run of messages, when a handler goes
// asynchronous (`suspend`) and after it, and when a span gets an event or an
// error (it then becomes a SpanData with exact times from that point).
import { toErrorInfo } from "../oao_error.ts";
import { hex8, randomU32 } from "./_random.ts";
import type { Attributes, PackedSpans, SpanData, SpanOrigin } from "./span_data.ts";
import { parseTraceparent, type TraceContext } from "./trace_context.ts";
import { _exceptionAttributes, preciseNow, type Span } from "./tracer.ts";

const CAPACITY = 2048;

/**
 * The name of an actor's receive spans: `oao.actor.receive <name>`, where
 * `<name>` is the last segment of the actor's path (`exec-1/researcher` →
 * `oao.actor.receive researcher`). The path holds the execution id, which
 * would give every execution its own span names (high cardinality in trace
 * backends); it is the `oao.actor` attribute instead.
 */
export function receiveSpanName(path: string): string {
  return `oao.actor.receive ${path.slice(path.lastIndexOf("/") + 1)}`;
}
const MAX_STRIDE = 32;
const QUICK_MS = 0.05;

interface Origin extends SpanOrigin {
  traceId: string;
  parentSpanId: string;
  tracestate: string | undefined;
}

export class ReceiveSpanRecorder implements Span {
  readonly recording = true;
  readonly #name: string;
  readonly #actor: string;
  readonly #incarnation: number;
  readonly #onRich: (span: SpanData) => void;
  #sealed: PackedSpans[] = [];
  #chunk: PackedSpans | undefined;
  #origins: Origin[] = [];
  #originIndex = new Map<string, number>();
  // Cache of the last origin: messages of one batch share it.
  #lastTp: string | undefined;
  #lastTs: string | undefined;
  #lastFrom: string | undefined;
  #lastRedelivered = false;
  #lastOrigin = -1;
  // The current span.
  #open = false;
  #index = 0;
  #context: TraceContext | undefined;
  #suspendedAt = NaN;
  #rich: SpanData | undefined;
  // Spans of the current run whose times are not set yet: the last `#pending` of the chunk.
  #pending = 0;
  #runStart = 0;
  #cold = true;
  #stride = 1;
  #untilRead = 1;

  /**
   * @param actor The actor's path.
   * @param incarnation The worker's incarnation.
   * @param onRich Receives spans that got events or an error, as SpanData.
   */
  constructor(actor: string, incarnation: number, onRich: (span: SpanData) => void) {
    this.#name = receiveSpanName(actor);
    this.#actor = actor;
    this.#incarnation = incarnation;
    this.#onRich = onRich;
  }

  /** Spans held (sealed chunks and the open one). */
  get size(): number {
    return this.#sealed.length * CAPACITY + (this.#chunk?.count ?? 0);
  }

  /** Sealed chunks waiting to be taken. */
  get sealedChunks(): number {
    return this.#sealed.length;
  }

  /**
   * Starts the span of a message. Returns false (and records nothing) when
   * the message's trace context is invalid or not sampled: the caller then
   * falls back to the general tracer.
   */
  begin(
    tp: string,
    ts: string | undefined,
    from: string,
    seq: number,
    redelivered: boolean,
  ): boolean {
    if (
      tp !== this.#lastTp || from !== this.#lastFrom || ts !== this.#lastTs ||
      redelivered !== this.#lastRedelivered
    ) {
      this.#lastTp = tp;
      this.#lastTs = ts;
      this.#lastFrom = from;
      this.#lastRedelivered = redelivered;
      this.#lastOrigin = this.#lookup(tp, ts, from, redelivered);
    }
    if (this.#lastOrigin < 0) return false;
    let chunk = this.#chunk;
    if (chunk === undefined || chunk.count === CAPACITY) chunk = this.#newChunk();
    const i = this.#index = chunk.count++;
    let hi = randomU32(), lo = randomU32();
    while (hi === 0 && lo === 0) (hi = randomU32()), (lo = randomU32());
    chunk.ids[2 * i] = hi;
    chunk.ids[2 * i + 1] = lo;
    chunk.seqs[i] = seq;
    chunk.origin[i] = this.#lastOrigin;
    if (this.#cold) {
      this.#cold = false;
      this.#runStart = preciseNow();
      this.#stride = this.#untilRead = 1;
    }
    this.#open = true;
    if (this.#context !== undefined) this.#context = undefined;
    this.#suspendedAt = NaN;
    return true;
  }

  /** The current span's context (for messages it sends and for logs). */
  get context(): TraceContext {
    if (this.#context) return this.#context;
    const chunk = this.#chunk!;
    const origin = this.#origins[chunk.origin[this.#index]!]!;
    const i = this.#index;
    const context: TraceContext = {
      traceId: origin.traceId,
      spanId: hex8(chunk.ids[2 * i]!) + hex8(chunk.ids[2 * i + 1]!),
      sampled: true,
    };
    if (origin.tracestate) context.tracestate = origin.tracestate;
    return (this.#context = context);
  }

  /** The handler went asynchronous: its span gets exact times. */
  suspend(): void {
    if (!this.#open || this.#rich || !Number.isNaN(this.#suspendedAt)) return;
    this.#suspendedAt = this.#closeRun(false);
  }

  setAttribute(key: string, value: Attributes[string]): void {
    const rich = this.#toRich();
    if (rich) rich.attributes[key] = value;
  }

  addEvent(name: string, attributes?: Attributes): void {
    const rich = this.#toRich();
    if (!rich) return;
    const time = preciseNow();
    rich.events.push(attributes ? { name, time, attributes: { ...attributes } } : { name, time });
  }

  recordException(error: unknown): void {
    if (!this.#open) return;
    const info = toErrorInfo(error);
    this.addEvent("exception", _exceptionAttributes(info));
    this.setStatus("error", info.message);
  }

  setStatus(code: "ok" | "error", message?: string): void {
    const rich = this.#toRich();
    if (rich) rich.status = message === undefined ? { code } : { code, message };
  }

  /** Ends the current span (no-op when none is open). */
  end(): void {
    if (!this.#open) return;
    this.#open = false;
    const rich = this.#rich;
    if (rich) {
      this.#rich = undefined;
      rich.endTime = this.#runStart = preciseNow();
      this.#stride = this.#untilRead = 1;
      return this.#onRich(rich);
    }
    this.#pending++;
    if (!Number.isNaN(this.#suspendedAt)) {
      const now = this.#runStart = preciseNow();
      const times = this.#chunk!.times, i = this.#index;
      times[2 * i] = this.#suspendedAt;
      times[2 * i + 1] = now;
      this.#pending = 0;
      this.#stride = this.#untilRead = 1;
    } else if (--this.#untilRead === 0) {
      this.#closeRun(true);
    }
  }

  /**
   * The actor went idle: times the run's spans; the next message reads the
   * clock. Returns the number of spans held.
   */
  idle(): number {
    if (this.#open) return this.size;
    if (this.#pending > 0) this.#closeRun(false);
    this.#cold = true;
    return this.size;
  }

  /**
   * Takes every finished span (the current one, if open, stays): full
   * chunks as they are (their buffers can be transferred), the open chunk as
   * a trimmed copy, so that its buffers are used again.
   */
  take(): PackedSpans[] {
    if (!this.#open) this.idle();
    else if (this.#pending > 0) this.#closeRun(false);
    const out = this.#sealed;
    this.#sealed = [];
    const chunk = this.#chunk;
    const n = chunk ? chunk.count - (this.#open ? 1 : 0) : 0;
    if (chunk && n > 0) {
      out.push({
        ...chunk,
        count: n,
        ids: chunk.ids.slice(0, 2 * n),
        times: chunk.times.slice(0, 2 * n),
        seqs: chunk.seqs.slice(0, n),
        origin: chunk.origin.slice(0, n),
      });
      // The open span (the last looked-up origin) moves to the front.
      this.#resetOrigins();
      chunk.origins = this.#origins;
      chunk.count = 0;
      if (this.#open) {
        chunk.ids[0] = chunk.ids[2 * n]!;
        chunk.ids[1] = chunk.ids[2 * n + 1]!;
        chunk.times[0] = chunk.times[2 * n]!;
        chunk.seqs[0] = chunk.seqs[n]!;
        chunk.origin[0] = this.#lastOrigin;
        chunk.count = 1;
        this.#index = 0;
      }
    }
    return out;
  }

  // Reads the clock and spreads the pending spans evenly up to now.
  #closeRun(adapt: boolean): number {
    const now = preciseNow();
    const k = this.#pending;
    if (k > 0) {
      const times = this.#chunk!.times;
      const start = this.#runStart;
      const step = (now - start) / k;
      const first = this.#chunk!.count - k - (this.#open ? 1 : 0);
      for (let j = 0; j < k; j++) {
        const i = first + j;
        times[2 * i] = start + step * j;
        times[2 * i + 1] = j === k - 1 ? now : start + step * (j + 1);
      }
      if (adapt) this.#stride = step < QUICK_MS ? Math.min(this.#stride * 2, MAX_STRIDE) : 1;
    }
    this.#pending = 0;
    this.#untilRead = this.#stride;
    this.#runStart = now;
    return now;
  }

  // Turns the current span into SpanData (for events, attributes, errors).
  #toRich(): SpanData | undefined {
    if (!this.#open) return undefined;
    if (this.#rich) return this.#rich;
    const startTime = Number.isNaN(this.#suspendedAt) ? this.#closeRun(false) : this.#suspendedAt;
    const chunk = this.#chunk!;
    const context = this.context;
    const origin = this.#origins[chunk.origin[this.#index]!]!;
    chunk.count--; // the current span is the chunk's last
    this.#rich = {
      name: this.#name,
      traceId: context.traceId,
      spanId: context.spanId,
      parentSpanId: origin.parentSpanId,
      kind: "consumer",
      startTime,
      endTime: 0,
      attributes: {
        "oao.actor": this.#actor,
        "oao.message.from": origin.from,
        "oao.message.seq": chunk.seqs[this.#index]!,
        "oao.actor.incarnation": this.#incarnation,
        "oao.message.redelivered": origin.redelivered,
      },
      events: [],
      status: { code: "unset" },
    };
    return this.#rich;
  }

  #lookup(tp: string, ts: string | undefined, from: string, redelivered: boolean): number {
    const key = `${tp}\n${ts ?? ""}\n${redelivered ? 1 : 0}\n${from}`;
    const known = this.#originIndex.get(key);
    if (known !== undefined) return known;
    const parent = parseTraceparent(tp, ts);
    if (!parent || !parent.sampled) return -1;
    const origin: Origin = {
      tp,
      from,
      redelivered,
      traceId: parent.traceId,
      parentSpanId: parent.spanId,
      tracestate: ts,
    };
    if (ts !== undefined) origin.ts = ts;
    const index = this.#origins.push(origin) - 1;
    this.#originIndex.set(key, index);
    return index;
  }

  // A new chunk starts a new origin table (chunks are self-contained); the
  // last origin is carried over, since `begin` has just looked it up.
  #resetOrigins(): void {
    const last = this.#lastOrigin >= 0 ? this.#origins[this.#lastOrigin] : undefined;
    this.#origins = [];
    this.#originIndex.clear();
    this.#lastOrigin = -1;
    this.#lastTp = undefined;
    if (last) {
      this.#lastTp = last.tp;
      this.#lastTs = last.ts;
      this.#lastFrom = last.from;
      this.#lastRedelivered = last.redelivered;
      this.#lastOrigin = this.#lookup(last.tp, last.ts, last.from, last.redelivered);
    }
  }

  #newChunk(): PackedSpans {
    const full = this.#chunk;
    if (full) {
      if (this.#pending > 0) this.#closeRun(false);
      this.#sealed.push(full);
    }
    if (full || this.#origins.length > 0) this.#resetOrigins();
    this.#chunk = {
      name: this.#name,
      actor: this.#actor,
      incarnation: this.#incarnation,
      count: 0,
      ids: new Uint32Array(2 * CAPACITY),
      times: new Float64Array(2 * CAPACITY),
      seqs: new Float64Array(CAPACITY),
      origin: new Uint32Array(CAPACITY),
      origins: this.#origins,
    };
    return this.#chunk;
  }
}
