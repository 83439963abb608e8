/**
 * What the command line shows of workflows (`workflow`, and `status`,
 * `replay` given a workflow id): the report of a run, the status of a
 * workflow from its log (with the outputs of its finished tasks, read from
 * their executions), and live progress while one runs.
 *
 * @example
 * ```ts
 * import { workflowReportLines } from "./_workflow.ts";
 * const lines = workflowReportLines({
 *   workflowId: "wf-1", status: "SUCCESS", completionOrder: ["a"], durationMs: 12,
 *   tasks: { a: { status: "SUCCESS", executionId: "wf-1.a", output: { ok: true } } },
 * });
 * console.assert(lines[0] === "SUCCESS  wf-1  1 task in 12 ms" && lines[1]!.includes('{"ok":true}'));
 * ```
 *
 * @module
 */
import { type CommandContext, EXIT_OK } from "./_command.ts";
import { brief, describeEvent, FINAL_EVENT_TYPES } from "./_format.ts";
import { notFoundMessage } from "./_not_found.ts";
import type { Runtime } from "./_runtime.ts";
import type { EventStore, StoredEvent } from "../events/event_store.ts";
import { projectExecution } from "../orchestrator/execution_view.ts";
import type { TaskState, WorkflowReport } from "../orchestrator/workflow.ts";
import { projectWorkflow, type WorkflowView } from "../orchestrator/workflow_view.ts";

/**
 * The report of a workflow: its status, then one line per task (status,
 * execution id, output or why not).
 *
 * @param report The report.
 * @returns The lines.
 */
export function workflowReportLines(report: WorkflowReport): string[] {
  const names = Object.keys(report.tasks);
  const lines = [
    `${report.status}  ${report.workflowId}  ${names.length} task${
      names.length === 1 ? "" : "s"
    } in ${report.durationMs} ms`,
  ];
  return [...lines, ..._taskLines(names.map((name) => [name, report.tasks[name]!]))];
}

/**
 * The status of a workflow, from its log: status, times, then one line per
 * task with its execution id (and the output of those that succeeded).
 *
 * @param view The workflow's view.
 * @param outputs Outputs of the tasks that succeeded, by task name.
 * @returns The lines.
 */
export function workflowStatusLines(
  view: WorkflowView,
  outputs: Readonly<Record<string, unknown>> = {},
): string[] {
  const counts = new Map<string, number>();
  for (const task of view.tasks) counts.set(task.status, (counts.get(task.status) ?? 0) + 1);
  const lines = [
    `${view.workflowId}  workflow  ${view.status}`,
    `  tasks   ${view.tasks.length} (${[...counts].map(([s, n]) => `${n} ${s}`).join(", ")})${
      view.concurrency ? `, concurrency ${view.concurrency}` : ""
    }${view.onFailure ? `, ${view.onFailure}` : ""}`,
    `  started ${new Date(view.startedAt).toISOString()}${
      view.resumes ? ` (resumed ${view.resumes}×)` : ""
    }`,
    `  last    ${new Date(view.lastEventAt).toISOString()} (${view.eventCount} events)`,
  ];
  if (view.cancelRequested) lines.push(`  cancel  requested: ${view.cancelRequested.reason}`);
  lines.push("");
  const states = view.tasks.map((task): [string, TaskState, string[]] => {
    const state: TaskState = { status: task.status, executionId: task.executionId };
    if (task.name in outputs) state.output = outputs[task.name];
    if (task.error) state.error = task.error;
    if (task.reason) state.reason = task.reason;
    return [task.name, state, task.dependsOn];
  });
  return [...lines, ..._taskLines(states)];
}

/**
 * Outputs of the tasks of a workflow that succeeded, read from their
 * executions' logs.
 *
 * @param store The event store.
 * @param view The workflow's view.
 * @returns The outputs by task name.
 */
export async function taskOutputs(
  store: EventStore,
  view: WorkflowView,
): Promise<Record<string, unknown>> {
  const outputs: Record<string, unknown> = {};
  for (const task of view.tasks) {
    if (task.status !== "SUCCESS") continue;
    try {
      outputs[task.name] = projectExecution(
        task.executionId,
        await store.readRange(task.executionId),
      ).output;
    } catch {
      // Its log expired: the status line says SUCCESS without the output.
    }
  }
  return outputs;
}

/**
 * Prints a workflow's task events as they are recorded, until its final
 * event or until `signal` aborts.
 *
 * @param store The event store.
 * @param workflowId The workflow.
 * @param options Where lines go, what stops following, the events to leave out (`afterSeq`).
 * @returns Once done.
 */
export async function followWorkflow(
  store: EventStore,
  workflowId: string,
  options: { out: (line: string) => void; signal: AbortSignal; afterSeq?: number },
): Promise<void> {
  const { out, signal } = options;
  try {
    for await (
      const event of store.subscribe(workflowId, { signal, afterSeq: options.afterSeq ?? 0 })
    ) {
      if (event.type.startsWith("TASK_") || event.type === "WORKFLOW_CANCEL_REQUESTED") {
        out(`  ${describeEvent(event)}`);
      }
      if (FINAL_EVENT_TYPES.includes(event.type)) return;
    }
  } catch (error) {
    if (!signal.aborted) throw error;
  }
}

function _taskLines(tasks: readonly (readonly [string, TaskState, string[]?])[]): string[] {
  const width = Math.max(...tasks.map(([name]) => name.length));
  const idWidth = Math.max(...tasks.map(([, state]) => state.executionId.length));
  return tasks.map(([name, state, dependsOn]) => {
    const what = state.status === "SUCCESS"
      ? ("output" in state ? brief(state.output, 80) : "")
      : state.error
      ? state.error.message
      : state.reason ?? (dependsOn?.length ? `after ${dependsOn.join(", ")}` : "");
    return `  ${name.padEnd(width)}  ${state.status.padEnd(9)}  ${
      state.executionId.padEnd(idWidth)
    }  ${what}`.trimEnd();
  });
}

/**
 * Prints a workflow's status (the `workflow status` output; `status` uses
 * it for a workflow id too).
 *
 * @param ctx The command's context (`--json`).
 * @param runtime The runtime whose event store holds the workflow.
 * @param view The workflow's view.
 * @returns The exit code.
 */
export async function printWorkflowStatus(
  ctx: CommandContext,
  runtime: Pick<Runtime, "eventStore">,
  view: WorkflowView,
): Promise<number> {
  const outputs = await taskOutputs(runtime.eventStore, view);
  if (ctx.boolean("json")) {
    const tasks = view.tasks.map((t) => t.name in outputs ? { ...t, output: outputs[t.name] } : t);
    ctx.out(JSON.stringify({ ...view, tasks }, null, 2));
  } else workflowStatusLines(view, outputs).forEach((line) => ctx.out(line));
  return EXIT_OK;
}

/**
 * The workflow recorded under `id`, or what to say when there is none.
 *
 * @param runtime The runtime whose event store is read.
 * @param id The workflow id.
 * @returns Its log and view, or the error message.
 */
export async function findWorkflow(
  runtime: Pick<Runtime, "eventStore" | "storage">,
  id: string,
): Promise<{ view: WorkflowView; events: StoredEvent[] } | { error: string }> {
  const events = await runtime.eventStore.readRange(id);
  const view = projectWorkflow(id, events);
  if (view) return { view, events };
  if (events.length > 0) {
    return { error: `"${id}" is an execution, not a workflow: see "oao status ${id}"` };
  }
  return { error: notFoundMessage(id, runtime.storage, "workflow") };
}
