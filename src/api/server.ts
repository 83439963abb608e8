/**
 * OAO's HTTP API server on `Deno.serve`: routes ({@linkcode API_ROUTES}),
 * bearer-token authentication on everything but the health checks, JSON
 * errors for every bad request (never a 500 for bad input), request
 * metrics, and a shutdown that ends live streams, stops taking requests and
 * waits for those in flight.
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
import { API_ROUTES } from "./api_routes.ts";
import { ApiError, errorResponse } from "./_http.ts";
import type { ExecutionBackend } from "../orchestrator/execution_backend.ts";
import { OaoMetrics } from "./metrics.ts";
import type { ApiDeps, Route } from "./route.ts";
import { Router } from "./router.ts";
import {
  ExecutionNotFoundError,
  FencedError,
  StoreUnavailableError,
  UnknownAgentError,
} from "../errors.ts";
import type { EventStore } from "../events/event_store.ts";
import { getOaoLogger } from "../logging/logger.ts";
import type { JobQueue } from "../queue/job_queue.ts";

/** Default largest request body: 1 MiB. */
export const DEFAULT_MAX_BODY_BYTES = 1_048_576;

/** Options of {@linkcode startApiServer}. */
export interface ApiServerOptions {
  /** Runs or enqueues executions. */
  backend: ExecutionBackend;
  /** The audit log (status, events, streams). */
  eventStore: EventStore;
  /** Metrics served at `/metrics`. @default {a new registry (HTTP metrics and gauges only)} */
  metrics?: OaoMetrics;
  /** Readiness check. @default {always ready} */
  ready?: () => Promise<boolean>;
  /** Job queue, for its depth in `/metrics` when `metrics` is not given. */
  queue?: JobQueue;
  /** Bearer token required on every route but `/healthz` and `/readyz`. @default {none: open} */
  token?: string | undefined;
  /** Interface to listen on. @default {"127.0.0.1"} */
  hostname?: string;
  /** TCP port; `0` picks a free one. @default {8080} */
  port?: number;
  /** Largest request body in bytes (larger: 413). @default {DEFAULT_MAX_BODY_BYTES} */
  maxBodyBytes?: number;
  /** Interval of SSE keep-alive comments, in ms. @default {15000} */
  keepAliveMs?: number;
}

/** A running API server. */
export interface ApiServer {
  /** `http://<host>:<port>` it listens on. */
  readonly url: string;
  /** The port (useful with `port: 0`). */
  readonly port: number;
  /** The hostname it listens on. */
  readonly hostname: string;
  /** The router (its routes are what the OpenAPI document describes). */
  readonly router: Router;
  /** Settles when the server has stopped. */
  readonly finished: Promise<void>;
  /**
   * Ends live streams, stops accepting connections and waits for requests in flight.
   *
   * @returns Once stopped. Idempotent.
   */
  shutdown(): Promise<void>;
}

/**
 * Starts the API server.
 *
 * @param options Backend, event store, metrics, readiness, token, address, limits.
 * @returns The running server.
 * @throws {RangeError} When `port` or `maxBodyBytes` is out of range.
 * @throws {Deno.errors.AddrInUse} When the port is taken.
 */
