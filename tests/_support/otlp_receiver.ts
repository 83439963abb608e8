/**
 * A real OTLP/gRPC trace receiver for tests: an h2c server on 127.0.0.1
 * (`node:http2`) implementing
 * `opentelemetry.proto.collector.trace.v1.TraceService/Export`. It decodes
 * every request with {@linkcode decodeExportTraceServiceRequest} and keeps the
 * spans for assertions.
 *
 * @example
 * ```ts
 * import { startOtlpReceiver } from "./otlp_receiver.ts";
 * const receiver = await startOtlpReceiver();
 * // Point OTEL_EXPORTER_OTLP_ENDPOINT at receiver.endpoint, export, then
 * // `await receiver.waitForSpans((spans) => spans.length >= 1, 5_000)`.
 * console.assert(receiver.spans().length === 0);
 * await receiver.close();
 * ```
 *
 * @module
 */
import http2 from "node:http2";
import { gunzipSync } from "node:zlib";
import { type DecodedSpan, decodeExportTraceServiceRequest } from "./protobuf_decode.ts";

export type { DecodedSpan } from "./protobuf_decode.ts";

const EXPORT_PATH = "/opentelemetry.proto.collector.trace.v1.TraceService/Export";

/** Options of {@linkcode startOtlpReceiver}. */
export interface OtlpReceiverOptions {
  /**
   * gRPC status code to answer every export with; non-zero simulates a
   * collector that rejects data (e.g. 7 PERMISSION_DENIED).
   * @default {0}
   */
  status?: number;
}

/** A running receiver. */
export interface OtlpReceiver {
  /** `http://127.0.0.1:<port>`, for `OTEL_EXPORTER_OTLP_ENDPOINT`. */
  readonly endpoint: string;
  /** All spans received so far, in arrival order. */
  spans(): DecodedSpan[];
  /** Number of export requests received. */
  requests(): number;
  /** Request metadata (lower-case header names, pseudo-headers omitted) of every request. */
  metadata(): Record<string, string>[];
  /**
   * Resolves with all spans once `pred` holds for them.
   * @throws {Error} When `pred` does not hold within `timeoutMs`.
   */
  waitForSpans(pred: (spans: DecodedSpan[]) => boolean, timeoutMs: number): Promise<DecodedSpan[]>;
  /** Stops the server and drops open connections. */
  close(): Promise<void>;
}

function _concat(chunks: Uint8Array[]): Uint8Array {
  const total = chunks.reduce((n, c) => n + c.length, 0);
  const out = new Uint8Array(total);
  let offset = 0;
  for (const c of chunks) {
    out.set(c, offset);
    offset += c.length;
  }
  return out;
}

/** Splits a gRPC body into its length-prefixed messages, inflating gzip ones. */
function _grpcMessages(body: Uint8Array, encoding: string | undefined): Uint8Array[] {
  const out: Uint8Array[] = [];
  const view = new DataView(body.buffer, body.byteOffset, body.byteLength);
  let pos = 0;
  while (pos < body.length) {
    if (pos + 5 > body.length) throw new RangeError("Truncated gRPC frame header");
    const compressed = body[pos] === 1;
    const len = view.getUint32(pos + 1, false);
    if (pos + 5 + len > body.length) throw new RangeError("Truncated gRPC message");
    const message = body.subarray(pos + 5, pos + 5 + len);
    if (compressed && encoding !== "gzip") {
      throw new RangeError(`Unsupported grpc-encoding "${encoding}"`);
    }
    out.push(compressed ? new Uint8Array(gunzipSync(message)) : message);
    pos += 5 + len;
  }
  return out;
}

/**
 * Starts a receiver on 127.0.0.1 and a free port.
 *
 * @param options Response behaviour.
 * @returns The running receiver; `close()` it at the end of the test.
 *
 * @example
 * ```ts
 * import { startOtlpReceiver } from "./otlp_receiver.ts";
 * const receiver = await startOtlpReceiver();
 * await receiver.close();
 * ```
 */
export async function startOtlpReceiver(options: OtlpReceiverOptions = {}): Promise<OtlpReceiver> {
  const status = options.status ?? 0;
  const received: DecodedSpan[] = [];
  const metadata: Record<string, string>[] = [];
  const waiters = new Set<() => void>();
  const sessions = new Set<http2.ServerHttp2Session>();
  let requestCount = 0;

  const server = http2.createServer();
  server.on("session", (session) => {
    sessions.add(session);
    session.on("close", () => sessions.delete(session));
    session.on("error", () => {});
  });
  server.on("stream", (stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders) => {
    stream.on("error", () => {});
    const chunks: Uint8Array[] = [];
    stream.on("data", (chunk: Uint8Array) => chunks.push(chunk));
    stream.on("end", () => {
      const fail = (code: number, message: string) =>
        stream.respond({
          ":status": 200,
          "content-type": "application/grpc",
          "grpc-status": String(code),
          "grpc-message": encodeURIComponent(message),
        }, { endStream: true });
      if (headers[":path"] !== EXPORT_PATH) return fail(12, `Unknown method ${headers[":path"]}`);
      requestCount++;
      const meta: Record<string, string> = {};
      for (const [key, value] of Object.entries(headers)) {
        if (!key.startsWith(":") && value !== undefined) meta[key] = String(value);
      }
      metadata.push(meta);
      if (status !== 0) return fail(status, "Rejected by test receiver");
      try {
        const encoding = headers["grpc-encoding"];
        for (const message of _grpcMessages(_concat(chunks), encoding as string | undefined)) {
          received.push(...decodeExportTraceServiceRequest(message));
        }
      } catch (error) {
        return fail(3, error instanceof Error ? error.message : String(error));
      }
      stream.respond({ ":status": 200, "content-type": "application/grpc" }, {
        waitForTrailers: true,
      });
      stream.on("wantTrailers", () => stream.sendTrailers({ "grpc-status": "0" }));
      // An empty ExportTraceServiceResponse: uncompressed flag, zero length.
      stream.end(new Uint8Array([0, 0, 0, 0, 0]));
      for (const wake of [...waiters]) wake();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve());
  });
  const port = (server.address() as { port: number }).port;

  return {
    endpoint: `http://127.0.0.1:${port}`,
    spans: () => [...received],
    requests: () => requestCount,
    metadata: () => metadata.map((m) => ({ ...m })),
    waitForSpans(pred, timeoutMs) {
      if (pred([...received])) return Promise.resolve([...received]);
      return new Promise((resolve, reject) => {
        const wake = () => {
          if (!pred([...received])) return;
          clearTimeout(timer);
          waiters.delete(wake);
          resolve([...received]);
        };
        const timer = setTimeout(() => {
          waiters.delete(wake);
          const names = received.map((s) => s.name).join(", ") || "none";
          reject(new Error(`Expected spans did not arrive within ${timeoutMs} ms (got: ${names})`));
        }, timeoutMs);
        waiters.add(wake);
      });
    },
    close() {
      for (const session of sessions) session.destroy();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
