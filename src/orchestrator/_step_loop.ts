// The governed step loop of an execution: the lifecycle's states one step at
// a time (lifecycle.ts), each checked against the policy before it starts,
// entered and completed in the log, asked of the agent's worker
// (_activations.ts), retried with backoff when an attempt fails, and
// recorded with the agent's new state. A resumed run starts at the
// step its log left incomplete. Internal: each ExecutionRun has one.
import type { Logger } from "@logtape/logtape";
import { backoffDelay } from "../backoff.ts";
import { type ErrorInfo, OaoError } from "../errors.ts";
import type { Totals } from "../events/event_store.ts";
import type { Span } from "../tracing/tracer.ts";
import type { StepMessage, StepResult } from "./agent.ts";
import type { StateEntry } from "./execution_report.ts";
import { type LifecycleState, nextState } from "./lifecycle.ts";
import type { Violation } from "./policy.ts";
import { toBackoff } from "./retry_policy.ts";
import type { Activations } from "./_activations.ts";
import { reportedTokens, validateStepResult } from "./_boundary.ts";
import type { EventRecorder } from "./_event_recorder.ts";
import type { RunHost, RunInit } from "./_run_host.ts";
import type { RunWorkers } from "./_run_workers.ts";
import type { ToolLedger } from "./_tool_ledger.ts";

/**
 * The step loop failed for a reason that is recorded as the execution's
 * error. It keeps the name and code of the error that failed the step
 * (`LLM_MAX_STEPS`, `MODEL_CALL_FAILED`, `APPROVAL_DENIED`, …), so that a
 * report's `error.code` is the one the agent's error documents; an error
 * without a code (a plain `Error` from the agent) is `STEP_FAILED`. The
 * message says which step failed and after how many attempts.
 */
export class StepFailedError extends OaoError {
  constructor(step: number, phase: LifecycleState, attempts: number, error: ErrorInfo) {
    super(
      error.code || "STEP_FAILED",
      `Step ${step} (${phase}) failed after ${attempts} attempt${
        attempts === 1 ? "" : "s"
      }: ${error.message}`,
    );
    if (error.code) this.name = error.name;
  }
}

/** What the step loop needs from its execution's run. */
export interface StepRun {
  readonly executionId: string;
  readonly host: RunHost;
  readonly init: RunInit;
  /** The run's totals: the loop counts steps and the tokens steps report. */
  readonly totals: Totals;
  /** The states entered, in order: the loop adds one a step. */
  readonly history: StateEntry[];
  readonly ledger: ToolLedger;
  readonly rootSpan: Span | undefined;
  readonly log: Logger;
  /** Aborts the wait before a retry when the execution must stop. */
  readonly signal: AbortSignal;
  /** The step running now, its lifecycle state and span: set by the loop. */
  step: number;
  phase: LifecycleState;
  stepSpan: Span | undefined;
  /** Reset at each attempt: an attempt starts by making its calls. */
  replaying: boolean;
  elapsed(): number;
  throwIfFatal(): void;
  /** Ends the execution with `error`, unless it is ending already. */
  fail(error: Error): void;
  violation(violation: Violation): Promise<never>;
  errorInfo(error: unknown): ErrorInfo;
}

/** The parts of the run the step loop uses. */
export interface StepParts {
  readonly events: EventRecorder;
  readonly workers: RunWorkers;
  readonly activations: Activations;
}

export class StepLoop {
  readonly #run: StepRun;
  readonly #parts: StepParts;
  #agentState: unknown;

  /**
   * @param run The execution's run.
   * @param parts Its parts the loop uses.
   */
  constructor(run: StepRun, parts: StepParts) {
    this.#run = run;
    this.#parts = parts;
    this.#agentState = run.init.view?.agentState;
  }

