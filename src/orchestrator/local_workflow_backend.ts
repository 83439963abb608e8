/**
 * The {@linkcode LocalBackend} with workflows and forks: what `oao start`
 * serves. Workflows and forks run on the same in-process
 * {@linkcode Orchestrator} as the executions; `startWorkflow` and `fork`
 * resolve once the start is recorded, so that a status poll right after the
 * answer finds it. The tasks of a workflow started here each hold a place
 * among the backend's `maxRunning`; those of a workflow resumed here
 * (`resumeWorkflow`, `adoptWorkflows`) are started directly on the
 * orchestrator, outside that count.
 *
 * @example
 * ```ts
 * import { LocalWorkflowBackend } from "./local_workflow_backend.ts";
 * import { Orchestrator } from "./orchestrator.ts";
 * import { exampleTools } from "../../actors/example_tools.ts";
 *
 * const orchestrator = new Orchestrator({
 *   tools: exampleTools,
 *   agents: [{ name: "flaky", module: new URL("../../actors/flaky_agent.ts", import.meta.url) }],
 * });
 * const backend = new LocalWorkflowBackend(orchestrator);
 * const { workflowId } = await backend.startWorkflow({ tasks: [{ name: "one", agent: "flaky", input: { items: 1 } }] });
 * console.assert((await orchestrator.eventStore.readRange(workflowId))[0]?.type === "WORKFLOW_STARTED");
 * await backend.close();
 * ```
 *
 * @module
 */
import { ExecutionBusyError } from "../errors.ts";
import { getOaoLogger } from "../logging/logger.ts";
import type { ForkRequest } from "./execution_backend.ts";
import { LocalBackend, type LocalBackendOptions } from "./local_backend.ts";
import type { Orchestrator } from "./orchestrator.ts";
import type { WorkflowSpec } from "./workflow.ts";
import { FINAL_WORKFLOW_EVENTS, WORKFLOW_STARTED } from "./workflow_view.ts";
import { CLAIM_RETRY_ATTEMPTS, CLAIM_RETRY_MARGIN_MS } from "./_ownership.ts";

const WORKFLOW_RESUMED = "WORKFLOW_RESUMED";

/** Runs executions, workflows and forks on an orchestrator in this process. */
export class LocalWorkflowBackend extends LocalBackend {
  readonly #orchestrator: Orchestrator;
  readonly #log = getOaoLogger("api");
  readonly #adoptTimers = new Set<ReturnType<typeof setTimeout>>();
  #closing = false;

  /**
   * Creates the backend.
   *
   * @param orchestrator The orchestrator everything runs on (closed by `close`).
   * @param options As for {@linkcode LocalBackend}.
   * @throws {RangeError} Naming an invalid option.
   */
  constructor(orchestrator: Orchestrator, options: LocalBackendOptions = {}) {
    super(orchestrator, options);
    this.#orchestrator = orchestrator;
  }

