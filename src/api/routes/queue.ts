/**
 * The job queue of a node that has one (`oao serve`: the queue worker
 * nodes take executions from): `GET /queue` shows its counts and its
 * dead letters with their last error, `POST /queue/dead/:jobId/requeue`
 * moves a dead job back to the queue with fresh attempts (as
 * `oao queue requeue`). A node without a queue answers 501.
 *
 * @module
 */
import { createRoute, z } from "@hono/zod-openapi";
import { ApiError, json } from "../_http.ts";
import type { ApiDeps, ApiRoute } from "../route.ts";
import { integerQuery } from "../schemas.ts";
import { AUTH_ANSWERS, errorAnswer, jsonContent } from "./_responses.ts";
import type { JobQueue } from "../../queue/job_queue.ts";

const DeadJobSchema = z.object({
  jobId: z.string(),
  executionId: z.string(),
  agent: z.string(),
  attempts: z.number().int(),
  lastError: z.string(),
  deadAt: z.number().int().openapi({ description: "Epoch ms it was dead-lettered" }),
}).openapi("DeadJob");

const QueueViewSchema = z.object({
  waiting: z.number().int().openapi({ description: "Jobs ready to run (the queue's depth)" }),
  delayed: z.number().int().openapi({ description: "Jobs waiting for a delay or a retry" }),
  inFlight: z.number().int().openapi({ description: "Jobs leased by a worker" }),
  dead: z.number().int().openapi({ description: "Jobs in the dead-letter queue" }),
  deadLetters: z.array(DeadJobSchema).openapi({ description: "Dead jobs, oldest first" }),
}).openapi("QueueView");

const JobIdParams = z.object({
  jobId: z.string().regex(/^[\w.:-]{1,200}$/, {
    error: 'expected 1–200 letters, digits, "_", ".", ":" or "-"',
  }).openapi({ param: { name: "jobId", in: "path" }, description: "A dead job's id" }),
});

const NO_QUEUE = errorAnswer("This node has no job queue (it runs executions in-process)");

/** `GET /queue`: the queue's counts and its dead letters. */
export const queueView: ApiRoute = {
  spec: createRoute({
    method: "get",
    path: "/queue",
    operationId: "getQueue",
    summary: "The job queue: depth, in flight, delayed and dead jobs with their last error",
    request: {
      query: z.object({
        limit: integerQuery({ min: 1, max: 1000, default: 100, description: "Dead jobs listed" }),
      }),
    },
    responses: {
      200: { description: "Counts and dead letters", content: jsonContent(QueueViewSchema) },
      400: errorAnswer("A bad limit (named)"),
      ...AUTH_ANSWERS,
      501: NO_QUEUE,
      503: errorAnswer("The stores are unreachable (with Retry-After)"),
    },
  }),
  produces: ["application/json"],
  async handle(_c, { query }, deps) {
    const queue = _queue(deps);
    const [stats, dead] = await Promise.all([
      queue.stats(),
      queue.deadLetters((query.limit as number | undefined) ?? 100),
    ]);
    return json({
      ...stats,
      deadLetters: dead.map((job) => ({
        jobId: job.jobId,
        executionId: job.spec.executionId,
        agent: job.spec.agent,
        attempts: job.attempts,
        lastError: job.lastError,
        deadAt: job.deadAt,
      })),
    });
  },
};

/** `POST /queue/dead/:jobId/requeue`: moves a dead job back to the queue. */
export const requeueDeadJob: ApiRoute = {
  spec: createRoute({
    method: "post",
    path: "/queue/dead/{jobId}/requeue",
    operationId: "requeueDeadJob",
    summary: "Re-enqueue a dead job with fresh attempts",
    description: "A worker takes it again and resumes its execution from the event log.",
    request: { params: JobIdParams },
    responses: {
      202: {
        description: "Re-enqueued",
        content: jsonContent(z.object({ jobId: z.string(), requeued: z.literal(true) })),
      },
      400: errorAnswer("A malformed job id"),
      ...AUTH_ANSWERS,
      404: errorAnswer("No dead job with this id"),
      501: NO_QUEUE,
      503: errorAnswer("The stores are unreachable (with Retry-After)"),
    },
  }),
  produces: ["application/json"],
  async handle(_c, { params }, deps) {
    const jobId = params.jobId!;
    if (!(await _queue(deps).requeueDead(jobId))) {
      throw new ApiError(
        404,
        "job_not_found",
        `No dead job "${jobId}" (it may have been re-enqueued already)`,
      );
    }
    return json({ jobId, requeued: true }, 202);
  },
};

/** The queue routes. */
export const QUEUE_ROUTES: readonly ApiRoute[] = [queueView, requeueDeadJob];

function _queue(deps: ApiDeps): JobQueue {
  if (!deps.queue) {
    throw new ApiError(
      501,
      "not_supported",
      'This node has no job queue: it runs executions in-process (the queue is on nodes started with "oao serve")',
    );
  }
  return deps.queue;
}
