/**
 * Routes of executions: submit (`POST /executions`), status polling
 * (`GET /executions/:id`) and cancellation (`POST /executions/:id/cancel`).
 *
 * @module
 */
import { createRoute, z } from "@hono/zod-openapi";
import { ApiError, conditional, json, jsonText } from "../_http.ts";
import { publicStatus } from "../_public.ts";
import { executionStatus, type ExecutionStatusBody } from "../execution_status.ts";
import type { ApiDeps, ApiRoute } from "../route.ts";
import {
  CancelRequestSchema,
  ExecutionIdParams,
  ExecutionStatusSchema,
  SubmitRequestSchema,
  SubmitResponseSchema,
} from "../schemas.ts";
import { AUTH_ANSWERS, errorAnswer, ID_ANSWERS, jsonContent } from "./_responses.ts";
import { isFinal } from "../../orchestrator/execution_report.ts";
import type { ExecutionBackend, SubmitRequest } from "../../orchestrator/execution_backend.ts";
import type { PolicyLimits } from "../../orchestrator/policy.ts";
import { checkPolicy } from "./_policy_input.ts";
import { reservedKeyProblem } from "../../queue/_reserved_keys.ts";

const SubmitHeaders = z.object({
  "idempotency-key": z.string().min(1, { error: "expected a string of 1–200 characters" })
    .max(200, { error: "expected a string of 1–200 characters" }).optional()
    .openapi({
      description:
        "Same as the body's idempotencyKey; when both are sent they must be equal (else 400). Keys starting with oao-continue: or migrated: are the runtime's own (400)",
    }),
  traceparent: z.string().optional().openapi({
    description: "W3C trace context of the caller; the execution's trace continues it",
  }),
  tracestate: z.string().optional().openapi({ description: "W3C tracestate of the caller" }),
});

/** `POST /executions`: starts (or enqueues) an execution; 202 with its id. */
export const submitExecution: ApiRoute = {
  spec: createRoute({
    method: "post",
    path: "/executions",
    operationId: "submitExecution",
    summary: "Start an execution",
    request: {
      headers: SubmitHeaders,
      body: { required: true, content: jsonContent(SubmitRequestSchema) },
    },
    responses: {
      202: {
        description:
          "Accepted: the execution is running, or queued (for a worker, or for a place on this node)",
        headers: z.object({ Location: z.string() }),
        content: jsonContent(SubmitResponseSchema),
      },
      400: errorAnswer(
        "Malformed JSON, wrong field types, unknown fields, invalid policy, an idempotencyKey that differs from the header Idempotency-Key, or one starting with a prefix the runtime's own jobs use (oao-continue:, migrated:)",
      ),
      ...AUTH_ANSWERS,
      408: errorAnswer("The body did not arrive in time"),
      413: errorAnswer("Body larger than the limit (1 MiB by default)"),
      415: errorAnswer("Content type other than application/json"),
      409: errorAnswer("The idempotency key was used for a different request"),
      422: errorAnswer("Unknown agent"),
      429: errorAnswer("The node runs and queues as many executions as it may (with Retry-After)"),
      503: errorAnswer("The stores are unreachable (with Retry-After)"),
    },
  }),
  produces: ["application/json"],
  async handle(c, { body }, deps) {
    const submit = _submitRequest(
      body as z.output<typeof SubmitRequestSchema>,
      c.req.raw.headers,
      deps.backend,
    );
    const result = await deps.backend.submit(submit);
    const base = `/executions/${encodeURIComponent(result.executionId)}`;
    return json(
      {
        executionId: result.executionId,
        status: deps.backend.mode === "local" && !result.queued ? "RUNNING" : "QUEUED",
        duplicate: result.duplicate,
        links: {
          status: base,
          events: `${base}/events`,
          stream: `${base}/stream`,
          cancel: `${base}/cancel`,
        },
      },
      202,
      { location: base },
    );
  },
};

/** `GET /executions/:id`: status, step, totals, and the report once final. */
export const getExecution: ApiRoute = {
  spec: createRoute({
    method: "get",
    path: "/executions/{id}",
    operationId: "getExecution",
    summary: "Status of an execution (for polling; answers carry an ETag)",
    request: { params: ExecutionIdParams },
    responses: {
      200: { description: "Status", content: jsonContent(ExecutionStatusSchema) },
      304: { description: "Not modified since the ETag given in If-None-Match" },
      ...ID_ANSWERS,
    },
  }),
  produces: ["application/json"],
  async handle(c, { params }, deps) {
    const id = params.id!;
    const latest = await deps.eventStore.latest(id);
    let answer = latest && deps.statuses.get(id, latest);
    if (!answer) {
      const events = await deps.eventStore.readRange(id);
      const status = executionStatus(id, events);
      if (!status) throw notFound(id);
      answer = {
        body: JSON.stringify(publicStatus(status)),
        tag: `${status.eventCount}-${status.lastEventAt}`,
      };
      deps.statuses.set(id, events.at(-1)!, answer);
    }
    const { body, tag } = answer;
    return conditional(
      c.req.raw,
      tag,
      () => jsonText(body),
    );
  },
};

