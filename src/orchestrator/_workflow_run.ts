// Runs a validated workflow: schedules tasks as their dependencies complete,
// within the concurrency limit, persists progress after every transition and
// records the workflow's own events. Cancellation comes from this process
// (`cancel`) or from another one, through a WORKFLOW_CANCEL_REQUESTED event in
// the workflow's log, checked every `cancelCheckMs`. Internal: used by the
// Orchestrator.
import type { Clock, TimerId } from "../clock.ts";
import { ExecutionNotFoundError, StaleVersionError, toErrorInfo } from "../errors.ts";
import {
  type AppendOptions,
  DEFAULT_RETENTION_SECONDS,
  type EventStore,
} from "../events/event_store.ts";
import type { PersistenceAdapter } from "../persistence/persistence_adapter.ts";
import type { ExecutionReport } from "./execution_report.ts";
import type { PolicyLimits } from "./policy.ts";
import {
  dependentsOf,
  type TaskState,
  validateWorkflow,
  type WorkflowOutcome,
  type WorkflowRecord,
  type WorkflowReport,
  type WorkflowSpec,
  type WorkflowTask,
} from "./workflow.ts";
import {
  FINAL_WORKFLOW_EVENTS,
  projectWorkflow,
  WORKFLOW_CANCEL_KEY,
  WORKFLOW_CANCEL_REQUESTED,
  WORKFLOW_STARTED,
} from "./workflow_view.ts";
import { assertId } from "./_inputs.ts";

export interface WorkflowHost {
  readonly persistence: PersistenceAdapter;
  readonly eventStore: EventStore;
  readonly clock: Clock;
  readonly retentionSeconds: number | undefined;
  /** Throws when a task cannot start: unknown agent, invalid policy, input too large. */
  checkTask(task: WorkflowTask): void;
  start(
    agent: string,
    task: unknown,
    options: {
      executionId: string;
      policy?: Partial<PolicyLimits>;
      dependencies: Record<string, unknown>;
    },
  ): Promise<{ done: Promise<ExecutionReport> }>;
  resume(executionId: string): Promise<{ done: Promise<ExecutionReport> }>;
  exists(executionId: string): Promise<boolean>;
  cancel(executionId: string, reason: string): void;
}

type Finished = { name: string; report?: ExecutionReport; error?: unknown };

const recordKey = (workflowId: string) => `${workflowId}/workflow`;

// How often a running workflow looks in its log for a cancellation request
// written by another process (`oao workflow cancel`, the API of another node).
const CANCEL_CHECK_MS = 1_000;

/**
 * Validates a new workflow completely, then claims its id (the record is
 * written only if none exists). Nothing is written when anything is wrong.
 */
export async function prepareWorkflow(
  host: WorkflowHost,
  spec: WorkflowSpec,
): Promise<WorkflowRun> {
  const validated = validateWorkflow(spec);
  for (const task of validated.tasks) host.checkTask(task);
  const id = validated.id;
  const taken = () => new TypeError(`Workflow "${id}" already exists`);
  if (await host.exists(id)) throw taken();
  for (const task of validated.tasks) {
    if (await host.exists(`${id}.${task.name}`)) {
      throw new TypeError(
        `Cannot start workflow "${id}": the execution "${id}.${task.name}" of task "${task.name}" already exists`,
      );
    }
  }
  const record: WorkflowRecord = {
    spec: validated,
    tasks: Object.fromEntries(
      validated.tasks.map((t) => [t.name, { status: "PENDING", executionId: `${id}.${t.name}` }]),
    ),
    completionOrder: [],
    startedAt: host.clock.now(),
  };
  try {
    await host.persistence.save(recordKey(id), record, {
      expectedVersion: 0,
      ttlSeconds: retentionSeconds(host),
    });
  } catch (error) {
    if (error instanceof StaleVersionError) throw taken();
    throw error;
  }
  await recordStart(host, record);
  return new WorkflowRun(host, record, false);
}

// WORKFLOW_STARTED: the tasks, their agents, dependencies and execution ids.
async function recordStart(host: WorkflowHost, record: WorkflowRecord): Promise<void> {
  const { spec } = record;
  await host.eventStore.appendEvent(spec.id, {
    type: WORKFLOW_STARTED,
    data: {
      tasks: spec.tasks.map((t) => t.name),
      concurrency: spec.concurrency,
      onFailure: spec.onFailure,
      agents: Object.fromEntries(spec.tasks.map((t) => [t.name, t.agent])),
      dependsOn: Object.fromEntries(spec.tasks.map((t) => [t.name, t.dependsOn ?? []])),
      executionIds: Object.fromEntries(
        Object.entries(record.tasks).map(([n, t]) => [n, t.executionId]),
      ),
    },
    time: host.clock.now(),
  }, retention(host));
}

