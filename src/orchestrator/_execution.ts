// One execution in progress: the governed step loop, retries, the deadline,
// cancellation, passivation and activation, and the audit events — written
// ahead of every transition. Tool calls go through its ToolGate
// (_tool_gate.ts). Internal: the Orchestrator creates runs.
import type { Logger } from "@logtape/logtape";
import { backoffDelay } from "../backoff.ts";
import type { TimerId } from "../clock.ts";
import {
  type ErrorInfo,
  ExecutionCancelledError,
  FencedError,
  OaoError,
  PolicyViolationError,
  StoreUnavailableError,
  ValueTooLargeError,
} from "../errors.ts";
import { jsonBytes, truncateText } from "../limits.ts";
import { DEFAULT_RETENTION_SECONDS, type Totals } from "../events/event_store.ts";
import type { SaveOptions } from "../persistence/persistence_adapter.ts";
import type { PublishOptions } from "../observability/event_bus.ts";
import type { OaoEvent } from "../observability/events.ts";
import {
  formatTraceparent,
  parseTraceparent,
  type TraceContext,
} from "../tracing/trace_context.ts";
import type { Span } from "../tracing/tracer.ts";
import type { AgentGroup } from "./agent_runtime.ts";
import type { StepMessage, StepResult, ToolCallRequest } from "./agent.ts";
import type {
  ExecutionReport,
  ExecutionStatus,
  PendingDecision,
  StateEntry,
} from "./execution_report.ts";
import type { ExecutionView } from "./execution_view.ts";
import { type LifecycleState, nextState } from "./lifecycle.ts";
import type { StrictPolicy, Violation } from "./policy.ts";
import { toBackoff } from "./retry_policy.ts";
import { ToolLedger } from "./_tool_ledger.ts";
import { type GateRun, ToolGate } from "./_tool_gate.ts";
import { type CheckedWait, WaitGate } from "./_wait_gate.ts";
import { ModelGate } from "./_model_gate.ts";
import type { ModelServiceRequest } from "./agent.ts";
import type { ModelCallResult } from "../model/model_call.ts";
import { HostWaits } from "./_host_waits.ts";
import type { ResolvedAgent, RunHost } from "./_run_host.ts";
import { boundedErrorInfo, reportedTokens, validateStepResult } from "./_boundary.ts";
import { indexEntry } from "./_index_entries.ts";

export type { ResolvedAgent, RunHost };

/** How a run starts. */
export interface RunInit {
  executionId: string;
  agent: ResolvedAgent;
  task: unknown;
  /** Outputs of the workflow tasks it depends on (workflow tasks only). */
  dependencies?: Record<string, unknown>;
  policy: StrictPolicy;
  hash: string;
  view?: ExecutionView;
  fencingToken?: number;
  parentTrace?: TraceContext;
  forkedFrom?: { executionId: string; step: number };
  signal?: AbortSignal;
}

/** The step loop failed for a reason that is recorded as the execution's error. */
class StepFailedError extends OaoError {
  constructor(step: number, phase: LifecycleState, attempts: number, error: ErrorInfo) {
    super(
      "STEP_FAILED",
      `Step ${step} (${phase}) failed after ${attempts} attempt${
        attempts === 1 ? "" : "s"
      }: ${error.message}`,
    );
  }
}

/** What the step's ask resolves to when the execution was passivated instead of answered. */
const PASSIVATED: unique symbol = Symbol("passivated");

/** How long after a step's time limit the host stops it when the worker's watchdog did not. */
const STEP_TIMEOUT_GRACE_MS = 1_000;

/** An attempt of a step ran longer than the policy allows; its worker was stopped. */
class StepTimeoutError extends OaoError {
  constructor(limit: "stepTimeoutMs" | "timeoutMs", ms: number) {
    super(
      "STEP_TIMEOUT",
      `The step ran longer than the policy's ${limit} (${ms} ms): its worker was stopped`,
    );
  }
}

