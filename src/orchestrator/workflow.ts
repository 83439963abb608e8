/**
 * Workflows: a DAG of named tasks, each run by an agent as an execution.
 * Validated before anything is written (ids, the type of every field, JSON
 * inputs, unknown dependencies, cycles, duplicate names, unknown agents),
 * scheduled as soon as a task's dependencies complete (not level by level),
 * with a concurrency limit. An agent receives its task's `input` as
 * `ctx.task` and its dependencies' outputs as `ctx.dependencies`, by task
 * name. A failed task fails the workflow; its dependents are skipped
 * (`skip-dependents`, the default) or everything still pending is cancelled
 * (`fail-fast`). The workflow's progress is persisted, so a crashed workflow
 * resumes without re-running completed tasks; its events (`WORKFLOW_STARTED`,
 * `TASK_STARTED`, …) are the log of the workflow id.
 *
 * @example Two research tasks, then a critic that reads both outputs
 * ```ts
 * import { Orchestrator } from "@oao/runtime";
 * import { exampleTools } from "../../actors/example_tools.ts";
 * import assert from "node:assert/strict";
 *
 * const orchestrator = new Orchestrator({
 *   tools: exampleTools,
 *   agents: [
 *     { name: "researcher", module: new URL("../../actors/research_agent.ts", import.meta.url) },
 *     { name: "critic", module: new URL("../../actors/critic_agent.ts", import.meta.url) },
 *   ],
 * });
 * const report = await orchestrator.runWorkflow({
 *   tasks: [
 *     { name: "actors", agent: "researcher", input: { topic: "Actor systems", sources: 2 } },
 *     { name: "dags", agent: "researcher", input: { topic: "DAGs", sources: 1 } },
 *     { name: "review", agent: "critic", dependsOn: ["actors", "dags"] },
 *   ],
 * });
 * assert.equal(report.status, "SUCCESS");
 * const actors = report.tasks.actors?.output as { summary: string; notes: string[] };
 * assert.equal(actors.summary, "Actor systems: 2 sources read");
 * assert.match(actors.notes[0]!, /^Page https:\/\/example\.org\/actor-systems-\(part-1\)\/1: /);
 * // The critic ran on its dependencies' outputs (ctx.dependencies).
 * assert.deepEqual(report.tasks.review?.output, { actors: "well sourced", dags: "too thin" });
 * assert.equal(report.tasks.review?.executionId, `${report.workflowId}.review`);
 * await orchestrator.close();
 * ```
 *
 * @module
 */
import type { ErrorInfo } from "../errors.ts";
import { newSpanId } from "../tracing/trace_context.ts";
import { canonicalJson } from "./canonical_json.ts";
import type { PolicyLimits } from "./policy.ts";
import { assertId, briefValue, MAX_ID_LENGTH } from "./_inputs.ts";

/** One task of a workflow. */
export interface WorkflowTask {
  /** Unique name (letters, digits, `_`, `.`, `-`). */
  name: string;
  /** Registered agent that runs it. */
  agent: string;
  /**
   * Task input (JSON): the agent receives it as `ctx.task`; the outputs of
   * the tasks it depends on are `ctx.dependencies` (`{ <name>: output }`).
   * @default {null}
   */
  input?: unknown;
  /** Names of tasks that must succeed first. @default {[]} */
  dependsOn?: string[];
  /** Policy overrides for this task's execution. */
  policy?: Partial<PolicyLimits>;
}

/** What happens when a task fails. */
export type FailurePolicy = "skip-dependents" | "fail-fast";

/** The failure policies. */
export const FAILURE_POLICIES: readonly FailurePolicy[] = ["skip-dependents", "fail-fast"];