  /**
   * Runs the steps from the first (or from where the log left off) to the
   * end of the lifecycle.
   *
   * @returns The execution's output.
   * @throws {Error} A step failed after its retries, or the execution must stop.
   */
  async run(): Promise<unknown> {
    const run = this.#run;
    const { events } = this.#parts;
    const view = run.init.view;
    const { clock, tracer } = run.host;
    let phase: LifecycleState | undefined = view
      ? view.incomplete?.phase ?? view.nextPhase
      : "INIT";
    let resuming = view?.incomplete !== undefined;
    let step = view?.lastStep ?? 0;
    let iteration = view?.iteration ?? 0;
    let reviewOutput = view?.reviewOutput;
    let output: unknown = view?.agentState;
    while (phase) {
      run.throwIfFatal();
      if (!resuming) {
        const violation = run.init.policy.checkStep(run.totals, run.elapsed());
        if (violation) await run.violation(violation);
        step++;
        run.totals.steps++;
      }
      run.step = step;
      run.phase = phase;
      run.stepSpan = tracer.startSpan(`oao.step.${step}`, {
        parent: run.rootSpan!.context,
        attributes: {
          "oao.execution.id": run.executionId,
          "oao.agent": run.init.agent.name,
          "oao.lifecycle.state": phase,
          "oao.step": step,
          "oao.step.resumed": resuming,
        },
      });
      if (!resuming) {
        const entered = events.recordAhead("STATE_ENTER", { state: phase }, { step });
        run.history.push({ step, state: phase, at: entered.time });
      }
      resuming = false;
      const started = clock.now();
      const ranBefore = run.elapsed();
      const result = await this.#runStep(step, phase, iteration);
      this.#agentState = result.state;
      const next = nextState(phase, result.done === undefined ? {} : { done: result.done });
      if (phase === "REVIEW") {
        iteration++;
        if (result.hasOutput) reviewOutput = { value: result.output };
      }
      if (phase === "TERMINATE") {
        output = result.hasOutput
          ? result.output
          : reviewOutput
          ? reviewOutput.value
          : result.state;
      }
      // The log is the state: STEP_COMPLETED carries the agent's state, and a
      // resume rebuilds from it. A step waits for its events to be stored
      // before the next one starts, so a store that fails stops the run here.
      await events.settled();
      // The time the step ran, and apart from it the time it waited for a
      // person or for time (a signal, an approval, a sleep), as the limits count them.
      const durationMs = Math.max(0, run.elapsed() - ranBefore);
      const waitedMs = clock.now() - started - durationMs;
      const data: Record<string, unknown> = {
        state: phase,
        next: next ?? null,
        durationMs,
        ...(waitedMs > 0 ? { waitedMs } : {}),
        agentState: result.state,
        hasOutput: result.hasOutput,
      };
      if (result.done !== undefined) data.done = result.done;
      if (result.hasOutput) data.output = result.output;
      events.recordAhead("STEP_COMPLETED", data, { step });
      run.stepSpan.setStatus("ok");
      run.stepSpan.end();
      phase = next;
    }
    return output;
  }

  async #runStep(
    step: number,
    phase: LifecycleState,
    iteration: number,
  ): Promise<Extract<StepResult, { ok: true }>> {
    const run = this.#run;
    const { events, workers, activations } = this.#parts;
    const { clock, retry } = run.host;
    for (let attempt = 1;; attempt++) {
      run.ledger.beginAttempt(attempt === 1);
      run.replaying = false;
      run.throwIfFatal();
      await workers.ensure();
      const message: StepMessage = {
        type: "oao.step",
        executionId: run.executionId,
        agent: run.init.agent.name,
        step,
        phase,
        iteration,
        attempt,
        task: run.init.task,
        ...(run.init.dependencies ? { dependencies: run.init.dependencies } : {}),
        state: this.#agentState,
        peers: workers.peers,
      };
      let result: StepResult;
      try {
        result = this.#acceptStepResult(await activations.ask(message), step);
      } catch (error) {
        run.throwIfFatal();
        result = { ok: false, error: run.errorInfo(error), tokens: 0 };
      }
      run.totals.tokens += result.tokens;
      run.throwIfFatal();
      if (result.ok) return result;
      if (
        result.error.code === "POLICY_VIOLATION" || result.error.code === "TOOL_OUTCOME_UNKNOWN"
      ) {
        run.fail(new OaoError(result.error.code, result.error.message));
        run.throwIfFatal();
      }
      run.stepSpan?.addEvent("STEP_FAILED", {
        "oao.attempt": attempt,
        "exception.message": result.error.message,
      });
      await events.record("STEP_FAILED", { state: phase, attempt, error: result.error }, { step });
      // An llmAgent past its maxSteps fails the same way each time, and so
      // does a model call that failed for good (the host's record, not the agent's word).
      if (
        attempt >= retry.attempts || result.error.code === "LLM_MAX_STEPS" ||
        (result.error.code === "MODEL_CALL_FAILED" && run.ledger.finalFailure)
      ) {
        throw new StepFailedError(step, phase, attempt, result.error);
      }
      const delayMs = backoffDelay(attempt, toBackoff(retry));
      run.stepSpan?.addEvent("RETRY_ATTEMPTED", {
        "oao.attempt": attempt,
        "oao.delay_ms": delayMs,
        "exception.message": result.error.message,
      });
      await events.record("RETRY_ATTEMPTED", {
        attempt,
        delayMs,
        reason: "step failed",
        state: phase,
        error: result.error,
      }, { step });
      run.log.warn(
        "RETRY_ATTEMPTED step {step} ({phase}) attempt {attempt} in {delayMs} ms: {message}",
        {
          step,
          phase,
          attempt,
          delayMs,
          message: result.error.message,
        },
      );
      try {
        await clock.sleep(delayMs, run.signal);
      } catch {
        run.throwIfFatal();
      }
    }
  }

  // Checks the agent's answer to a step; a malformed one is a failed attempt.
  #acceptStepResult(reply: unknown, step: number): StepResult {
    const run = this.#run;
    try {
      return validateStepResult(reply, {
        actor: this.#parts.workers.agentPath,
        step,
        limits: run.host.limits,
      });
    } catch (error) {
      return { ok: false, error: run.errorInfo(error), tokens: reportedTokens(reply) };
    }
  }
}
