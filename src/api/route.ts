/**
 * What a route of the HTTP API is: a method, a path pattern (`:name`
 * segments are parameters), whether it is public (no bearer token needed),
 * and a handler that gets the request, its parameters and the server's
 * dependencies ({@linkcode ApiDeps}).
 *
 * @example
 * ```ts
 * import type { Route } from "./route.ts";
 * const ping: Route = {
 *   method: "GET",
 *   path: "/ping",
 *   public: true,
 *   summary: "Answers pong",
 *   handle: () => new Response("pong"),
 * };
 * console.assert(ping.path === "/ping");
 * ```
 *
 * @module
 */
import type { ExecutionBackend } from "../orchestrator/execution_backend.ts";
import type { OaoMetrics } from "./metrics.ts";
import type { EventStore } from "../events/event_store.ts";
import type { JobQueue } from "../queue/job_queue.ts";

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
  /** Number of actors running in this process, for `/metrics`. */
  actorCount?: (() => number) | undefined;
  /** Largest accepted request body, in bytes. */
  maxBodyBytes: number;
  /** Aborts when the server shuts down (ends live streams). */
  shutdown: AbortSignal;
  /** Interval of SSE keep-alive comments, in ms. */
  keepAliveMs: number;
}

/** A request as a handler sees it. */
export interface RouteContext {
  /** The request. */
  request: Request;
  /** Its URL. */
  url: URL;
  /** Path parameters, decoded. */
  params: Record<string, string>;
  /** The server's dependencies. */
  deps: ApiDeps;
}

/** HTTP methods the API uses. */
export type Method = "GET" | "POST";

/** A route. */
export interface Route {
  /** Method. */
  method: Method;
  /** Path pattern, e.g. `/executions/:id/events`. */
  path: string;
  /** Served without the bearer token (health checks). @default {false} */
  public?: boolean;
  /** One line, for logs and the OpenAPI document. */
  summary: string;
  /**
   * Answers the request.
   *
   * @param ctx Request, URL, parameters, dependencies.
   * @returns The response.
   * @throws {ApiError} For an answer with a 4xx status.
   */
  handle(ctx: RouteContext): Response | Promise<Response>;
}