export class ExecutionRun {
  readonly executionId: string;
  #host: RunHost;
  #init: RunInit;
  #totals: Totals;
  #history: StateEntry[];
  #agentState: unknown;
  #ledger: ToolLedger;
  #startedAt = 0;
  #fatal: Error | undefined;
  #parked: PendingDecision | undefined; // waits for an operator's decision on this call
  #violationRecorded = false;
  #abort = new AbortController();
  #cancelDeadline: (() => void) | undefined; // the execution's time limit (#armDeadline)
  #supervisor: AgentGroup | undefined;
  #agentPath: string;
  #peers: Record<string, string> = {};
  #rootSpan: Span | undefined;
  #stepSpan: Span | undefined;
  #step = 0;
  #phase: LifecycleState = "INIT";
  #log: Logger;
  #status: ExecutionStatus = "RUNNING";
  #attemptTimeout: ((error: Error) => void) | undefined;
  #waits: HostWaits;
  #gate: ToolGate;
  #modelGate: ModelGate | undefined; // made on the first model call
  #waitGate: WaitGate | undefined; // made on the first wait
  #onPassivate: (() => void) | undefined; // set while a step's activation is asked
  #replaying = false; // the step runs again after an activation: its calls are answered
  #unsettled: Promise<void> | undefined; // events recorded ahead, not yet known durable

  constructor(host: RunHost, init: RunInit) {
    this.#host = host;
    this.#init = init;
    this.executionId = init.executionId;
    const view = init.view;
    this.#totals = view ? { ...view.totals } : { steps: 0, tokens: 0, toolCalls: 0 };
    this.#history = view ? [...view.history] : [];
    this.#agentState = view?.agentState;
    this.#ledger = new ToolLedger(view?.occurrences ?? new Map(), view !== undefined);
    this.#agentPath = `${init.executionId}/${init.agent.name}`;
    this.#log = host.log.with({ executionId: init.executionId, agent: init.agent.name });
    // Agents with peers keep talking to them while they wait: never passivated (yet).
    const afterMs = init.agent.peers.length > 0 ? Infinity : host.passivateAfterMs;
    this.#waits = new HostWaits(host.clock, afterMs, () => this.#onPassivate?.());
    this.#gate = new ToolGate(this.#gateRun());
    init.signal?.addEventListener("abort", () => this.cancel("the caller aborted"), { once: true });
  }

  /** Current status. */
  get status(): ExecutionStatus {
    return this.#status;
  }

