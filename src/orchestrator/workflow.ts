/**
 * Workflows: a DAG of named tasks, each run by an agent as an execution.
 * Validated up front (unknown dependency, cycle, duplicate name), scheduled
 * as soon as a task's dependencies complete (not level by level), with a
 * concurrency limit. Each task receives its dependencies' outputs. A failed
 * task fails the workflow; its dependents are skipped (`skip-dependents`,
 * the default) or everything still pending is cancelled (`fail-fast`). The
 * workflow's progress is persisted, so a crashed workflow resumes without
 * re-running completed tasks.
 *
 * @example One task, then two that depend on it
 * ```ts
 * import { defineTool, Orchestrator } from "@oao/runtime";
 * import assert from "node:assert/strict";
 *
 * const orchestrator = new Orchestrator({
 *   tools: [defineTool({ name: "process_item", run: () => "processed" })],
 *   agents: [{ name: "bench", module: new URL("../../actors/bench_agent.ts", import.meta.url) }],
 * });
 * const report = await orchestrator.runWorkflow({
 *   tasks: [
 *     { name: "fetch", agent: "bench", input: { url: "https://example.com" } },
 *     { name: "summarize", agent: "bench", dependsOn: ["fetch"] },
 *     { name: "translate", agent: "bench", dependsOn: ["fetch"] },
 *   ],
 * });
 * assert.equal(report.status, "SUCCESS");
 * assert.equal(report.completionOrder[0], "fetch");
 * assert.equal(report.tasks.summarize?.output, "processed");
 * await orchestrator.close();
 * ```
 *
 * @module
 */
import type { ErrorInfo } from "../errors.ts";
import type { PolicyLimits } from "./policy.ts";

/** One task of a workflow. */
export interface WorkflowTask {
  /** Unique name (letters, digits, `_`, `.`, `-`). */
  name: string;
  /** Registered agent that runs it. */
  agent: string;
  /** Task input (JSON); the agent receives `{ input, dependencies: { <name>: output } }`. */
  input?: unknown;
  /** Names of tasks that must succeed first. @default {[]} */
  dependsOn?: string[];
  /** Policy overrides for this task's execution. */
  policy?: Partial<PolicyLimits>;
}

/** What happens when a task fails. */
export type FailurePolicy = "skip-dependents" | "fail-fast";

/** A workflow. */
export interface WorkflowSpec {
  /** Workflow id; task executions are `<id>.<task name>`. @default {a new id} */
  id?: string;
  /** The tasks. */
  tasks: WorkflowTask[];
  /** Tasks running at once. @default {4} */
  concurrency?: number;
  /**
   * `skip-dependents`: the failed task's dependents (transitively) are
   * skipped, independent tasks go on. `fail-fast`: running tasks are
   * cancelled and pending ones skipped. Either way the workflow fails.
   * @default {"skip-dependents"}
   */
  onFailure?: FailurePolicy;
}

/** Status of a task. */
export type TaskStatus = "PENDING" | "RUNNING" | "SUCCESS" | "FAILED" | "SKIPPED" | "CANCELLED";

/** State of one task. */
export interface TaskState {
  /** Status. */
  status: TaskStatus;
  /** Its execution. */
  executionId: string;
  /** Output, when it succeeded. */
  output?: unknown;
  /** Error, when it failed. */
  error?: ErrorInfo;
  /** Why it was skipped or cancelled. */
  reason?: string;
}

/** The result of a workflow. */
export interface WorkflowReport {
  /** Workflow id. */
  workflowId: string;
  /** `SUCCESS` when every task succeeded. */
  status: "SUCCESS" | "FAILED";
  /** Every task's state. */
  tasks: Record<string, TaskState>;
  /** Task names in the order they finished. */
  completionOrder: string[];
  /** Start to finish (across resumes), in ms. */
  durationMs: number;
}

/** The persisted progress of a workflow. */
export interface WorkflowRecord {
  spec: Required<Pick<WorkflowSpec, "tasks" | "concurrency" | "onFailure">> & { id: string };
  tasks: Record<string, TaskState>;
  completionOrder: string[];
  startedAt: number;
  finishedAt?: number;
}

const NAME = /^[A-Za-z0-9_.-]+$/;

