/**
 * The {@linkcode LocalBackend} with workflows and forks: what `oao start`
 * serves. Workflows and forks run on the same in-process
 * {@linkcode Orchestrator} as the executions; `startWorkflow` and `fork`
 * resolve once the start is recorded, so that a status poll right after the
 * answer finds it. Their tasks are started directly on the orchestrator: they
 * do not count against the backend's `maxRunning` and `maxQueued`.
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
import { getOaoLogger } from "../logging/logger.ts";
import type { ForkRequest } from "./execution_backend.ts";
import { LocalBackend, type LocalBackendOptions } from "./local_backend.ts";
import type { Orchestrator } from "./orchestrator.ts";
import type { WorkflowSpec } from "./workflow.ts";

/** Runs executions, workflows and forks on an orchestrator in this process. */
export class LocalWorkflowBackend extends LocalBackend {
  readonly #orchestrator: Orchestrator;
  readonly #log = getOaoLogger("api");

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
