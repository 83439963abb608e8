// The spans and logs of an actor worker, handed to the host in batches: the
// receive span of each handled message (packed by the recorder when it is
// sampled, else from the general tracer), the spans of that tracer, log
// records, and the trace context the handled message gives to what its
// handler sends and logs. Internal.
import { findUncloneable } from "../actor/_cloneable.ts";
import type { HostToWorker, WorkerLogRecord, WorkerToHost } from "../actor/_protocol.ts";
import { receiveSpanName, ReceiveSpanRecorder } from "../tracing/_receive_span_recorder.ts";
import type { SpanData } from "../tracing/span_data.ts";
import {
  formatTraceparent,
  newTraceContext,
  parseTraceparent,
  type TraceContext,
} from "../tracing/trace_context.ts";
import { type Span, Tracer } from "../tracing/tracer.ts";
import type { Handling, Item } from "./_inbound_links.ts";

type Init = Extract<HostToWorker, { k: "init" }>;

// Largest telemetry posts: half the host's default limits (DEFAULT_LIMITS).
const SPANS_PER_POST = 5_000;
const LOGS_PER_POST = 500;
const MAX_SEALED_CHUNKS = 16; // packed receive spans held before they are sent at once
const EAGER_SPANS = 64; // spans sent as soon as the actor is idle; more wait for the timer

/** The span of the message being handled; `suspend` when its handler goes asynchronous. */
export type MessageSpan = Span & { suspend?(): void };

/** The spans and logs of one actor, and the trace context of the message it handles. */
export class GuestTelemetry {
  #post: (message: WorkerToHost, transfer?: Transferable[]) => void;
  #handling: Handling;
  #path = "";
  #incarnation = 0;
  #tracer = new Tracer();
  // The handled message's span context; undefined while it is the recorder's (built on demand).
  #currentTrace: TraceContext | undefined = newTraceContext(false);
  #currentTp: string | undefined; // #currentTrace as a traceparent, formatted on first use
  #receive: ReceiveSpanRecorder | undefined; // receive spans of messages, packed (tracing only)
  #spans: SpanData[] = [];
  #span: MessageSpan | undefined; // the latest message span, ended with the error when the worker fails
  #logs: WorkerLogRecord[] = [];
  #scheduled = false;

  /**
   * @param post Sends a message to the host.
   * @param handling The message being handled.
   */
  constructor(
    post: (message: WorkerToHost, transfer?: Transferable[]) => void,
    handling: Handling,
  ) {
    this.#post = post;
    this.#handling = handling;
  }

