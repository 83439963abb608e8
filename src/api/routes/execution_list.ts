/**
 * `GET /executions`: executions newest first, filtered by status, agent,
 * what they wait for and creation time, a page at a time (`listExecutions`
 * in `src/orchestrator/execution_list.ts`, over the event store's
 * executions index). `status` and `waitingFor` may be repeated or given as
 * comma lists; every bad parameter is a 400 that names it.
 *
 * @module
 */
import { createRoute, z } from "@hono/zod-openapi";
import { ApiError, json } from "../_http.ts";
import type { ApiRoute } from "../route.ts";
import { ExecutionListSchema, integerQuery } from "../schemas.ts";
import { AUTH_ANSWERS, errorAnswer, jsonContent } from "./_responses.ts";
import { EXECUTION_STATUSES } from "../../orchestrator/execution_report.ts";
import {
  type ExecutionListFilter,
  listExecutions,
  WAIT_KINDS,
} from "../../orchestrator/execution_list.ts";

const TIME = "ISO 8601 date-time (2025-01-31T12:00:00Z) or epoch milliseconds";
const LIST_QUERY = z.object({
  status: z.string().optional().openapi({
    description: `Only these statuses (${
      EXECUTION_STATUSES.join(", ")
    }): repeat it or give a comma list`,
    example: "RUNNING,NEEDS_DECISION",
  }),
  agent: z.string().optional().openapi({ description: "Only this agent" }),
  waitingFor: z.string().optional().openapi({
    description: `Only executions waiting for one of these (${
      WAIT_KINDS.join(", ")
    }): repeat it or give a comma list`,
    example: "approval",
  }),
  createdAfter: z.string().optional().openapi({
    description: `Only executions created at or after this time: ${TIME}`,
  }),
  createdBefore: z.string().optional().openapi({
    description: `Only executions created before this time: ${TIME}`,
  }),
  cursor: z.string().optional().openapi({ description: "The nextCursor of the previous page" }),
  limit: integerQuery({ min: 1, max: 500, default: 50, description: "Executions per page" }),
});

/** `GET /executions`: a page of executions, newest first. */
export const listExecutionsRoute: ApiRoute = {
  spec: createRoute({
    method: "get",
    path: "/executions",
    operationId: "listExecutions",
    summary: "List executions, newest first, with filters and a cursor",
    description:
      "Read from the executions index that the event store updates with every status change; executions leave it with their log's retention (7 days by default). Workflows are listed by GET /workflows.",
    request: { query: LIST_QUERY },
    responses: {
      200: { description: "A page of executions", content: jsonContent(ExecutionListSchema) },
      400: errorAnswer("Unknown status or waitingFor, bad time, cursor or limit (named)"),
      ...AUTH_ANSWERS,
      503: errorAnswer("The stores are unreachable (with Retry-After)"),
    },
  }),
  produces: ["application/json"],
  // Polled (the console refreshes its list every 2 s): an unchanged page is a 304.
  etag: true,
  async handle(c, { query }, deps) {
    const filter: ExecutionListFilter = {
      limit: (query.limit as number | undefined) ?? 50,
    };
    const statuses = _words(c.req.queries("status"));
    if (statuses) filter.status = _known("status", statuses, EXECUTION_STATUSES);
    const waits = _words(c.req.queries("waitingFor"));
    if (waits) filter.waitingFor = _known("waitingFor", waits, WAIT_KINDS);
    const agent = query.agent as string | undefined;
    if (agent !== undefined) {
      if (agent.length === 0 || agent.length > 200) {
        throw _invalid("agent", agent, "expected 1–200 characters");
      }
      filter.agent = agent;
    }
    for (const name of ["createdAfter", "createdBefore"] as const) {
      const raw = query[name] as string | undefined;
      if (raw !== undefined) filter[name] = _time(name, raw);
    }
    const cursor = query.cursor as string | undefined;
    if (cursor !== undefined) filter.cursor = cursor;
    try {
      return json(await listExecutions(deps.eventStore, filter));
    } catch (error) {
      // Only the cursor is left for the store to judge (its message names it).
      if (error instanceof TypeError && /cursor/.test(error.message)) {
        throw _invalid("cursor", cursor ?? "", "expected the nextCursor of the previous page");
      }
      throw error;
    }
  },
};

function _words(values: string[] | undefined): string[] | undefined {
  if (!values || values.length === 0) return undefined;
  return values.flatMap((value) => value.split(",")).map((value) => value.trim());
}

function _known<T extends string>(name: string, values: string[], known: readonly T[]): T[] {
  for (const value of values) {
    if (!known.includes(value as T)) {
      throw _invalid(name, value, `expected one of ${known.join(", ")}`);
    }
  }
  return values as T[];
}

function _time(name: string, raw: string): number {
  const ms = /^\d{1,15}$/.test(raw) ? Number(raw) : Date.parse(raw);
  if (!Number.isSafeInteger(ms) || ms < 0 || !/^\d|^\d{4}-/.test(raw)) {
    throw _invalid(name, raw, `expected an ${TIME}`);
  }
  return ms;
}

function _invalid(name: string, value: string, expected: string): ApiError {
  const shown = value.length > 60 ? `${value.slice(0, 57)}...` : value;
  return new ApiError(
    400,
    "invalid_parameter",
    `Invalid query parameter "${name}" ${JSON.stringify(shown)}: ${expected}`,
  );
}
