/**
 * A small, dependency-free decoder for the OTLP trace protobuf messages
 * (`opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest`), used
 * by the test receiver to check what the real exporter put on the wire.
 *
 * Field numbers follow `opentelemetry/proto/trace/v1/trace.proto`,
 * `common/v1/common.proto` and `resource/v1/resource.proto`.
 *
 * @example
 * ```ts
 * import { decodeExportTraceServiceRequest } from "./protobuf_decode.ts";
 * console.assert(decodeExportTraceServiceRequest(new Uint8Array()).length === 0);
 * ```
 *
 * @module
 */

/** A decoded `AnyValue`: int64 values that are not safe integers stay `bigint`. */
export type DecodedValue =
  | string
  | boolean
  | number
  | bigint
  | Uint8Array
  | DecodedValue[]
  | { [key: string]: DecodedValue }
  | null;

/** A decoded span event. */
export interface DecodedEvent {
  /** Event name. */
  name: string;
  /** Time in nanoseconds since the epoch. */
  timeUnixNano: bigint;
  /** Event attributes. */
  attributes: Record<string, DecodedValue>;
}

/** A decoded span link. */
export interface DecodedLink {
  /** Linked trace id, 32 hex. */
  traceId: string;
  /** Linked span id, 16 hex. */
  spanId: string;
  /** Link attributes. */
  attributes: Record<string, DecodedValue>;
}

/** A span as the receiver saw it, with its resource and scope. */
export interface DecodedSpan {
  /** Trace id, 32 hex. */
  traceId: string;
  /** Span id, 16 hex. */
  spanId: string;
  /** Parent span id, 16 hex; absent for a root span. */
  parentSpanId?: string;
  /** W3C tracestate, when set. */
  traceState?: string;
  /** Span name. */
  name: string;
  /** OTLP span kind: 1 internal, 2 server, 3 client, 4 producer, 5 consumer. */
  kind: number;
  /** Start in nanoseconds since the epoch. */
  startTimeUnixNano: bigint;
  /** End in nanoseconds since the epoch. */
  endTimeUnixNano: bigint;
  /** Span attributes. */
  attributes: Record<string, DecodedValue>;
  /** Dropped attribute count. */
  droppedAttributesCount: number;
  /** Span events. */
  events: DecodedEvent[];
  /** Span links. */
  links: DecodedLink[];
  /** Status: code 0 unset, 1 ok, 2 error. */
  status: { code: number; message: string };
  /** OTLP span flags (trace flags in the low byte). */
  flags: number;
  /** Attributes of the resource the span was sent under. */
  resource: Record<string, DecodedValue>;
  /** The instrumentation scope. */
  scope: { name: string; version: string };
}

const textDecoder = new TextDecoder("utf-8", { fatal: true });

class _Reader {
  #buf: Uint8Array;
  #view: DataView;
  pos = 0;

