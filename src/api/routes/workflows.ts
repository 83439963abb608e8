/**
 * Routes of workflows: start (`POST /workflows`), list (`GET /workflows`),
 * status with every task's state and execution id (`GET /workflows/:id`),
 * cancellation (`POST /workflows/:id/cancel`) and resume
 * (`POST /workflows/:id/resume`, a workflow whose process died: on a node
 * whose backend has `resumeWorkflow`, the monolithic one). Status and list are read
 * from the workflow's log in the event store. Starting needs a backend that
 * runs workflows (the monolithic node; an API node answers 501); cancelling
 * records a request in the workflow's log, which the process running it acts
 * on (any backend with `cancelWorkflow`).
 *
 * @module
 */
import { createRoute, z } from "@hono/zod-openapi";
import { ApiError, conditional, json } from "../_http.ts";
import type { ApiDeps, ApiRoute } from "../route.ts";
import {
  CancelRequestSchema,
  integerQuery,
  WorkflowIdParams,
  WorkflowListSchema,
  WorkflowRequestSchema,
  WorkflowStatusSchema,
  WorkflowSubmitResponseSchema,
} from "../schemas.ts";
import { AUTH_ANSWERS, errorAnswer, ID_ANSWERS, jsonContent } from "./_responses.ts";
import type { EventStore } from "../../events/event_store.ts";
import { ExecutionBusyError, ExecutionNotFoundError } from "../../errors.ts";
import type { ExecutionBackend } from "../../orchestrator/execution_backend.ts";
import { checkPolicy } from "./_policy_input.ts";
import { validateWorkflow, type WorkflowSpec } from "../../orchestrator/workflow.ts";
import {
  projectWorkflow,
  WORKFLOW_STARTED,
  type WorkflowView,
} from "../../orchestrator/workflow_view.ts";

/**
 * Logs the workflow list looks at: the event store has no index of
 * workflows, so `GET /workflows` reads the first event of the most recently
 * written logs (executions and workflows alike) and keeps the workflows.
 */
export const WORKFLOW_LIST_SCAN = 1_000;

const NOT_HERE = errorAnswer(
  "This node does not run workflows (an API node of a distributed deployment)",
);

/** `POST /workflows`: validates and starts a workflow; 202 with its id. */
export const submitWorkflow: ApiRoute = {
  spec: createRoute({
    method: "post",
    path: "/workflows",
    operationId: "submitWorkflow",
    summary: "Start a workflow (a DAG of tasks, each an execution)",
    request: { body: { required: true, content: jsonContent(WorkflowRequestSchema) } },
    responses: {
      202: {
        description: "Accepted: the workflow is running",
        headers: z.object({ Location: z.string() }),
        content: jsonContent(WorkflowSubmitResponseSchema),
      },
      400: errorAnswer(
        "Malformed JSON, wrong field types, unknown fields, an unknown dependency, a cycle, a duplicate task",
      ),
      ...AUTH_ANSWERS,
      408: errorAnswer("The body did not arrive in time"),
      409: errorAnswer("The workflow id, or the execution id of one of its tasks, is taken"),
      413: errorAnswer("Body larger than the limit (1 MiB by default)"),
      415: errorAnswer("Content type other than application/json"),
      422: errorAnswer("A task names an unknown agent"),
      501: NOT_HERE,
      503: errorAnswer("The stores are unreachable (with Retry-After)"),
    },
  }),
  produces: ["application/json"],
  async handle(_c, { body }, deps) {
    const start = deps.backend.startWorkflow?.bind(deps.backend);
    if (!start) throw notHere("start workflows");
    const spec = await _checkedSpec(body as WorkflowSpec, deps);
    let workflowId: string;
    try {
      ({ workflowId } = await start(spec));
    } catch (error) {
      // Validated above: what is left is an id taken in the meantime.
      if (error instanceof TypeError) throw new ApiError(409, "workflow_exists", error.message);
      throw error;
    }
    const base = `/workflows/${encodeURIComponent(workflowId)}`;
    return json(
      { workflowId, status: "RUNNING", links: { status: base, cancel: `${base}/cancel` } },
      202,
      { location: base },
    );
  },
};

/** `GET /workflows`: workflows, newest first, a page at a time. */
export const listWorkflows: ApiRoute = {
  spec: createRoute({
    method: "get",
    path: "/workflows",
    operationId: "listWorkflows",
    summary: "List workflows, newest first",
    description:
      `Reads the first event of the ${WORKFLOW_LIST_SCAN} most recently written logs (the event store keeps no index of workflows), keeps the workflows, and pages through them by start time.`,
    request: {
      query: z.object({
        limit: integerQuery({
          min: 1,
          max: 100,
          default: 20,
          description: "Workflows per page",
        }),
        cursor: z.string().regex(/^\d{1,16}-[A-Za-z0-9_.-]{1,200}$/, {
          error: "expected the nextCursor of the previous page",
        }).optional().openapi({ description: "The nextCursor of the previous page" }),
      }),
    },
    responses: {
      200: { description: "A page of workflows", content: jsonContent(WorkflowListSchema) },
      400: errorAnswer("Invalid limit or cursor"),
      ...AUTH_ANSWERS,
      503: errorAnswer("The stores are unreachable (with Retry-After)"),
    },
  }),
  produces: ["application/json"],
  async handle(_c, { query }, deps) {
    const limit = (query.limit as number | undefined) ?? 20;
    const cursor = query.cursor as string | undefined;
    return json(await _list(deps.eventStore, limit, cursor));
  },
};