/**
 * The workflow recorded under `workflowId`: a run that continues it, or the
 * report of a workflow that already finished (its final event written if a
 * crash left it out, never twice).
 */
export async function loadWorkflow(
  host: WorkflowHost,
  workflowId: string,
): Promise<WorkflowRun | WorkflowReport> {
  assertId(workflowId, "workflow id");
  const snapshot = await host.persistence.load<WorkflowRecord>(recordKey(workflowId));
  if (!snapshot) throw new ExecutionNotFoundError(workflowId);
  const record = snapshot.data;
  if (record.finishedAt === undefined) {
    // A crash right after the record was claimed leaves no log: start it.
    if (!(await host.exists(workflowId))) await recordStart(host, record);
    return new WorkflowRun(host, record, true);
  }
  const events = await host.eventStore.readRange(workflowId);
  if (!events.some((e) => e.type in FINAL_WORKFLOW_EVENTS)) {
    await new WorkflowRun(host, record, true).recordFinal();
  }
  return reportOf(record);
}

/**
 * Records a cancellation request in a running workflow's log, for the
 * process that runs it (this one or another sharing the store; the
 * orchestrator and the queue backend both write it). `false` when there is
 * no such workflow or it already finished.
 */
export async function requestWorkflowCancel(
  store: EventStore,
  workflowId: string,
  options: { reason: string; time: number; append?: AppendOptions },
): Promise<boolean> {
  assertId(workflowId, "workflow id");
  const view = projectWorkflow(workflowId, await store.readRange(workflowId));
  if (!view || view.status !== "RUNNING") return false;
  if (!view.cancelRequested) {
    await store.appendEvent(workflowId, {
      type: WORKFLOW_CANCEL_REQUESTED,
      data: { reason: options.reason },
      key: WORKFLOW_CANCEL_KEY,
      time: options.time,
    }, options.append ?? {});
  }
  return true;
}

function retentionSeconds(host: WorkflowHost): number {
  return host.retentionSeconds ?? DEFAULT_RETENTION_SECONDS;
}

function retention(host: WorkflowHost): AppendOptions {
  return host.retentionSeconds === undefined ? {} : { expire: host.retentionSeconds };
}

function reportOf(record: WorkflowRecord): WorkflowReport {
  const ok = Object.values(record.tasks).every((t: TaskState) => t.status === "SUCCESS");
  return {
    workflowId: record.spec.id,
    status: record.status ?? (ok ? "SUCCESS" : "FAILED"),
    tasks: record.tasks,
    completionOrder: record.completionOrder,
    durationMs: (record.finishedAt ?? record.startedAt) - record.startedAt,
  };
}

/** One workflow in progress. */
export class WorkflowRun {
  readonly workflowId: string;
  readonly #host: WorkflowHost;
  readonly #record: WorkflowRecord;
  readonly #resumed: boolean;
  readonly #byName: Map<string, WorkflowTask>;
  readonly #running = new Map<string, Promise<Finished>>();
  #cancelReason: string | undefined;
  // The claim under which it runs: its token fences the events, its loss stops the run.
  #fencingToken: number | undefined;
  #lost: AbortSignal | undefined;
  #wake: (() => void) | undefined;
  #timer: TimerId | undefined;
  #over = false;

  constructor(host: WorkflowHost, record: WorkflowRecord, resumed: boolean) {
    this.#host = host;
    this.#record = record;
    this.#resumed = resumed;
    this.workflowId = record.spec.id;
    this.#byName = new Map(record.spec.tasks.map((t) => [t.name, t]));
  }

