/**
 * `POST /executions/:id/signals/:name`: sends a signal (the body, any JSON
 * value, is its payload) to an execution. Durable once answered 202: an
 * execution that no process runs now takes it when it is resumed. Works on
 * every node that shares the stores, API nodes of a distributed deployment
 * included.
 *
 * @module
 */
import { createRoute, z } from "@hono/zod-openapi";
import { ApiError, json } from "../_http.ts";
import type { ApiRoute } from "../route.ts";
import { errorAnswer, ID_ANSWERS, jsonContent } from "./_responses.ts";
import { ExecutionIdParams } from "../schemas.ts";
import { notFound } from "./executions.ts";
import {
  ExecutionFinishedError,
  ExecutionNotFoundError,
  TooManySignalsError,
  ValueTooLargeError,
} from "../../errors.ts";
import { sendSignal } from "../../orchestrator/_signals.ts";

const SignalParams = ExecutionIdParams.extend({
  name: z.string().regex(/^[A-Za-z0-9_.:-]{1,100}$/, {
    error: 'expected 1–100 letters, digits, "_", ".", ":" or "-"',
  }).openapi({ param: { name: "name", in: "path" }, description: "The signal's name" }),
});

/** `POST /executions/:id/signals/:name`: records a signal; 202. */
export const sendSignalRoute: ApiRoute = {
  spec: createRoute({
    method: "post",
    path: "/executions/{id}/signals/{name}",
    operationId: "sendSignal",
    summary: "Send a signal (its payload is the body) to an execution",
    request: {
      params: SignalParams,
      body: {
        required: true,
        content: jsonContent(z.any().openapi({ description: "The payload: any JSON value" })),
      },
    },
    responses: {
      202: {
        description: "Recorded (SIGNAL_RECEIVED); the execution takes it when it waits for it",
        content: jsonContent(z.object({
          executionId: z.string(),
          name: z.string(),
          seq: z.int().openapi({ description: "Sequence number of its SIGNAL_RECEIVED event" }),
        })),
      },
      ...ID_ANSWERS,
      408: errorAnswer("The body did not arrive in time"),
      409: errorAnswer("The execution already finished"),
      413: errorAnswer("Payload over 64 KiB"),
      415: errorAnswer("Content type other than application/json"),
      429: errorAnswer("The execution holds 1,000 signals it has not taken (with Retry-After)"),
    },
  }),
  produces: ["application/json"],
  async handle(_c, { params, body }, deps) {
    const id = params.id!;
    const name = params.name!;
    try {
      const seq = deps.backend.signal
        ? await deps.backend.signal(id, name, body)
        : await sendSignal(deps.eventStore, id, { name, payload: body });
      return json({ executionId: id, name, seq }, 202);
    } catch (error) {
      if (error instanceof ExecutionNotFoundError) throw notFound(id);
      if (error instanceof ExecutionFinishedError) {
        throw new ApiError(409, "already_finished", error.message);
      }
      if (error instanceof ValueTooLargeError) {
        throw new ApiError(413, "payload_too_large", error.message);
      }
      if (error instanceof TooManySignalsError) {
        throw new ApiError(429, "too_many_signals", error.message, { "retry-after": "1" });
      }
      throw error;
    }
  },
};
