/**
 * A workflow as its events describe it: status, each task's state and
 * execution id, a pending cancellation request. Built from the workflow's
 * log alone (the log of the workflow id), as `oao workflow status` and
 * `GET /workflows/:id` show it; task outputs are in the tasks' executions.
 *
 * @example
 * ```ts
 * import { projectWorkflow } from "./workflow_view.ts";
 * const view = projectWorkflow("wf-1", [
 *   { executionId: "wf-1", seq: 1, id: "a", time: 0, type: "WORKFLOW_STARTED", data: { tasks: ["a", "b"], concurrency: 4, onFailure: "skip-dependents" } },
 *   { executionId: "wf-1", seq: 2, id: "b", time: 5, type: "TASK_STARTED", data: { task: "a", agent: "x", executionId: "wf-1.a" } },
 * ]);
 * console.assert(view?.status === "RUNNING" && view.tasks[0]?.status === "RUNNING" && view.tasks[1]?.status === "PENDING");
 * console.assert(projectWorkflow("exec-1", [{ executionId: "exec-1", seq: 1, id: "c", time: 0, type: "EXECUTION_STARTED" }]) === undefined);
 * ```
 *
 * @module
 */
import type { ErrorInfo } from "../errors.ts";
import type { StoredEvent } from "../events/event_store.ts";
import type { FailurePolicy, TaskStatus, WorkflowOutcome } from "./workflow.ts";

/** The first event of a workflow's log. */
export const WORKFLOW_STARTED = "WORKFLOW_STARTED";
/** Written by `cancelWorkflow`; the process running the workflow acts on it. */
export const WORKFLOW_CANCEL_REQUESTED = "WORKFLOW_CANCEL_REQUESTED";
/** Index key of {@linkcode WORKFLOW_CANCEL_REQUESTED} (`EventStore.findByKey`). */
export const WORKFLOW_CANCEL_KEY = "cancel-requested";
/** The final events of a workflow, by outcome. */
export const FINAL_WORKFLOW_EVENTS: Readonly<Record<string, WorkflowOutcome>> = {
  WORKFLOW_COMPLETED: "SUCCESS",
  WORKFLOW_FAILED: "FAILED",
  WORKFLOW_CANCELLED: "CANCELLED",
};

/** One task of a workflow, as its events describe it. */
export interface WorkflowTaskView {
  /** Task name. */
  name: string;
  /** The agent that runs it (once known). */
  agent?: string;
  /** Tasks it depends on. */
  dependsOn: string[];
  /** Its execution: `<workflow id>.<task name>`. */
  executionId: string;
  /** Its status. */
  status: TaskStatus;
  /** Why it failed. */
  error?: ErrorInfo;
  /** Why it was skipped or cancelled. */
  reason?: string;
}

/** A workflow as its events describe it. */
export interface WorkflowView {
  /** The workflow id. */
  workflowId: string;
  /** `RUNNING` until its final event, then `SUCCESS`, `FAILED` or `CANCELLED`. */
  status: "RUNNING" | WorkflowOutcome;
  /** Tasks running at once. */
  concurrency?: number;
  /** The failure policy. */
  onFailure?: FailurePolicy;
  /** Every task, in declaration order. */
  tasks: WorkflowTaskView[];
  /** Task names in the order they finished. */
  completionOrder: string[];
  /** A cancellation request not acted on yet, or acted on. */
  cancelRequested?: { reason: string; at: number };
  /** Times the workflow was resumed. */
  resumes: number;
  /** Epoch ms of `WORKFLOW_STARTED`. */
  startedAt: number;
  /** Epoch ms of the final event. */
  finishedAt?: number;
  /** Epoch ms of the last event. */
  lastEventAt: number;
  /** Number of events. */
  eventCount: number;
}

/**
 * Folds a workflow's events into a view.
 *
 * @param workflowId The workflow.
 * @param events Its events, in order.
 * @returns The view, or `undefined` when the log is not a workflow's (no
 *   `WORKFLOW_STARTED` first: an execution's, or none).
 */
export function projectWorkflow(
  workflowId: string,
  events: readonly StoredEvent[],
): WorkflowView | undefined {
  const start = events[0];
  if (start?.type !== WORKFLOW_STARTED) return undefined;
  const d = (start.data ?? {}) as Record<string, unknown>;
  const names = Array.isArray(d.tasks) ? d.tasks.filter((t) => typeof t === "string") : [];
  const agents = _record(d.agents);
  const dependsOn = _record(d.dependsOn);
  const executionIds = _record(d.executionIds);
  const tasks = new Map<string, WorkflowTaskView>(names.map((name) => {
    const task: WorkflowTaskView = {
      name,
      dependsOn: Array.isArray(dependsOn[name]) ? (dependsOn[name] as string[]) : [],
      executionId: typeof executionIds[name] === "string"
        ? executionIds[name] as string
        : `${workflowId}.${name}`,
      status: "PENDING",
    };
    if (typeof agents[name] === "string") task.agent = agents[name] as string;
    return [name, task];
  }));
  const view: WorkflowView = {
    workflowId,
    status: "RUNNING",
    tasks: [...tasks.values()],
    completionOrder: [],
    resumes: 0,
    startedAt: start.time,
    lastEventAt: events[events.length - 1]!.time,
    eventCount: events.length,
  };
  if (typeof d.concurrency === "number") view.concurrency = d.concurrency;
  if (d.onFailure === "skip-dependents" || d.onFailure === "fail-fast") {
    view.onFailure = d.onFailure;
  }
  for (const event of events) {
    const data = (event.data ?? {}) as Record<string, unknown>;
    const task = typeof data.task === "string" ? tasks.get(data.task) : undefined;
    const finish = (status: TaskStatus) => {
      if (!task) return;
      task.status = status;
      view.completionOrder.push(task.name);
      if (typeof data.reason === "string") task.reason = data.reason;
      if (typeof data.error === "object" && data.error !== null) {
        task.error = data.error as ErrorInfo;
      }
    };
    switch (event.type) {
      case "WORKFLOW_RESUMED":
        view.resumes++;
        break;
      case "TASK_STARTED":
        if (task) {
          task.status = "RUNNING";
          if (typeof data.agent === "string") task.agent = data.agent;
        }
        break;
      case "TASK_COMPLETED":
        finish("SUCCESS");
        break;
      case "TASK_FAILED":
        finish(data.status === "CANCELLED" ? "CANCELLED" : "FAILED");
        break;
      case "TASK_CANCELLED":
        finish("CANCELLED");
        break;
      case "TASK_SKIPPED":
        finish("SKIPPED");
        break;
      case WORKFLOW_CANCEL_REQUESTED:
        view.cancelRequested ??= {
          reason: typeof data.reason === "string" ? data.reason : "",
          at: event.time,
        };
        break;
      default: {
        const outcome = FINAL_WORKFLOW_EVENTS[event.type];
        if (outcome && view.finishedAt === undefined) {
          view.status = outcome;
          view.finishedAt = event.time;
          for (const [name, status] of Object.entries(_record(data.tasks))) {
            const final = tasks.get(name);
            if (final && typeof status === "string") final.status = status as TaskStatus;
          }
        }
      }
    }
  }
  return view;
}

function _record(value: unknown): Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value)
    ? value as Record<string, unknown>
    : {};
}
