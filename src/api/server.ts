/**
 * OAO's HTTP API server: the Hono application of {@linkcode createApiApp}
 * on `Deno.serve`, and a shutdown that ends live streams, stops taking
 * requests and waits for those in flight.
 *
 * @example
 * ```ts
 * import { startApiServer } from "./server.ts";
 * import { LocalBackend } from "../orchestrator/local_backend.ts";
 * import { Orchestrator } from "../orchestrator/orchestrator.ts";
 *
 * const orchestrator = new Orchestrator();
 * const server = startApiServer({
 *   backend: new LocalBackend(orchestrator),
 *   eventStore: orchestrator.eventStore,
 *   port: 0,
 * });
 * const response = await fetch(`${server.url}/healthz`);
 * console.assert(response.status === 200);
 * await response.body?.cancel();
 * await server.shutdown();
 * await orchestrator.close();
 * ```
 *
 * @module
 */
import type { Hono } from "hono";
import { type ApiAppOptions, createApiApp, toApiError } from "./app.ts";
import { errorResponse } from "./_http.ts";
import { ConnectionGuard } from "./_connection_guard.ts";
import { BODY_TIMEOUT_MS } from "./_request_input.ts";
import { OaoMetrics } from "./metrics.ts";
import type { ApiEnv } from "./route.ts";
import { getOaoLogger } from "../logging/logger.ts";

export { DEFAULT_MAX_BODY_BYTES } from "./app.ts";

/** Options of {@linkcode startApiServer}. */
export interface ApiServerOptions extends Omit<ApiAppOptions, "metrics" | "shutdown"> {
  /** Metrics served at `/metrics`. @default {a new registry (HTTP metrics and gauges only)} */
  metrics?: OaoMetrics;
  /** Interface to listen on. @default {"127.0.0.1"} */
  hostname?: string;
  /** TCP port; `0` picks a free one. @default {8080} */
  port?: number;
  /**
   * How long a client may take to send a request's headers before it gets
   * 408 and its connection is closed (slow clients, slowloris); `0` serves
   * `Deno.serve` directly, without the TCP front that enforces this and
   * the two limits below (behind a proxy that enforces them already).
   * @default {10000}
   */
  headersTimeoutMs?: number;
  /** How long a kept-alive connection may stay silent after an answer began. @default {60000} */
  idleTimeoutMs?: number;
  /** Connections open at once; beyond, a connection gets 503 and is closed. @default {1024} */
  maxConnections?: number;
}

/** A running API server. */
export interface ApiServer {
  /** `http://<host>:<port>` it listens on. */
  readonly url: string;
  /** The port (useful with `port: 0`). */
  readonly port: number;
  /** The hostname it listens on. */
  readonly hostname: string;
  /** Connections open through the TCP front now (`undefined` without the front). */
  readonly connections: number | undefined;
  /** The Hono application it serves. */
  readonly app: Hono<ApiEnv>;
  /** Settles when the server has stopped. */
  readonly finished: Promise<void>;
  /**
   * Starts a graceful stop while the listener stays open: `/readyz` and
   * every new submit or cancel answer 503 `shutting_down` with
   * `Retry-After` (a load balancer moves traffic elsewhere), live streams
   * get an `end` event saying the server is stopping, reads go on.
   * Idempotent.
   */
  drain(): void;
  /**
   * Drains (when not yet), stops accepting connections and waits for requests in flight.
   *
   * @returns Once stopped. Idempotent.
   */
  shutdown(): Promise<void>;
}

/**
 * Starts the API server.
 *
 * @param options Backend, event store, metrics, readiness, token, CORS, address, limits.
 * @returns The running server.
 * @throws {RangeError} When `port`, `maxBodyBytes`, `headersTimeoutMs`,
 *   `idleTimeoutMs` or `maxConnections` is out of range.
 * @throws {TypeError} When a CORS origin is malformed.
 * @throws {Deno.errors.AddrInUse} When the port is taken.
 */