  /**
   * Starts a workflow; resolves once its start is recorded.
   *
   * @param spec The workflow.
   * @returns Its id.
   * @throws {TypeError | RangeError} Naming what is invalid, or a taken id; nothing is written then.
   * @throws {UnknownAgentError} When a task names an unregistered agent.
   */
  async startWorkflow(spec: WorkflowSpec): Promise<{ workflowId: string }> {
    this.assertRoom();
    const { workflowId, done } = await this.#orchestrator.startWorkflow(spec, {
      admit: () => this.admit(),
    });
    done.catch((error) => {
      this.#log.error("Workflow {workflowId} ended abnormally: {error}", { workflowId, error });
    });
    return { workflowId };
  }

  /**
   * Continues, in this process, a workflow whose process died (as
   * `oao workflow resume`): completed tasks are not run again, running ones
   * are resumed, each task's execution runs once, taking a place among the
   * node's executions (`maxRunning`) as a started workflow's tasks do.
   * Resolves once it is taken.
   *
   * @param workflowId The workflow.
   * @returns `"resumed"`, or `"finished"` when it had ended already (nothing runs).
   * @throws {ExecutionNotFoundError} When no such workflow was recorded.
   * @throws {ExecutionBusyError} When a live runner (this process included) holds it.
   * @throws {TypeError} When the id is invalid.
   */
  async resumeWorkflow(workflowId: string): Promise<"resumed" | "finished"> {
    // Taken once its resume is recorded; a finished workflow's report comes back first.
    const before = await this.#orchestrator.eventStore.count(workflowId);
    // Its tasks take places like a started workflow's (`maxRunning` holds).
    const done = this.#orchestrator.resumeWorkflow(workflowId, {
      admit: () => this.admit(),
    }).catch((error) => {
      throw error instanceof TypeError && /already running in this process/.test(error.message)
        ? new ExecutionBusyError(workflowId, "this process", 0)
        : error;
    });
    const taken = this.#untilResumed(workflowId, before, done);
    const store = this.#orchestrator.eventStore;
    const ended = done.then(async () =>
      (await store.readRange(workflowId, { from: before + 1 })).some((e) =>
          e.type === WORKFLOW_RESUMED
        )
        ? "resumed" as const
        : "finished" as const
    );
    const first = await Promise.race([ended, taken]);
    if (first === "resumed") {
      done.catch((error) => {
        this.#log.error("Resumed workflow {workflowId} ended abnormally: {error}", {
          workflowId,
          error,
        });
      });
    }
    return first;
  }

  /**
   * Takes over the workflows that a process on the same stores was running
   * when it died: their log has no final event and no live runner holds
   * them (as {@linkcode LocalBackend.adoptOrphans} for executions, with the
   * same claims). Each is resumed at once when its dead runner ran on this
   * machine, else once that runner's claim has lapsed; one a live process
   * runs is left to it. Call it once at start.
   *
   * @param limit How many of the most recently written logs to look at.
   * @returns How many unfinished workflows were found.
   */
  async adoptWorkflows(limit = 1_000): Promise<number> {
    const store = this.#orchestrator.eventStore;
    const ids = await store.listExecutions(limit);
    const found: string[] = [];
    for (let at = 0; at < ids.length; at += 100) {
      const batch = ids.slice(at, at + 100);
      const firsts = await Promise.all(batch.map((id) => store.readRange(id, { limit: 1 })));
      const workflows = batch.filter((_, i) => firsts[i]![0]?.type === WORKFLOW_STARTED);
      const latest = await Promise.all(workflows.map((id) => store.latest(id)));
      workflows.forEach((id, i) => {
        if (latest[i] && !(latest[i]!.type in FINAL_WORKFLOW_EVENTS)) found.push(id);
      });
    }
    for (const workflowId of found.reverse()) this.#adoptWorkflow(workflowId, 0);
    return found.length;
  }

  /**
   * Stops taking workflows over, then closes as {@linkcode LocalBackend.close}.
   *
   * @returns Once closed.
   */
  override async close(): Promise<void> {
    this.#closing = true;
    for (const timer of this.#adoptTimers) clearTimeout(timer);
    this.#adoptTimers.clear();
    await super.close();
  }

  #adoptWorkflow(workflowId: string, attempts: number): void {
    this.resumeWorkflow(workflowId).then((outcome) => {
      if (outcome === "resumed") {
        this.#log.warn("Taking over workflow {workflowId}, unfinished when its process stopped", {
          workflowId,
        });
      }
    }, (error) => {
      if (!(error instanceof ExecutionBusyError)) {
        this.#log.error("Cannot take over workflow {workflowId}: {error}", { workflowId, error });
        return;
      }
      if (error.holder.startsWith("this process") || this.#closing) return;
      if (attempts === 0) {
        this.#log.info(
          "Workflow {workflowId} is run by {holder}, which holds its claim: left to it (taken over here only if that claim lapses)",
          { workflowId, holder: error.holder },
        );
      }
      if (attempts + 1 >= CLAIM_RETRY_ATTEMPTS) return;
      const timer = setTimeout(() => {
        this.#adoptTimers.delete(timer);
        this.#adoptWorkflow(workflowId, attempts + 1);
      }, error.expiresInMs + CLAIM_RETRY_MARGIN_MS);
      this.#adoptTimers.add(timer);
    });
  }

  // "resumed" once the workflow's resume is recorded in its log (after
  // `afterSeq`); never when `done` settles first.
  async #untilResumed(
    workflowId: string,
    afterSeq: number,
    done: Promise<unknown>,
  ): Promise<"resumed"> {
    const stop = new AbortController();
    done.then(() => stop.abort(), () => stop.abort());
    try {
      const events = this.#orchestrator.eventStore.subscribe(workflowId, {
        afterSeq,
        signal: stop.signal,
      });
      for await (const event of events) if (event.type === WORKFLOW_RESUMED) return "resumed";
    } catch {
      // Stopped (settled first), or the store failed: `done` says how it ended.
    } finally {
      stop.abort();
    }
    return await new Promise<never>(() => {});
  }

  /**
   * Requests a workflow's cancellation (recorded in its log).
   *
   * @param workflowId The workflow.
   * @param reason Recorded with the cancellation.
   * @returns `false` when there is no such workflow or it already finished.
   */
  cancelWorkflow(workflowId: string, reason?: string): Promise<boolean> {
    return this.#orchestrator.cancelWorkflow(workflowId, reason);
  }

  /**
   * Forks an execution; resolves once the new execution's log is written.
   *
   * @param executionId The execution to fork.
   * @param options The step to fork from and the new id.
   * @returns The new execution's id.
   * @throws {ExecutionNotFoundError} When there is no such execution.
   * @throws {RangeError} When `fromStep` is not a completed step.
   * @throws {TypeError} When the new id is invalid or taken; nothing is written then.
   */
  async fork(executionId: string, options: ForkRequest): Promise<{ executionId: string }> {
    const started = await this.#orchestrator.startFork(executionId, {
      fromStep: options.fromStep,
      ...(options.executionId === undefined ? {} : { executionId: options.executionId }),
    });
    started.done.catch((error) => {
      this.#log.error("Execution {executionId} ended abnormally: {error}", {
        executionId: started.executionId,
        error,
      });
    });
    return { executionId: started.executionId };
  }

  /**
   * Continues an unfinished execution from its event log in this process.
   *
   * @param executionId The execution.
   * @returns Once it runs.
   * @throws {ExecutionNotFoundError} When there is no such execution.
   * @throws {ExecutionBusyError} When a runner holds it already.
   */
  async resume(executionId: string): Promise<void> {
    const started = await this.#orchestrator.startResume(executionId);
    started.done.catch((error) => {
      this.#log.error("Resumed execution {executionId} ended abnormally: {error}", {
        executionId,
        error,
      });
    });
  }
}
