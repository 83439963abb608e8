/**
 * Routes of the service itself: health (`/healthz`, `/readyz`), metrics
 * (`/metrics`), the OpenAPI document (`/openapi.json`) and the agents that
 * can be requested (`/agents`).
 *
 * @module
 */
import { createRoute, z } from "@hono/zod-openapi";
import { ApiError, json } from "../_http.ts";
import type { ApiRoute } from "../route.ts";
import { AUTH_ANSWERS, EDGE_ANSWERS, errorAnswer, jsonContent } from "./_responses.ts";

/** `GET /healthz`: the process is up. Public. */
export const healthz: ApiRoute = {
  spec: createRoute({
    method: "get",
    path: "/healthz",
    operationId: "healthz",
    summary: "Liveness",
    security: [],
    responses: {
      200: {
        description: "The process is up",
        content: jsonContent(z.object({ status: z.literal("ok") })),
      },
      ...EDGE_ANSWERS,
    },
  }),
  public: true,
  produces: ["application/json"],
  handle: () => json({ status: "ok" }),
};

/** `GET /readyz`: the stores (Redis) are reachable and the server is not shutting down. Public. */
export const readyz: ApiRoute = {
  spec: createRoute({
    method: "get",
    path: "/readyz",
    operationId: "readyz",
    summary: "Readiness: the stores are reachable and the server is not shutting down",
    security: [],
    responses: {
      200: {
        description: "Ready",
        content: jsonContent(z.object({ status: z.literal("ready") })),
      },
      ...EDGE_ANSWERS,
      503: errorAnswer("Stores unreachable, or shutting down (with Retry-After)"),
    },
  }),
  public: true,
  produces: ["application/json"],
  async handle(_c, _input, deps) {
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
export const metrics: ApiRoute = {
  spec: createRoute({
    method: "get",
    path: "/metrics",
    operationId: "metrics",
    summary: "Prometheus metrics (text format 0.0.4)",
    responses: {
      200: { description: "Metrics", content: { "text/plain": { schema: z.string() } } },
      ...AUTH_ANSWERS,
    },
  }),
  produces: ["text/plain"],
  async handle(_c, _input, deps) {
    return new Response(await deps.metrics.render(), {
      headers: { "content-type": deps.metrics.contentType },
    });
  },
};

/** `GET /openapi.json`: the OpenAPI 3.1 description of this API. */
export const openapi: ApiRoute = {
  spec: createRoute({
    method: "get",
    path: "/openapi.json",
    operationId: "openapi",
    summary: "This document",
    responses: {
      200: {
        description: "OpenAPI 3.1",
        content: jsonContent(z.record(z.string(), z.unknown())),
      },
      ...AUTH_ANSWERS,
    },
  }),
  produces: ["application/json"],
  etag: true,
  handle: (c, _input, deps) => json(deps.openApi(new URL(c.req.url).origin)),
};

/** `GET /agents`: names of the agents `POST /executions` accepts, and the tools they may call. */
export const agents: ApiRoute = {
  spec: createRoute({
    method: "get",
    path: "/agents",
    operationId: "listAgents",
    summary: "Agents that can be requested",
    responses: {
      200: {
        description: "Agent names, the backend mode and, on a node that runs executions, the tools",
        content: jsonContent(z.object({
          agents: z.array(z.string()),
          mode: z.enum(["local", "queue"]),
          tools: z.array(z.object({ name: z.string(), description: z.string().optional() }))
            .optional(),
          details: z.array(z.object({
            name: z.string(),
            version: z.string().optional(),
            description: z.string().optional(),
            tools: z.array(z.string()).optional().openapi({
              description: "Tools it may call (absent: every tool)",
            }),
            peers: z.array(z.string()).optional(),
            permissions: z.unknown().openapi({
              description: 'Deno permissions of its worker: "none" or the granted ones',
            }),
            isolation: z.string().optional(),
            maxRunning: z.number().int().optional(),
          })).optional().openapi({
            description:
              "On a node that runs executions: each agent's tools, permissions and limits",
          }),
        })),
      },
      ...AUTH_ANSWERS,
    },
  }),
  produces: ["application/json"],
  etag: true,
  handle: (_c, _input, deps) =>
    json({
      agents: deps.backend.agents(),
      mode: deps.backend.mode,
      ...(deps.backend.tools ? { tools: deps.backend.tools() } : {}),
      ...(deps.backend.agentDetails ? { details: deps.backend.agentDetails() } : {}),
    }),
};
