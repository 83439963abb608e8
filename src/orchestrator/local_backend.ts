/**
 * The {@linkcode ExecutionBackend} of the monolithic deployment (`oao
 * start`): executions run in this process, on an in-process
 * {@linkcode Orchestrator}. A submit resolves once the execution's
 * `EXECUTION_STARTED` event is stored, so that a status poll right after
 * the answer finds it. Idempotency keys are remembered for a day in the
 * orchestrator's persistence (Redis when configured), with a conditional
 * write, so two submits with one key start one execution.
 *
 * @example
 * ```ts
 * import { LocalBackend } from "./local_backend.ts";
 * import { Orchestrator } from "./orchestrator.ts";
 * import { exampleTools } from "../../actors/example_tools.ts";
 *
 * const orchestrator = new Orchestrator({
 *   tools: exampleTools,
 *   agents: [{ name: "runaway", module: new URL("../../actors/runaway_agent.ts", import.meta.url) }],
 * });
 * const backend = new LocalBackend(orchestrator);
 * const { executionId } = await backend.submit({ agent: "runaway", task: {}, policy: { maxToolCalls: 1 } });
 * console.assert(executionId.startsWith("exec-"));
 * await backend.close();
 * ```
 *
 * @module
 */
import type { ExecutionBackend, SubmitRequest, SubmitResult } from "./execution_backend.ts";
import { StaleVersionError } from "../errors.ts";
import { getOaoLogger } from "../logging/logger.ts";
import { sha256Hex } from "./canonical_json.ts";
import { newExecutionId, type Orchestrator } from "./orchestrator.ts";

/** Options of {@linkcode LocalBackend}. */
export interface LocalBackendOptions {
  /** How long an idempotency key is remembered, in seconds. @default {86400} */
  idempotencyTtlSeconds?: number;
}

/** Runs executions on an orchestrator in this process. */
export class LocalBackend implements ExecutionBackend {
  /** Always `"local"`. */
  readonly mode = "local" as const;
  readonly #orchestrator: Orchestrator;
  readonly #ttl: number;
  readonly #log = getOaoLogger("api");

  /**
   * Creates the backend.
   *
   * @param orchestrator The orchestrator executions run on (closed by {@linkcode LocalBackend.close}).
   * @param options Idempotency-key retention.
   * @throws {RangeError} When `idempotencyTtlSeconds` is not a positive integer.
   */
  constructor(orchestrator: Orchestrator, options: LocalBackendOptions = {}) {
    this.#orchestrator = orchestrator;
    this.#ttl = options.idempotencyTtlSeconds ?? 86_400;
    if (!Number.isInteger(this.#ttl) || this.#ttl < 1) {
      throw new RangeError(
        `Invalid idempotencyTtlSeconds ${JSON.stringify(this.#ttl)}: expected a positive integer`,
      );
    }
  }

  /**
   * Names of the registered agents.
   *
   * @returns The names.
   */
  agents(): string[] {
    return this.#orchestrator.agents.map((a) => a.name);
  }

  /**
   * Starts an execution; resolves once its start is recorded.
   *
   * @param request Agent, task, policy overrides, idempotency key, trace parent.
   * @returns The execution id, and whether the idempotency key matched an earlier submit.
   * @throws {UnknownAgentError} When the agent is not registered.
   * @throws {RangeError} When a policy override is invalid.
   * @throws {TypeError} When the task is not JSON.
   */
  async submit(request: SubmitRequest): Promise<SubmitResult> {
    this.#orchestrator.resolveAgent(request.agent);
    let executionId = newExecutionId();
    if (request.idempotencyKey !== undefined) {
      const key = `api-idempotency-${
        (await sha256Hex(request.idempotencyKey)).slice(0, 40)
      }/submit`;
      try {
        await this.#orchestrator.persistence.save(key, { executionId }, {
          expectedVersion: 0,
          ttlSeconds: this.#ttl,
        });
      } catch (error) {
        if (!(error instanceof StaleVersionError)) throw error;
        const earlier = await this.#orchestrator.persistence.load<{ executionId: string }>(key);
        if (earlier) return { executionId: earlier.data.executionId, duplicate: true };
        throw error;
      }
    }
    executionId = await this.#start(executionId, request);
    return { executionId, duplicate: false };
  }

  /**
   * Cancels an execution running in this process.
   *
   * @param executionId The execution.
   * @param reason Recorded with the cancellation.
   * @returns `false` when it is not running here.
   */
  cancel(executionId: string, reason?: string): Promise<boolean> {
    return Promise.resolve(this.#orchestrator.cancel(executionId, reason));
  }

  /**
   * Executions running in this process.
   *
   * @returns Their number.
   */
  inFlight(): Promise<number> {
    return Promise.resolve(this.#orchestrator.running.length);
  }

  /**
   * Closes the orchestrator, cancelling what still runs.
   *
   * @returns Once closed.
   */
  async close(): Promise<void> {
    await this.#orchestrator.close();
  }

  async #start(executionId: string, request: SubmitRequest): Promise<string> {
    let unsubscribe = () => {};
    const recorded = new Promise<void>((resolve) => {
      unsubscribe = this.#orchestrator.events.subscribe((event) => {
        if (event.executionId === executionId && event.type === "EXECUTION_STARTED") resolve();
      });
    });
    try {
      const started = await this.#orchestrator.start(request.agent, request.task, {
        executionId,
        ...(request.policy ? { policy: request.policy } : {}),
        ...(request.traceparent ? { traceparent: request.traceparent } : {}),
      });
      const done = started.done.catch((error) => {
        this.#log.error("Execution {executionId} ended abnormally: {error}", {
          executionId,
          error,
        });
        throw error;
      });
      await Promise.race([recorded, done]);
      done.catch(() => {});
      return started.executionId;
    } finally {
      unsubscribe();
    }
  }
}
