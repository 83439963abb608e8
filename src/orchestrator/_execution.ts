// One execution in progress: it starts (or resumes), runs its steps and
// ends — completed, failed, cancelled, stopped by a policy violation or its
// deadline, or parked for a decision — with the audit events written ahead
// of every transition, and reports. It owns the execution's state and wires
// the parts that do the work, each seeing the run through one RunContext:
// the governed step loop (_step_loop.ts), the activations of a step and
// their passivation (_activations.ts), the agent's workers
// (_run_workers.ts), the event recorder (_event_recorder.ts), the clocks
// (_run_clocks.ts), and the gates of tool calls (_tool_gate.ts), waits
// (_wait_gate.ts) and model calls (_model_gate.ts). Internal: the
// Orchestrator creates runs.
import type { Logger } from "@logtape/logtape";
import {
  type ErrorInfo,
  ExecutionCancelledError,
  FencedError,
  OaoError,
  PolicyViolationError,
  StoreUnavailableError,
} from "../errors.ts";
import type { Totals } from "../events/event_store.ts";
import type { OaoEvent } from "../observability/events.ts";
import {
  formatTraceparent,
  parseTraceparent,
  type TraceContext,
} from "../tracing/trace_context.ts";
import type { Span } from "../tracing/tracer.ts";
import type { ModelServiceRequest, ToolCallRequest } from "./agent.ts";
import type {
  ExecutionReport,
  ExecutionStatus,
  PendingDecision,
  StateEntry,
} from "./execution_report.ts";
import type { LifecycleState } from "./lifecycle.ts";
import type { Violation } from "./policy.ts";
import { ToolLedger } from "./_tool_ledger.ts";
import { type GateRun, ToolGate } from "./_tool_gate.ts";
import { type CheckedWait, WaitGate } from "./_wait_gate.ts";
import { ModelGate } from "./_model_gate.ts";
import type { ModelCallResult } from "../model/model_call.ts";
import { HostWaits } from "./_host_waits.ts";
import type { ResolvedAgent, RunHost, RunInit } from "./_run_host.ts";
import { expireSnapshots } from "./_retention.ts";
import { boundedErrorInfo } from "./_boundary.ts";
import { EventRecorder, type RecorderRun } from "./_event_recorder.ts";
import { RunClocks } from "./_run_clocks.ts";
import { RunWorkers, workerEventAttributes, type WorkersRun } from "./_run_workers.ts";
import { type ActivationRun, Activations } from "./_activations.ts";
import { StepFailedError, StepLoop, type StepRun } from "./_step_loop.ts";

export type { ResolvedAgent, RunHost, RunInit };

/**
 * The run as its parts see it: what it was given, where it is now (step,
 * phase, spans, logger) and what they may ask of it. One object; each part
 * types it by what it needs, and may write only what its type leaves writable.
 */
interface RunContext extends GateRun, RecorderRun, WorkersRun, ActivationRun, StepRun {
  log: Logger;
  rootSpan: Span | undefined;
  step: number;
  phase: LifecycleState;
  stepSpan: Span | undefined;
}

export class ExecutionRun {
  readonly executionId: string;
  #host: RunHost;
  #init: RunInit;
  readonly #totals: Totals;
  readonly #history: StateEntry[];
  #ledger: ToolLedger;
  #fatal: Error | undefined;
  #parked: PendingDecision | undefined; // waits for an operator's decision on this call
  #violationRecorded = false;
  #abort = new AbortController();
  #cancelDeadline: (() => void) | undefined; // the execution's time limit (#armDeadline)
  #status: ExecutionStatus = "RUNNING";
  #waits: HostWaits;
  #clocks: RunClocks;
  #context: RunContext;
  #events: EventRecorder;
  #workers: RunWorkers;
  #activations: Activations;
  #loop: StepLoop;
  #gate: ToolGate;
  #modelGate: ModelGate | undefined; // made on the first model call
  #waitGate: WaitGate | undefined; // made on the first wait

