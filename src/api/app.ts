/**
 * The HTTP API as a Hono application: the routes of {@linkcode API_ROUTES}
 * behind the middleware a production edge needs — request ids (Hono's),
 * secure headers and `Server-Timing`, CORS from a setting (Hono's; off by default),
 * compression, bearer-token authentication (all routes but the public
 * ones), `Accept` negotiation (406), body limits, validation against the
 * routes' schemas, ETags on cacheable answers, request metrics with
 * bounded labels, 404 and 405 with a complete `Allow`, and the JSON error
 * envelope (`{ error: { code, message } }`) for every failure.
 *
 * @example
 * ```ts
 * import { createApiApp } from "./app.ts";
 * import { OaoMetrics } from "./metrics.ts";
 * import { LocalBackend } from "../orchestrator/local_backend.ts";
 * import { Orchestrator } from "../orchestrator/orchestrator.ts";
 *
 * const orchestrator = new Orchestrator();
 * const metrics = new OaoMetrics();
 * const app = createApiApp({
 *   backend: new LocalBackend(orchestrator),
 *   eventStore: orchestrator.eventStore,
 *   metrics,
 * });
 * const response = await app.request("/healthz");
 * console.assert(response.status === 200);
 * await orchestrator.close();
 * ```
 *
 * @module
 */
import { type Context, Hono, type MiddlewareHandler } from "hono";
import { cors } from "hono/cors";
import { etag } from "hono/etag";
import { HTTPException } from "hono/http-exception";
import { API_ROUTES } from "./api_routes.ts";
import { compression } from "./_compression.ts";
import { ApiError, errorResponse, qualities } from "./_http.ts";
import { BODY_TIMEOUT_MS, readRouteInput } from "./_request_input.ts";
import { _StatusCache } from "./_status_cache.ts";
import { issueStreamToken, verifyStreamToken } from "./_stream_token.ts";
import type { OaoMetrics } from "./metrics.ts";
import { openApiDocument } from "./openapi.ts";
import { type ApiDeps, type ApiEnv, type ApiRoute, honoPath } from "./route.ts";
import {
  ExecutionNotFoundError,
  FencedError,
  StoreUnavailableError,
  UnknownAgentError,
} from "../errors.ts";
import type { EventStore } from "../events/event_store.ts";
import { getOaoLogger } from "../logging/logger.ts";
import {
  BackendBusyError,
  type ExecutionBackend,
  IdempotencyKeyReusedError,
} from "../orchestrator/execution_backend.ts";
import type { JobQueue } from "../queue/job_queue.ts";
import type { Scheduler } from "../schedule/scheduler.ts";
import { type ApiToken, DEFAULT_TOKEN_NAME } from "./api_tokens.ts";

/** Default largest request body: 1 MiB. */
export const DEFAULT_MAX_BODY_BYTES = 1_048_576;

/** Options of {@linkcode createApiApp}. */
export interface ApiAppOptions {
  /** Runs or enqueues executions. */
  backend: ExecutionBackend;
  /** The audit log (status, events, streams). */
  eventStore: EventStore;
  /** Metrics served at `/metrics`; requests are observed into it. */
  metrics: OaoMetrics;
  /** Readiness check. @default {always ready} */
  ready?: () => Promise<boolean>;
  /** Job queue, for its depth in `/metrics`. */
  queue?: JobQueue | undefined;
  /** Bearer token required on every route but the public ones, named `"default"`. @default {none: open} */
  token?: string | undefined;
  /**
   * Named bearer tokens (`OAO_API_TOKENS`), accepted beside `token`; the
   * name of the token a request carries is who it acts as (recorded as who
   * decided an approval). @default {[]}
   */
  tokens?: readonly ApiToken[] | undefined;
  /**
   * Origins allowed to call the API from a browser (CORS), e.g.
   * `["https://ops.example.com"]`; `["*"]` allows any. @default {[] (CORS off)}
   */
  corsOrigins?: readonly string[];
  /**
   * Host names (`Host` header, port ignored) the server answers for; others
   * get 403 (DNS rebinding). `undefined` answers any. `startApiServer` sets
   * the loopback names when it listens on loopback.
   * @default {undefined}
   */
  allowedHosts?: readonly string[] | undefined;
  /** Largest request body in bytes (larger: 413). @default {DEFAULT_MAX_BODY_BYTES} */
  maxBodyBytes?: number;
  /** How long a request body may take to arrive, in ms (slower: 408). @default {BODY_TIMEOUT_MS} */
  bodyTimeoutMs?: number;
  /** Interval of SSE keep-alive comments, in ms. @default {15000} */
  keepAliveMs?: number;
  /** Aborts when the server shuts down (ends live streams, `/readyz` answers 503). */
  shutdown?: AbortSignal;
  /** The routes. @default {API_ROUTES} */
  routes?: readonly ApiRoute[];
  /** The node's scheduler, for `/schedules` (absent: those routes answer 501). */
  scheduler?: Scheduler | undefined;
  /**
   * URL template of the tracing UI (`OAO_TRACE_URL`), with `{traceId}`, e.g.
   * `http://localhost:16686/trace/{traceId}`: the console links trace ids to it.
   * @default {undefined (no links)}
   */
  traceUrl?: string | undefined;
}