/**
 * Validates a workflow and fills in defaults.
 *
 * @param spec The workflow.
 * @param id The id to use when the spec has none.
 * @returns The complete spec.
 * @throws {TypeError} Naming the duplicate task, the unknown dependency or the cycle.
 * @throws {RangeError} For a bad concurrency.
 *
 * @example
 * ```ts
 * import { validateWorkflow } from "./workflow.ts";
 * try {
 *   validateWorkflow({ tasks: [{ name: "a", agent: "x", dependsOn: ["b"] }, { name: "b", agent: "x", dependsOn: ["a"] }] }, "wf");
 * } catch (e) {
 *   console.assert((e as Error).message.includes("cycle"));
 * }
 * ```
 */
export function validateWorkflow(spec: WorkflowSpec, id: string): WorkflowRecord["spec"] {
  if (typeof spec !== "object" || spec === null || !Array.isArray(spec.tasks)) {
    throw new TypeError(`Invalid workflow: expected { tasks: [...] }`);
  }
  if (spec.tasks.length === 0) throw new TypeError(`Invalid workflow "${id}": it has no tasks`);
  const concurrency = spec.concurrency ?? 4;
  if (!Number.isInteger(concurrency) || concurrency < 1) {
    throw new RangeError(
      `Invalid workflow concurrency ${JSON.stringify(concurrency)}: expected an integer >= 1`,
    );
  }
  const onFailure = spec.onFailure ?? "skip-dependents";
  if (onFailure !== "skip-dependents" && onFailure !== "fail-fast") {
    throw new TypeError(
      `Invalid workflow onFailure ${
        JSON.stringify(onFailure)
      }: expected "skip-dependents" or "fail-fast"`,
    );
  }
  const names = new Set<string>();
  for (const task of spec.tasks) {
    if (typeof task?.name !== "string" || !NAME.test(task.name)) {
      throw new TypeError(
        `Invalid task name ${
          JSON.stringify(task?.name)
        }: expected letters, digits, "_", "." or "-"`,
      );
    }
    if (names.has(task.name)) {
      throw new TypeError(`Duplicate task name "${task.name}" in workflow "${id}"`);
    }
    names.add(task.name);
    if (typeof task.agent !== "string") throw new TypeError(`Task "${task.name}" names no agent`);
  }
  for (const task of spec.tasks) {
    for (const dep of task.dependsOn ?? []) {
      if (!names.has(dep)) {
        throw new TypeError(`Task "${task.name}" depends on unknown task "${dep}"`);
      }
      if (dep === task.name) throw new TypeError(`Task "${task.name}" depends on itself (a cycle)`);
    }
  }
  const cycle = findCycle(spec.tasks);
  if (cycle) throw new TypeError(`Workflow "${id}" has a cycle: ${cycle.join(" → ")}`);
  return { id, tasks: spec.tasks, concurrency, onFailure };
}

function findCycle(tasks: WorkflowTask[]): string[] | undefined {
  const deps = new Map(tasks.map((t) => [t.name, t.dependsOn ?? []]));
  const state = new Map<string, "visiting" | "done">();
  const path: string[] = [];
  const visit = (name: string): string[] | undefined => {
    if (state.get(name) === "done") return undefined;
    if (state.get(name) === "visiting") return [...path.slice(path.indexOf(name)), name];
    state.set(name, "visiting");
    path.push(name);
    for (const dep of deps.get(name) ?? []) {
      const cycle = visit(dep);
      if (cycle) return cycle;
    }
    path.pop();
    state.set(name, "done");
    return undefined;
  };
  for (const task of tasks) {
    const cycle = visit(task.name);
    if (cycle) return cycle.reverse();
  }
  return undefined;
}

/**
 * Names of the tasks that depend on `name`, directly or not.
 *
 * @param tasks The workflow's tasks.
 * @param name A task name.
 * @returns Its transitive dependents.
 *
 * @example
 * ```ts
 * import { dependentsOf } from "./workflow.ts";
 * const tasks = [{ name: "a", agent: "x" }, { name: "b", agent: "x", dependsOn: ["a"] }, { name: "c", agent: "x", dependsOn: ["b"] }];
 * console.assert(dependentsOf(tasks, "a").join() === "b,c");
 * ```
 */
export function dependentsOf(tasks: WorkflowTask[], name: string): string[] {
  const out: string[] = [];
  const queue = [name];
  while (queue.length) {
    const current = queue.shift()!;
    for (const task of tasks) {
      if ((task.dependsOn ?? []).includes(current) && !out.includes(task.name)) {
        out.push(task.name);
        queue.push(task.name);
      }
    }
  }
  return out;
}
