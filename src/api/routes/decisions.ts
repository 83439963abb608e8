/**
 * `POST /executions/:id/decisions/:callId`: an operator's decision on the
 * tool call an execution waits for (status `NEEDS_DECISION`: a call that is
 * not idempotent and whose outcome a crash left unknown). The decision is
 * recorded with who made it, and the execution goes on: in this process on
 * a monolithic node, on a worker node when this is an API node (the backend
 * enqueues the job that continues it). A backend without
 * `ExecutionBackend.resolve` answers 501.
 *
 * @module
 */
import { createRoute, z } from "@hono/zod-openapi";
import { ApiError, json } from "../_http.ts";
import type { ApiRoute } from "../route.ts";
import { DecisionRequestSchema } from "../schemas.ts";
import { errorAnswer, ID_ANSWERS, jsonContent } from "./_responses.ts";
import { notFound } from "./executions.ts";
import { notHere } from "./workflows.ts";
import { ExecutionBusyError, ExecutionNotFoundError } from "../../errors.ts";
import type { Decision } from "../../orchestrator/execution_report.ts";

const DecisionParams = z.object({
  id: z.string().openapi({ param: { name: "id", in: "path" }, description: "Execution id" }),
  callId: z.string().min(8).max(200).openapi({
    param: { name: "callId", in: "path" },
    description: "The call's id (`decision.callId` of the status), or its first 8+ characters",
  }),
});

/** `POST /executions/:id/decisions/:callId`: records a decision and resumes; 202. */
export const decideCall: ApiRoute = {
  spec: createRoute({
    method: "post",
    path: "/executions/{id}/decisions/{callId}",
    operationId: "decideCall",
    summary: "Decide on a tool call whose outcome a crash left unknown, and continue",
    request: {
      params: DecisionParams,
      body: { required: true, content: jsonContent(DecisionRequestSchema) },
    },
    responses: {
      202: {
        description:
          "Recorded; the execution runs again (in this process, or on a worker node of a distributed deployment)",
        content: jsonContent(z.object({
          executionId: z.string(),
          callId: z.string(),
          decision: z.enum(["succeeded", "failed", "rerun"]),
          status: z.literal("RUNNING"),
        })),
      },
      ...ID_ANSWERS,
      408: errorAnswer("The body did not arrive in time"),
      409: errorAnswer(
        "The execution waits for no decision on this call, or another runner holds it",
      ),
      413: errorAnswer("Body larger than the limit (1 MiB by default)"),
      415: errorAnswer("Content type other than application/json"),
      501: errorAnswer("This node's backend cannot continue executions after a decision"),
    },
  }),
  produces: ["application/json"],
  async handle(_c, { params, body }, deps) {
    const id = params.id!;
    const callId = params.callId!;
    const resolve = deps.backend.resolve?.bind(deps.backend);
    if (!resolve) throw notHere("resume executions after a decision");
    const given = body as Record<string, unknown>;
    const fields = ["succeeded", "failed", "rerun"].filter((k) => k in given);
    if (fields.length !== 1) {
      throw new ApiError(
        400,
        "invalid_request",
        `Invalid decision: expected exactly one of "succeeded", "failed", "rerun" (got ${
          fields.length ? fields.map((f) => `"${f}"`).join(", ") : "none"
        })`,
      );
    }
    try {
      await resolve(id, callId, given as Decision, "HTTP API");
    } catch (error) {
      if (error instanceof ExecutionNotFoundError) throw notFound(id);
      if (error instanceof ExecutionBusyError) {
        throw new ApiError(409, "execution_busy", error.message);
      }
      if (error instanceof TypeError) {
        const invalid = /^Invalid decision/.test(error.message);
        throw new ApiError(
          invalid ? 400 : 409,
          invalid ? "invalid_request" : "no_pending_decision",
          error.message,
        );
      }
      throw error;
    }
    return json({ executionId: id, callId, decision: fields[0], status: "RUNNING" }, 202);
  },
};
