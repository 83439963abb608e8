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
import { EXECUTION_STATUSES, type ExecutionStatus } from "../orchestrator/execution_report.ts";

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
  maxCostUsd: z.number().gt(0).optional().openapi({
    description: "Cost of model calls allowed, in USD (default: no limit)",
  }),
  requireApproval: z.array(
    z.string().regex(/^[A-Za-z0-9_.:-]{1,200}$/, { error: "expected tool names" }),
    { error: "expected an array of tool names" },
  ).max(1_000).optional().openapi({
    description:
      "Tools whose calls wait for a person's approval, added to the server's (default: none)",
  }),
  approvalTimeoutMs: z.number().gt(0).max(MAX_TIME_LIMIT_MS).optional().openapi({
    description: "How long a call waits for its approval, in ms (default: no limit)",
  }),
}, {
  error:
    "expected an object of limits (maxSteps, maxTokens, maxToolCalls, timeoutMs, stepTimeoutMs, maxCostUsd, requireApproval, approvalTimeoutMs)",
}).openapi("Policy", { description: "Limits overriding the server's default policy" });

/** A limit as a response shows it: `null` is no limit (`Infinity` in the policy). */
function _limit(integer: boolean, description: string) {
  return (integer ? z.int() : z.number()).nullable().optional().openapi({
    description: `${description}; null: no limit`,
  });
}

/**
 * The policy limits in force, as `GET /executions/:id` shows them. Any limit
 * may be unlimited (`Infinity` in the policy, as `maxCostUsd` and
 * `approvalTimeoutMs` are by default), which JSON writes as `null`. A queued
 * execution shows only the limits its submit overrode.
 */
export const PolicyLimitsSchema = z.object({
  maxSteps: _limit(true, "Steps allowed"),
  maxTokens: _limit(true, "Tokens allowed"),
  maxToolCalls: _limit(true, "Tool calls allowed"),
  timeoutMs: _limit(false, "Time allowed for the execution, in ms"),
  stepTimeoutMs: _limit(false, "Time allowed for one attempt of one step, in ms"),
  maxCostUsd: _limit(false, "Cost of model calls allowed, in USD"),
  requireApproval: z.array(z.string()).optional().openapi({
    description: "Tools whose calls wait for a person's approval",
  }),
  approvalTimeoutMs: _limit(false, "How long a call waits for its approval, in ms"),
}).openapi("PolicyLimits", {
  description:
    "The limits in force (those of a queued execution: only the ones its submit overrode); null: no limit",
});

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
    .openapi({
      description:
        "A repeated submit with the same key returns the first execution. Keys starting with oao-continue: or migrated: are the runtime's own (400)",
    }),
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
  costUsd: z.number().optional().openapi({
    description: "Cost of the model calls made, in USD (absent until one completes)",
  }),
}).openapi("Totals");

/** What an error became in the log. */
export const ErrorInfoSchema = z.object({
  name: z.string(),
  message: z.string(),
  code: z.string().optional(),
  stack: z.string().optional(),
  retryable: z.boolean().optional().openapi({
    description: "The environment failed, not the agent: `oao resume --retry` continues it",
  }),
}).openapi("ErrorInfo");

/** The tool call an execution in NEEDS_DECISION waits for a decision on. */
export const PendingDecisionSchema = z.object({
  callId: z.string(),
  tool: z.string(),
  args: z.unknown(),
  step: z.int(),
}).openapi("PendingDecision");

/** `POST /executions/:id/decisions/:callId`: exactly one of the three fields. */
export const DecisionRequestSchema = z.strictObject({
  succeeded: z.unknown().optional().openapi({ description: "The call succeeded with this result" }),
  failed: z.string().max(2000).optional().openapi({ description: "The call failed: the reason" }),
  rerun: z.literal(true).optional().openapi({ description: "Run the call again" }),
}, {
  error:
    'expected a JSON object: { "succeeded": <json> } | { "failed": string } | { "rerun": true }',
}).openapi("DecisionRequest");

/**
 * The report of an execution: of a finished one in `GET /executions/:id`; of
 * one in any status in `GET /executions/:id/replay`.
 */