  /** Current totals. */
  get totals(): Totals {
    return { ...this.#totals };
  }

  /** Current step and lifecycle state. */
  get position(): { step: number; phase: LifecycleState } {
    return { step: this.#step, phase: this.#phase };
  }

  /** Trace context of the execution's root span. */
  get trace(): TraceContext | undefined {
    return this.#rootSpan?.context;
  }

  /** Cancels the execution: the running step is interrupted. */
  cancel(reason = "cancelled on request"): void {
    if (this.#fatal) return;
    this.#fatal = new ExecutionCancelledError(this.executionId, reason);
    this.#interrupt();
  }

  /** Adds runtime events of this execution's actors (restarts) to the current span. */
  onRuntimeEvent(event: OaoEvent): void {
    if (
      event.type === "ACTOR_FAILED" && event.data.actor === this.#agentPath &&
      event.data.reason === "timeout"
    ) {
      this.#onStepTimeout();
    }
    // Only the actor system's events (they name an actor): the run's own
    // RETRY_ATTEMPTED is added to its span where it is recorded.
    if (
      (event.type === "RETRY_ATTEMPTED" || event.type === "ACTOR_RESTARTED" ||
        event.type === "ACTOR_FAILED") && typeof event.data.actor === "string"
    ) {
      const attributes: Record<string, string | number | boolean> = {};
      for (const [k, v] of Object.entries(event.data)) {
        if (typeof v === "string" || typeof v === "number" || typeof v === "boolean") {
          attributes[`oao.${k}`] = v;
        }
      }
      const error = event.data.error as ErrorInfo | undefined;
      if (typeof error?.message === "string") {
        attributes["exception.message"] = truncateText(
          error.message,
          this.#host.limits.maxErrorChars,
        );
      }
      (this.#stepSpan ?? this.#rootSpan)?.addEvent(event.type, attributes);
    }
  }

  /** Runs to the end and reports. Rejects only when the run lost ownership (fenced). */
  async run(): Promise<ExecutionReport> {
    const { clock, tracer } = this.#host;
    const view = this.#init.view;
    const parent = view?.traceparent ? parseTraceparent(view.traceparent) : this.#init.parentTrace;
    const root = tracer.startSpan("oao.execution", {
      parent,
      attributes: {
        "oao.execution.id": this.executionId,
        "oao.agent": this.#init.agent.name,
        "oao.agent.version": this.#init.agent.version,
        "oao.execution.resumed": view !== undefined,
      },
    });
    this.#rootSpan = root;
    this.#log = this.#host.log.with({
      executionId: this.executionId,
      agent: this.#init.agent.name,
      actor: this.#agentPath,
      traceId: root.context.traceId,
    });
    let output: unknown;
    let error: (ErrorInfo & { retryable?: boolean }) | undefined;
    try {
      if (view) {
        this.#startedAt = clock.now() - view.activeMs;
        await this.#record("EXECUTION_RESUMED", {
          fromStep: view.incomplete?.step ?? view.lastStep + 1,
          phase: view.incomplete?.phase ?? view.nextPhase ?? null,
        });
      } else {
        this.#startedAt = clock.now();
        const data: Record<string, unknown> = {
          agent: this.#init.agent.name,
          version: this.#init.agent.version,
          module: this.#init.agent.module,
          task: this.#init.task,
          ...(this.#init.dependencies ? { dependencies: this.#init.dependencies } : {}),
          policy: this.#init.policy.limits,
          hash: this.#init.hash,
          peers: this.#init.agent.peers.map((p) => p.name),
          traceparent: formatTraceparent(root.context),
        };
        // Lets a resuming run re-export this root if this process dies (_crashed_spans.ts).
        if (parent) data.parentSpanId = parent.spanId;
        if (this.#init.forkedFrom) data.forkedFrom = this.#init.forkedFrom;
        await this.#record("EXECUTION_STARTED", data);
      }
      if (this.#init.fencingToken !== undefined) {
        this.#host.system.setFencingToken(this.executionId, this.#init.fencingToken);
      }
      this.#armDeadline();
      await this.#ensureActors();
      output = await this.#loop();
      this.#status = "SUCCESS";
      this.#stepSpan = undefined;
      await this.#record("EXECUTION_COMPLETED", {
        output,
        durationMs: this.#elapsed(),
      });
      await this.#expireSnapshots();
      root.setStatus("ok");
    } catch (caught) {
      const failure = this.#fatal ?? caught;
      if (failure instanceof FencedError) {
        root.recordException(failure);
        throw failure;
      }
      error = this.#errorInfo(failure);
      root.recordException(failure);
      const retryable = isEnvironmentFailure(failure);
      if (retryable) {
        error = { ...error, message: retryHint(error.message, this.executionId), retryable };
      }
      try {
        if (this.#parked) this.#status = "NEEDS_DECISION";
        else {
          const { retryable: _, ...recorded } = error;
          await this.#recordFailure(failure, recorded, retryable);
          if (!retryable) await this.#expireSnapshots();
        }
      } catch (recordError) {
        if (recordError instanceof FencedError) throw recordError;
        this.#log.error("Cannot record the failure of execution {executionId}: {error}", {
          error: this.#errorInfo(recordError).message,
        });
      }
    } finally {
      this.#cancelDeadline?.();
      this.#stepSpan?.end();
      root.end();
      await this.#stopActors();
      if (this.#init.fencingToken !== undefined) {
        this.#host.system.setFencingToken(this.executionId, undefined);
      }
    }
    const report: ExecutionReport = {
      executionId: this.executionId,
      agent: this.#init.agent.name,
      status: this.#status,
      totalSteps: this.#totals.steps,
      tokens: this.#totals.tokens,
      toolCalls: this.#totals.toolCalls,
      durationMs: this.#elapsed(),
      stateHistory: this.#history,
      output,
      executionHash: this.#init.hash,
      startedAt: view?.startedAt ?? this.#startedAt,
      finishedAt: clock.now(),
      traceId: root.context.traceId,
    };
    if (error) report.error = error;
    if (this.#parked) report.decision = this.#parked;
    return report;
  }