const METHODS_OF_GET = ["GET", "HEAD"];

/**
 * Builds the application.
 *
 * @param options Backend, stores, metrics, token, CORS, limits.
 * @returns The Hono application (`app.fetch` serves requests).
 * @throws {RangeError} When `maxBodyBytes` is not a positive integer.
 * @throws {TypeError} When a CORS origin is not an origin (`scheme://host[:port]`) or `*`,
 * or `traceUrl` is not an http(s) URL with `{traceId}`.
 */
export function createApiApp(options: ApiAppOptions): Hono<ApiEnv> {
  const log = getOaoLogger("api");
  const maxBodyBytes = options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
  if (!Number.isInteger(maxBodyBytes) || maxBodyBytes < 1) {
    throw new RangeError(
      `Invalid maxBodyBytes ${JSON.stringify(maxBodyBytes)}: expected a positive integer`,
    );
  }
  const routes = options.routes ?? API_ROUTES;
  if (options.traceUrl !== undefined) _checkTraceUrl(options.traceUrl);
  const tokens: readonly ApiToken[] = [
    ...(options.token ? [{ name: DEFAULT_TOKEN_NAME, token: options.token }] : []),
    ...(options.tokens ?? []),
  ];
  const bodyTimeoutMs = options.bodyTimeoutMs ?? BODY_TIMEOUT_MS;
  const deps: ApiDeps = {
    backend: options.backend,
    eventStore: options.eventStore,
    metrics: options.metrics,
    ready: options.ready ?? (() => Promise.resolve(true)),
    queue: options.queue,
    maxBodyBytes,
    shutdown: options.shutdown ?? new AbortController().signal,
    keepAliveMs: options.keepAliveMs ?? 15_000,
    issueStreamToken: tokens.length
      ? (executionId) => issueStreamToken(tokens[0]!.token, executionId, Date.now())
      : undefined,
    scheduler: options.scheduler,
    traceUrl: options.traceUrl,
    statuses: new _StatusCache(),
    openApi: (serverUrl) =>
      openApiDocument(routes, { agents: options.backend.agents(), serverUrl }),
  };
  const patterns = routes.map((route) => ({
    path: honoPath(route),
    regex: _patternRegex(honoPath(route)),
    method: route.spec.method.toUpperCase(),
  }));
  // The methods of the routes whose pattern matches `path` (the metrics then
  // count the request under that pattern, not as unmatched).
  const allowOf = (c: Context<ApiEnv>): string[] => {
    const methods = new Set<string>();
    for (const p of patterns) {
      if (!p.regex.test(c.req.path)) continue;
      if (!methods.size) c.set("route", p.path);
      for (const m of p.method === "GET" ? METHODS_OF_GET : [p.method]) methods.add(m);
    }
    if (methods.size) methods.add("OPTIONS");
    return [...methods];
  };

  const app = new Hono<ApiEnv>({ strict: false });
  const origins = _corsOrigins(options.corsOrigins ?? []);
  const answer = (c: Context<ApiEnv>, error: ApiError) => {
    const response = errorResponse(error);
    response.headers.set("x-request-id", c.get("requestId"));
    return response;
  };
  app.use(_edge(options.metrics, _guard(options.allowedHosts, origins, deps.shutdown), answer));
  if (origins.length) {
    app.use(cors({
      origin: origins.includes("*") ? "*" : [...origins],
      allowMethods: ["GET", "HEAD", "POST", "DELETE", "OPTIONS"],
      allowHeaders: [
        "authorization",
        "content-type",
        "idempotency-key",
        "last-event-id",
        "traceparent",
        "tracestate",
      ],
      exposeHeaders: ["location", "retry-after", "x-request-id", "etag", "allow"],
      maxAge: 600,
    }));
  }

  for (const route of routes) {
    const path = honoPath(route);
    // Checks what can be checked at once; answers whether a stream token
    // (?token=) must still be verified (asynchronously, in serve).
    const admit = (c: Context<ApiEnv>): string | undefined => {
      c.set("route", path);
      let pending: string | undefined;
      if (tokens.length && !route.public) {
        const holder = _holder(c.req.header("authorization"), tokens);
        if (holder !== undefined) c.set("principal", holder);
        else {
          pending = route.streamToken ? c.req.query("token") : undefined;
          if (!pending) throw _unauthorized();
        }
      }
      _negotiate(c.req.header("accept"), route.produces);
      return pending;
    };
    const serve = async (c: Context<ApiEnv>, pending: string | undefined) => {
      if (
        pending !== undefined &&
        !(await verifyStreamToken(tokens[0]!.token, c.req.param("id") ?? "", pending, Date.now()))
      ) throw _unauthorized("The stream token is wrong, expired or for another execution");
      const input = await readRouteInput(c, route.spec, maxBodyBytes, bodyTimeoutMs);
      const response = await route.handle(c, input, deps);
      response.headers.set("x-request-id", c.get("requestId"));
      return response;
    };
    const method = [route.spec.method.toUpperCase()];
    if (route.etag) {
      // Hono's etag hashes the answer: for the few routes without a cheaper version.
      const tag = etag({ weak: true });
      app.on(method, [path], async (c) => {
        const pending = admit(c);
        await tag(c, () => serve(c, pending).then((r) => void (c.res = r)));
      });
    } else {
      app.on(method, [path], (c) => serve(c, admit(c)));
    }
  }
  app.options("*", (c) => {
    const allow = allowOf(c);
    if (!allow.length) return answer(c, _notFound(c));
    return new Response(null, {
      status: 204,
      headers: { allow: allow.join(", "), "x-request-id": c.get("requestId") },
    });
  });
  app.notFound((c) => {
    const allow = allowOf(c);
    if (!allow.length) return answer(c, _notFound(c));
    return answer(
      c,
      new ApiError(
        405,
        "method_not_allowed",
        `Method ${c.req.method} is not allowed on "${c.req.path}" (allowed: ${allow.join(", ")})`,
        { allow: allow.join(", ") },
      ),
    );
  });
  app.onError((error, c) => answer(c, toApiError(error, log, c.get("requestId"))));
  return app;
}

