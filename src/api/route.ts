/**
 * What a route of the HTTP API is: its OpenAPI definition (method, path,
 * request schemas, responses — the same zod schemas validate the request
 * and generate the document), whether it is public (no bearer token), the
 * media types it answers with (`Accept` is checked against them), whether
 * its answer carries an `ETag`, and a handler that gets the validated
 * input and the server's dependencies ({@linkcode ApiDeps}).
 *
 * @example
 * ```ts
 * import { createRoute, z } from "@hono/zod-openapi";
 * import type { ApiRoute } from "./route.ts";
 * const ping: ApiRoute = {
 *   spec: createRoute({
 *     method: "get",
 *     path: "/ping",
 *     summary: "Answers pong",
 *     responses: { 200: { description: "pong", content: { "text/plain": { schema: z.string() } } } },
 *   }),
 *   public: true,
 *   produces: ["text/plain"],
 *   handle: () => new Response("pong"),
 * };
 * console.assert(ping.spec.path === "/ping");
 * ```
 *
 * @module
 */
import type { RouteConfig } from "@hono/zod-openapi";
import type { Context } from "hono";
import type { OaoMetrics } from "./metrics.ts";
import type { EventStore } from "../events/event_store.ts";
import type { ExecutionBackend } from "../orchestrator/execution_backend.ts";
import type { JobQueue } from "../queue/job_queue.ts";
import type { Scheduler } from "../schedule/scheduler.ts";
import type { _StatusCache } from "./_status_cache.ts";

/** What route handlers use. */
export interface ApiDeps {
  /** Runs or enqueues executions. */
  backend: ExecutionBackend;
  /** The audit log: status, events and streams are read from it. */
  eventStore: EventStore;
  /** The metrics registry served at `/metrics`. */
  metrics: OaoMetrics;
  /** Whether the stores are reachable (`/readyz`). */
  ready: () => Promise<boolean>;
  /** The job queue, for its depth in `/metrics`. */
  queue?: JobQueue | undefined;
  /** Largest accepted request body, in bytes. */
  maxBodyBytes: number;
  /** Aborts when the server shuts down (ends live streams). */
  shutdown: AbortSignal;
  /** Interval of SSE keep-alive comments, in ms. */
  keepAliveMs: number;
  /**
   * Issues a stream token for an execution (`undefined`: the server has no
   * API token, streams are open).
   */
  issueStreamToken?:
    | ((executionId: string) => Promise<{ token: string; expiresAt: number }>)
    | undefined;
  /** The OpenAPI document of the served routes, with this server's URL. */
  openApi: (serverUrl: string) => Record<string, unknown>;
  /** The node's scheduler (`/schedules`; absent: 501). */
  scheduler?: Scheduler | undefined;
  /** URL template of the tracing UI, with `{traceId}` (`OAO_TRACE_URL`), for the console. */
  traceUrl?: string | undefined;
  /** Answers of `GET /executions/:id` by the last event they were read at. */
  statuses: _StatusCache;
}

/** The Hono environment of the API: per-request variables. */
export interface ApiEnv {
  /** Variables set by the API's middleware. */
  Variables: {
    /** The matched route's path pattern (`/executions/:id`), for metrics and logs. */
    route: string;
    /** Request id (`X-Request-Id`, taken from the request when valid). */
    requestId: string;
    /** Name of the API token the request carries (unset when the API has no tokens). */
    principal: string | undefined;
  };
}

/** A request's validated parts, as a handler receives them. */
export interface RouteInput {
  /** Path parameters (after the route's `params` schema). */
  params: Record<string, string>;
  /** Query parameters (after the route's `query` schema). */
  query: Record<string, unknown>;
  /** The JSON body (after the route's body schema); `undefined` when optional and absent. */
  body: unknown;
}

/** A route. */
export interface ApiRoute {
  /** Its OpenAPI definition (`createRoute`): method, path with `{name}` parameters, schemas. */
  spec: RouteConfig;
  /** Served without the bearer token (health checks, the API reference). @default {false} */
  public?: boolean;
  /**
   * Also opened by a stream token (`?token=`, see `POST
   * /executions/:id/stream-token`) for the execution of its `id`, where a
   * browser cannot send the bearer token. @default {false}
   */
  streamToken?: boolean;
  /** Left out of the OpenAPI document (the API reference page itself). @default {false} */
  undocumented?: boolean;
  /** Media types of its successful answers; a request whose `Accept` allows none gets 406. */
  produces: readonly string[];
  /** Its answers carry an `ETag` and `If-None-Match` gets 304. @default {false} */
  etag?: boolean;
  /**
   * Answers the request.
   *
   * @param c The Hono context.
   * @param input The validated path, query and body.
   * @param deps The server's dependencies.
   * @returns The response.
   * @throws {ApiError} For an answer with a 4xx or 5xx status.
   */
  handle(c: Context<ApiEnv>, input: RouteInput, deps: ApiDeps): Response | Promise<Response>;
}

/**
 * The route's path in Hono's pattern syntax (`/executions/:id`).
 *
 * @param route The route.
 * @returns Its path with `:name` parameters.
 */
export function honoPath(route: ApiRoute): string {
  return route.spec.path.replaceAll(/\{(\w+)\}/g, ":$1");
}
