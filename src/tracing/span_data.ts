/**
 * Plain-data spans: what the runtime records in the host and in actor
 * workers, and what a {@linkcode SpanSink} exports. Workers have no network
 * permission, so their spans travel to the host as this data and are
 * exported there.
 *
 * @module
 */

/**
 * Attribute values allowed on spans, span events and links: primitives, or
 * arrays of one primitive type whose items may be `null` or `undefined`
 * (exported as empty values), as in OpenTelemetry.
 */
export type AttributeValue =
  | string
  | number
  | boolean
  | Array<string | null | undefined>
  | Array<number | null | undefined>
  | Array<boolean | null | undefined>;

/** Span attributes. */
export type Attributes = Record<string, AttributeValue>;

/** An event on a span (`RETRY_ATTEMPTED`, `exception`, …). */
export interface SpanEventData {
  /** Event name. */
  name: string;
  /** Epoch milliseconds (fractional). */
  time: number;
  /** Event attributes. */
  attributes?: Attributes;
}

/** A link from a span to another span, e.g. to the messages a batch handled. */
export interface SpanLinkData {
  /** Trace id of the linked span, 32 hex. */
  traceId: string;
  /** Span id of the linked span, 16 hex. */
  spanId: string;
  /** The linked span's `tracestate`. */
  tracestate?: string;
  /** Link attributes. */
  attributes?: Attributes;
}

/** A finished span. */
export interface SpanData {
  /** Span name, e.g. `oao.step.3` or `oao.tool.search`. */
  name: string;
  /** Trace id, 32 hex. */
  traceId: string;
  /** Span id, 16 hex. */
  spanId: string;
  /** Parent span id, absent for a root span. */
  parentSpanId?: string;
  /** The span's W3C `tracestate`. */
  tracestate?: string;
  /** Span kind. */
  kind: "internal" | "server" | "client" | "producer" | "consumer";
  /** Start, epoch milliseconds (fractional). */
  startTime: number;
  /** End, epoch milliseconds (fractional). */
  endTime: number;
  /** Attributes. */
  attributes: Attributes;
  /** Events in time order. */
  events: SpanEventData[];
  /** Links to other spans. */
  links?: SpanLinkData[];
  /** Status: `error` carries the message. */
  status: { code: "unset" | "ok" | "error"; message?: string };
}

/**
 * Where a message came from, shared by the spans of a {@linkcode PackedSpans}
 * chunk that handled messages of the same origin.
 */
export interface SpanOrigin {
  /** The message's `traceparent`: the parent of the span. */
  tp: string;
  /** The message's `tracestate`. */
  ts?: string;
  /** The sender (`oao.message.from`). */
  from: string;
  /** Whether the message was delivered again (`oao.message.redelivered`). */
  redelivered: boolean;
}

/**
 * Receive spans of one actor packed into columns: how a worker ships the
 * `oao.actor.receive <name>` span of every message it handled (kind
 * `consumer`, status unset) without an object per span. Span `i` has the id
 * `ids[2i]`, `ids[2i + 1]` (high and low word), starts at `times[2i]`, ends
 * at `times[2i + 1]` (epoch ms), has `oao.message.seq` `seqs[i]` and its
 * parent, sender and redelivery flag in `origins[origin[i]]`. Spans with
 * events or an error status travel as {@linkcode SpanData} instead.
 */
export interface PackedSpans {
  /** Span name of every span: `oao.actor.receive <last segment of the path>`. */
  name: string;
  /** The actor's path (`oao.actor`). */
  actor: string;
  /** The worker's incarnation (`oao.actor.incarnation`). */
  incarnation: number;
  /** Number of spans; the columns may be longer. */
  count: number;
  /** Span ids: two 32-bit words per span, high then low. */
  ids: Uint32Array;
  /** Start and end per span, epoch milliseconds. */
  times: Float64Array;
  /** `oao.message.seq` per span. */
  seqs: Float64Array;
  /** Index into `origins` per span. */
  origin: Uint32Array;
  /** The distinct origins of the chunk's messages. */
  origins: SpanOrigin[];
}

/** Where finished spans go: the OTLP exporter in the host, the host from a worker. */
export interface SpanSink {
  /** Accepts finished spans; must not block. */
  export(spans: SpanData[]): void;
  /**
   * Accepts packed receive spans from workers; must not block. Sinks
   * without it get them as {@linkcode SpanData} (see `unpackSpans`).
   */
  exportPacked?(chunks: PackedSpans[]): void;
  /** Sends what is buffered. */
  flush(): Promise<void>;
  /** Flushes and releases resources. */
  shutdown(): Promise<void>;
}
