/**
 * Approvals over HTTP: `POST /executions/:id/approvals/:callId` records a
 * person's decision on a tool call that waits for approval — who decided is
 * the name of the API token the request carries — and `GET /approvals`
 * lists the calls that wait, across executions. Both work on every node
 * that shares the stores (API nodes of a distributed deployment included):
 * the decision is one append to the execution's log, which the run takes
 * in whichever process runs it, or when it is resumed.
 *
 * @module
 */
import { createRoute, z } from "@hono/zod-openapi";
import { ApiError, json } from "../_http.ts";
import type { ApiRoute } from "../route.ts";
import {
  ApprovalDecisionSchema,
  ExecutionIdParams,
  integerQuery,
  PendingApprovalSchema,
} from "../schemas.ts";
import { AUTH_ANSWERS, errorAnswer, ID_ANSWERS, jsonContent } from "./_responses.ts";
import { notFound } from "./executions.ts";
import { ExecutionFinishedError, ExecutionNotFoundError } from "../../errors.ts";
import {
  ApprovalAlreadyDecidedError,
  ApprovalNotFoundError,
} from "../../orchestrator/approvals.ts";
import {
  approvalCandidates,
  decideApproval,
  listPendingApprovals,
} from "../../orchestrator/_approvals.ts";

const ApprovalParams = ExecutionIdParams.extend({
  callId: z.string().min(8).max(200).openapi({
    param: { name: "callId", in: "path" },
    description:
      "The call's id (`callId` of `GET /approvals` or of the status's `waitingFor`), or its first 8+ characters",
  }),
});

/** `POST /executions/:id/approvals/:callId`: approves or denies a call; 202. */
export const decideApprovalRoute: ApiRoute = {
  spec: createRoute({
    method: "post",
    path: "/executions/{id}/approvals/{callId}",
    operationId: "decideApproval",
    summary: "Approve or deny a tool call that waits for a person's approval",
    request: {
      params: ApprovalParams,
      body: { required: true, content: jsonContent(ApprovalDecisionSchema) },
    },
    responses: {
      202: {
        description: "Recorded (APPROVAL_DECIDED, with who decided and why); the execution goes on",
        content: jsonContent(z.object({
          executionId: z.string(),
          callId: z.string(),
          tool: z.string(),
          decision: z.enum(["approve", "deny"]),
          reason: z.string().optional(),
          by: z.string().openapi({ description: "The name of the API token of the request" }),
          seq: z.int().openapi({ description: "Sequence number of the APPROVAL_DECIDED event" }),
        })),
      },
      ...ID_ANSWERS,
      404: errorAnswer("No such execution, or it has no approval request for that call"),
      408: errorAnswer("The body did not arrive in time"),
      409: errorAnswer(
        "The call was decided already (or timed out), or the execution already finished",
      ),
      413: errorAnswer("Body larger than the limit (1 MiB by default)"),
      415: errorAnswer("Content type other than application/json"),
    },
  }),
  produces: ["application/json"],
  async handle(c, { params, body }, deps) {
    const id = params.id!;
    const callId = params.callId!;
    const by = c.get("principal") ?? "anonymous";
    try {
      const recorded = await decideApproval(deps.eventStore, id, callId, { decision: body, by });
      return json({ executionId: id, ...recorded }, 202);
    } catch (error) {
      if (error instanceof ExecutionNotFoundError) throw notFound(id);
      if (error instanceof ApprovalNotFoundError) {
        throw new ApiError(404, "approval_not_found", error.message);
      }
      if (error instanceof ApprovalAlreadyDecidedError) {
        throw new ApiError(409, "already_decided", error.message);
      }
      if (error instanceof ExecutionFinishedError) {
        throw new ApiError(409, "already_finished", error.message);
      }
      if (error instanceof TypeError) throw new ApiError(400, "invalid_request", error.message);
      throw error;
    }
  },
};

/** `GET /approvals`: the tool calls that wait for a person's approval. */
export const listApprovalsRoute: ApiRoute = {
  spec: createRoute({
    method: "get",
    path: "/approvals",
    operationId: "listApprovals",
    summary: "Tool calls that wait for a person's approval, across executions, oldest first",
    request: {
      query: z.object({
        limit: integerQuery({
          min: 1,
          max: 10_000,
          default: 1_000,
          description: "How many waiting executions to look in, newest first",
        }),
      }),
    },
    responses: {
      200: {
        description: "The pending approvals",
        content: jsonContent(z.object({ approvals: z.array(PendingApprovalSchema) })),
      },
      400: errorAnswer("Invalid parameter"),
      ...AUTH_ANSWERS,
      503: errorAnswer("The stores are unreachable (with Retry-After)"),
    },
  }),
  produces: ["application/json"],
  async handle(_c, { query }, deps) {
    const limit = (query.limit as number | undefined) ?? 1_000;
    const ids = await approvalCandidates(deps.eventStore, limit);
    return json({ approvals: await listPendingApprovals(deps.eventStore, ids) });
  },
};
