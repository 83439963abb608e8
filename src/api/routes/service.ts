/**
 * Routes of the service itself: health (`/healthz`, `/readyz`), metrics
 * (`/metrics`), the OpenAPI document (`/openapi.json`) and the agents that
 * can be requested (`/agents`).
 *
 * @module
 */
import { ApiError, json } from "../_http.ts";
import { openApiDocument } from "../openapi.ts";
import type { Route } from "../route.ts";

/** `GET /healthz`: the process is up. Public. */
export const healthz: Route = {
  method: "GET",
  path: "/healthz",
  public: true,
  summary: "Liveness",
  handle: () => json({ status: "ok" }),
};

/** `GET /readyz`: the stores (Redis) are reachable and the server is not shutting down. Public. */
export const readyz: Route = {
  method: "GET",
  path: "/readyz",
  public: true,
  summary: "Readiness (Redis reachable)",
  async handle({ deps }) {
    if (deps.shutdown.aborted) {
      throw new ApiError(503, "shutting_down", "The server is shutting down");
    }
    if (!(await deps.ready())) {
      throw new ApiError(
        503,
        "not_ready",
        "The stores are unreachable (Redis did not answer PING)",
      );
    }
    return json({ status: "ready" });
  },
};

/** `GET /metrics`: Prometheus text format. */
export const metrics: Route = {
  method: "GET",
  path: "/metrics",
  summary: "Prometheus metrics",
  async handle({ deps }) {
    return new Response(await deps.metrics.render(), {
      headers: { "content-type": "text/plain; version=0.0.4; charset=utf-8" },
    });
  },
};

/** `GET /openapi.json`: the OpenAPI 3.1 description of this API. */
export const openapi: Route = {
  method: "GET",
  path: "/openapi.json",
  summary: "OpenAPI description",
  handle: ({ deps }) => json(openApiDocument({ agents: deps.backend.agents() })),
};

/** `GET /agents`: names of the agents `POST /executions` accepts. */
export const agents: Route = {
  method: "GET",
  path: "/agents",
  summary: "Registered agents",
  handle: ({ deps }) => json({ agents: deps.backend.agents(), mode: deps.backend.mode }),
};