/**
 * The API error of anything a handler or middleware threw. What is not a
 * known condition is an internal error: 500 with the request id (the log
 * line carries the same id and the details), never a 4xx and never a stack
 * trace or server path in the answer.
 *
 * @param error What was thrown.
 * @param log Where unexpected errors are logged.
 * @param requestId The request's id, for the 500's message.
 * @returns The error to answer with.
 */
export function toApiError(
  error: unknown,
  log: ReturnType<typeof getOaoLogger>,
  requestId?: string,
): ApiError {
  if (error instanceof ApiError) return error;
  if (error instanceof UnknownAgentError) return new ApiError(422, "unknown_agent", error.message);
  if (error instanceof ExecutionNotFoundError) {
    return new ApiError(404, "execution_not_found", error.message);
  }
  if (error instanceof URIError) {
    return new ApiError(400, "invalid_path", "The path is not valid percent-encoding");
  }
  if (error instanceof StoreUnavailableError) {
    log.error("Store unavailable: {error}", { error, requestId });
    return new ApiError(503, "store_unavailable", "The stores are unreachable; retry later");
  }
  if (error instanceof FencedError) return new ApiError(409, "fenced", error.message);
  if (error instanceof BackendBusyError) {
    return new ApiError(429, "too_many_executions", error.message, {
      "retry-after": String(error.retryAfterSeconds),
    });
  }
  if (error instanceof IdempotencyKeyReusedError) {
    return new ApiError(409, "idempotency_key_reused", error.message);
  }
  if (error instanceof HTTPException && error.status < 500) {
    return new ApiError(error.status, `http_${error.status}`, error.message || "Request refused");
  }
  log.error("Request {requestId} failed: {error}", { error, requestId: requestId ?? "-" });
  return new ApiError(
    500,
    "internal_error",
    `Internal error (request id ${requestId ?? "unknown"}: see the server log)`,
  );
}