  constructor(buf: Uint8Array) {
    this.#buf = buf;
    this.#view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  }

  get done(): boolean {
    return this.pos >= this.#buf.length;
  }

  varint(): bigint {
    let result = 0n;
    let shift = 0n;
    for (;;) {
      if (this.pos >= this.#buf.length) throw new RangeError("Truncated varint");
      const byte = this.#buf[this.pos++]!;
      result |= BigInt(byte & 0x7f) << shift;
      if ((byte & 0x80) === 0) return result;
      shift += 7n;
      if (shift > 63n) throw new RangeError("Varint longer than 10 bytes");
    }
  }

  tag(): { field: number; wire: number } {
    const key = Number(this.varint());
    return { field: key >>> 3, wire: key & 7 };
  }

  bytes(): Uint8Array {
    const len = Number(this.varint());
    if (this.pos + len > this.#buf.length) throw new RangeError("Truncated length-delimited field");
    const out = this.#buf.subarray(this.pos, this.pos + len);
    this.pos += len;
    return out;
  }

  string(): string {
    return textDecoder.decode(this.bytes());
  }

  fixed64(): bigint {
    this.#need(8);
    const value = this.#view.getBigUint64(this.pos, true);
    this.pos += 8;
    return value;
  }

  double(): number {
    this.#need(8);
    const value = this.#view.getFloat64(this.pos, true);
    this.pos += 8;
    return value;
  }

  fixed32(): number {
    this.#need(4);
    const value = this.#view.getUint32(this.pos, true);
    this.pos += 4;
    return value;
  }

  skip(wire: number): void {
    if (wire === 0) this.varint();
    else if (wire === 1) this.fixed64();
    else if (wire === 2) this.bytes();
    else if (wire === 5) this.fixed32();
    else throw new RangeError(`Unsupported wire type ${wire}`);
  }

  #need(n: number): void {
    if (this.pos + n > this.#buf.length) throw new RangeError("Truncated fixed-width field");
  }
}

function _hex(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

function _int64(value: bigint): number | bigint {
  const signed = BigInt.asIntN(64, value);
  return signed >= BigInt(Number.MIN_SAFE_INTEGER) && signed <= BigInt(Number.MAX_SAFE_INTEGER)
    ? Number(signed)
    : signed;
}

function _anyValue(buf: Uint8Array): DecodedValue {
  const r = new _Reader(buf);
  let value: DecodedValue = null;
  while (!r.done) {
    const { field, wire } = r.tag();
    if (field === 1 && wire === 2) value = r.string();
    else if (field === 2 && wire === 0) value = r.varint() !== 0n;
    else if (field === 3 && wire === 0) value = _int64(r.varint());
    else if (field === 4 && wire === 1) value = r.double();
    else if (field === 5 && wire === 2) value = _arrayValue(r.bytes());
    else if (field === 6 && wire === 2) value = _keyValues(r.bytes(), 1);
    else if (field === 7 && wire === 2) value = r.bytes().slice();
    else r.skip(wire);
  }
  return value;
}

function _arrayValue(buf: Uint8Array): DecodedValue[] {
  const r = new _Reader(buf);
  const out: DecodedValue[] = [];
  while (!r.done) {
    const { field, wire } = r.tag();
    if (field === 1 && wire === 2) out.push(_anyValue(r.bytes()));
    else r.skip(wire);
  }
  return out;
}

function _keyValue(buf: Uint8Array): [string, DecodedValue] {
  const r = new _Reader(buf);
  let key = "";
  let value: DecodedValue = null;
  while (!r.done) {
    const { field, wire } = r.tag();
    if (field === 1 && wire === 2) key = r.string();
    else if (field === 2 && wire === 2) value = _anyValue(r.bytes());
    else r.skip(wire);
  }
  return [key, value];
}

/** Decodes the repeated `KeyValue` field `kvField` of a message into a record. */
function _keyValues(buf: Uint8Array, kvField: number): Record<string, DecodedValue> {
  const r = new _Reader(buf);
  const out: Record<string, DecodedValue> = {};
  while (!r.done) {
    const { field, wire } = r.tag();
    if (field === kvField && wire === 2) {
      const [key, value] = _keyValue(r.bytes());
      out[key] = value;
    } else r.skip(wire);
  }
  return out;
}

function _event(buf: Uint8Array): DecodedEvent {
  const r = new _Reader(buf);
  const event: DecodedEvent = { name: "", timeUnixNano: 0n, attributes: {} };
  while (!r.done) {
    const { field, wire } = r.tag();
    if (field === 1 && wire === 1) event.timeUnixNano = r.fixed64();
    else if (field === 2 && wire === 2) event.name = r.string();
    else if (field === 3 && wire === 2) {
      const [key, value] = _keyValue(r.bytes());
      event.attributes[key] = value;
    } else r.skip(wire);
  }
  return event;
}

function _link(buf: Uint8Array): DecodedLink {
  const r = new _Reader(buf);
  const link: DecodedLink = { traceId: "", spanId: "", attributes: {} };
  while (!r.done) {
    const { field, wire } = r.tag();
    if (field === 1 && wire === 2) link.traceId = _hex(r.bytes());
    else if (field === 2 && wire === 2) link.spanId = _hex(r.bytes());
    else if (field === 4 && wire === 2) {
      const [key, value] = _keyValue(r.bytes());
      link.attributes[key] = value;
    } else r.skip(wire);
  }
  return link;
}

function _status(buf: Uint8Array): { code: number; message: string } {
  const r = new _Reader(buf);
  const status = { code: 0, message: "" };
  while (!r.done) {
    const { field, wire } = r.tag();
    if (field === 2 && wire === 2) status.message = r.string();
    else if (field === 3 && wire === 0) status.code = Number(r.varint());
    else r.skip(wire);
  }
  return status;
}

function _span(
  buf: Uint8Array,
  resource: Record<string, DecodedValue>,
  scope: { name: string; version: string },
): DecodedSpan {
  const r = new _Reader(buf);
  const span: DecodedSpan = {
    traceId: "",
    spanId: "",
    name: "",
    kind: 0,
    startTimeUnixNano: 0n,
    endTimeUnixNano: 0n,
    attributes: {},
    droppedAttributesCount: 0,
    events: [],
    links: [],
    status: { code: 0, message: "" },
    flags: 0,
    resource,
    scope,
  };
  while (!r.done) {
    const { field, wire } = r.tag();
    if (field === 1 && wire === 2) span.traceId = _hex(r.bytes());
    else if (field === 2 && wire === 2) span.spanId = _hex(r.bytes());
    else if (field === 3 && wire === 2) span.traceState = r.string();
    else if (field === 4 && wire === 2) {
      const parent = r.bytes();
      if (parent.length > 0) span.parentSpanId = _hex(parent);
    } else if (field === 5 && wire === 2) span.name = r.string();
    else if (field === 6 && wire === 0) span.kind = Number(r.varint());
    else if (field === 7 && wire === 1) span.startTimeUnixNano = r.fixed64();
    else if (field === 8 && wire === 1) span.endTimeUnixNano = r.fixed64();
    else if (field === 9 && wire === 2) {
      const [key, value] = _keyValue(r.bytes());
      span.attributes[key] = value;
    } else if (field === 10 && wire === 0) span.droppedAttributesCount = Number(r.varint());
    else if (field === 11 && wire === 2) span.events.push(_event(r.bytes()));
    else if (field === 13 && wire === 2) span.links.push(_link(r.bytes()));
    else if (field === 15 && wire === 2) span.status = _status(r.bytes());
    else if (field === 16 && wire === 5) span.flags = r.fixed32();
    else r.skip(wire);
  }
  return span;
}

function _scope(buf: Uint8Array): { name: string; version: string } {
  const r = new _Reader(buf);
  const scope = { name: "", version: "" };
  while (!r.done) {
    const { field, wire } = r.tag();
    if (field === 1 && wire === 2) scope.name = r.string();
    else if (field === 2 && wire === 2) scope.version = r.string();
    else r.skip(wire);
  }
  return scope;
}

function _scopeSpans(buf: Uint8Array, resource: Record<string, DecodedValue>): DecodedSpan[] {
  const r = new _Reader(buf);
  let scope = { name: "", version: "" };
  const raw: Uint8Array[] = [];
  while (!r.done) {
    const { field, wire } = r.tag();
    if (field === 1 && wire === 2) scope = _scope(r.bytes());
    else if (field === 2 && wire === 2) raw.push(r.bytes());
    else r.skip(wire);
  }
  return raw.map((s) => _span(s, resource, scope));
}

function _resourceSpans(buf: Uint8Array): DecodedSpan[] {
  const r = new _Reader(buf);
  let resource: Record<string, DecodedValue> = {};
  const raw: Uint8Array[] = [];
  while (!r.done) {
    const { field, wire } = r.tag();
    if (field === 1 && wire === 2) resource = _keyValues(r.bytes(), 1);
    else if (field === 2 && wire === 2) raw.push(r.bytes());
    else r.skip(wire);
  }
  return raw.flatMap((s) => _scopeSpans(s, resource));
}

/**
 * Decodes an `ExportTraceServiceRequest` into its spans, each carrying its
 * resource attributes and instrumentation scope.
 *
 * @param buf The serialized request (without the gRPC frame header).
 * @returns The spans in wire order.
 * @throws {RangeError} When the buffer is not well-formed protobuf.
 *
 * @example
 * ```ts
 * import { decodeExportTraceServiceRequest } from "./protobuf_decode.ts";
 * console.assert(decodeExportTraceServiceRequest(new Uint8Array()).length === 0);
 * ```
 */
export function decodeExportTraceServiceRequest(buf: Uint8Array): DecodedSpan[] {
  const r = new _Reader(buf);
  const spans: DecodedSpan[] = [];
  while (!r.done) {
    const { field, wire } = r.tag();
    if (field === 1 && wire === 2) spans.push(..._resourceSpans(r.bytes()));
    else r.skip(wire);
  }
  return spans;
}
