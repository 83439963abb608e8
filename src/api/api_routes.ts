/**
 * Every route of the HTTP API. The OpenAPI document (`openapi.ts`) is
 * generated from these definitions; the API reference page's routes are
 * served but not described.
 *
 * @example
 * ```ts
 * import { API_ROUTES } from "./api_routes.ts";
 * console.assert(
 *   API_ROUTES.some((r) => r.spec.method === "post" && r.spec.path === "/executions"),
 * );
 * ```
 *
 * @module
 */
import type { ApiRoute } from "./route.ts";
import { DOCS_ROUTES } from "./routes/docs.ts";
import { listEvents, streamEvents, streamToken } from "./routes/events.ts";
import { cancelExecution, getExecution, submitExecution } from "./routes/executions.ts";
import { listExecutionsRoute } from "./routes/execution_list.ts";
import { forkExecution } from "./routes/forks.ts";
import { decideCall } from "./routes/decisions.ts";
import { sendSignalRoute } from "./routes/signals.ts";
import { decideApprovalRoute, listApprovalsRoute } from "./routes/approvals.ts";
import { agents, healthz, metrics, openapi, readyz } from "./routes/service.ts";
import { WORKFLOW_ROUTES } from "./routes/workflows.ts";
import { SCHEDULE_ROUTES } from "./routes/schedules.ts";
import { QUEUE_ROUTES } from "./routes/queue.ts";
import { resumeExecution } from "./routes/resume.ts";
import { replayExecution } from "./routes/replay.ts";
import { CONSOLE_ROUTES } from "./routes/console.ts";

/** The routes. */
export const API_ROUTES: readonly ApiRoute[] = [
  submitExecution,
  listExecutionsRoute,
  getExecution,
  listEvents,
  streamEvents,
  streamToken,
  cancelExecution,
  forkExecution,
  resumeExecution,
  replayExecution,
  decideCall,
  sendSignalRoute,
  decideApprovalRoute,
  listApprovalsRoute,
  ...WORKFLOW_ROUTES,
  ...SCHEDULE_ROUTES,
  ...QUEUE_ROUTES,
  agents,
  healthz,
  readyz,
  metrics,
  openapi,
  ...DOCS_ROUTES,
  ...CONSOLE_ROUTES,
];