/**
 * The edge, as one layer around every request: the request id, the checks
 * of {@linkcode _guard}, compression, and on every answer (errors, 404s and
 * preflights included) the secure headers, `Server-Timing` and the request
 * metrics.
 *
 * Why one hand-written layer instead of Hono's `requestId`, `secureHeaders`,
 * `timing` and `compress` in a row: each middleware is one more async frame
 * around every request, and on loopback under `wrk` the four cost about a
 * third of the throughput of `GET /executions/:id` (17.8k req/s with them,
 * 24k without `timing` alone, 24.5k without `secureHeaders` alone, 51.6k
 * without any layer; in-memory store, the server of bench/http_bench.ts).
 * What they set is static or one line; Hono's `compress` still does gzip,
 * `cors` and `etag` are Hono's. Answers carry only the headers that matter
 * for them: each response header costs about 1.2 µs in `Deno.serve`
 * (measured: 9 more headers took a bare Hono route from 47.7k to 31k req/s).
 */
function _edge(
  metrics: OaoMetrics,
  guard: (c: Context<ApiEnv>) => ApiError | undefined,
  answer: (c: Context<ApiEnv>, error: ApiError) => Response,
): MiddlewareHandler<ApiEnv> {
  const compress = compression();
  return async (c, next) => {
    const started = performance.now();
    const given = c.req.header("x-request-id");
    c.set(
      "requestId",
      given && given.length <= 200 && /^[\w\-=]+$/.test(given) ? given : crypto.randomUUID(),
    );
    const refused = guard(c);
    if (refused) c.res = answer(c, refused);
    else await compress(c, next);
    const ms = performance.now() - started;
    const headers = c.res.headers;
    headers.set("x-content-type-options", "nosniff");
    if (headers.get("content-type")?.startsWith("text/html")) {
      for (const [name, value] of PAGE_HEADERS) headers.set(name, value);
    }
    headers.set("server-timing", `total;dur=${ms.toFixed(1)}`);
    const streaming = headers.get("content-type")?.startsWith("text/event-stream");
    metrics.observeRequest(
      { method: c.req.method, route: c.get("route") ?? "unmatched", status: c.res.status },
      streaming ? undefined : ms / 1000,
    );
  };
}

/** Headers of HTML answers (the API reference page), beside `X-Content-Type-Options`. */
const PAGE_HEADERS: readonly (readonly [string, string])[] = [
  ["x-frame-options", "DENY"],
  ["referrer-policy", "no-referrer"],
];

/**
 * Refuses a malformed path (400 `invalid_path`), new work while the server
 * drains (503 `shutting_down`), requests for a host this server does not answer for (403
 * `host_not_allowed`: DNS rebinding) and browser requests from another site
 * that CORS does not allow (403 `cross_site_refused`: a page elsewhere
 * cannot start executions on a server without a token).
 */
function _guard(
  allowedHosts: readonly string[] | undefined,
  corsOrigins: readonly string[],
  shutdown: AbortSignal,
): (c: Context<ApiEnv>) => ApiError | undefined {
  const hosts = allowedHosts?.map((h) => h.toLowerCase().replace(/^\[|\]$/g, ""));
  return (c) => {
    if (c.req.path.includes("%")) {
      try {
        decodeURIComponent(c.req.path);
      } catch {
        return new ApiError(400, "invalid_path", "The path is not valid percent-encoding");
      }
    }
    if (shutdown.aborted && c.req.method === "POST") {
      return new ApiError(
        503,
        "shutting_down",
        "The server is shutting down: send the request to another node or retry later",
      );
    }
    if (hosts) {
      const host = _hostName(c.req.header("host") ?? "");
      if (
        !hosts.includes(host) && !(hosts.includes("127.0.0.1") && /^127\.\d+\.\d+\.\d+$/.test(host))
      ) {
        return new ApiError(
          403,
          "host_not_allowed",
          `This server does not answer for the host ${
            JSON.stringify(host.slice(0, 100))
          } (allowed: ${hosts.join(", ")}; set OAO_ALLOWED_HOSTS)`,
        );
      }
    }
    // A read from another site changes nothing and its answer stays unreadable
    // without CORS (the Host check above covers DNS rebinding): only the
    // other methods are checked.
    const method = c.req.method;
    if (method === "GET" || method === "HEAD") return undefined;
    const origin = c.req.header("origin");
    const site = c.req.header("sec-fetch-site");
    const crossSite = site === "cross-site" || site === "same-site" ||
      (origin !== undefined && origin !== "null" && !_sameOrigin(origin, c.req.url)) ||
      origin === "null";
    if (crossSite && !corsOrigins.includes("*") && !(origin && corsOrigins.includes(origin))) {
      return new ApiError(
        403,
        "cross_site_refused",
        `Requests from another site are refused${
          origin ? ` (origin ${JSON.stringify(origin.slice(0, 100))})` : ""
        }: list the origin in OAO_CORS_ORIGINS to allow it`,
      );
    }
    return undefined;
  };
}

