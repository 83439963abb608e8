/**
 * Routes of executions: submit (`POST /executions`), status polling
 * (`GET /executions/:id`) and cancellation (`POST /executions/:id/cancel`).
 *
 * @module
 */
import { ApiError, checkId, json, readJson } from "../_http.ts";
import { executionStatus } from "../execution_status.ts";
import type { SubmitRequest } from "../../orchestrator/execution_backend.ts";
import type { Route } from "../route.ts";
import { isFinal } from "../../orchestrator/execution_report.ts";
import { type PolicyLimits, StrictPolicy } from "../../orchestrator/policy.ts";

const SUBMIT_FIELDS = ["agent", "task", "policy", "idempotencyKey"];

/** `POST /executions`: starts (or enqueues) an execution; 202 with its id. */
export const submitExecution: Route = {
  method: "POST",
  path: "/executions",
  summary: "Start an execution",
  async handle({ request, deps }) {
    const body = await readJson(request, deps.maxBodyBytes);
    const submit = _parseSubmit(body, request.headers, deps.backend.agents());
    const result = await deps.backend.submit(submit);
    const base = `/executions/${encodeURIComponent(result.executionId)}`;
    return json(
      {
        executionId: result.executionId,
        status: deps.backend.mode === "local" ? "RUNNING" : "QUEUED",
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
export const getExecution: Route = {
  method: "GET",
  path: "/executions/:id",
  summary: "Status of an execution",
  async handle({ params, deps }) {
    const id = checkId(params.id);
    const status = executionStatus(id, await deps.eventStore.readRange(id));
    if (!status) throw notFound(id);
    return json(status);
  },
};

/** `POST /executions/:id/cancel`: requests cancellation; 202. */
export const cancelExecution: Route = {
  method: "POST",
  path: "/executions/:id/cancel",
  summary: "Cancel an execution",
  async handle({ request, params, deps }) {
    const id = checkId(params.id);
    const body = await readJson(request, deps.maxBodyBytes, { optional: true });
    let reason: string | undefined;
    if (body !== undefined) {
      if (typeof body !== "object" || body === null || Array.isArray(body)) {
        throw new ApiError(
          400,
          "invalid_body",
          'Request body must be a JSON object: { "reason"?: string }',
        );
      }
      for (const key of Object.keys(body)) {
        if (key !== "reason") {
          throw new ApiError(400, "unknown_field", `Unknown field "${key}" (expected "reason")`);
        }
      }
      const given = (body as { reason?: unknown }).reason;
      if (given !== undefined && (typeof given !== "string" || given.length > 500)) {
        throw new ApiError(
          400,
          "invalid_field",
          `Invalid field "reason": expected a string of at most 500 characters`,
        );
      }
      reason = given as string | undefined;
    }
    const status = executionStatus(id, await deps.eventStore.readRange(id));
    if (!status) throw notFound(id);
    if (isFinal(status.status)) {
      throw new ApiError(
        409,
        "already_finished",
        `Execution "${id}" already finished with status ${status.status}`,
      );
    }
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
 * The 404 of an unknown execution id.
 *
 * @param id The id.
 * @returns The error.
 */
export function notFound(id: string): ApiError {
  return new ApiError(404, "execution_not_found", `No execution "${id}" is recorded`);
}

function _parseSubmit(body: unknown, headers: Headers, agents: string[]): SubmitRequest {
  if (typeof body !== "object" || body === null || Array.isArray(body)) {
    throw new ApiError(
      400,
      "invalid_body",
      'Request body must be a JSON object: { "agent": string, "task": any, "policy"?: object, "idempotencyKey"?: string }',
    );
  }
  const record = body as Record<string, unknown>;
  for (const key of Object.keys(record)) {
    if (!SUBMIT_FIELDS.includes(key)) {
      throw new ApiError(
        400,
        "unknown_field",
        `Unknown field "${key}" (expected ${SUBMIT_FIELDS.map((f) => `"${f}"`).join(", ")})`,
      );
    }
  }
  const field = (name: string, expected: string) =>
    new ApiError(400, "invalid_field", `Invalid field "${name}": expected ${expected}`);
  if (typeof record.agent !== "string" || record.agent === "") {
    throw field("agent", "the name of a registered agent (a string)");
  }
  if (!agents.includes(record.agent)) {
    throw new ApiError(
      422,
      "unknown_agent",
      `No agent is registered as ${JSON.stringify(record.agent)} (registered: ${
        agents.map((a) => `"${a}"`).join(", ") || "none"
      })`,
    );
  }
  if (!("task" in record)) throw field("task", "the task (any JSON value)");
  const request: SubmitRequest = { agent: record.agent, task: record.task };
  if (record.policy !== undefined) {
    if (
      typeof record.policy !== "object" || record.policy === null || Array.isArray(record.policy)
    ) {
      throw field("policy", "an object of limits (maxSteps, maxTokens, maxToolCalls, timeoutMs)");
    }
    try {
      new StrictPolicy(record.policy as Partial<PolicyLimits>);
    } catch (error) {
      throw new ApiError(
        400,
        "invalid_field",
        `Invalid field "policy": ${(error as Error).message}`,
      );
    }
    request.policy = record.policy as Partial<PolicyLimits>;
  }
  const key = record.idempotencyKey ?? headers.get("idempotency-key") ?? undefined;
  if (key !== undefined) {
    if (typeof key !== "string" || key.length < 1 || key.length > 200) {
      throw field("idempotencyKey", "a string of 1–200 characters");
    }
    request.idempotencyKey = key;
  }
  const traceparent = headers.get("traceparent");
  if (traceparent) request.traceparent = traceparent;
  const tracestate = headers.get("tracestate");
  if (tracestate) request.tracestate = tracestate;
  return request;
}