  constructor(host: RunHost, init: RunInit) {
    this.#host = host;
    this.#init = init;
    this.executionId = init.executionId;
    const view = init.view;
    this.#totals = view ? { ...view.totals } : { steps: 0, tokens: 0, toolCalls: 0 };
    this.#history = view ? [...view.history] : [];
    this.#ledger = new ToolLedger(view?.occurrences ?? new Map(), view !== undefined);
    // Agents with peers are passivated too: a peer keeps no state of its own
    // (`onMessage` has none), so the step run again on activation asks fresh
    // peers again what it asked them before, as a resume after a crash does.
    this.#waits = new HostWaits(
      host.clock,
      host.passivateAfterMs,
      () => this.#activations.waitedLong(),
    );
    this.#clocks = new RunClocks(host.clock, this.#waits);
    const context = this.#makeContext(
      host.log.with({ executionId: init.executionId, agent: init.agent.name }),
    );
    this.#context = context;
    this.#events = new EventRecorder(context);
    this.#workers = new RunWorkers(context);
    this.#activations = new Activations(context, this.#workers);
    this.#loop = new StepLoop(context, {
      events: this.#events,
      workers: this.#workers,
      activations: this.#activations,
    });
    this.#gate = new ToolGate(context);
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
    return { step: this.#context.step, phase: this.#context.phase };
  }

  /** Trace context of the execution's root span. */
  get trace(): TraceContext | undefined {
    return this.#context.rootSpan?.context;
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
      event.type === "ACTOR_FAILED" && event.data.actor === this.#workers.agentPath &&
      event.data.reason === "timeout"
    ) {
      this.#activations.onStepTimeout();
    }
    // Only the actor system's events (they name an actor): the run's own
    // RETRY_ATTEMPTED is added to its span where it is recorded.
    if (
      (event.type === "RETRY_ATTEMPTED" || event.type === "ACTOR_RESTARTED" ||
        event.type === "ACTOR_FAILED") && typeof event.data.actor === "string"
    ) {
      const attributes = workerEventAttributes(event, this.#host.limits.maxErrorChars);
      (this.#context.stepSpan ?? this.#context.rootSpan)?.addEvent(event.type, attributes);
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
    this.#context.rootSpan = root;
    this.#context.log = this.#host.log.with({
      executionId: this.executionId,
      agent: this.#init.agent.name,
      actor: this.#workers.agentPath,
      traceId: root.context.traceId,
    });
    let output: unknown;
    let error: (ErrorInfo & { retryable?: boolean }) | undefined;
    try {
      if (view) {
        this.#clocks.start(clock.now() - view.activeMs);
        await this.#events.record("EXECUTION_RESUMED", {
          fromStep: view.incomplete?.step ?? view.lastStep + 1,
          phase: view.incomplete?.phase ?? view.nextPhase ?? null,
        });
      } else {
        this.#clocks.start(clock.now());
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
        await this.#events.record("EXECUTION_STARTED", data);
      }
      if (this.#init.fencingToken !== undefined) {
        this.#host.system.setFencingToken(this.executionId, this.#init.fencingToken);
      }
      this.#armDeadline();
      await this.#workers.ensure();
      output = await this.#loop.run();
      this.#status = "SUCCESS";
      this.#context.stepSpan = undefined;
      await this.#events.record("EXECUTION_COMPLETED", {
        output,
        durationMs: this.#clocks.elapsed(),
      });
      await expireSnapshots(this.#context);
      root.setStatus("ok");
    } catch (caught) {
      const failure = this.#fatal ?? caught;
      if (!(failure instanceof StepFailedError) && failure instanceof FencedError) {
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
          if (!retryable) await expireSnapshots(this.#context);
        }
      } catch (recordError) {
        if (recordError instanceof FencedError) throw recordError;
        this.#context.log.error("Cannot record the failure of execution {executionId}: {error}", {
          error: this.#errorInfo(recordError).message,
        });
      }
    } finally {
      this.#cancelDeadline?.();
      this.#context.stepSpan?.end();
      root.end();
      // When tracing, idle actors of a run that ended by itself stop gracefully:
      // they hand their last spans to the host first (terminating loses them).
      await this.#workers.stop(
        this.#host.tracer.enabled && !this.#fatal ? "graceful" : "immediate",
      );
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
      durationMs: this.#clocks.elapsed(),
      stateHistory: this.#history,
      output,
      executionHash: this.#init.hash,
      startedAt: view?.startedAt ?? this.#clocks.startedAt,
      finishedAt: clock.now(),
      traceId: root.context.traceId,
    };
    if (error) report.error = error;
    if (this.#parked) report.decision = this.#parked;
    return report;
  }

  /** Handles a tool call from the agent: governed, audited, idempotent (see ToolGate). */
  toolCall(request: ToolCallRequest): Promise<unknown> {
    return this.#gate.call(request);
  }

  /** Handles a durable wait of the agent: a signal or a timer (see WaitGate). */
  wait(request: CheckedWait): Promise<unknown> {
    this.#waitGate ??= new WaitGate(this.#context);
    return this.#waitGate.wait(request);
  }

  /** Handles a model call from the agent: governed, journaled, made once (see ModelGate). */
  modelCall(request: ModelServiceRequest): Promise<ModelCallResult> {
    this.#modelGate ??= new ModelGate(this.#context);
    return this.#modelGate.call(request);
  }

  // The run as its parts see it (RunContext), its logger until the run starts.
  #makeContext(log: Logger): RunContext {
    return {
      executionId: this.executionId,
      host: this.#host,
      init: this.#init,
      agent: this.#init.agent,
      policy: this.#init.policy,
      ledger: this.#ledger,
      waits: this.#waits,
      clocks: this.#clocks,
      totals: this.#totals,
      history: this.#history,
      log,
      rootSpan: undefined,
      step: 0,
      phase: "INIT",
      stepSpan: undefined,
      replaying: false, // the step runs again after an activation: its calls are answered
      signal: this.#abort.signal,
      elapsed: () => this.#clocks.elapsed(),
      throwIfFatal: () => this.#throwIfFatal(),
      fail: (error) => void (this.#fatal ??= error),
      fenced: (error) => {
        this.#fatal = error;
        this.#interrupt();
      },
      park: (pending, error) => {
        if (this.#fatal) return;
        this.#fatal = error;
        this.#parked = pending;
      },
      violation: (violation) => this.#violation(violation),
      record: (type, data, extra) => this.#events.record(type, data, extra),
      recordAhead: (type, data, extra) => this.#events.recordAhead(type, data, extra),
      errorInfo: (error) => this.#errorInfo(error),
    };
  }

  async #violation(violation: Violation): Promise<never> {
    const error = new PolicyViolationError(violation.limit, violation.value, violation.max);
    this.#fatal ??= error;
    if (!this.#violationRecorded) {
      this.#violationRecorded = true;
      (this.#context.stepSpan ?? this.#context.rootSpan)?.addEvent("POLICY_VIOLATION", {
        "oao.policy.limit": violation.limit,
        "oao.policy.value": violation.value,
        "oao.policy.max": violation.max,
      });
      await this.#events.record("POLICY_VIOLATION", { ...violation }, { step: this.#context.step });
      this.#context.log.warn("POLICY_VIOLATION {limit}: {value} exceeds {max}", { ...violation });
    }
    this.#interrupt();
    throw error;
  }

  async #recordFailure(failure: unknown, error: ErrorInfo, retryable: boolean): Promise<void> {
    const durationMs = this.#clocks.elapsed();
    // A failed step keeps its error's code, whatever it is: still the agent's
    // failure, never taken for the runtime's own (a cancellation, a violation).
    const own = !(failure instanceof StepFailedError);
    if (own && failure instanceof ExecutionCancelledError) {
      this.#status = "CANCELLED";
      await this.#events.record("EXECUTION_CANCELLED", { error, durationMs }, {
        step: this.#context.step,
      });
      return;
    }
    if (own && failure instanceof PolicyViolationError && !this.#violationRecorded) {
      this.#violationRecorded = true;
      (this.#context.stepSpan ?? this.#context.rootSpan)?.addEvent("POLICY_VIOLATION", {
        "oao.policy.limit": failure.limit,
        "oao.policy.value": failure.value,
        "oao.policy.max": failure.max,
      });
      await this.#events.record("POLICY_VIOLATION", {
        limit: failure.limit,
        value: failure.value,
        max: failure.max,
      }, {
        step: this.#context.step,
      });
    }
    this.#status = "FAILED";
    this.#context.stepSpan?.recordException(failure);
    const entered = await this.#events.record("STATE_ENTER", { state: "FAILED" }, {
      step: this.#context.step,
    });
    this.#history.push({ step: this.#context.step, state: "FAILED", at: entered.time });
    await this.#events.record(
      "EXECUTION_FAILED",
      { error, durationMs, ...(retryable ? { retryable } : {}) },
      { step: this.#context.step },
    );
    this.#context.log.error("Execution {executionId} failed: {message}", {
      message: error.message,
    });
  }

  #errorInfo(error: unknown): ErrorInfo {
    return boundedErrorInfo(error, this.#host.limits);
  }

  #throwIfFatal(): void {
    if (this.#fatal) throw this.#fatal;
  }

  // The execution's time limit (timeoutMs), paused by waits for a person or for time.
  #armDeadline(): void {
    const { timeoutMs } = this.#init.policy.limits;
    const clocks = this.#clocks;
    this.#cancelDeadline = clocks.whenSpent(() => timeoutMs - clocks.elapsed(), () => {
      if (this.#fatal) return;
      this.#fatal = new PolicyViolationError("timeoutMs", Math.round(clocks.elapsed()), timeoutMs);
      this.#interrupt();
    });
  }

  // Stops whatever is running now: the agent's worker is terminated, sleeps and tools are aborted.
  #interrupt(): void {
    this.#abort.abort(this.#fatal);
    this.#workers.terminate();
  }
}

// Failures of the environment rather than the agent: fixed outside the
// execution, after which it can go on (`resume` with `retry`).
function isEnvironmentFailure(error: unknown): boolean {
  if (error instanceof StepFailedError) return false;
  return error instanceof Deno.errors.NotCapable || error instanceof Deno.errors.PermissionDenied ||
    error instanceof StoreUnavailableError ||
    (error instanceof OaoError && error.code === "ACTOR_SPAWN_FAILED");
}

function retryHint(message: string, executionId: string): string {
  return `${message}. This is the environment's failure, not the agent's: fix it, then continue ` +
    `the execution with \`oao resume --retry ${executionId}\` (or resume(id, { retry: true }))`;
}
