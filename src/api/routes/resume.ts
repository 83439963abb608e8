/**
 * `POST /executions/:id/resume`: continues an unfinished execution that no
 * runner holds (its process died, or it was stopped) from its event log, as
 * `oao resume` does: in this process on a monolithic node; on an API node
 * the backend enqueues a job that resumes it on a worker node (a dead job
 * can also be re-enqueued, `POST /queue/dead/:jobId/requeue`). A backend
 * without `ExecutionBackend.resume` answers 501. An execution that has not
 * started (`QUEUED`: its place in this node's line, or its job, starts it)
 * is 409 `queued` on both kinds of node: a resume would do nothing.
 *
 * @module
 */
import { createRoute, z } from "@hono/zod-openapi";
import { ApiError, json } from "../_http.ts";
import type { ApiRoute } from "../route.ts";
import { ExecutionIdParams } from "../schemas.ts";
import { errorAnswer, ID_ANSWERS, jsonContent } from "./_responses.ts";
import { unfinishedStatus } from "./executions.ts";
import { notHere } from "./workflows.ts";
import { ExecutionBusyError, ExecutionHashMismatchError } from "../../errors.ts";

/** `POST /executions/:id/resume`: resumes an unfinished execution; 202. */
export const resumeExecution: ApiRoute = {
  spec: createRoute({
    method: "post",
    path: "/executions/{id}/resume",
    operationId: "resumeExecution",
    summary: "Resume an unfinished execution from its event log",
    request: { params: ExecutionIdParams },
    responses: {
      202: {
        description:
          "Accepted: the execution runs again (in this process, or on a worker node of a distributed deployment)",
        content: jsonContent(z.object({ executionId: z.string(), status: z.literal("RUNNING") })),
      },
      ...ID_ANSWERS,
      409: errorAnswer(
        "Already finished, run by another runner, its agent, tools or policy changed, not started yet (queued: what queued it starts it), or it waits for a decision (needs_decision: decide instead)",
      ),
      501: errorAnswer("This node's backend cannot resume executions"),
    },
  }),
  produces: ["application/json"],
  async handle(_c, { params }, deps) {
    const id = params.id!;
    const resume = deps.backend.resume?.bind(deps.backend);
    if (!resume) throw notHere("resume executions");
    const { status, decision } = await unfinishedStatus(id, deps);
    if (status === "QUEUED") {
      // Nothing to continue: the node's line, or the execution's own job, starts it.
      throw new ApiError(
        409,
        "queued",
        `Execution "${id}" is QUEUED: it has not started, and ${
          deps.backend.mode === "local"
            ? "the node that accepted it starts it when it has room"
            : "its job starts it when a worker node takes it"
        }; a resume would do nothing`,
      );
    }
    if (status === "NEEDS_DECISION") {
      // Resumed, it would stop at the same call: the decision is what continues it.
      const callId = decision?.callId ?? "<callId>";
      throw new ApiError(
        409,
        "needs_decision",
        `Execution "${id}" waits for a decision on its call of "${
          decision?.tool ?? "a tool"
        }" (${callId}): a resume would stop at that call again; decide with POST /executions/${id}/decisions/${callId}`,
      );
    }
    try {
      await resume(id);
    } catch (error) {
      if (error instanceof ExecutionBusyError) {
        throw new ApiError(409, "already_running", error.message);
      }
      if (error instanceof ExecutionHashMismatchError) {
        throw new ApiError(409, "execution_changed", error.message);
      }
      throw error;
    }
    return json({ executionId: id, status: "RUNNING" }, 202);
  },
};
