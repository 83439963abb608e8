// The workflows an orchestrator runs in this process, and what each needs
// from the orchestrator (WorkflowHost): its stores and clock, the checks of
// a task before the workflow is recorded, and its tasks started (or resumed)
// and cancelled as executions of that orchestrator, each holding an
// admission place (a node's admission control, see LocalBackend) from before
// its start to its end. Internal.
import type { Clock } from "../clock.ts";
import type { Orchestrator } from "./orchestrator.ts";
import type { StartedExecution } from "./orchestrator_options.ts";
import type { StartedWorkflow, WorkflowReport, WorkflowSpec } from "./workflow.ts";
import { assertJsonWithin } from "./_boundary.ts";
import {
  loadWorkflow,
  prepareWorkflow,
  requestWorkflowCancel,
  type WorkflowHost,
  WorkflowRun,
} from "./_workflow_run.ts";

/** What the orchestrator does not show of itself. */
export interface RunningWorkflowsOptions {
  /** The orchestrator's clock. */
  clock: Clock;
  /** Retention of logs, in seconds. */
  retentionSeconds: number | undefined;
  /** Largest task input, in bytes of JSON. */
  maxValueBytes: number;
}

/** Waits for a place before a task starts and returns its release. */
export type Admit = () => Promise<() => void>;

/** The workflows one orchestrator runs in this process. */
export class RunningWorkflows {
  readonly #orchestrator: Orchestrator;
  readonly #options: RunningWorkflowsOptions;
  readonly #workflows = new Map<string, { run: WorkflowRun; done: Promise<unknown> }>();

  /**
   * @param orchestrator Runs the tasks.
   * @param options Its clock, retention and input limit.
   */
  constructor(orchestrator: Orchestrator, options: RunningWorkflowsOptions) {
    this.#orchestrator = orchestrator;
    this.#options = options;
  }

  /**
   * Validates a workflow, records its start and runs it (`Orchestrator.startWorkflow`).
   *
   * @throws {TypeError | RangeError} Naming an invalid field; nothing is written then.
   * @throws {UnknownAgentError} When a task names an unregistered agent.
   */
  async start(spec: WorkflowSpec, admit: Admit | undefined): Promise<StartedWorkflow> {
    const run = await prepareWorkflow(this.#host(admit), spec);
    return { workflowId: run.workflowId, done: this.#track(run) };
  }

  /**
   * Continues a workflow from its log, or returns its recorded report
   * (`Orchestrator.resumeWorkflow`).
   *
   * @throws {ExecutionNotFoundError} When no such workflow was recorded.
   * @throws {TypeError} When the id is invalid or the workflow runs in this process.
   */
  async resume(workflowId: string): Promise<WorkflowReport> {
    if (this.#workflows.has(workflowId)) {
      throw new TypeError(`Workflow "${workflowId}" is already running in this process`);
    }
    const loaded = await loadWorkflow(this.#host(), workflowId);
    return loaded instanceof WorkflowRun ? await this.#track(loaded) : loaded;
  }

  /**
   * Records a cancellation request in the workflow's log, and cancels it at
   * once when it runs here (`Orchestrator.cancelWorkflow`).
   *
   * @returns `false` when there is no such workflow or it already finished.
   * @throws {TypeError} When the id is invalid.
   */
  async cancel(workflowId: string, reason: string): Promise<boolean> {
    const { clock, retentionSeconds } = this.#options;
    const requested = await requestWorkflowCancel(this.#orchestrator.eventStore, workflowId, {
      reason,
      time: clock.now(),
      ...(retentionSeconds === undefined ? {} : { append: { expire: retentionSeconds } }),
    });
    if (requested) this.#workflows.get(workflowId)?.run.cancel(reason);
    return requested;
  }

  /**
   * Cancels every workflow running here.
   *
   * @returns One promise a workflow, settled (never rejected) when it has.
   */
  cancelAll(reason: string): Promise<unknown>[] {
    const workflows = [...this.#workflows.values()];
    for (const { run } of workflows) run.cancel(reason);
    return workflows.map((w) => w.done);
  }

  #track(run: WorkflowRun): Promise<WorkflowReport> {
    const done = run.run().finally(() => this.#workflows.delete(run.workflowId));
    this.#workflows.set(run.workflowId, { run, done: done.catch(() => {}) });
    return done;
  }

  #host(admit?: Admit): WorkflowHost {
    const orchestrator = this.#orchestrator;
    const { maxValueBytes } = this.#options;
    // Each task holds a place from before its start to its end.
    const admitted = async (start: () => Promise<StartedExecution>) => {
      const release = admit ? await admit() : () => {};
      try {
        const started = await start();
        started.done.then(release, release);
        return started;
      } catch (error) {
        release();
        throw error;
      }
    };
    const { eventStore } = orchestrator;
    return {
      persistence: orchestrator.persistence,
      eventStore,
      clock: this.#options.clock,
      retentionSeconds: this.#options.retentionSeconds,
      checkTask: (task) => {
        orchestrator.resolveAgent(task.agent);
        if (task.policy) {
          orchestrator.policy.with(task.policy).checkTools(orchestrator.tools.map((t) => t.name));
        }
        assertJsonWithin(task.input ?? null, `The input of task "${task.name}"`, maxValueBytes);
      },
      start: (agent, task, options) => admitted(() => orchestrator.start(agent, task, options)),
      resume: (executionId) => admitted(() => orchestrator.startResume(executionId)),
      exists: async (executionId) => (await eventStore.count(executionId)) > 0,
      cancel: (executionId, reason) => void orchestrator.cancel(executionId, reason),
    };
  }
}