  /** Starts recording for the actor `init` starts, with spans if it is traced. */
  start(init: Init): void {
    this.#path = init.path;
    this.#incarnation = init.incarnation;
    if (init.tracing) {
      this.#tracer = new Tracer(this.#spanSink());
      this.#receive = new ReceiveSpanRecorder(init.path, init.incarnation, (span) => {
        this.#spans.push(span);
        this.#schedule();
      });
    }
  }

  /** Whether the actor is traced. */
  get enabled(): boolean {
    return this.#tracer.enabled;
  }

  /**
   * Starts the receive span of `item` (traced actors only).
   *
   * @returns The span, to end when the handler is done.
   */
  startMessageSpan(item: Item): MessageSpan {
    const receive = this.#receive!;
    if (receive.begin(item.tp, item.ts, item.link.from, item.seq, item.redelivered)) {
      // Conditional stores: most messages change none of these fields.
      if (this.#currentTrace !== undefined) this.#currentTrace = this.#currentTp = undefined;
      if (this.#span !== receive) this.#span = receive;
      if (receive.sealedChunks >= MAX_SEALED_CHUNKS) this.flush();
      else if (!this.#scheduled) this.#schedule();
      return receive;
    }
    // Not sampled, or no valid parent: the general tracer.
    const parent = parseTraceparent(item.tp, item.ts);
    const span = this.#tracer.startSpan(receiveSpanName(this.#path), {
      parent,
      kind: "consumer",
      attributes: {
        "oao.actor": this.#path,
        "oao.message.from": item.link.from,
        "oao.message.seq": item.seq,
        "oao.actor.incarnation": this.#incarnation,
        "oao.message.redelivered": item.redelivered,
      },
    });
    this.#currentTrace = span.context;
    this.#currentTp = undefined;
    this.#span = span;
    return span;
  }

  /** The trace context of the latest message span: the parent of what its handler sends. */
  trace(): TraceContext {
    return this.#currentTrace ??= this.#receive!.context;
  }

  /** `trace()` as a traceparent; the sender's own when the actor is not traced. */
  traceparent(): string {
    const item = this.#handling.current;
    if (!this.#tracer.enabled && item?.tp) return item.tp;
    return this.#currentTp ??= formatTraceparent(this.trace());
  }

  /** The trace context a handler reads: its own span's when traced, else the sender's. */
  messageTrace(): TraceContext {
    const item = this.#handling.current;
    if (!this.#tracer.enabled && item) {
      return parseTraceparent(item.tp, item.ts) ?? this.trace();
    }
    return this.trace();
  }

  /** Records a log line of the actor, with the handled message's trace id. */
  log(
    level: WorkerLogRecord["level"],
    message: string,
    properties?: Record<string, unknown>,
  ): void {
    const props: Record<string, unknown> = { ...properties, actor: this.#path };
    // The handled message's trace (its own span's when tracing, else the sender's).
    if (this.#handling.current) props.traceId = this.messageTrace().traceId;
    let record: WorkerLogRecord = { level, message: String(message), properties: props };
    if (findUncloneable(props)) {
      record = {
        level,
        message: String(message),
        properties: { actor: this.#path, note: "properties were not cloneable" },
      };
    }
    this.#logs.push(record);
    this.#schedule();
  }

  /**
   * The actor is idle: hands logs and a few spans to the host now, before it
   * may stop this worker; many spans wait for the timer (fewer, larger posts).
   */
  idle(): void {
    const held = this.#receive?.idle() ?? 0;
    if (this.#logs.length > 0 || this.#spans.length > 0 || (held > 0 && held <= EAGER_SPANS)) {
      this.flush();
    }
  }

  /** Ends the latest message span with `error` and hands everything to the host. */
  fail(error: unknown): void {
    this.#span?.recordException(error);
    this.#span?.end();
    this.flush();
  }

  /** Hands the spans and logs recorded so far to the host. */
  flush(): void {
    this.#scheduled = false;
    const packed = this.#receive?.take();
    // Batches stay under the host's default limits (maxSpans, maxLogRecords).
    while (this.#spans.length > SPANS_PER_POST) {
      this.#post({ k: "spans", spans: this.#spans.splice(0, SPANS_PER_POST) });
    }
    if (this.#spans.length > 0 || (packed && packed.length > 0)) {
      const spans = this.#spans;
      this.#spans = [];
      const message: WorkerToHost = { k: "spans", spans };
      const transfer: Transferable[] = [];
      if (packed && packed.length > 0) {
        message.packed = packed;
        for (const c of packed) {
          for (const column of [c.ids, c.times, c.seqs, c.origin]) {
            transfer.push(column.buffer as ArrayBuffer);
          }
        }
      }
      this.#post(message, transfer);
    }
    while (this.#logs.length > 0) {
      this.#post({ k: "logs", records: this.#logs.splice(0, LOGS_PER_POST) });
    }
  }

  /** Drops what is not sent yet (the runtime is discarded). */
  dispose(): void {
    this.#spans = [];
    this.#logs = [];
  }

  #spanSink() {
    return {
      export: (spans: SpanData[]) => {
        for (const span of spans) this.#spans.push(span);
        this.#schedule();
      },
      flush: () => Promise.resolve(this.flush()),
      shutdown: () => Promise.resolve(this.flush()),
    };
  }

  #schedule(): void {
    if (this.#scheduled) return;
    this.#scheduled = true;
    setTimeout(() => this.flush(), 20);
  }
}
