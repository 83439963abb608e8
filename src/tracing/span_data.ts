/**
 * Plain-data spans: what the runtime records in the host and in actor
 * workers, and what a {@linkcode SpanSink} exports. Workers have no network
 * permission, so their spans travel to the host as this data and are
 * exported there.
 *
 * @module
 */

/** Attribute values allowed on spans and span events. */
export type AttributeValue = string | number | boolean;

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
  /** Status: `error` carries the message. */
  status: { code: "unset" | "ok" | "error"; message?: string };
}

/** Where finished spans go: the OTLP exporter in the host, the host from a worker. */
export interface SpanSink {
  /** Accepts finished spans; must not block. */
  export(spans: SpanData[]): void;
  /** Sends what is buffered. */
  flush(): Promise<void>;
  /** Flushes and releases resources. */
  shutdown(): Promise<void>;
}
