/**
 * The zod schemas of the HTTP API: what requests must look like and what
 * answers look like. The routes validate requests with them and the
 * OpenAPI document is generated from them, so the two cannot drift apart.
 *
 * A field's `error` text ends the sentence `Invalid field "<name>": …` of
 * the 400 answer, so it says what was expected.
 *
 * @example
 * ```ts
 * import { SubmitRequestSchema } from "./schemas.ts";
 * console.assert(SubmitRequestSchema.safeParse({ agent: "researcher", task: {} }).success);
 * console.assert(!SubmitRequestSchema.safeParse({ agent: 7, task: {} }).success);
 * ```
 *
 * @module
 */
import { z } from "@hono/zod-openapi";
import { MAX_TIME_LIMIT_MS } from "../orchestrator/policy.ts";

/** Execution ids: what `Orchestrator.start` accepts. */
export const EXECUTION_ID = /^[A-Za-z0-9_.-]{1,200}$/;

/** Largest sequence number a query or `Last-Event-ID` may name. */
export const MAX_SEQ = Number.MAX_SAFE_INTEGER;

/** The `id` path parameter. */
export const ExecutionIdParams = z.object({
  id: z.string().regex(EXECUTION_ID, {
    error: 'expected 1–200 letters, digits, "_", "." or "-"',
  }).openapi({
    param: { name: "id", in: "path" },
    description: "Execution id",
    example: "exec-7f3a",
  }),
});

/**
 * An integer query parameter given as text (digits only).
 *
 * @param range Smallest, largest and default value, and what it means.
 * @returns The schema (a number once parsed; `undefined` when absent).
 */
export function integerQuery(
  range: { min: number; max: number; default: number; description: string },
): z.ZodType<number | undefined, string | undefined> {
  const error = `expected an integer ${range.min}–${range.max}`;
  return z.string().regex(/^\d{1,16}$/, { error })
    .transform(Number)
    .pipe(z.number().min(range.min, { error }).max(range.max, { error }))
    .optional()
    .openapi({
      type: "integer",
      minimum: range.min,
      maximum: range.max,
      default: range.default,
      description: range.description,
    }) as unknown as z.ZodType<number | undefined, string | undefined>;
}

/** Policy limits a submit may override. */
export const PolicySchema = z.strictObject({
  maxSteps: z.int().min(1).optional(),
  maxTokens: z.int().min(1).optional(),
  maxToolCalls: z.int().min(1).optional(),
  timeoutMs: z.number().gt(0).max(MAX_TIME_LIMIT_MS).optional(),
  stepTimeoutMs: z.number().gt(0).max(MAX_TIME_LIMIT_MS).optional().openapi({
    description: "Time allowed for one attempt of one step, in ms (default 300000)",
  }),
}, {
  error:
    "expected an object of limits (maxSteps, maxTokens, maxToolCalls, timeoutMs, stepTimeoutMs)",
}).openapi("Policy", { description: "Limits overriding the server's default policy" });

/** The body of `POST /executions`. */
export const SubmitRequestSchema = z.strictObject({
  agent: z.string({ error: "expected the name of a registered agent (a string)" }).min(1, {
    error: "expected the name of a registered agent (a string)",
  }),
  task: z.unknown().openapi({ description: "The task given to the agent (any JSON)" }),
  policy: PolicySchema.optional(),
  idempotencyKey: z.string({ error: "expected a string of 1–200 characters" })
    .min(1, { error: "expected a string of 1–200 characters" })
    .max(200, { error: "expected a string of 1–200 characters" })
    .optional()
    .openapi({ description: "A repeated submit with the same key returns the first execution" }),
}, {
  error:
    'expected a JSON object: { "agent": string, "task": any, "policy"?: object, "idempotencyKey"?: string }',
}).refine((body) => "task" in body, {
  path: ["task"],
  error: "expected the task (any JSON value)",
}).openapi("SubmitRequest", { required: ["agent", "task"] });

