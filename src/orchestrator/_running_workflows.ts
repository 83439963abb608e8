// The workflows an orchestrator runs in this process, and what each needs
// from the orchestrator (WorkflowHost): its stores and clock, the checks of
// a task before the workflow is recorded, and its tasks started (or resumed)
// and cancelled as executions of that orchestrator, each holding an
// admission place (a node's admission control, see LocalBackend) from before
// its start to its end. Internal.
//
// Exactly one runner per workflow, as per execution (see _ownership.ts): a
// workflow is run under a claim on its id in the event store, renewed while
// it runs, whose token fences its events. A resume (`oao workflow resume`, a
// node taking over what a dead process ran) is refused with
// ExecutionBusyError while a live runner holds the claim, and takes a dead
// runner's claim over at once when it ran on this machine. A task whose
// execution this process runs already (a node takes over orphan executions
// too) is waited for, not run twice.
import { getLogger } from "@logtape/logtape";
import type { Clock } from "../clock.ts";
import { ExecutionBusyError } from "../errors.ts";
import type { Orchestrator } from "./orchestrator.ts";
import type { StartedExecution } from "./orchestrator_options.ts";
import type { ExecutionReport } from "./execution_report.ts";
import type { StartedWorkflow, WorkflowReport, WorkflowSpec } from "./workflow.ts";
import { assertJsonWithin } from "./_boundary.ts";
import { assertId } from "./_inputs.ts";
import {
  CLAIM_RETRY_ATTEMPTS,
  CLAIM_RETRY_MARGIN_MS,
  type ExecutionClaim,
  Ownership,
} from "./_ownership.ts";
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

// How often a task waits on its execution run by this process looks again.
const HERE_POLL_MS = 250;

/** The workflows one orchestrator runs in this process. */
export class RunningWorkflows {
  readonly #orchestrator: Orchestrator;
  readonly #options: RunningWorkflowsOptions;
  readonly #workflows = new Map<string, { run: WorkflowRun; done: Promise<unknown> }>();
  readonly #log = getLogger(["oao", "orchestrator"]);
  readonly #ownership: Ownership;

  /**
   * @param orchestrator Runs the tasks.
   * @param options Its clock, retention and input limit.
   */
  constructor(orchestrator: Orchestrator, options: RunningWorkflowsOptions) {
    this.#orchestrator = orchestrator;
    this.#options = options;
    // The node says once which workflows it takes over (LocalWorkflowBackend).
    this.#ownership = new Ownership(orchestrator.eventStore, {
      clock: options.clock,
      log: this.#log,
      subject: "workflow",
      quietTakeover: true,
    });
  }

  /**
   * Validates a workflow, records its start and runs it (`Orchestrator.startWorkflow`).
   *
   * @throws {TypeError | RangeError} Naming an invalid field; nothing is written then.
   * @throws {UnknownAgentError} When a task names an unregistered agent.
   */
  async start(spec: WorkflowSpec, admit: Admit | undefined): Promise<StartedWorkflow> {
    const run = await prepareWorkflow(this.#host(admit), spec);
    // A new id: nobody holds it (a crash before this leaves a workflow any runner may take).
    const claim = await this.#ownership.acquire(run.workflowId);
    return { workflowId: run.workflowId, done: this.#track(run, claim) };
  }

  /**
   * Continues a workflow from its log, or returns its recorded report
   * (`Orchestrator.resumeWorkflow`).
   *
   * @throws {ExecutionNotFoundError} When no such workflow was recorded.
   * @throws {TypeError} When the id is invalid or the workflow runs in this process.
   * @throws {ExecutionBusyError} When another live runner holds the workflow.
   */
  async resume(workflowId: string, admit?: Admit): Promise<WorkflowReport> {
    assertId(workflowId, "workflow id");
    if (this.#workflows.has(workflowId)) {
      throw new TypeError(`Workflow "${workflowId}" is already running in this process`);
    }
    const claim = await this.#ownership.acquire(workflowId);
    let loaded: WorkflowRun | WorkflowReport;
    try {
      loaded = await loadWorkflow(this.#host(admit), workflowId);
    } catch (error) {
      await claim.release();
      throw error;
    }
    if (!(loaded instanceof WorkflowRun)) {
      await claim.release();
      return loaded;
    }
    return await this.#track(loaded, claim);
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
    const done = workflows.map((w) => w.done);
    // Their claims are released as they end: then nothing is left to renew.
    return [...done, Promise.all(done).then(() => this.#ownership.close())];
  }

  #track(run: WorkflowRun, claim: ExecutionClaim): Promise<WorkflowReport> {
    const done = run.run({ fencingToken: claim.token, lost: claim.lost }).finally(async () => {
      this.#workflows.delete(run.workflowId);
      await claim.release();
    });
    this.#workflows.set(run.workflowId, { run, done: done.catch(() => {}) });
    return done;
  }

  // Resumes a task's execution. One this process runs already (taken over
  // by the node as an orphan) is waited for, then its report read; one
  // another process holds is tried again once that claim should have lapsed
  // (CLAIM_RETRY_MARGIN_MS later, at most CLAIM_RETRY_ATTEMPTS times). A
  // place (`admit`) is held only while the execution runs here: never while
  // waiting for another runner, which may be waiting for a place itself.
  async #resumeTask(executionId: string, admit?: Admit): Promise<ExecutionReport> {
    const orchestrator = this.#orchestrator;
    for (let attempts = 1;; attempts++) {
      let place = admit ? await admit() : undefined;
      const release = () => {
        place?.();
        place = undefined;
      };
      try {
        const started = await orchestrator.startResume(executionId);
        started.done.then(release, release);
        return await started.done;
      } catch (error) {
        release();
        if (!(error instanceof ExecutionBusyError)) throw error;
        if (error.holder.startsWith("this process")) {
          do await this.#sleep(HERE_POLL_MS); while (orchestrator.running.includes(executionId));
          attempts = 0;
          continue;
        }
        if (attempts >= CLAIM_RETRY_ATTEMPTS) throw error;
        await this.#sleep(error.expiresInMs + CLAIM_RETRY_MARGIN_MS);
      }
    }
  }

  #sleep(ms: number): Promise<void> {
    return new Promise((resolve) => this.#options.clock.setTimeout(resolve, ms));
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
      // At once: a task waiting for its execution holds up no other task
      // (nor a place: it takes one only to run the execution itself).
      resume: (executionId) =>
        Promise.resolve({ executionId, done: this.#resumeTask(executionId, admit) }),
      exists: async (executionId) => (await eventStore.count(executionId)) > 0,
      cancel: (executionId, reason) => void orchestrator.cancel(executionId, reason),
    };
  }
}