/** `POST /executions/:id/cancel`: requests cancellation; 202. */
export const cancelExecution: ApiRoute = {
  spec: createRoute({
    method: "post",
    path: "/executions/{id}/cancel",
    operationId: "cancelExecution",
    summary: "Cancel an execution",
    request: {
      params: ExecutionIdParams,
      body: { required: false, content: jsonContent(CancelRequestSchema) },
    },
    responses: {
      202: {
        description: "Cancellation requested; the status becomes CANCELLED shortly",
        content: jsonContent(
          z.object({ executionId: z.string(), cancelRequested: z.literal(true) }),
        ),
      },
      ...ID_ANSWERS,
      408: errorAnswer("The body did not arrive in time"),
      409: errorAnswer("Already finished, or not running in this process"),
      413: errorAnswer("Body larger than the limit (1 MiB by default)"),
      415: errorAnswer("Content type other than application/json"),
    },
  }),
  produces: ["application/json"],
  async handle(_c, { params, body }, deps) {
    const id = params.id!;
    const reason = (body as z.output<typeof CancelRequestSchema> | undefined)?.reason;
    const status = await unfinishedStatus(id, deps);
    if (!(await deps.backend.cancel(id, reason ?? "cancelled through the HTTP API"))) {
      throw new ApiError(
        409,
        "not_running_here",
        deps.backend.mode === "local"
          ? `Execution "${id}" is ${status.status} but not running in this process (it may belong to a process that stopped; resume it to continue)`
          : `Execution "${id}" is ${status.status} but the queue backend could not request its cancellation`,
      );
    }
    return json({ executionId: id, cancelRequested: true }, 202);
  },
};

/**
 * The status of an execution that has not finished.
 *
 * @param id The execution.
 * @param deps The server's dependencies.
 * @returns Its status.
 * @throws {ApiError} 404 when it is unknown, 409 `already_finished` when it finished.
 */
export async function unfinishedStatus(id: string, deps: ApiDeps): Promise<ExecutionStatusBody> {
  const status = executionStatus(id, await deps.eventStore.readRange(id));
  if (!status) throw notFound(id);
  if (isFinal(status.status)) {
    throw new ApiError(
      409,
      "already_finished",
      `Execution "${id}" already finished with status ${status.status}`,
    );
  }
  return status;
}

/**
 * The 404 of an unknown execution id.
 *
 * @param id The id.
 * @returns The error.
 */
export function notFound(id: string): ApiError {
  return new ApiError(404, "execution_not_found", `No execution "${id}" is recorded`);
}

function _submitRequest(
  body: z.output<typeof SubmitRequestSchema>,
  headers: Headers,
  backend: ExecutionBackend,
): SubmitRequest {
  const header = headers.get("idempotency-key") ?? undefined;
  if (header !== undefined && body.idempotencyKey !== undefined && header !== body.idempotencyKey) {
    throw new ApiError(
      400,
      "invalid_field",
      `Invalid field "idempotencyKey": ${
        JSON.stringify(body.idempotencyKey)
      } differs from the header Idempotency-Key ${
        JSON.stringify(header)
      }; send one, or both the same`,
    );
  }
  const agents = backend.agents();
  if (!agents.includes(body.agent)) {
    throw new ApiError(
      422,
      "unknown_agent",
      `No agent is registered as ${JSON.stringify(body.agent)} (registered: ${
        agents.map((a) => `"${a}"`).join(", ") || "none"
      })`,
    );
  }
  const request: SubmitRequest = { agent: body.agent, task: body.task };
  if (body.policy !== undefined) {
    try {
      checkPolicy(body.policy as Partial<PolicyLimits>, backend);
    } catch (error) {
      throw new ApiError(
        400,
        "invalid_field",
        `Invalid field "policy": ${(error as Error).message}`,
      );
    }
    request.policy = body.policy as Partial<PolicyLimits>;
  }
  const key = body.idempotencyKey ?? header;
  if (key !== undefined) {
    const reserved = reservedKeyProblem(key);
    if (reserved) {
      const [code, name] = body.idempotencyKey === undefined
        ? ["invalid_header", 'header "idempotency-key"']
        : ["invalid_field", 'field "idempotencyKey"'];
      throw new ApiError(400, code, `Invalid ${name} ${JSON.stringify(key)}: ${reserved}`);
    }
    request.idempotencyKey = key;
  }
  const traceparent = headers.get("traceparent");
  if (traceparent) request.traceparent = traceparent;
  const tracestate = headers.get("tracestate");
  if (tracestate) request.tracestate = tracestate;
  return request;
}