export const ExecutionReportSchema = z.object({
  executionId: z.string(),
  agent: z.string(),
  status: z.enum(EXECUTION_STATUSES as [ExecutionStatus, ...ExecutionStatus[]]).openapi({
    description:
      "SUCCESS, FAILED or CANCELLED once finished; a replay of an unfinished execution reports QUEUED, RUNNING or NEEDS_DECISION",
  }),
  totalSteps: z.int(),
  tokens: z.int(),
  toolCalls: z.int(),
  costUsd: z.number().optional().openapi({ description: "Cost of the model calls, in USD" }),
  durationMs: z.number(),
  stateHistory: z.array(z.object({ step: z.int(), state: z.string(), at: z.int() })),
  output: z.unknown().optional(),
  executionHash: z.string(),
  error: ErrorInfoSchema.optional(),
  decision: PendingDecisionSchema.optional().openapi({
    description: "The call an operator must decide on (status NEEDS_DECISION)",
  }),
  startedAt: z.int().openapi({ description: "Epoch ms" }),
  finishedAt: z.int().openapi({
    description: "Epoch ms of the final event (of the last one, while unfinished)",
  }),
  traceId: z.string().optional(),
}).openapi("ExecutionReport");

/** `GET /executions/:id`. */
export const ExecutionStatusSchema = z.object({
  executionId: z.string(),
  status: z.enum(["QUEUED", "RUNNING", "NEEDS_DECISION", "SUCCESS", "FAILED", "CANCELLED"]),
  agent: z.string().optional(),
  version: z.string().optional(),
  state: z.enum(["INIT", "PLAN", "EXECUTE", "REVIEW", "TERMINATE", "FAILED"]).optional()
    .openapi({ description: "Lifecycle state of the last step entered" }),
  step: z.int(),
  iteration: z.int(),
  totals: TotalsSchema,
  policy: PolicyLimitsSchema.optional(),
  task: z.unknown().optional(),
  executionHash: z.string().optional(),
  startedAt: z.int().optional().openapi({ description: "Epoch ms" }),
  finishedAt: z.int().optional().openapi({ description: "Epoch ms" }),
  lastEventAt: z.int().openapi({ description: "Epoch ms" }),
  eventCount: z.int(),
  error: ErrorInfoSchema.optional(),
  decision: PendingDecisionSchema.optional().openapi({
    description: "The call an operator must decide on (status NEEDS_DECISION)",
  }),
  waitingFor: z.union([
    z.object({
      kind: z.literal("signal"),
      name: z.string(),
      deadline: z.int().nullable().openapi({ description: "Epoch ms, or null: no timeout" }),
    }),
    z.object({ kind: z.literal("timer"), until: z.int().openapi({ description: "Epoch ms" }) }),
    z.object({
      kind: z.literal("approval"),
      callId: z.string().openapi({
        description: "Decide with POST /executions/:id/approvals/:callId",
      }),
      tool: z.string(),
      deadline: z.int().nullable().openapi({ description: "Epoch ms, or null: no timeout" }),
    }),
  ]).optional().openapi({ description: "What the running step waits for" }),
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

/** One execution of `GET /executions`. */
export const ExecutionSummarySchema = z.object({
  executionId: z.string(),
  agent: z.string(),
  status: z.enum(EXECUTION_STATUSES as [ExecutionStatus, ...ExecutionStatus[]]),
  createdAt: z.int().openapi({ description: "Epoch ms (queued or started)" }),
  updatedAt: z.int().openapi({ description: "Epoch ms of the last status change" }),
  waitingFor: z.enum(["signal", "timer", "approval", "decision"]).optional(),
}).openapi("ExecutionSummary");

/** `GET /executions`. */
export const ExecutionListSchema = z.object({
  executions: z.array(ExecutionSummarySchema),
  nextCursor: z.string().optional().openapi({
    description:
      "Pass as ?cursor= for the next page; absent on the last page (a page may hold fewer than limit executions and still have a next one)",
  }),
}).openapi("ExecutionList");

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

/** The `id` path parameter of a workflow. */
export const WorkflowIdParams = z.object({
  id: z.string().regex(EXECUTION_ID, {
    error: 'expected 1–200 letters, digits, "_", "." or "-"',
  }).openapi({
    param: { name: "id", in: "path" },
    description: "Workflow id",
    example: "wf-nightly-1",
  }),
});

const TASK_NAME = /^[A-Za-z0-9_.-]{1,200}$/;

/** One task of a workflow. */
export const WorkflowTaskSchema = z.strictObject({
  name: z.string({ error: 'expected a task name (1–200 letters, digits, "_", "." or "-")' })
    .regex(TASK_NAME, { error: 'expected a task name (1–200 letters, digits, "_", "." or "-")' }),
  agent: z.string({ error: "expected the name of a registered agent (a string)" }).min(1, {
    error: "expected the name of a registered agent (a string)",
  }),
  input: z.unknown().optional().openapi({
    description: "The task given to the agent as `ctx.task` (any JSON; default null)",
  }),
  dependsOn: z.array(z.string({ error: "expected a task name (a string)" }), {
    error: "expected an array of task names",
  }).optional().openapi({
    description:
      "Tasks that must succeed first; their outputs reach the agent as `ctx.dependencies`",
  }),
  policy: PolicySchema.optional(),
}, {
  error:
    'expected a task object: { "name": string, "agent": string, "input"?: any, "dependsOn"?: string[], "policy"?: object }',
}).openapi("WorkflowTask");

/** The body of `POST /workflows`: a workflow spec, as `oao workflow run` reads it. */
export const WorkflowRequestSchema = z.strictObject({
  id: z.string({ error: 'expected 1–200 letters, digits, "_", "." or "-"' })
    .regex(EXECUTION_ID, { error: 'expected 1–200 letters, digits, "_", "." or "-"' })
    .optional().openapi({
      description: "Workflow id (default: a new one); tasks run as <id>.<name>",
    }),
  tasks: z.array(WorkflowTaskSchema, { error: "expected an array of 1–1000 tasks" })
    .min(1, { error: "expected an array of 1–1000 tasks" })
    .max(1000, { error: "expected an array of 1–1000 tasks" }),
  concurrency: z.int({ error: "expected an integer 1–1000" })
    .min(1, { error: "expected an integer 1–1000" })
    .max(1000, { error: "expected an integer 1–1000" })
    .optional().openapi({ description: "Tasks running at once (default 4)" }),
  onFailure: z.enum(["skip-dependents", "fail-fast"], {
    error: 'expected "skip-dependents" or "fail-fast"',
  }).optional().openapi({
    description:
      "skip-dependents (default): a failed task's dependents are skipped, the others go on; fail-fast: running tasks are cancelled, pending ones skipped",
  }),
}, {
  error:
    'expected a JSON object: { "id"?: string, "tasks": [...], "concurrency"?: integer, "onFailure"?: string }',
}).openapi("WorkflowRequest", { required: ["tasks"] });

/** The 202 of `POST /workflows`. */
export const WorkflowSubmitResponseSchema = z.object({
  workflowId: z.string(),
  status: z.literal("RUNNING"),
  links: z.object({ status: z.string(), cancel: z.string() }),
}).openapi("WorkflowSubmitResponse");

const WorkflowStatusEnum = z.enum(["RUNNING", "SUCCESS", "FAILED", "CANCELLED"]);
const TaskStatusEnum = z.enum(["PENDING", "RUNNING", "SUCCESS", "FAILED", "SKIPPED", "CANCELLED"]);

/** `GET /workflows/:id`: the workflow as its log describes it. */
export const WorkflowStatusSchema = z.object({
  workflowId: z.string(),
  status: WorkflowStatusEnum,
  concurrency: z.int().optional(),
  onFailure: z.enum(["skip-dependents", "fail-fast"]).optional(),
  tasks: z.array(z.object({
    name: z.string(),
    agent: z.string().optional(),
    dependsOn: z.array(z.string()),
    executionId: z.string().openapi({
      description: "The task's execution: its output and events are at /executions/{executionId}",
    }),
    status: TaskStatusEnum,
    error: ErrorInfoSchema.optional(),
    reason: z.string().optional().openapi({ description: "Why it was skipped or cancelled" }),
  })),
  completionOrder: z.array(z.string()),
  cancelRequested: z.object({ reason: z.string(), at: z.int() }).optional(),
  resumes: z.int(),
  startedAt: z.int().openapi({ description: "Epoch ms" }),
  finishedAt: z.int().optional().openapi({ description: "Epoch ms" }),
  lastEventAt: z.int().openapi({ description: "Epoch ms" }),
  eventCount: z.int(),
}).openapi("WorkflowStatus");

/** `GET /workflows`: a page of workflows, newest first. */
export const WorkflowListSchema = z.object({
  workflows: z.array(z.object({
    workflowId: z.string(),
    status: WorkflowStatusEnum,
    tasks: z.int().openapi({ description: "Number of tasks" }),
    taskStatuses: z.record(z.string(), z.int()).openapi({
      description: "Number of tasks by status",
    }),
    startedAt: z.int().openapi({ description: "Epoch ms" }),
    finishedAt: z.int().optional().openapi({ description: "Epoch ms" }),
  })),
  nextCursor: z.string().optional().openapi({
    description: "Pass as ?cursor= for the next (older) page; absent on the last page",
  }),
}).openapi("WorkflowList");

/** The body of `POST /executions/:id/fork`. */
export const ForkRequestSchema = z.strictObject({
  fromStep: z.int({ error: "expected the number of a completed step (an integer >= 1)" })
    .min(1, { error: "expected the number of a completed step (an integer >= 1)" })
    .openapi({ description: "The new execution shares the history up to and including this step" }),
  id: z.string({ error: 'expected 1–200 letters, digits, "_", "." or "-"' })
    .regex(EXECUTION_ID, { error: 'expected 1–200 letters, digits, "_", "." or "-"' })
    .optional().openapi({ description: "Id of the new execution (default: a new one)" }),
}, {
  error: 'expected a JSON object: { "fromStep": integer, "id"?: string }',
}).openapi("ForkRequest", { required: ["fromStep"] });

/** The 202 of `POST /executions/:id/fork`. */
export const ForkResponseSchema = z.object({
  executionId: z.string().openapi({ description: "The new execution" }),
  forkedFrom: z.object({ executionId: z.string(), step: z.int() }),
  status: z.literal("RUNNING"),
  links: z.object({ status: z.string(), events: z.string(), stream: z.string() }),
}).openapi("ForkResponse");

/** The body of `POST /executions/:id/approvals/:callId`. */
export const ApprovalDecisionSchema = z.strictObject({
  decision: z.enum(["approve", "deny"], { error: 'expected "approve" or "deny"' }),
  reason: z.string({ error: "expected a string of at most 2000 characters" })
    .max(2000, { error: "expected a string of at most 2000 characters" }).optional()
    .openapi({ description: "Why, for the audit log" }),
}, {
  error: 'expected a JSON object: { "decision": "approve" | "deny", "reason"?: string }',
}).openapi("ApprovalDecision");

/** A tool call that waits for a person's approval. */
export const PendingApprovalSchema = z.object({
  executionId: z.string(),
  agent: z.string(),
  callId: z.string().openapi({
    description: "What `POST /executions/:id/approvals/:callId` names",
  }),
  tool: z.string(),
  args: z.unknown().openapi({ description: "The call's arguments" }),
  step: z.int(),
  requestedAt: z.int().openapi({ description: "Epoch ms of the request" }),
  deadline: z.int().nullable().openapi({
    description: "Epoch ms after which the call fails with APPROVAL_TIMEOUT (null: none)",
  }),
}).openapi("PendingApproval");

/** The `id` path parameter of a schedule. */
export const ScheduleIdParams = z.object({
  id: z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/, {
    error: 'expected 1–64 letters, digits, "_", "." or "-"',
  }).openapi({ param: { name: "id", in: "path" }, description: "Schedule id", example: "nightly" }),
});

/** The body of `POST /schedules`. */
export const ScheduleRequestSchema = z.strictObject({
  id: z.string({ error: 'expected 1–64 letters, digits, "_", "." or "-"' })
    .regex(/^[A-Za-z0-9_.-]{1,64}$/, { error: 'expected 1–64 letters, digits, "_", "." or "-"' })
    .optional().openapi({ description: "Schedule id (default: a new one)" }),
  cron: z.string({ error: "expected a cron expression (a string)" })
    .min(1, { error: "expected a cron expression (a string)" })
    .max(200, { error: "expected a cron expression of at most 200 characters" })
    .openapi({
      description:
        "5 fields (minute hour day-of-month month day-of-week) or @yearly, @monthly, @weekly, @daily, @hourly",
      example: "0 3 * * *",
    }),
  timezone: z.string({ error: "expected an IANA time zone name (a string)" })
    .max(100, { error: "expected an IANA time zone name (a string)" })
    .optional().openapi({ description: "IANA time zone (default UTC)", example: "Europe/Berlin" }),
  agent: z.string({ error: "expected the name of a registered agent (a string)" }).min(1, {
    error: "expected the name of a registered agent (a string)",
  }).max(200, { error: "expected the name of a registered agent (a string)" }),
  task: z.unknown().optional().openapi({
    description: "The task of each execution (any JSON, at most 32 KiB; default null)",
  }),
  policy: PolicySchema.optional(),
  overlap: z.enum(["skip", "buffer-one", "allow"], {
    error: 'expected "skip", "buffer-one" or "allow"',
  }).optional().openapi({
    description:
      "A tick due while the previous execution runs: skip it (default), hold one until it ends (buffer-one), or start it (allow)",
  }),
  catchUp: z.enum(["skip", "run-once", "run-all"], {
    error: 'expected "skip", "run-once" or "run-all"',
  }).optional().openapi({
    description:
      "Ticks missed while no node ran: none run (skip, default), one execution for them (run-once), each of the latest catchUpLimit (run-all)",
  }),
  catchUpLimit: z.int({ error: "expected an integer 1–1000" })
    .min(1, { error: "expected an integer 1–1000" })
    .max(1000, { error: "expected an integer 1–1000" })
    .optional().openapi({ description: "Most missed ticks run-all starts (default 10)" }),
  paused: z.boolean({ error: "expected true or false" }).optional().openapi({
    description: "Create it paused",
  }),
}, {
  error:
    'expected a JSON object: { "cron": string, "agent": string, "timezone"?: string, "task"?: any, "overlap"?: string, "catchUp"?: string, … }',
}).openapi("ScheduleRequest", { required: ["cron", "agent"] });

/** A schedule as the API shows it. */
export const ScheduleSchema = z.object({
  id: z.string(),
  cron: z.string(),
  timezone: z.string(),
  agent: z.string(),
  task: z.unknown(),
  policy: PolicySchema.optional(),
  overlap: z.enum(["skip", "buffer-one", "allow"]),
  catchUp: z.enum(["skip", "run-once", "run-all"]),
  catchUpLimit: z.int(),
  paused: z.boolean(),
  createdAt: z.int().openapi({ description: "Epoch ms" }),
  updatedAt: z.int().openapi({ description: "Epoch ms" }),
  lastTick: z.int().openapi({ description: "Every tick up to this one (epoch ms) was handled" }),
  nextTick: z.int().optional().openapi({ description: "Epoch ms (absent when paused)" }),
  lastFiredTick: z.int().optional().openapi({ description: "Tick of the latest execution" }),
  lastExecutionId: z.string().optional(),
  buffered: z.int().optional().openapi({
    description: "A tick held (buffer-one) until the latest execution ends",
  }),
  lastError: z.string().optional().openapi({ description: "Why the latest start failed" }),
}).openapi("Schedule");

/** `GET /schedules`. */
export const ScheduleListSchema = z.object({ schedules: z.array(ScheduleSchema) })
  .openapi("ScheduleList");