/** The optional body of `POST /executions/:id/cancel`. */
export const CancelRequestSchema = z.strictObject({
  reason: z.string({ error: "expected a string of at most 500 characters" })
    .max(500, { error: "expected a string of at most 500 characters" }).optional(),
}, { error: 'expected a JSON object: { "reason"?: string }' }).openapi("CancelRequest");

/** The JSON error body of every 4xx and 5xx answer. */
export const ErrorSchema = z.object({
  error: z.object({
    code: z.string().openapi({ examples: ["invalid_json", "unknown_agent", "not_found"] }),
    message: z.string(),
  }),
}).openapi("Error");

/** Running totals of an execution. */
export const TotalsSchema = z.object({
  steps: z.int(),
  tokens: z.int(),
  toolCalls: z.int(),
}).openapi("Totals");

/** What an error became in the log. */
export const ErrorInfoSchema = z.object({
  name: z.string(),
  message: z.string(),
  code: z.string().optional(),
  stack: z.string().optional(),
}).openapi("ErrorInfo");

/** The report of a finished execution. */
export const ExecutionReportSchema = z.object({
  executionId: z.string(),
  agent: z.string(),
  status: z.enum(["SUCCESS", "FAILED", "CANCELLED"]),
  totalSteps: z.int(),
  tokens: z.int(),
  toolCalls: z.int(),
  durationMs: z.number(),
  stateHistory: z.array(z.object({ step: z.int(), state: z.string(), at: z.int() })),
  output: z.unknown().optional(),
  executionHash: z.string(),
  error: ErrorInfoSchema.optional(),
  startedAt: z.int(),
  finishedAt: z.int(),
  traceId: z.string().optional(),
}).openapi("ExecutionReport");

/** `GET /executions/:id`. */
export const ExecutionStatusSchema = z.object({
  executionId: z.string(),
  status: z.enum(["QUEUED", "RUNNING", "SUCCESS", "FAILED", "CANCELLED"]),
  agent: z.string().optional(),
  version: z.string().optional(),
  state: z.enum(["INIT", "PLAN", "EXECUTE", "REVIEW", "TERMINATE", "FAILED"]).optional()
    .openapi({ description: "Lifecycle state of the last step entered" }),
  step: z.int(),
  iteration: z.int(),
  totals: TotalsSchema,
  policy: PolicySchema.optional(),
  task: z.unknown().optional(),
  executionHash: z.string().optional(),
  startedAt: z.int().optional().openapi({ description: "Epoch ms" }),
  finishedAt: z.int().optional().openapi({ description: "Epoch ms" }),
  lastEventAt: z.int().openapi({ description: "Epoch ms" }),
  eventCount: z.int(),
  error: ErrorInfoSchema.optional(),
  report: ExecutionReportSchema.optional(),
}).openapi("ExecutionStatus");

/** One event of an execution's log. */
export const StoredEventSchema = z.object({
  executionId: z.string(),
  seq: z.int().min(1),
  id: z.string(),
  time: z.int().openapi({ description: "Epoch ms" }),
  type: z.string().openapi({
    examples: ["EXECUTION_STARTED", "STATE_ENTER", "TOOL_CALL", "RETRY_ATTEMPTED"],
  }),
  step: z.int().optional(),
  data: z.record(z.string(), z.unknown()).optional(),
  totals: TotalsSchema.optional(),
  traceId: z.string().optional(),
  spanId: z.string().optional(),
}).openapi("StoredEvent");

/** `GET /executions/:id/events`. */
export const EventsPageSchema = z.object({
  executionId: z.string(),
  events: z.array(StoredEventSchema),
  nextAfter: z.int().openapi({ description: "Pass as ?after= for the next page" }),
  final: z.boolean().openapi({
    description: "Whether this page holds the execution's final event",
  }),
}).openapi("EventsPage");

/** The 202 of `POST /executions`. */
export const SubmitResponseSchema = z.object({
  executionId: z.string(),
  status: z.enum(["RUNNING", "QUEUED"]),
  duplicate: z.boolean(),
  links: z.object({
    status: z.string(),
    events: z.string(),
    stream: z.string(),
    cancel: z.string(),
  }),
}).openapi("SubmitResponse");
