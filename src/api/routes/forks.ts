/**
 * `POST /executions/:id/fork`: a new execution that shares an execution's
 * history up to a completed step and continues from the state after it (the
 * tool calls of the shared steps are answered from the copied log). The
 * original execution is left as it is. Needs a backend that runs executions
 * in its process (the monolithic node): others answer 501.
 *
 * @module
 */
import { createRoute, z } from "@hono/zod-openapi";
import { ApiError, json } from "../_http.ts";
import type { ApiRoute } from "../route.ts";
import { ExecutionIdParams, ForkRequestSchema, ForkResponseSchema } from "../schemas.ts";
import { errorAnswer, ID_ANSWERS, jsonContent } from "./_responses.ts";
import { notFound } from "./executions.ts";
import { notHere } from "./workflows.ts";
import { ExecutionNotFoundError } from "../../errors.ts";
import { projectExecution } from "../../orchestrator/execution_view.ts";

/** `POST /executions/:id/fork`: forks an execution from a completed step; 202 with the new id. */
export const forkExecution: ApiRoute = {
  spec: createRoute({
    method: "post",
    path: "/executions/{id}/fork",
    operationId: "forkExecution",
    summary: "Fork an execution from a completed step into a new execution",
    request: {
      params: ExecutionIdParams,
      body: { required: true, content: jsonContent(ForkRequestSchema) },
    },
    responses: {
      202: {
        description: "Accepted: the new execution is running",
        headers: z.object({ Location: z.string() }),
        content: jsonContent(ForkResponseSchema),
      },
      ...ID_ANSWERS,
      408: errorAnswer("The body did not arrive in time"),
      409: errorAnswer("The new execution id is taken"),
      413: errorAnswer("Body larger than the limit (1 MiB by default)"),
      415: errorAnswer("Content type other than application/json"),
      422: errorAnswer("fromStep is not a completed step of the execution"),
      501: errorAnswer(
        "This node does not run executions (an API node of a distributed deployment)",
      ),
    },
  }),
  produces: ["application/json"],
  async handle(_c, { params, body }, deps) {
    const source = params.id!;
    const { fromStep, id } = body as z.output<typeof ForkRequestSchema>;
    const fork = deps.backend.fork?.bind(deps.backend);
    if (!fork) throw notHere("fork executions");
    let completed: number[];
    try {
      const view = projectExecution(source, await deps.eventStore.readRange(source));
      completed = [...view.completed.keys()];
    } catch (error) {
      if (error instanceof ExecutionNotFoundError) throw notFound(source);
      throw error;
    }
    if (!completed.includes(fromStep)) {
      throw new ApiError(
        422,
        "invalid_step",
        `Invalid field "fromStep": step ${fromStep} is not a completed step of "${source}" (completed: ${
          completed.join(", ") || "none"
        })`,
      );
    }
    if (id !== undefined && (await deps.eventStore.count(id)) > 0) {
      throw new ApiError(409, "execution_exists", `Execution "${id}" already exists`);
    }
    let executionId: string;
    try {
      ({ executionId } = await fork(source, {
        fromStep,
        ...(id === undefined ? {} : { executionId: id }),
      }));
    } catch (error) {
      // Checked above: what is left is an id taken in the meantime.
      if (error instanceof TypeError) throw new ApiError(409, "execution_exists", error.message);
      throw error;
    }
    const base = `/executions/${encodeURIComponent(executionId)}`;
    return json(
      {
        executionId,
        forkedFrom: { executionId: source, step: fromStep },
        status: "RUNNING",
        links: { status: base, events: `${base}/events`, stream: `${base}/stream` },
      },
      202,
      { location: base },
    );
  },
};
