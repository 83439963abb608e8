/**
 * `GET /executions/:id/replay`: the execution rebuilt from its events alone —
 * no agent code runs, no tool is called — as `oao replay` does: the report
 * the log gives, every tool call with its outcome, and how many events it
 * was rebuilt from. A read, answered by any node on the stores.
 *
 * @module
 */
import { createRoute, z } from "@hono/zod-openapi";
import { json } from "../_http.ts";
import type { ApiRoute } from "../route.ts";
import { ExecutionIdParams, ExecutionReportSchema } from "../schemas.ts";
import { ID_ANSWERS, jsonContent } from "./_responses.ts";
import { notFound } from "./executions.ts";
import { ExecutionNotFoundError } from "../../errors.ts";
import { projectExecution } from "../../orchestrator/execution_view.ts";
import { reportFromView } from "../../orchestrator/orchestrator.ts";

const ReplaySchema = z.object({
  executionId: z.string(),
  events: z.number().int().describe("How many events the execution was rebuilt from"),
  report: ExecutionReportSchema,
  toolCalls: z.array(
    z.object({
      step: z.number().int(),
      tool: z.string(),
      key: z.string(),
      args: z.unknown(),
      outcome: z.enum(["success", "failed", "skipped", "pending"]),
      result: z.unknown().optional(),
    }).passthrough(),
  ).describe("Every tool call the log records, in order, with its outcome"),
}).openapi("Replay");

/** `GET /executions/:id/replay`: the execution rebuilt from its log. */
export const replayExecution: ApiRoute = {
  spec: createRoute({
    method: "get",
    path: "/executions/{id}/replay",
    operationId: "replayExecution",
    summary: "Rebuild an execution from its events alone (no agent code, no tool runs)",
    request: { params: ExecutionIdParams },
    responses: {
      200: { description: "The rebuilt execution", content: jsonContent(ReplaySchema) },
      ...ID_ANSWERS,
    },
  }),
  produces: ["application/json"],
  async handle(_c, { params }, deps) {
    const id = params.id!;
    const events = await deps.eventStore.readRange(id);
    let view;
    try {
      view = projectExecution(id, events);
    } catch (error) {
      if (error instanceof ExecutionNotFoundError) throw notFound(id);
      throw error;
    }
    return json({
      executionId: id,
      events: events.length,
      report: reportFromView(view),
      toolCalls: view.toolCalls,
    });
  },
};
