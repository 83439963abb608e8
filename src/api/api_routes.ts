/**
 * Every route of the HTTP API, in matching order. The OpenAPI document
 * (`openapi.ts`) describes exactly these; a test keeps the two in step.
 *
 * @example
 * ```ts
 * import { API_ROUTES } from "./api_routes.ts";
 * console.assert(API_ROUTES.some((r) => r.method === "POST" && r.path === "/executions"));
 * ```
 *
 * @module
 */
import type { Route } from "./route.ts";
import { listEvents, streamEvents } from "./routes/events.ts";
import { cancelExecution, getExecution, submitExecution } from "./routes/executions.ts";
import { agents, healthz, metrics, openapi, readyz } from "./routes/service.ts";

/** The routes. */
export const API_ROUTES: readonly Route[] = [
  submitExecution,
  getExecution,
  listEvents,
  streamEvents,
  cancelExecution,
  agents,
  healthz,
  readyz,
  metrics,
  openapi,
];