  /** Cancels the workflow: running tasks are cancelled, pending ones are not started. */
  cancel(reason: string): void {
    if (this.#over || this.#cancelReason !== undefined) return;
    this.#cancelReason = reason;
    for (const name of this.#running.keys()) this.#cancelTask(name);
    this.#wake?.();
  }

  /**
   * Runs the workflow to its end, under a claim: `fencingToken` goes with
   * its events; when `lost` aborts (another runner took the workflow), the
   * run stops, writing nothing more, and rejects with its reason.
   */
  async run(claim: { fencingToken?: number; lost?: AbortSignal } = {}): Promise<WorkflowReport> {
    this.#fencingToken = claim.fencingToken;
    this.#lost = claim.lost;
    const onLost = () => this.#wake?.();
    this.#lost?.addEventListener("abort", onLost, { once: true });
    try {
      return await this.#run();
    } finally {
      this.#lost?.removeEventListener("abort", onLost);
      this.#over = true;
      if (this.#timer !== undefined) this.#host.clock.clearTimeout(this.#timer);
    }
  }

  /** Writes how the workflow ended: the record first, then the final event. */
  async recordFinal(): Promise<WorkflowReport> {
    const record = this.#record;
    const ok = Object.values(record.tasks).every((t) => t.status === "SUCCESS");
    const status: WorkflowOutcome = record.status ??
      (ok ? "SUCCESS" : this.#cancelReason !== undefined ? "CANCELLED" : "FAILED");
    record.status = status;
    record.finishedAt ??= this.#host.clock.now();
    await this.#save();
    const type = Object.keys(FINAL_WORKFLOW_EVENTS).find((t) =>
      FINAL_WORKFLOW_EVENTS[t] === status
    )!;
    const data: Record<string, unknown> = {
      tasks: Object.fromEntries(Object.entries(record.tasks).map(([n, t]) => [n, t.status])),
    };
    if (status === "CANCELLED" && this.#cancelReason !== undefined) {
      data.reason = this.#cancelReason;
    }
    await this.#log(type, data);
    // Finished: the record goes with the events (a retention from now), never before them.
    await this.#host.persistence.expireScope(this.workflowId, retentionSeconds(this.#host))
      .catch(() => {});
    return reportOf(record);
  }

  async #run(): Promise<WorkflowReport> {
    const { spec } = this.#record;
    const record = this.#record;
    if (this.#resumed) {
      await this.#log("WORKFLOW_RESUMED", { tasks: Object.keys(record.tasks).length });
      const requested = await this.#cancelRequest();
      if (requested !== undefined) this.#cancelReason = requested;
      for (const [name, state] of Object.entries(record.tasks)) {
        if (state.status !== "RUNNING") continue;
        if (this.#cancelReason !== undefined) await this.#cancelPending(name);
        else await this.#launch(name, true);
      }
    }
    this.#watchForCancel();

    let failed = Object.values(record.tasks).some((t) =>
      t.status === "FAILED" || t.status === "CANCELLED"
    );
    while (true) {
      this.#lost?.throwIfAborted();
      for (const task of spec.tasks) {
        const state = record.tasks[task.name]!;
        if (state.status !== "PENDING") continue;
        if (this.#cancelReason !== undefined) {
          await this.#cancelPending(task.name);
          continue;
        }
        // Skip what can no longer run.
        const blocker = (task.dependsOn ?? []).find((d) =>
          ["FAILED", "SKIPPED", "CANCELLED"].includes(record.tasks[d]!.status)
        );
        if (blocker || (failed && spec.onFailure === "fail-fast")) {
          state.status = "SKIPPED";
          state.reason = blocker
            ? `dependency "${blocker}" did not succeed`
            : "the workflow failed fast";
          record.completionOrder.push(task.name);
          await this.#log("TASK_SKIPPED", { task: task.name, reason: state.reason });
        }
      }
      // Start what is ready, in declaration order, up to the limit.
      for (const task of spec.tasks) {
        if (this.#running.size >= spec.concurrency || this.#cancelReason !== undefined) break;
        const state = record.tasks[task.name]!;
        if (state.status !== "PENDING") continue;
        if ((task.dependsOn ?? []).every((d) => record.tasks[d]!.status === "SUCCESS")) {
          await this.#launch(task.name, false);
        }
      }
      await this.#save();
      if (this.#running.size === 0) break;
      const finished = await this.#next();
      if (!finished) continue; // woken by a cancellation or the loss of the claim
      this.#running.delete(finished.name);
      if (await this.#settle(finished)) failed = true;
    }
    this.#lost?.throwIfAborted();
    return await this.recordFinal();
  }

  // Records a finished task; true when it did not succeed.
  async #settle(finished: Finished): Promise<boolean> {
    const { spec } = this.#record;
    const state = this.#record.tasks[finished.name]!;
    this.#record.completionOrder.push(finished.name);
    if (finished.report?.status === "SUCCESS") {
      state.status = "SUCCESS";
      state.output = finished.report.output;
      await this.#log("TASK_COMPLETED", { task: finished.name, executionId: state.executionId });
      return false;
    }
    const cancelled = finished.report?.status === "CANCELLED";
    state.status = cancelled ? "CANCELLED" : "FAILED";
    state.error = finished.report?.error ?? toErrorInfo(finished.error);
    await this.#log(cancelled ? "TASK_CANCELLED" : "TASK_FAILED", {
      task: finished.name,
      executionId: state.executionId,
      error: state.error,
    });
    if (this.#cancelReason !== undefined) return true;
    if (spec.onFailure === "fail-fast") {
      for (const name of this.#running.keys()) {
        this.#host.cancel(this.#record.tasks[name]!.executionId, `task "${finished.name}" failed`);
      }
    } else {
      for (const dependent of dependentsOf(spec.tasks, finished.name)) {
        if (this.#record.tasks[dependent]!.status === "PENDING") {
          this.#record.tasks[dependent]!.reason = `dependency "${finished.name}" failed`;
        }
      }
    }
    return true;
  }

  async #launch(name: string, resumeExisting: boolean): Promise<void> {
    const task = this.#byName.get(name)!;
    const state = this.#record.tasks[name]!;
    state.status = "RUNNING";
    await this.#save();
    if (!resumeExisting) {
      await this.#log("TASK_STARTED", {
        task: name,
        agent: task.agent,
        executionId: state.executionId,
      });
    }
    const dependencies = Object.fromEntries(
      (task.dependsOn ?? []).map((d) => [d, this.#record.tasks[d]!.output]),
    );
    const options: Parameters<WorkflowHost["start"]>[2] = {
      executionId: state.executionId,
      dependencies,
    };
    if (task.policy) options.policy = task.policy;
    let done: Promise<ExecutionReport>;
    try {
      done = (resumeExisting && (await this.#host.exists(state.executionId))
        ? await this.#host.resume(state.executionId)
        : await this.#host.start(task.agent, task.input ?? null, options)).done;
    } catch (error) {
      done = Promise.reject(error);
    }
    this.#running.set(
      name,
      done.then((report) => ({ name, report }), (error) => ({ name, error })),
    );
    if (this.#cancelReason !== undefined) this.#cancelTask(name);
  }

  async #cancelPending(name: string): Promise<void> {
    const state = this.#record.tasks[name]!;
    state.status = "CANCELLED";
    state.reason = `the workflow was cancelled: ${this.#cancelReason}`;
    this.#record.completionOrder.push(name);
    await this.#log("TASK_CANCELLED", { task: name, reason: state.reason });
  }

  #cancelTask(name: string): void {
    this.#host.cancel(
      this.#record.tasks[name]!.executionId,
      `the workflow was cancelled: ${this.#cancelReason}`,
    );
  }

  // The next task to finish, or undefined when woken by a cancellation.
  async #next(): Promise<Finished | undefined> {
    const woken = new Promise<undefined>((resolve) => this.#wake = () => resolve(undefined));
    try {
      return await Promise.race([...this.#running.values(), woken]);
    } finally {
      this.#wake = undefined;
    }
  }

  // Looks for a cancellation request from another process while tasks run.
  #watchForCancel(): void {
    const { clock } = this.#host;
    const check = async () => {
      this.#timer = undefined;
      if (this.#over || this.#cancelReason !== undefined) return;
      try {
        const reason = await this.#cancelRequest();
        if (reason !== undefined) this.cancel(reason);
      } catch {
        // The store is unreachable: the next check tries again.
      }
      if (!this.#over && this.#cancelReason === undefined) {
        this.#timer = clock.setTimeout(check, CANCEL_CHECK_MS);
      }
    };
    this.#timer = clock.setTimeout(check, CANCEL_CHECK_MS);
  }

  async #cancelRequest(): Promise<string | undefined> {
    const event = await this.#host.eventStore.findByKey(this.workflowId, WORKFLOW_CANCEL_KEY);
    if (!event) return undefined;
    const reason = (event.data as { reason?: unknown } | undefined)?.reason;
    return typeof reason === "string" && reason !== "" ? reason : "cancelled on request";
  }

  // The record lives as long as the workflow's events: a retention from its last save.
  #save(): Promise<unknown> {
    return this.#host.persistence.save(recordKey(this.workflowId), this.#record, {
      ttlSeconds: retentionSeconds(this.#host),
    });
  }

  async #log(type: string, data: Record<string, unknown>): Promise<void> {
    const options = retention(this.#host);
    if (this.#fencingToken !== undefined) options.fencingToken = this.#fencingToken;
    await this.#host.eventStore.appendEvent(this.workflowId, { type, data }, options);
  }
}