export function startApiServer(options: ApiServerOptions): ApiServer {
  const log = getOaoLogger("api");
  const hostname = options.hostname ?? "127.0.0.1";
  const port = options.port ?? 8080;
  if (!Number.isInteger(port) || port < 0 || port > 65_535) {
    throw new RangeError(`Invalid port ${JSON.stringify(port)}: expected an integer 0–65535`);
  }
  const maxBodyBytes = options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
  if (!Number.isInteger(maxBodyBytes) || maxBodyBytes < 1) {
    throw new RangeError(
      `Invalid maxBodyBytes ${JSON.stringify(maxBodyBytes)}: expected a positive integer`,
    );
  }
  const closing = new AbortController();
  const metrics = options.metrics ?? new OaoMetrics({
    inFlight: () => options.backend.inFlight(),
    queueStats: options.queue ? () => options.queue!.stats() : undefined,
  });
  const deps: ApiDeps = {
    backend: options.backend,
    eventStore: options.eventStore,
    metrics,
    ready: options.ready ?? (() => Promise.resolve(true)),
    queue: options.queue,
    maxBodyBytes,
    shutdown: closing.signal,
    keepAliveMs: options.keepAliveMs ?? 15_000,
  };
  const router = new Router(API_ROUTES);
  const token = options.token || undefined;
  if (!token && !_isLoopback(hostname)) {
    log.warn(
      "The API listens on {hostname}, beyond loopback, without authentication: set OAO_API_TOKEN",
      { hostname },
    );
  }
  const handler = async (request: Request): Promise<Response> => {
    const started = performance.now();
    const url = new URL(request.url);
    let route: Route | undefined;
    let response: Response;
    try {
      const match = router.match(request.method, url.pathname);
      if (!("route" in match)) {
        throw match.status === 405
          ? new ApiError(
            405,
            "method_not_allowed",
            `Method ${request.method} is not allowed on "${url.pathname}" (allowed: ${
              match.allow.join(", ")
            })`,
            { allow: match.allow.join(", ") },
          )
          : new ApiError(404, "not_found", `No route "${url.pathname}" (see /openapi.json)`);
      }
      route = match.route;
      if (token && !route.public && !_authorized(request, token)) {
        throw new ApiError(
          401,
          "unauthorized",
          "Missing or wrong bearer token: send the header Authorization: Bearer <OAO_API_TOKEN>",
          { "www-authenticate": 'Bearer realm="oao"' },
        );
      }
      response = await route.handle({ request, url, params: match.params, deps });
    } catch (error) {
      response = errorResponse(_toApiError(error, log));
    }
    const streaming = response.headers.get("content-type")?.startsWith("text/event-stream");
    metrics.observeRequest(
      { method: request.method, route: route?.path ?? "unmatched", status: response.status },
      streaming ? undefined : (performance.now() - started) / 1000,
    );
    return response;
  };
  const server = Deno.serve({
    hostname,
    port,
    onListen: () => {},
    onError: (error) => errorResponse(_toApiError(error, log)),
  }, handler);
  const addr = server.addr as Deno.NetAddr;
  const host = addr.hostname.includes(":") ? `[${addr.hostname}]` : addr.hostname;
  let stopping: Promise<void> | undefined;
  return {
    url: `http://${host}:${addr.port}`,
    port: addr.port,
    hostname: addr.hostname,
    router,
    finished: server.finished,
    shutdown() {
      stopping ??= (async () => {
        closing.abort();
        await server.shutdown();
      })();
      return stopping;
    },
  };
}

function _toApiError(error: unknown, log: ReturnType<typeof getOaoLogger>): ApiError {
  if (error instanceof ApiError) return error;
  if (error instanceof UnknownAgentError) return new ApiError(422, "unknown_agent", error.message);
  if (error instanceof ExecutionNotFoundError) {
    return new ApiError(404, "execution_not_found", error.message);
  }
  if (error instanceof URIError) {
    return new ApiError(400, "invalid_path", "The path is not valid percent-encoding");
  }
  if (error instanceof StoreUnavailableError) {
    log.error("Store unavailable: {error}", { error });
    return new ApiError(503, "store_unavailable", "The stores are unreachable; retry later");
  }
  if (error instanceof FencedError) {
    return new ApiError(409, "fenced", error.message);
  }
  if (error instanceof TypeError || error instanceof RangeError) {
    return new ApiError(400, "invalid_request", error.message);
  }
  log.error("Request failed: {error}", { error });
  return new ApiError(500, "internal_error", "Internal error (see the server log)");
}

function _authorized(request: Request, token: string): boolean {
  const header = request.headers.get("authorization") ?? "";
  const match = /^Bearer\s+(.+)$/i.exec(header.trim());
  if (!match) return false;
  const a = new TextEncoder().encode(match[1]);
  const b = new TextEncoder().encode(token);
  let diff = a.length ^ b.length;
  for (let i = 0; i < b.length; i++) diff |= (a[i % (a.length || 1)] ?? 0) ^ b[i]!;
  return diff === 0;
}

function _isLoopback(hostname: string): boolean {
  return hostname === "localhost" || hostname === "::1" || hostname === "[::1]" ||
    /^127\.\d+\.\d+\.\d+$/.test(hostname);
}