/** A workflow. */
export interface WorkflowSpec {
  /**
   * Workflow id (1–200 letters, digits, `_`, `.`, `-`); task executions are
   * `<id>.<task name>`. @default {a new id, `wf-…`}
   */
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

/** Status of a finished workflow. */
export type WorkflowOutcome = "SUCCESS" | "FAILED" | "CANCELLED";

/** The result of a workflow. */
export interface WorkflowReport {
  /** Workflow id. */
  workflowId: string;
  /** `SUCCESS` when every task succeeded, `CANCELLED` when the workflow was cancelled. */
  status: WorkflowOutcome;
  /** Every task's state. */
  tasks: Record<string, TaskState>;
  /** Task names in the order they finished. */
  completionOrder: string[];
  /** Start to finish (across resumes), in ms. */
  durationMs: number;
}

/** A workflow started in the background. */
export interface StartedWorkflow {
  /** Its id. */
  workflowId: string;
  /** Settles with the report. */
  done: Promise<WorkflowReport>;
}

/** The persisted progress of a workflow. */
export interface WorkflowRecord {
  spec: Required<Pick<WorkflowSpec, "tasks" | "concurrency" | "onFailure">> & { id: string };
  tasks: Record<string, TaskState>;
  completionOrder: string[];
  startedAt: number;
  finishedAt?: number;
  /** How it ended (absent while it runs). */
  status?: WorkflowOutcome;
}

const NAME = /^[A-Za-z0-9_.-]+$/;
const SPEC_FIELDS = ["id", "tasks", "concurrency", "onFailure"];
const TASK_FIELDS = ["name", "agent", "input", "dependsOn", "policy"];

/**
 * A new workflow id: time-ordered and unique.
 *
 * @returns `wf-<base36 time>-<random>`.
 *
 * @example
 * ```ts
 * import { newWorkflowId } from "./workflow.ts";
 * console.assert(/^wf-[0-9a-z]+-[0-9a-f]{10}$/.test(newWorkflowId()));
 * ```
 */
export function newWorkflowId(): string {
  return `wf-${Date.now().toString(36)}-${newSpanId().slice(0, 10)}`;
}

/**
 * Validates a workflow and fills in defaults. Every field is checked (type,
 * range, unknown fields refused, inputs JSON), so that nothing is written
 * for a workflow that cannot run.
 *
 * @param spec The workflow.
 * @param id The id to use when the spec has none. @default {a new id}
 * @returns The complete spec.
 * @throws {TypeError} Naming the field of the wrong type, the unknown field,
 *   the duplicate task, the unknown dependency or the cycle.
 * @throws {RangeError} For a bad concurrency, or a task whose execution id
 *   (`<id>.<name>`) would be longer than 200 characters.
 *
 * @example
 * ```ts
 * import { validateWorkflow } from "./workflow.ts";
 * import assert from "node:assert/strict";
 * assert.throws(
 *   () => validateWorkflow({ tasks: [{ name: "a", agent: "x", dependsOn: ["b"] }, { name: "b", agent: "x", dependsOn: ["a"] }] }, "wf"),
 *   /has a cycle/,
 * );
 * const spec = JSON.parse('{ "tasks": [{ "name": "b", "agent": "x", "dependsOn": "a" }] }');
 * assert.throws(
 *   () => validateWorkflow(spec, "wf"),
 *   /Invalid workflow field "tasks\[0\]\.dependsOn" "a": expected an array of task names/,
 * );
 * assert.equal(validateWorkflow({ tasks: [{ name: "a", agent: "x" }] }, "wf").concurrency, 4);
 * ```
 */
export function validateWorkflow(spec: WorkflowSpec, id?: string): WorkflowRecord["spec"] {
  if (!_isObject(spec)) {
    throw new TypeError(`Invalid workflow ${briefValue(spec)}: expected { tasks: [...] }`);
  }
  _refuseUnknown(spec, SPEC_FIELDS, "");
  const workflowId = assertId(spec.id ?? id ?? newWorkflowId(), "workflow id");
  if (!Array.isArray(spec.tasks)) throw _fieldError("tasks", spec.tasks, "an array of tasks");
  if (spec.tasks.length === 0) {
    throw new TypeError(`Invalid workflow "${workflowId}": it has no tasks`);
  }
  const concurrency = spec.concurrency ?? 4;
  if (typeof concurrency !== "number" || !Number.isInteger(concurrency) || concurrency < 1) {
    throw new RangeError(
      `Invalid workflow field "concurrency" ${briefValue(concurrency)}: expected an integer >= 1`,
    );
  }
  const onFailure = spec.onFailure ?? "skip-dependents";
  if (!FAILURE_POLICIES.includes(onFailure)) {
    throw _fieldError("onFailure", onFailure, `"skip-dependents" or "fail-fast"`);
  }
  const names = new Set<string>();
  const tasks = spec.tasks.map((task, i) => {
    const checked = _validateTask(task, `tasks[${i}]`, workflowId);
    if (names.has(checked.name)) {
      throw new TypeError(`Duplicate task name "${checked.name}" in workflow "${workflowId}"`);
    }
    names.add(checked.name);
    return checked;
  });
  for (const task of tasks) {
    for (const dep of task.dependsOn ?? []) {
      if (!names.has(dep)) {
        throw new TypeError(`Task "${task.name}" depends on unknown task "${dep}"`);
      }
      if (dep === task.name) throw new TypeError(`Task "${task.name}" depends on itself (a cycle)`);
    }
  }
  const cycle = findCycle(tasks);
  if (cycle) throw new TypeError(`Workflow "${workflowId}" has a cycle: ${cycle.join(" → ")}`);
  return { id: workflowId, tasks, concurrency, onFailure };
}

function _validateTask(task: unknown, path: string, workflowId: string): WorkflowTask {
  if (!_isObject(task)) throw _fieldError(path, task, "a task object { name, agent, ... }");
  _refuseUnknown(task, TASK_FIELDS, `${path}.`);
  const { name, agent, input, dependsOn, policy } = task as Partial<WorkflowTask>;
  if (typeof name !== "string" || !NAME.test(name)) {
    throw _fieldError(`${path}.name`, name, `letters, digits, "_", "." or "-"`);
  }
  if (workflowId.length + 1 + name.length > MAX_ID_LENGTH) {
    throw new RangeError(
      `Invalid workflow field "${path}.name" "${name}": its execution id "${workflowId}.${name}" would be longer than ${MAX_ID_LENGTH} characters`,
    );
  }
  if (typeof agent !== "string" || agent === "") {
    throw _fieldError(`${path}.agent`, agent, "the name of a registered agent");
  }
  if (
    dependsOn !== undefined &&
    (!Array.isArray(dependsOn) || dependsOn.some((d: unknown) => typeof d !== "string"))
  ) {
    throw _fieldError(`${path}.dependsOn`, dependsOn, "an array of task names");
  }
  if (policy !== undefined && (!_isObject(policy) || Array.isArray(policy))) {
    throw _fieldError(`${path}.policy`, policy, "an object of policy limits");
  }
  try {
    canonicalJson(input ?? null);
  } catch (error) {
    throw new TypeError(
      `Invalid workflow field "${path}.input" of task "${name}": ${(error as Error).message}`,
    );
  }
  const checked: WorkflowTask = { name, agent };
  if (input !== undefined) checked.input = input;
  if (dependsOn !== undefined) checked.dependsOn = [...dependsOn];
  if (policy !== undefined) checked.policy = policy;
  return checked;
}

function _isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function _refuseUnknown(value: Record<string, unknown>, fields: string[], path: string): void {
  const unknown = Object.keys(value).find((key) => !fields.includes(key));
  if (unknown !== undefined) {
    throw new TypeError(
      `Unknown workflow field "${path}${unknown}" (expected ${
        fields.map((f) => `"${path}${f}"`).join(", ")
      })`,
    );
  }
}

function _fieldError(path: string, value: unknown, expected: string): TypeError {
  return new TypeError(
    `Invalid workflow field "${path}" ${briefValue(value)}: expected ${expected}`,
  );
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