/** `GET /workflows/:id`: status, and every task's state and execution id. */
export const getWorkflow: ApiRoute = {
  spec: createRoute({
    method: "get",
    path: "/workflows/{id}",
    operationId: "getWorkflow",
    summary: "Status of a workflow and its tasks (answers carry an ETag)",
    request: { params: WorkflowIdParams },
    responses: {
      200: { description: "Status", content: jsonContent(WorkflowStatusSchema) },
      304: { description: "Not modified since the ETag given in If-None-Match" },
      ...ID_ANSWERS,
      404: errorAnswer("No such workflow"),
    },
  }),
  produces: ["application/json"],
  async handle(c, { params }, deps) {
    const view = await _view(deps.eventStore, params.id!);
    return conditional(c.req.raw, `${view.eventCount}-${view.lastEventAt}`, () => json(view));
  },
};

/** `POST /workflows/:id/cancel`: requests cancellation; 202. */
export const cancelWorkflow: ApiRoute = {
  spec: createRoute({
    method: "post",
    path: "/workflows/{id}/cancel",
    operationId: "cancelWorkflow",
    summary: "Cancel a workflow: its running tasks are cancelled, pending ones never start",
    request: {
      params: WorkflowIdParams,
      body: { required: false, content: jsonContent(CancelRequestSchema) },
    },
    responses: {
      202: {
        description: "Cancellation requested; the status becomes CANCELLED shortly",
        content: jsonContent(
          z.object({ workflowId: z.string(), cancelRequested: z.literal(true) }),
        ),
      },
      ...ID_ANSWERS,
      404: errorAnswer("No such workflow"),
      408: errorAnswer("The body did not arrive in time"),
      409: errorAnswer("Already finished"),
      413: errorAnswer("Body larger than the limit (1 MiB by default)"),
      415: errorAnswer("Content type other than application/json"),
      501: NOT_HERE,
    },
  }),
  produces: ["application/json"],
  async handle(_c, { params, body }, deps) {
    const id = params.id!;
    const cancel = deps.backend.cancelWorkflow?.bind(deps.backend);
    if (!cancel) throw notHere("cancel workflows");
    const view = await _view(deps.eventStore, id);
    const reason = (body as z.output<typeof CancelRequestSchema> | undefined)?.reason;
    if (
      view.status !== "RUNNING" || !(await cancel(id, reason ?? "cancelled through the HTTP API"))
    ) {
      throw new ApiError(
        409,
        "already_finished",
        `Workflow "${id}" already finished with status ${
          view.status === "RUNNING" ? "(finishing now)" : view.status
        }`,
      );
    }
    return json({ workflowId: id, cancelRequested: true }, 202);
  },
};

/** A backend that resumes workflows in its process (`LocalWorkflowBackend`). */
type ResumingBackend = ExecutionBackend & {
  resumeWorkflow?(workflowId: string): Promise<"resumed" | "finished">;
};

/** `POST /workflows/:id/resume`: continues a workflow whose process died; 202. */
export const resumeWorkflow: ApiRoute = {
  spec: createRoute({
    method: "post",
    path: "/workflows/{id}/resume",
    operationId: "resumeWorkflow",
    summary: "Resume a workflow whose process died, in this node's process",
    description:
      "Completed tasks are not run again; running ones are resumed from their executions' logs, each run once. A workflow a live process runs (it holds the workflow's claim) is left to it.",
    request: { params: WorkflowIdParams },
    responses: {
      202: {
        description: "Accepted: the workflow runs again in this process",
        content: jsonContent(z.object({ workflowId: z.string(), status: z.literal("RUNNING") })),
      },
      ...ID_ANSWERS,
      404: errorAnswer("No such workflow"),
      409: errorAnswer("Already finished, or run by a live process"),
      501: NOT_HERE,
    },
  }),
  produces: ["application/json"],
  async handle(_c, { params }, deps) {
    const id = params.id!;
    const backend = deps.backend as ResumingBackend;
    const resume = backend.resumeWorkflow?.bind(backend);
    if (!resume) throw notHere("resume workflows");
    const view = await _view(deps.eventStore, id);
    const finished = (status: string) =>
      new ApiError(
        409,
        "already_finished",
        `Workflow "${id}" already finished with status ${status}`,
      );
    if (view.status !== "RUNNING") throw finished(view.status);
    let outcome: "resumed" | "finished";
    try {
      outcome = await resume(id);
    } catch (error) {
      if (error instanceof ExecutionBusyError) {
        throw new ApiError(
          409,
          "already_running",
          `Workflow "${id}" is being run by ${error.holder}: wait for it to finish, or stop it and retry once its claim lapses (in ${
            Math.ceil(error.expiresInMs / 1000)
          } s unless renewed)`,
        );
      }
      if (error instanceof ExecutionNotFoundError) {
        throw new ApiError(404, "workflow_not_found", `No workflow "${id}" is recorded`);
      }
      throw error;
    }
    if (outcome === "finished") {
      throw finished((await _view(deps.eventStore, id)).status);
    }
    return json({ workflowId: id, status: "RUNNING" }, 202);
  },
};