export function startApiServer(options: ApiServerOptions): ApiServer {
  const log = getOaoLogger("api");
  const hostname = options.hostname ?? "127.0.0.1";
  const port = options.port ?? 8080;
  if (!Number.isInteger(port) || port < 0 || port > 65_535) {
    throw new RangeError(`Invalid port ${JSON.stringify(port)}: expected an integer 0–65535`);
  }
  const headersTimeoutMs = _limit("headersTimeoutMs", options.headersTimeoutMs, 10_000, 0);
  const idleTimeoutMs = _limit("idleTimeoutMs", options.idleTimeoutMs, 60_000, 1);
  const maxConnections = _limit("maxConnections", options.maxConnections, 1024, 1);
  const closing = new AbortController();
  const metrics = options.metrics ?? new OaoMetrics({
    inFlight: () => options.backend.inFlight(),
    queueStats: options.queue ? () => options.queue!.stats() : undefined,
  });
  const app = createApiApp({
    ...options,
    metrics,
    shutdown: closing.signal,
    allowedHosts: options.allowedHosts ?? (_isLoopback(hostname) ? LOOPBACK_HOSTS : undefined),
  });
  if (!options.token && !options.tokens?.length && !_isLoopback(hostname)) {
    log.warn(
      "The API listens on {hostname}, beyond loopback, without authentication: set OAO_API_TOKEN",
      { hostname },
    );
  }
  // With the front, the HTTP server listens on a loopback port of its own
  // and the front on the address asked for (see _connection_guard.ts).
  const server = Deno.serve({
    hostname: headersTimeoutMs > 0 ? "127.0.0.1" : hostname,
    port: headersTimeoutMs > 0 ? 0 : port,
    onListen: () => {},
    onError: (error) => errorResponse(toApiError(error, log)),
  }, app.fetch);
  let front: ConnectionGuard | undefined;
  if (headersTimeoutMs > 0) {
    try {
      front = new ConnectionGuard({
        hostname,
        port,
        targetPort: (server.addr as Deno.NetAddr).port,
        headersTimeoutMs,
        // After the API's own body timeout, which answers 408 for the bodies it reads.
        bodyTimeoutMs: (options.bodyTimeoutMs ?? BODY_TIMEOUT_MS) + 2_000,
        idleTimeoutMs,
        maxConnections,
      });
    } catch (error) {
      void server.shutdown();
      throw error;
    }
  }
  const addr = front?.addr ?? server.addr as Deno.NetAddr;
  const host = addr.hostname.includes(":") ? `[${addr.hostname}]` : addr.hostname;
  let stopping: Promise<void> | undefined;
  return {
    url: `http://${host}:${addr.port}`,
    port: addr.port,
    hostname: addr.hostname,
    app,
    get connections() {
      return front?.connections;
    },
    finished: server.finished,
    drain() {
      closing.abort();
    },
    shutdown() {
      stopping ??= (async () => {
        closing.abort();
        await front?.stopAccepting();
        const stopped = server.shutdown(); // waits for the requests in flight
        // Connections end as the server lets them go (their last bytes still on
        // their way); those held longer (a client that never finishes) are cut.
        await front?.closeAll(SHUTDOWN_CONNECTIONS_MS);
        await stopped;
      })();
      return stopping;
    },
  };
}

function _limit(name: string, value: number | undefined, fallback: number, min: number): number {
  if (value === undefined) return fallback;
  if (!Number.isSafeInteger(value) || value < min || value > 2 ** 31 - 1) {
    throw new RangeError(
      `Invalid ${name} ${JSON.stringify(value)}: expected an integer ${min}–${2 ** 31 - 1}`,
    );
  }
  return value;
}

/** How long open connections may take to end at shutdown before they are closed. */
const SHUTDOWN_CONNECTIONS_MS = 5_000;

/** Names a loopback server answers for (any 127.x.x.x too). */
const LOOPBACK_HOSTS = ["localhost", "127.0.0.1", "::1"];

function _isLoopback(hostname: string): boolean {
  return hostname === "localhost" || hostname === "::1" || hostname === "[::1]" ||
    /^127\.\d+\.\d+\.\d+$/.test(hostname);
}