function _checkTraceUrl(template: string): void {
  let ok = template.includes("{traceId}");
  try {
    ok &&= /^https?:$/.test(new URL(template.replaceAll("{traceId}", "x")).protocol);
  } catch {
    ok = false;
  }
  if (!ok) {
    throw new TypeError(
      `Invalid trace URL ${
        JSON.stringify(template)
      }: expected an http(s) URL with {traceId}, e.g. http://localhost:16686/trace/{traceId}`,
    );
  }
}

function _hostName(host: string): string {
  const lower = host.trim().toLowerCase();
  if (lower.startsWith("[")) {
    return lower.slice(1, lower.indexOf("]") > 0 ? lower.indexOf("]") : undefined);
  }
  return lower.replace(/:\d+$/, "");
}

function _sameOrigin(origin: string, url: string): boolean {
  try {
    return new URL(origin).host === new URL(url).host;
  } catch {
    return false;
  }
}

function _unauthorized(
  message = "Missing or wrong bearer token: send the header Authorization: Bearer <OAO_API_TOKEN>",
): ApiError {
  return new ApiError(401, "unauthorized", message, { "www-authenticate": 'Bearer realm="oao"' });
}

function _notFound(c: Context): ApiError {
  return new ApiError(
    404,
    "not_found",
    `No route "${new URL(c.req.url).pathname}" (see /openapi.json)`,
  );
}

/** Refuses a request whose `Accept` allows none of `produces` (406). */
function _negotiate(accept: string | undefined, produces: readonly string[]): void {
  if (!accept || !accept.trim()) return;
  const ranges = qualities(accept).map(({ value, q }) => ({ range: value, q }));
  const accepts = (type: string) => {
    const [major] = type.split("/");
    const match = ranges
      .filter((r) => r.range === type || r.range === `${major}/*` || r.range === "*/*")
      .sort((a, b) => b.range.length - a.range.length)[0];
    return match !== undefined && match.q > 0;
  };
  if (produces.some(accepts)) return;
  throw new ApiError(
    406,
    "not_acceptable",
    `Cannot answer with any type the Accept header "${accept}" allows (this route answers ${
      produces.join(", ")
    })`,
  );
}

function _patternRegex(path: string): RegExp {
  const body = path.split("/").map((s) => s.startsWith(":") ? "[^/]+" : _escape(s)).join("/");
  return new RegExp(`^${body}/?$`);
}

function _escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

function _corsOrigins(origins: readonly string[]): string[] {
  return origins.map((o) => o.trim()).filter(Boolean).map((origin) => {
    if (origin === "*") return origin;
    let url: URL;
    try {
      url = new URL(origin);
    } catch {
      throw new TypeError(
        `Invalid CORS origin ${JSON.stringify(origin)}: expected scheme://host[:port] or "*"`,
      );
    }
    if (url.origin !== origin.replace(/\/$/, "")) {
      throw new TypeError(
        `Invalid CORS origin ${
          JSON.stringify(origin)
        }: expected scheme://host[:port] with no path, or "*"`,
      );
    }
    return url.origin;
  });
}

// The name of the token the header carries, compared in constant time with every token.
function _holder(header: string | undefined, tokens: readonly ApiToken[]): string | undefined {
  const match = /^Bearer\s+(.+)$/i.exec((header ?? "").trim());
  if (!match) return undefined;
  const a = new TextEncoder().encode(match[1]);
  let holder: string | undefined;
  for (const { name, token } of tokens) {
    const b = new TextEncoder().encode(token);
    let diff = a.length ^ b.length;
    for (let i = 0; i < b.length; i++) diff |= (a[i % (a.length || 1)] ?? 0) ^ b[i]!;
    if (diff === 0 && holder === undefined) holder = name;
  }
  return holder;
}