/** The routes of this file, in the order of the OpenAPI document. */
export const WORKFLOW_ROUTES: readonly ApiRoute[] = [
  submitWorkflow,
  listWorkflows,
  getWorkflow,
  cancelWorkflow,
  resumeWorkflow,
];

/**
 * The 501 of a backend that does not run workflows or forks.
 *
 * @param what What it cannot do, e.g. `"start workflows"`; said with where it is done.
 * @returns The error.
 */
export function notHere(what: string): ApiError {
  const instead = /workflow/.test(what)
    ? `workflows run in "oao start", which runs executions in its own process, or in the foreground with "oao workflow run <spec.json>"`
    : `"oao start" runs executions in its own process`;
  return new ApiError(
    501,
    "not_supported",
    `This node cannot ${what}: it hands executions to worker nodes (${instead})`,
  );
}

// The spec, validated as the orchestrator would (so that a refusal is a 4xx,
// and nothing is written): dependencies, cycles, agents, policies, ids.
async function _checkedSpec(spec: WorkflowSpec, deps: ApiDeps): Promise<WorkflowSpec> {
  let validated;
  try {
    validated = validateWorkflow(spec);
  } catch (error) {
    throw new ApiError(400, "invalid_workflow", (error as Error).message);
  }
  const agents = deps.backend.agents();
  for (const [i, task] of validated.tasks.entries()) {
    if (!agents.includes(task.agent)) {
      throw new ApiError(
        422,
        "unknown_agent",
        `Invalid field "tasks.${i}.agent": no agent is registered as ${
          JSON.stringify(task.agent)
        } (registered: ${agents.map((a) => `"${a}"`).join(", ") || "none"})`,
      );
    }
    if (task.policy !== undefined) {
      try {
        checkPolicy(task.policy, deps.backend);
      } catch (error) {
        throw new ApiError(
          400,
          "invalid_field",
          `Invalid field "tasks.${i}.policy": ${(error as Error).message}`,
        );
      }
    }
  }
  const id = validated.id;
  if ((await deps.eventStore.count(id)) > 0) {
    throw new ApiError(409, "workflow_exists", `Workflow "${id}" already exists`);
  }
  for (const task of validated.tasks) {
    if ((await deps.eventStore.count(`${id}.${task.name}`)) > 0) {
      throw new ApiError(
        409,
        "workflow_exists",
        `The execution "${id}.${task.name}" of task "${task.name}" already exists`,
      );
    }
  }
  return { ...spec, id };
}

async function _view(store: EventStore, id: string): Promise<WorkflowView> {
  const view = projectWorkflow(id, await store.readRange(id));
  if (!view) {
    throw new ApiError(
      404,
      "workflow_not_found",
      (await store.count(id)) > 0
        ? `"${id}" is an execution, not a workflow: see /executions/${id}`
        : `No workflow "${id}" is recorded`,
    );
  }
  return view;
}

async function _list(store: EventStore, limit: number, cursor: string | undefined) {
  const ids = await store.listExecutions(WORKFLOW_LIST_SCAN);
  const starts: { id: string; at: number }[] = [];
  for (let i = 0; i < ids.length; i += 50) {
    const firsts = await Promise.all(
      ids.slice(i, i + 50).map(async (id) => (await store.readRange(id, { limit: 1 }))[0]),
    );
    for (const first of firsts) {
      if (first?.type === WORKFLOW_STARTED) starts.push({ id: first.executionId, at: first.time });
    }
  }
  starts.sort((a, b) => b.at - a.at || (a.id < b.id ? 1 : a.id > b.id ? -1 : 0));
  let from = 0;
  if (cursor !== undefined) {
    const dash = cursor.indexOf("-");
    const at = Number(cursor.slice(0, dash));
    const id = cursor.slice(dash + 1);
    from = starts.findIndex((s) => s.at < at || (s.at === at && s.id < id));
    if (from < 0) from = starts.length;
  }
  const page = starts.slice(from, from + limit);
  const views = await Promise.all(
    page.map(async ({ id }) => projectWorkflow(id, await store.readRange(id))),
  );
  const workflows = views.filter((v): v is WorkflowView => v !== undefined).map((view) => {
    const taskStatuses: Record<string, number> = {};
    for (const task of view.tasks) taskStatuses[task.status] = (taskStatuses[task.status] ?? 0) + 1;
    return {
      workflowId: view.workflowId,
      status: view.status,
      tasks: view.tasks.length,
      taskStatuses,
      startedAt: view.startedAt,
      ...(view.finishedAt === undefined ? {} : { finishedAt: view.finishedAt }),
    };
  });
  const last = page.at(-1);
  return from + limit < starts.length && last
    ? { workflows, nextCursor: `${last.at}-${last.id}` }
    : { workflows };
}
