// Runs a validated workflow: schedules tasks as their dependencies complete,
// within the concurrency limit, persists progress after every transition and
// records the workflow's own events. Internal: used by the Orchestrator.
import type { Clock } from "../clock.ts";
import { toErrorInfo } from "../errors.ts";
import type { EventStore } from "../events/event_store.ts";
import type { PersistenceAdapter } from "../persistence/persistence_adapter.ts";
import type { ExecutionReport } from "./execution_report.ts";
import type { PolicyLimits } from "./policy.ts";
import {
  dependentsOf,
  type TaskState,
  type WorkflowRecord,
  type WorkflowReport,
} from "./workflow.ts";

export interface WorkflowHost {
  readonly persistence: PersistenceAdapter;
  readonly eventStore: EventStore;
  readonly clock: Clock;
  readonly retentionSeconds: number | undefined;
  start(
    agent: string,
    task: unknown,
    options: { executionId: string; policy?: Partial<PolicyLimits> },
  ): Promise<{ done: Promise<ExecutionReport> }>;
  resume(executionId: string): Promise<{ done: Promise<ExecutionReport> }>;
  exists(executionId: string): Promise<boolean>;
  cancel(executionId: string, reason: string): void;
}

type Finished = { name: string; report?: ExecutionReport; error?: unknown };

export async function runWorkflow(
  host: WorkflowHost,
  record: WorkflowRecord,
  resumed: boolean,
): Promise<WorkflowReport> {
  const { spec } = record;
  const key = `${spec.id}/workflow`;
  const running = new Map<string, Promise<Finished>>();
  const log = async (type: string, data: Record<string, unknown>) => {
    const options = host.retentionSeconds === undefined ? {} : { expire: host.retentionSeconds };
    await host.eventStore.appendEvent(spec.id, { type, data }, options);
  };
  const save = () => host.persistence.save(key, record);
  const byName = new Map(spec.tasks.map((t) => [t.name, t]));

  const launch = async (name: string, resumeExisting: boolean) => {
    const task = byName.get(name)!;
    const state = record.tasks[name]!;
    state.status = "RUNNING";
    await save();
    if (!resumeExisting) {
      await log("TASK_STARTED", { task: name, agent: task.agent, executionId: state.executionId });
    }
    const dependencies = Object.fromEntries(
      (task.dependsOn ?? []).map((d) => [d, record.tasks[d]!.output]),
    );
    const options: { executionId: string; policy?: Partial<PolicyLimits> } = {
      executionId: state.executionId,
    };
    if (task.policy) options.policy = task.policy;
    let done: Promise<ExecutionReport>;
    try {
      done = (resumeExisting && (await host.exists(state.executionId))
        ? await host.resume(state.executionId)
        : await host.start(task.agent, { input: task.input ?? null, dependencies }, options)).done;
    } catch (error) {
      done = Promise.reject(error);
    }
    running.set(name, done.then((report) => ({ name, report }), (error) => ({ name, error })));
  };

  if (resumed) {
    await log("WORKFLOW_RESUMED", { tasks: Object.keys(record.tasks).length });
    for (const [name, state] of Object.entries(record.tasks)) {
      if (state.status === "RUNNING") await launch(name, true);
    }
  } else {
    await log("WORKFLOW_STARTED", {
      tasks: spec.tasks.map((t) => t.name),
      concurrency: spec.concurrency,
      onFailure: spec.onFailure,
    });
    await save();
  }

  let failed = Object.values(record.tasks).some((t) =>
    t.status === "FAILED" || t.status === "CANCELLED"
  );
  while (true) {
    // Skip what can no longer run.
    for (const task of spec.tasks) {
      const state = record.tasks[task.name]!;
      if (state.status !== "PENDING") continue;
      const blocker = (task.dependsOn ?? []).find((d) =>
        ["FAILED", "SKIPPED", "CANCELLED"].includes(record.tasks[d]!.status)
      );
      if (blocker || (failed && spec.onFailure === "fail-fast")) {
        state.status = "SKIPPED";
        state.reason = blocker
          ? `dependency "${blocker}" did not succeed`
          : "the workflow failed fast";
        record.completionOrder.push(task.name);
        await log("TASK_SKIPPED", { task: task.name, reason: state.reason });
      }
    }
    // Start what is ready, in declaration order, up to the limit.
    for (const task of spec.tasks) {
      if (running.size >= spec.concurrency) break;
      const state = record.tasks[task.name]!;
      if (state.status !== "PENDING") continue;
      if ((task.dependsOn ?? []).every((d) => record.tasks[d]!.status === "SUCCESS")) {
        await launch(task.name, false);
      }
    }
    await save();
    if (running.size === 0) break;
    const finished = await Promise.race(running.values());
    running.delete(finished.name);
    const state = record.tasks[finished.name]!;
    record.completionOrder.push(finished.name);
    if (finished.report?.status === "SUCCESS") {
      state.status = "SUCCESS";
      state.output = finished.report.output;
      await log("TASK_COMPLETED", { task: finished.name, executionId: state.executionId });
    } else {
      state.status = finished.report?.status === "CANCELLED" ? "CANCELLED" : "FAILED";
      state.error = finished.report?.error ?? toErrorInfo(finished.error);
      failed = true;
      await log("TASK_FAILED", {
        task: finished.name,
        executionId: state.executionId,
        error: state.error,
      });
      if (spec.onFailure === "fail-fast") {
        for (const name of running.keys()) {
          host.cancel(record.tasks[name]!.executionId, `task "${finished.name}" failed`);
        }
      } else {
        for (const dependent of dependentsOf(spec.tasks, finished.name)) {
          if (record.tasks[dependent]!.status === "PENDING") {
            record.tasks[dependent]!.reason = `dependency "${finished.name}" failed`;
          }
        }
      }
    }
  }
  const ok = Object.values(record.tasks).every((t: TaskState) => t.status === "SUCCESS");
  record.finishedAt = host.clock.now();
  await save();
  await log(ok ? "WORKFLOW_COMPLETED" : "WORKFLOW_FAILED", {
    tasks: Object.fromEntries(Object.entries(record.tasks).map(([n, t]) => [n, t.status])),
  });
  return {
    workflowId: spec.id,
    status: ok ? "SUCCESS" : "FAILED",
    tasks: record.tasks,
    completionOrder: record.completionOrder,
    durationMs: record.finishedAt - record.startedAt,
  };
}
