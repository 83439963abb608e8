/**
 * Routes of cron schedules: create (`POST /schedules`), list, read, pause,
 * resume and delete. They need the node's scheduler (`oao start` and `oao
 * serve` run one); without it they answer 501.
 *
 * @module
 */
import { createRoute, z } from "@hono/zod-openapi";
import { ApiError, json } from "../_http.ts";
import type { ApiDeps, ApiRoute } from "../route.ts";
import {
  ScheduleIdParams,
  ScheduleListSchema,
  ScheduleRequestSchema,
  ScheduleSchema,
} from "../schemas.ts";
import { AUTH_ANSWERS, errorAnswer, jsonContent } from "./_responses.ts";
import type { Schedule, ScheduleSpec } from "../../schedule/schedule.ts";
import { ScheduleLimitError, type Scheduler } from "../../schedule/scheduler.ts";
import { ScheduleExistsError, ScheduleNotFoundError } from "../../schedule/schedule_store.ts";

const NOT_HERE = errorAnswer("This server runs no scheduler");
const UNAVAILABLE = errorAnswer("The stores are unreachable (with Retry-After)");
const ID_ANSWERS = {
  400: errorAnswer("Invalid schedule id"),
  ...AUTH_ANSWERS,
  404: errorAnswer("No such schedule"),
  501: NOT_HERE,
  503: UNAVAILABLE,
} as const;

/** `POST /schedules`: validates and stores a schedule; 201. */
export const createSchedule: ApiRoute = {
  spec: createRoute({
    method: "post",
    path: "/schedules",
    operationId: "createSchedule",
    summary: "Create a cron schedule that starts executions",
    request: { body: { required: true, content: jsonContent(ScheduleRequestSchema) } },
    responses: {
      201: {
        description: "Created",
        headers: z.object({ Location: z.string() }),
        content: jsonContent(ScheduleSchema),
      },
      400: errorAnswer(
        "Malformed JSON, unknown fields, an invalid cron expression or time zone (named), a task over 32 KiB",
      ),
      ...AUTH_ANSWERS,
      408: errorAnswer("The body did not arrive in time"),
      409: errorAnswer("The id is taken, or the most schedules allowed exist"),
      413: errorAnswer("Body larger than the limit (1 MiB by default)"),
      415: errorAnswer("Content type other than application/json"),
      422: errorAnswer("Unknown agent"),
      501: NOT_HERE,
      503: UNAVAILABLE,
    },
  }),
  produces: ["application/json"],
  async handle(_c, { body }, deps) {
    const scheduler = _scheduler(deps);
    let schedule: Schedule;
    try {
      schedule = await scheduler.create(body as ScheduleSpec);
    } catch (error) {
      if (error instanceof ScheduleLimitError) {
        throw new ApiError(409, "too_many_schedules", error.message);
      }
      if (error instanceof ScheduleExistsError) {
        throw new ApiError(409, "schedule_exists", error.message);
      }
      if (error instanceof TypeError || error instanceof RangeError) {
        throw new ApiError(400, "invalid_field", error.message);
      }
      throw error;
    }
    const location = `/schedules/${encodeURIComponent(schedule.id)}`;
    return json(_public(schedule, scheduler), 201, { location });
  },
};

/** `GET /schedules`: every schedule, sorted by id. */
export const listSchedules: ApiRoute = {
  spec: createRoute({
    method: "get",
    path: "/schedules",
    operationId: "listSchedules",
    summary: "List the schedules",
    responses: {
      200: { description: "The schedules", content: jsonContent(ScheduleListSchema) },
      ...AUTH_ANSWERS,
      501: NOT_HERE,
      503: UNAVAILABLE,
    },
  }),
  produces: ["application/json"],
  async handle(_c, _input, deps) {
    const scheduler = _scheduler(deps);
    const schedules = await scheduler.list();
    return json({ schedules: schedules.map((s) => _public(s, scheduler)) });
  },
};

/** `GET /schedules/:id`. */
export const getSchedule: ApiRoute = {
  spec: createRoute({
    method: "get",
    path: "/schedules/{id}",
    operationId: "getSchedule",
    summary: "A schedule, with its next tick and latest execution",
    request: { params: ScheduleIdParams },
    responses: {
      200: { description: "The schedule", content: jsonContent(ScheduleSchema) },
      ...ID_ANSWERS,
    },
  }),
  produces: ["application/json"],
  async handle(_c, { params }, deps) {
    const scheduler = _scheduler(deps);
    const schedule = await scheduler.get(params.id!);
    if (!schedule) throw _notFound(params.id!);
    return json(_public(schedule, scheduler));
  },
};

function _change(action: "pause" | "resume"): ApiRoute {
  return {
    spec: createRoute({
      method: "post",
      path: `/schedules/{id}/${action}`,
      operationId: `${action}Schedule`,
      summary: action === "pause"
        ? "Pause a schedule: its ticks are skipped"
        : "Resume a schedule: ticks after now start executions (the paused ones are not caught up)",
      request: { params: ScheduleIdParams },
      responses: {
        200: { description: "The schedule", content: jsonContent(ScheduleSchema) },
        ...ID_ANSWERS,
      },
    }),
    produces: ["application/json"],
    async handle(_c, { params }, deps) {
      const scheduler = _scheduler(deps);
      try {
        const schedule = await scheduler[action](params.id!);
        return json(_public(schedule, scheduler));
      } catch (error) {
        if (error instanceof ScheduleNotFoundError) throw _notFound(params.id!);
        throw error;
      }
    },
  };
}

/** `POST /schedules/:id/pause`. */
export const pauseSchedule: ApiRoute = _change("pause");
/** `POST /schedules/:id/resume`. */
export const resumeSchedule: ApiRoute = _change("resume");

/** `DELETE /schedules/:id`: 204; executions it started go on. */
export const deleteSchedule: ApiRoute = {
  spec: createRoute({
    method: "delete",
    path: "/schedules/{id}",
    operationId: "deleteSchedule",
    summary: "Delete a schedule (executions it started go on)",
    request: { params: ScheduleIdParams },
    responses: { 204: { description: "Deleted" }, ...ID_ANSWERS },
  }),
  produces: ["application/json"],
  async handle(_c, { params }, deps) {
    if (!(await _scheduler(deps).delete(params.id!))) throw _notFound(params.id!);
    return new Response(null, { status: 204 });
  },
};

/** The schedule routes. */
export const SCHEDULE_ROUTES: readonly ApiRoute[] = [
  createSchedule,
  listSchedules,
  getSchedule,
  pauseSchedule,
  resumeSchedule,
  deleteSchedule,
];

function _scheduler(deps: ApiDeps): Scheduler {
  if (!deps.scheduler) {
    throw new ApiError(501, "not_implemented", "This server runs no scheduler");
  }
  return deps.scheduler;
}

function _notFound(id: string): ApiError {
  return new ApiError(404, "schedule_not_found", `No schedule "${id}" exists`);
}

function _public(schedule: Schedule, scheduler: Scheduler): Record<string, unknown> {
  const { firing: _firing, version: _version, ...shown } = schedule;
  const nextTick = scheduler.nextTick(schedule);
  return nextTick === undefined ? shown : { ...shown, nextTick };
}