  async #loop(): Promise<unknown> {
    const view = this.#init.view;
    const { clock, persistence, tracer } = this.#host;
    let phase: LifecycleState | undefined = view
      ? view.incomplete?.phase ?? view.nextPhase
      : "INIT";
    let resuming = view?.incomplete !== undefined;
    let step = view?.lastStep ?? 0;
    let iteration = view?.iteration ?? 0;
    let reviewOutput = view?.reviewOutput;
    let output: unknown = view?.agentState;
    while (phase) {
      this.#throwIfFatal();
      if (!resuming) {
        const violation = this.#init.policy.checkStep(this.#totals, this.#elapsed());
        if (violation) await this.#violation(violation);
        step++;
        this.#totals.steps++;
      }
      this.#step = step;
      this.#phase = phase;
      this.#stepSpan = tracer.startSpan(`oao.step.${step}`, {
        parent: this.#rootSpan!.context,
        attributes: {
          "oao.execution.id": this.executionId,
          "oao.agent": this.#init.agent.name,
          "oao.lifecycle.state": phase,
          "oao.step": step,
          "oao.step.resumed": resuming,
        },
      });
      if (!resuming) {
        const entered = this.#recordAhead("STATE_ENTER", { state: phase }, { step });
        this.#history.push({ step, state: phase, at: entered.time });
      }
      resuming = false;
      const started = clock.now();
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
      // The state lives as long as the events: a retention from its last save.
      const saveOptions: SaveOptions = { ttlSeconds: this.#retentionSeconds };
      await this.#settled(); // the state saved is never ahead of the log
      if (this.#init.fencingToken !== undefined) saveOptions.fencingToken = this.#init.fencingToken;
      await persistence.save(
        `${this.executionId}/state`,
        { step, phase, agentState: result.state, totals: this.#totals },
        saveOptions,
      );
      const data: Record<string, unknown> = {
        state: phase,
        next: next ?? null,
        durationMs: clock.now() - started,
        agentState: result.state,
        hasOutput: result.hasOutput,
      };
      if (result.done !== undefined) data.done = result.done;
      if (result.hasOutput) data.output = result.output;
      this.#recordAhead("STEP_COMPLETED", data, { step });
      this.#stepSpan.setStatus("ok");
      this.#stepSpan.end();
      phase = next;
    }
    return output;
  }

  async #runStep(
    step: number,
    phase: LifecycleState,
    iteration: number,
  ): Promise<Extract<StepResult, { ok: true }>> {
    const { clock, retry } = this.#host;
    for (let attempt = 1;; attempt++) {
      this.#ledger.beginAttempt(attempt === 1);
      this.#replaying = false;
      this.#throwIfFatal();
      await this.#ensureActors();
      const message: StepMessage = {
        type: "oao.step",
        executionId: this.executionId,
        agent: this.#init.agent.name,
        step,
        phase,
        iteration,
        attempt,
        task: this.#init.task,
        ...(this.#init.dependencies ? { dependencies: this.#init.dependencies } : {}),
        state: this.#agentState,
        peers: this.#peers,
      };
      let result: StepResult;
      try {
        result = this.#acceptStepResult(await this.#askStep(message), step);
      } catch (error) {
        this.#throwIfFatal();
        result = { ok: false, error: this.#errorInfo(error), tokens: 0 };
      }
      this.#totals.tokens += result.tokens;
      this.#throwIfFatal();
      if (result.ok) return result;
      if (
        result.error.code === "POLICY_VIOLATION" || result.error.code === "TOOL_OUTCOME_UNKNOWN"
      ) {
        this.#fatal ??= new OaoError(result.error.code, result.error.message);
        this.#throwIfFatal();
      }
      this.#stepSpan?.addEvent("STEP_FAILED", {
        "oao.attempt": attempt,
        "exception.message": result.error.message,
      });
      await this.#record("STEP_FAILED", { state: phase, attempt, error: result.error }, { step });
      if (attempt >= retry.attempts) throw new StepFailedError(step, phase, attempt, result.error);
      const delayMs = backoffDelay(attempt, toBackoff(retry));
      this.#stepSpan?.addEvent("RETRY_ATTEMPTED", {
        "oao.attempt": attempt,
        "oao.delay_ms": delayMs,
        "exception.message": result.error.message,
      });
      await this.#record("RETRY_ATTEMPTED", {
        attempt,
        delayMs,
        reason: "step failed",
        state: phase,
        error: result.error,
      }, { step });
      this.#log.warn(
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
        await clock.sleep(delayMs, this.#abort.signal);
      } catch {
        this.#throwIfFatal();
      }
    }
  }

  /** Handles a tool call from the agent: governed, audited, idempotent (see ToolGate). */
  toolCall(request: ToolCallRequest): Promise<unknown> {
    return this.#gate.call(request);
  }

  /** Handles a durable wait of the agent: a signal or a timer (see WaitGate). */
  wait(request: CheckedWait): Promise<unknown> {
    this.#waitGate ??= new WaitGate(this.#gateRun());
    return this.#waitGate.wait(request);
  }

  /** Handles a model call from the agent: governed, journaled, made once (see ModelGate). */
  modelCall(request: ModelServiceRequest): Promise<ModelCallResult> {
    this.#modelGate ??= new ModelGate(this.#gateRun());
    return this.#modelGate.call(request);
  }

  // What the tool gate sees of this run.
  #gateRun(): GateRun {
    // deno-lint-ignore no-this-alias
    const run = this;
    return {
      executionId: this.executionId,
      host: this.#host,
      agent: this.#init.agent,
      policy: this.#init.policy,
      ledger: this.#ledger,
      waits: this.#waits,
      get totals() {
        return run.#totals;
      },
      get step() {
        return run.#step;
      },
      get stepSpan() {
        return run.#stepSpan;
      },
      signal: this.#abort.signal,
      get replaying() {
        return run.#replaying;
      },
      set replaying(value: boolean) {
        run.#replaying = value;
      },
      elapsed: () => this.#elapsed(),
      throwIfFatal: () => this.#throwIfFatal(),
      fail: (error) => void (this.#fatal ??= error),
      park: (pending, error) => {
        if (this.#fatal) return;
        this.#fatal = error;
        this.#parked = pending;
      },
      violation: (violation) => this.#violation(violation),
      record: (type, data, extra) => this.#record(type, data, extra),
      errorInfo: (error) => this.#errorInfo(error),
    };
  }

  async #violation(violation: Violation): Promise<never> {
    const error = new PolicyViolationError(violation.limit, violation.value, violation.max);
    this.#fatal ??= error;
    if (!this.#violationRecorded) {
      this.#violationRecorded = true;
      (this.#stepSpan ?? this.#rootSpan)?.addEvent("POLICY_VIOLATION", {
        "oao.policy.limit": violation.limit,
        "oao.policy.value": violation.value,
        "oao.policy.max": violation.max,
      });
      await this.#record("POLICY_VIOLATION", { ...violation }, { step: this.#step });
      this.#log.warn("POLICY_VIOLATION {limit}: {value} exceeds {max}", { ...violation });
    }
    this.#interrupt();
    throw error;
  }

  /** The retention of the execution's events and snapshots, in seconds. */
  get #retentionSeconds(): number {
    return this.#host.retentionSeconds ?? DEFAULT_RETENTION_SECONDS;
  }

  /**
   * Once the final event is written, the snapshots of the execution expire
   * with its events (a retention from now), never before them. Never throws:
   * they would expire a retention after their last save anyway.
   */
  async #expireSnapshots(): Promise<void> {
    try {
      await this.#host.persistence.expireScope(this.executionId, this.#retentionSeconds);
    } catch (error) {
      this.#log.warn("Cannot set the expiry of the snapshots of {executionId}: {error}", {
        error: this.#errorInfo(error).message,
      });
    }
  }

  async #recordFailure(failure: unknown, error: ErrorInfo, retryable: boolean): Promise<void> {
    const durationMs = this.#elapsed();
    if (failure instanceof ExecutionCancelledError) {
      this.#status = "CANCELLED";
      await this.#record("EXECUTION_CANCELLED", { error, durationMs }, { step: this.#step });
      return;
    }
    if (failure instanceof PolicyViolationError && !this.#violationRecorded) {
      this.#violationRecorded = true;
      (this.#stepSpan ?? this.#rootSpan)?.addEvent("POLICY_VIOLATION", {
        "oao.policy.limit": failure.limit,
        "oao.policy.value": failure.value,
        "oao.policy.max": failure.max,
      });
      await this.#record("POLICY_VIOLATION", {
        limit: failure.limit,
        value: failure.value,
        max: failure.max,
      }, {
        step: this.#step,
      });
    }
    this.#status = "FAILED";
    this.#stepSpan?.recordException(failure);
    const entered = await this.#record("STATE_ENTER", { state: "FAILED" }, { step: this.#step });
    this.#history.push({ step: this.#step, state: "FAILED", at: entered.time });
    await this.#record(
      "EXECUTION_FAILED",
      { error, durationMs, ...(retryable ? { retryable } : {}) },
      { step: this.#step },
    );
    this.#log.error("Execution {executionId} failed: {message}", { message: error.message });
  }

  // Checks the agent's answer to a step; a malformed one is a failed attempt.
  #acceptStepResult(reply: unknown, step: number): StepResult {
    try {
      return validateStepResult(reply, {
        actor: this.#agentPath,
        step,
        limits: this.#host.limits,
      });
    } catch (error) {
      return { ok: false, error: this.#errorInfo(error), tokens: reportedTokens(reply) };
    }
  }

  // Sends the step message and waits for the answer, or for the agent's
  // worker to exceed its time limit on it: that attempt then fails at once,
  // without the actor system's redelivery of the step to a restarted worker.
  // The actor system's watchdog reads status words the worker itself writes,
  // so a host timer (a little later, to let the watchdog speak first) backs it
  // up against a worker that hides its busy loop.
  //
  // A step that waits on the host long enough is passivated: its worker is
  // given back while the host work goes on, and once nothing is pending the
  // execution is activated again and the step runs again from its start,
  // its calls answered from the ledger (the step must be deterministic
  // between calls, as for a resume after a crash).
  // The step's time limit counts from its first activation, passivated or
  // not, except while it waits for a person or for time (`HostWaits`).
  async #askStep(message: StepMessage): Promise<unknown> {
    const budget = this.#budget(this.#stepTimeoutMs());
    for (let activation = 1;; activation++) {
      const reply = await this.#askActivation(message, budget, activation === 1);
      if (reply !== PASSIVATED) return reply;
      const passivatedAt = this.#host.clock.now();
      await this.#passivate();
      await this.#whenWaitsEnd(budget);
      this.#throwIfFatal();
      // Its workers start while the activation is recorded.
      await Promise.all([this.#activate(passivatedAt), this.#ensureActors()]);
    }
  }

  // What is left of a time limit started now, paused while waits for a
  // person or for time are pending.
  #budget(limitMs: number): () => number {
    const clock = this.#host.clock;
    const started = clock.now();
    const pausedBefore = this.#waits.pausedMs();
    return () => limitMs - (clock.now() - started - (this.#waits.pausedMs() - pausedBefore));
  }

  // Resolves when nothing the step awaits is pending; rejects at the step's time limit.
  async #whenWaitsEnd(budget: () => number): Promise<void> {
    let cancel = () => {};
    try {
      await Promise.race([
        this.#waits.whenNone(),
        new Promise<never>((_, reject) => {
          cancel = this.#whenSpent(budget, () => reject(this.#stepTimeoutError()));
        }),
      ]);
    } finally {
      cancel();
    }
  }

  // Calls `spent` once `remaining()` is used up (not before: a timer that
  // runs out during a pause of the clocks, or after the budget grew, is armed
  // again). Returns what cancels it. Infinity: never.
  #whenSpent(remaining: () => number, spent: () => void): () => void {
    const { clock } = this.#host;
    let timer: TimerId | undefined;
    let cancelled = false;
    const arm = () => {
      timer = undefined;
      if (cancelled) return;
      const left = remaining();
      if (!Number.isFinite(left)) return;
      timer = clock.setTimeout(() => {
        timer = undefined;
        if (cancelled) return;
        if (this.#waits.paused) void this.#waits.whenPauseEnds().then(arm);
        else if (remaining() > 0) arm();
        else spent();
      }, Math.max(0, left));
    };
    arm();
    return () => {
      cancelled = true;
      if (timer !== undefined) clock.clearTimeout(timer);
    };
  }

  #stepTimeoutError(): StepTimeoutError {
    const { timeoutMs, stepTimeoutMs } = this.#init.policy.limits;
    const limit = stepTimeoutMs <= timeoutMs ? "stepTimeoutMs" : "timeoutMs";
    return new StepTimeoutError(limit, this.#stepTimeoutMs());
  }

  // `first`: the step's first activation, which the actor's own watchdog
  // times; the host's timer is then only its backstop (see #onStepTimeout).
  async #askActivation(
    message: StepMessage,
    budget: () => number,
    first: boolean,
  ): Promise<unknown> {
    const { system } = this.#host;
    const asked = system.ask<unknown>(this.#agentPath, message, {
      timeoutMs: Infinity,
      trace: this.#stepSpan!.context,
    });
    asked.catch(() => {}); // still pending when the attempt times out
    const timedOut = new Promise<never>((_, reject) => {
      this.#attemptTimeout = reject;
    });
    const passivated = new Promise<typeof PASSIVATED>((resolve) => {
      this.#onPassivate = () => resolve(PASSIVATED);
    });
    const grace = first ? STEP_TIMEOUT_GRACE_MS : 0;
    const cancelBackstop = this.#whenSpent(
      () => budget() + grace,
      () => this.#onStepTimeout(first),
    );
    try {
      return await Promise.race([asked, timedOut, passivated]);
    } finally {
      this.#attemptTimeout = undefined;
      this.#onPassivate = undefined;
      cancelBackstop();
    }
  }

  // The step waits on the host: its workers are given back.
  async #passivate(): Promise<void> {
    const sup = this.#supervisor;
    this.#supervisor = undefined;
    if (sup) await this.#host.system.unsupervise(sup, "immediate").catch(() => {});
    const waitingOn = this.#waits.waitingOn;
    this.#stepSpan?.addEvent("EXECUTION_PASSIVATED", { "oao.waiting_on": waitingOn.join(", ") });
    await this.#record("EXECUTION_PASSIVATED", {
      state: this.#phase,
      waitingOn,
      afterMs: this.#host.passivateAfterMs,
    }, { step: this.#step });
  }

  // What the step waited on is done: it runs again, its calls answered from the ledger.
  async #activate(passivatedAt: number): Promise<void> {
    this.#ledger.replay();
    this.#replaying = true;
    const passivatedMs = this.#host.clock.now() - passivatedAt;
    this.#stepSpan?.addEvent("EXECUTION_ACTIVATED", { "oao.passivated_ms": passivatedMs });
    await this.#record("EXECUTION_ACTIVATED", { state: this.#phase, passivatedMs }, {
      step: this.#step,
    });
  }

  // The agent's worker exceeded its time limit (messageTimeoutMs) on a step,
  // by the actor system's watchdog or by the host's backstop timer.
  // `hidden`: the backstop fired, so the worker hid its busy loop from the
  // watchdog: its code is presumed still running, and its runtime discards it.
  #onStepTimeout(hidden = false): void {
    const reject = this.#attemptTimeout;
    if (!reject) return;
    this.#attemptTimeout = undefined;
    reject(this.#stepTimeoutError());
    // Fresh workers for the next attempt: no redelivery of the step that timed out.
    const sup = this.#supervisor;
    if (!sup) return;
    const system = this.#host.system;
    const stop = hidden && system.discard
      ? system.discard(sup, `agent "${this.#agentPath}" hid a busy loop from its watchdog`)
      : system.unsupervise(sup, "immediate");
    void stop.catch(() => {});
  }

  #errorInfo(error: unknown): ErrorInfo {
    return boundedErrorInfo(error, this.#host.limits);
  }

  #throwIfFatal(): void {
    if (this.#fatal) throw this.#fatal;
  }

  // Time the execution ran, without the waits for a person or for time.
  #elapsed(): number {
    return this.#host.clock.now() - this.#startedAt - this.#waits.pausedMs();
  }

  // The execution's time limit (timeoutMs), paused by waits for a person or for time.
  #armDeadline(): void {
    const { timeoutMs } = this.#init.policy.limits;
    this.#cancelDeadline = this.#whenSpent(() => timeoutMs - this.#elapsed(), () => {
      if (this.#fatal) return;
      this.#fatal = new PolicyViolationError("timeoutMs", Math.round(this.#elapsed()), timeoutMs);
      this.#interrupt();
    });
  }

  // Stops whatever is running now: the agent's worker is terminated, sleeps and tools are aborted.
  #interrupt(): void {
    this.#abort.abort(this.#fatal);
    const sup = this.#supervisor;
    if (sup) void this.#host.system.unsupervise(sup, "immediate").catch(() => {});
  }

  async #ensureActors(): Promise<void> {
    if (this.#supervisor?.status === "running") return;
    this.#throwIfFatal();
    const agent = this.#init.agent;
    const child = (a: ResolvedAgent) => ({
      id: a.name,
      module: a.module,
      permissions: a.permissions,
      isolation: a.isolation === "execution" ? "worker" as const : "shared" as const,
      snapshot: "never" as const,
      executionId: this.executionId,
      restart: "transient" as const,
      messageTimeoutMs: this.#stepTimeoutMs(),
      maxDeliveries: 3,
    });
    if (this.#supervisor) {
      await this.#host.system.unsupervise(this.#supervisor, "immediate").catch(() => {});
    }
    this.#supervisor = await this.#host.system.supervise({
      id: this.executionId,
      strategy: "one_for_one",
      intensity: 5,
      periodMs: 10_000,
      backoff: { minMs: 10, maxMs: 1_000 },
      restart: "temporary",
      children: [child(agent), ...agent.peers.map(child)],
    });
    this.#peers = Object.fromEntries(
      agent.peers.map((p) => [p.name, `${this.executionId}/${p.name}`]),
    );
    this.#peers[agent.name] = this.#agentPath;
  }

  // The time limit of one step on the agents' workers: the policy's
  // stepTimeoutMs, or its timeoutMs when smaller.
  #stepTimeoutMs(): number {
    const { timeoutMs, stepTimeoutMs } = this.#init.policy.limits;
    return Math.min(timeoutMs, stepTimeoutMs);
  }

  async #stopActors(): Promise<void> {
    const sup = this.#supervisor;
    this.#supervisor = undefined;
    // When tracing, idle actors of a run that ended by itself stop gracefully:
    // they hand their last spans to the host first (terminating loses them).
    const mode = this.#host.tracer.enabled && !this.#fatal ? "graceful" : "immediate";
    if (sup) await this.#host.system.unsupervise(sup, mode).catch(() => {});
  }

  /**
   * Records an event and waits until it is durable, with every event
   * recorded ahead of it ({@linkcode #recordAhead}): an awaited record is a
   * barrier, so the effects that follow one (a tool call, a report) come after
   * all the execution's earlier events are stored.
   */
  async #record(
    type: string,
    data: Record<string, unknown>,
    extra: { step?: number; key?: string } = {},
  ): Promise<OaoEvent> {
    const written = this.#publish(type, data, extra).written;
    written.catch(() => {}); // awaited below, unless an earlier event failed
    await this.#settled();
    return await written;
  }

  /**
   * Records an event without waiting for it: for the events nothing acts on
   * before the next barrier (a state entered, a step completed), so that the
   * step runs while the store commits. The stores keep an execution's
   * appends in the order issued. The next {@linkcode #record} or
   * {@linkcode #settled} waits for it and reports its failure.
   */
  #recordAhead(
    type: string,
    data: Record<string, unknown>,
    extra: { step?: number; key?: string } = {},
  ): OaoEvent {
    const { event, written } = this.#publish(type, data, extra);
    const before = this.#unsettled;
    const all = (before ? Promise.all([before, written]) : written).then(() => {});
    all.catch(() => {}); // reported by the next barrier
    this.#unsettled = all;
    return event;
  }

  /** Waits for the events recorded ahead; throws the first failure among them. */
  async #settled(): Promise<void> {
    const unsettled = this.#unsettled;
    if (!unsettled) return;
    try {
      await unsettled;
    } finally {
      if (this.#unsettled === unsettled) this.#unsettled = undefined;
    }
  }

  /** Validates and publishes an event: the event as sent, and its journaling. */
  #publish(
    type: string,
    data: Record<string, unknown>,
    extra: { step?: number; key?: string },
  ): { event: OaoEvent; written: Promise<OaoEvent> } {
    // Events are the execution's source of truth (resume, replay, idempotent
    // tool answers): one that is too large is refused whole, never altered.
    const size = jsonBytes(data);
    if (size === undefined || size > this.#host.limits.maxEventBytes) {
      if (size === undefined) {
        throw new TypeError(`Cannot record event ${type}: its data is not JSON-serializable`);
      }
      throw new ValueTooLargeError(
        `The data of event ${type}${extra.step === undefined ? "" : ` (step ${extra.step})`}`,
        size,
        this.#host.limits.maxEventBytes,
      );
    }
    const span = this.#stepSpan ?? this.#rootSpan;
    const event: OaoEvent = {
      type,
      time: this.#host.clock.now(),
      executionId: this.executionId,
      data,
      totals: { ...this.#totals },
    };
    if (extra.step !== undefined) event.step = extra.step;
    if (extra.key !== undefined) event.key = extra.key;
    if (span?.context) {
      event.traceId = span.context.traceId;
      event.spanId = span.context.spanId;
    }
    const options: PublishOptions = {};
    if (this.#host.retentionSeconds !== undefined) options.expire = this.#host.retentionSeconds;
    if (this.#init.fencingToken !== undefined) options.fencingToken = this.#init.fencingToken;
    // Status changes update the executions index in the same write (stores keep the first createdAt).
    const index = indexEntry(type, {
      agent: this.#init.agent.name,
      createdAt: this.#init.view?.startedAt ?? event.time,
    });
    if (index) options.index = index;
    // The bus's journal (src/events/journal.ts) appends it to the log, then its listeners see it.
    const written = this.#host.bus.publish(event, options).catch((error: unknown) => {
      if (error instanceof FencedError) {
        this.#fatal = error;
        this.#interrupt();
      }
      throw error;
    });
    return { event, written };
  }
}

// Failures of the environment rather than the agent: fixed outside the
// execution, after which it can go on (`resume` with `retry`).
function isEnvironmentFailure(error: unknown): boolean {
  return error instanceof Deno.errors.NotCapable || error instanceof Deno.errors.PermissionDenied ||
    error instanceof StoreUnavailableError ||
    (error instanceof OaoError && error.code === "ACTOR_SPAWN_FAILED");
}

function retryHint(message: string, executionId: string): string {
  return `${message}. This is the environment's failure, not the agent's: fix it, then continue ` +
    `the execution with \`oao resume --retry ${executionId}\` (or resume(id, { retry: true }))`;
}
