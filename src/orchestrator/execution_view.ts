/**
 * Rebuilds an execution from its event log alone — status, totals, state
 * history, the agent's state after each step, where to continue — without
 * running agent code or tools. Used by `replay`, `resume`, status polling
 * and the timeline.
 *
 * An execution submitted to worker nodes (the job queue) has a log before it
 * starts: `EXECUTION_QUEUED` (agent, task, policy), written by the API node,
 * and maybe `CANCEL_REQUESTED`. Until a worker records `EXECUTION_STARTED`
 * its view has status `QUEUED` — or `CANCELLED` once a cancellation was
 * requested, since a worker will then not start it, or `FAILED` (retryable)
 * once its job was dead-lettered, until a re-enqueued job's
 * `EXECUTION_RETRIED` makes it `QUEUED` again. After the start, the
 * `EXECUTION_QUEUED` marker is ignored (it may even land after the start: the
 * API node writes it once the job is enqueued).
 *
 * @example
 * ```ts
 * import { projectExecution } from "./execution_view.ts";
 * const view = projectExecution("exec-1", [
 *   { executionId: "exec-1", seq: 1, id: "a", time: 0, type: "EXECUTION_STARTED", data: { agent: "a", version: "1", task: {}, policy: {}, hash: "h", peers: [] } },
 *   { executionId: "exec-1", seq: 2, id: "b", time: 5, type: "STATE_ENTER", step: 1, data: { state: "INIT" }, totals: { steps: 1, tokens: 0, toolCalls: 0 } },
 * ]);
 * console.assert(view.status === "RUNNING" && view.incomplete?.phase === "INIT");
 * ```
 *
 * @module
 */
import {
  type ErrorInfo,
  ExecutionCancelledError,
  ExecutionNotFoundError,
  toErrorInfo,
} from "../errors.ts";
import type { StoredEvent, Totals } from "../events/event_store.ts";
import { boundErrorInfo, DEFAULT_LIMITS } from "../limits.ts";
import type { ExecutionStatus, PendingDecision, StateEntry } from "./execution_report.ts";
import type { LifecycleState } from "./lifecycle.ts";
import type { PolicyLimits } from "./policy.ts";
import { ActiveTime } from "./_active_time.ts";

/** A completed step, as recorded. */
export interface CompletedStep {
  /** Step number. */
  step: number;
  /** Its lifecycle state. */
  phase: LifecycleState;
  /** The state that follows (`null` after TERMINATE). */
  next: LifecycleState | null;
  /** The agent's state after the step. */
  agentState: unknown;
  /** REVIEW's verdict. */
  done?: boolean;
  /** Output the step produced, if any. */
  output?: unknown;
  /** Whether `output` is set. */
  hasOutput: boolean;
}

/** A recorded tool call. */
export interface ToolCallRecord {
  /** Step of the call. */
  step: number;
  /** Tool name. */
  tool: string;
  /** Call key. */
  key: string;
  /** Arguments. */
  args: unknown;
  /** `success`, `failed`, `skipped` (answered from the log) or `pending` (outcome unknown). */
  outcome: "success" | "failed" | "skipped" | "pending";
  /** Result of a successful call. */
  result?: unknown;
  /** Error of a failed call. */
  error?: ErrorInfo;
}

/** A recorded model call (`ctx.generateText`). */
export interface ModelCallRecord {
  /** Step of the call. */
  step: number;
  /** The model id, e.g. `"openai:gpt-4o-mini"`. */
  model: string;
  /** Call key. */
  key: string;
  /** `success`, `failed` or `pending` (started, no outcome recorded). */
  outcome: "success" | "failed" | "pending";
  /** Token counts of a completed call. */
  usage?: { inputTokens: number; outputTokens: number; cachedInputTokens: number };
  /** Cost of a completed call, in USD. */
  costUsd?: number;
  /** Finish reason of a completed call. */
  finishReason?: string;
  /** Error of a failed call. */
  error?: ErrorInfo;
}

/** An execution as its events describe it. */
export interface ExecutionView {
  /** The execution id. */
  executionId: string;
  /** Agent name. */
  agent: string;
  /** Agent version. */
  version: string;
  /** The task. */
  task: unknown;
  /** Outputs of the workflow tasks it depends on (workflow tasks only). */
  dependencies?: Record<string, unknown>;
  /** Policy limits in force. */
  policy: PolicyLimits;
  /** Execution hash. */
  hash: string;
  /** Peer agents. */
  peers: string[];
  /** Trace context of the execution's root span. */
  traceparent?: string;
  /** Where it was forked from. */
  forkedFrom?: { executionId: string; step: number };
  /** Status. */
  status: ExecutionStatus;
  /** Totals after the last event. */
  totals: Totals;
  /** States entered, in order. */
  history: StateEntry[];
  /** Completed steps by number. */
  completed: Map<number, CompletedStep>;
  /** The agent's state after the last completed step (`undefined` before INIT completes). */
  agentState: unknown;
  /** The state to enter next when nothing is incomplete. */
  nextPhase: LifecycleState | undefined;
  /** A step entered but not completed (resume re-runs it). */
  incomplete?: { step: number; phase: LifecycleState };
  /** Number of the last step entered. */
  lastStep: number;
  /** PLAN → EXECUTE → REVIEW loops completed. */
  iteration: number;
  /** The latest output of REVIEW, if it gave one. */
  reviewOutput?: { value: unknown };
  /** Final output. */
  output?: unknown;
  /** Why it failed (or waits for a decision); `retryable` for a failure of the environment. */
  error?: ErrorInfo & { retryable?: boolean };
  /** The call waiting for an operator's decision (status `NEEDS_DECISION`). */
  decision?: PendingDecision;
  /** What the running step waits for: a signal (with its deadline), a timer, or a person's approval of a tool call. */
  waitingFor?: { kind: "signal"; name: string; deadline: number | null } | {
    kind: "timer";
    until: number;
  } | { kind: "approval"; callId: string; tool: string; deadline: number | null };
  /** Epoch ms of EXECUTION_STARTED. */
  startedAt: number;
  /** Epoch ms of the final event. */
  finishedAt?: number;
  /** Epoch ms of the last event. */
  lastEventAt: number;
  /**
   * Running time consumed so far: the run segments between resumes, without
   * the waits for signals, approvals and timers.
   */
  activeMs: number;
  /** Tool calls in order. */
  toolCalls: ToolCallRecord[];
  /** Model calls in order (made again after a crash: recorded again). */
  modelCalls: ModelCallRecord[];
  /** Highest occurrence per call hash among completed steps (resume restarts counters here). */
  occurrences: Map<string, number>;
  /** Number of events. */
  eventCount: number;
}

/**
 * Folds an execution's events into a view.
 *
 * @param executionId The execution.
 * @param events Its events, in order.
 * @returns The view.
 * @throws {ExecutionNotFoundError} When there are no events, or neither
 * EXECUTION_STARTED nor EXECUTION_QUEUED.
 */
export function projectExecution(
  executionId: string,
  events: readonly StoredEvent[],
): ExecutionView {
  const start = events.find((e) => e.type === "EXECUTION_STARTED");
  if (!start) return queuedView(executionId, events);
  const d = start.data as Record<string, unknown>;
  const view: ExecutionView = {
    executionId,
    agent: String(d.agent),
    version: String(d.version ?? "0.0.0"),
    task: d.task,
    policy: d.policy as PolicyLimits,
    hash: String(d.hash),
    peers: (d.peers as string[] | undefined) ?? [],
    status: "RUNNING",
    totals: { steps: 0, tokens: 0, toolCalls: 0 },
    history: [],
    completed: new Map(),
    agentState: undefined,
    nextPhase: "INIT",
    lastStep: 0,
    iteration: 0,
    startedAt: start.time,
    lastEventAt: start.time,
    activeMs: 0,
    toolCalls: [],
    modelCalls: [],
    occurrences: new Map(),
    eventCount: events.length,
  };
  if (typeof d.traceparent === "string") view.traceparent = d.traceparent;
  if (d.forkedFrom) view.forkedFrom = d.forkedFrom as { executionId: string; step: number };
  if (typeof d.dependencies === "object" && d.dependencies !== null) {
    view.dependencies = d.dependencies as Record<string, unknown>;
  }
  const calls = new Map<string, ToolCallRecord>();
  const modelCalls = new Map<string, ModelCallRecord>();
  // Approval requests of the running step that no decision ended yet.
  type Approval = Extract<ExecutionView["waitingFor"], { kind: "approval" }>;
  const approvals = new Map<string, Approval>();
  let waiting: Approval | undefined;
  const active = new ActiveTime(start.time);
  // The state to enter next when a retryable failure ended the run.
  let nextBeforeFailure: LifecycleState | undefined;
  for (const event of events) {
    if (event.type === "EXECUTION_QUEUED") continue;
    const data = (event.data ?? {}) as Record<string, unknown>;
    if (event.totals) view.totals = { ...event.totals };
    view.lastEventAt = event.time;
    active.see(event, () => previousTime(events, event));
    switch (event.type) {
      case "WAITING_FOR_SIGNAL":
        view.waitingFor = {
          kind: "signal",
          name: String(data.name),
          deadline: typeof data.deadline === "number" ? data.deadline : null,
        };
        break;
      case "TIMER_STARTED":
        view.waitingFor = { kind: "timer", until: Number(data.until) };
        break;
      case "SIGNAL_CONSUMED":
      case "SIGNAL_TIMED_OUT":
      case "TIMER_FIRED":
        delete view.waitingFor;
        break;
      case "APPROVAL_REQUESTED":
        view.waitingFor = {
          kind: "approval",
          callId: String(data.callId),
          tool: String(data.tool),
          deadline: typeof data.deadline === "number" ? data.deadline : null,
        };
        approvals.set(view.waitingFor.callId, view.waitingFor);
        break;
      case "APPROVAL_DECIDED":
      case "APPROVAL_TIMED_OUT":
        // The first decision on a call counts; others find it decided.
        if (!approvals.delete(String(data.callId)) || view.waitingFor?.kind !== "approval") break;
        waiting = [...approvals.values()].at(-1);
        if (waiting) view.waitingFor = waiting;
        else delete view.waitingFor;
        break;
      case "DECISION_REQUIRED": {
        view.status = "NEEDS_DECISION";
        view.decision = {
          callId: String(data.key),
          tool: String(data.tool),
          args: data.args,
          step: event.step ?? view.lastStep,
        };
        const error = projectedError(data.error);
        if (error) view.error = error;
        break;
      }
      case "DECISION_RECORDED":
      case "EXECUTION_RETRIED":
        if (event.type === "EXECUTION_RETRIED") view.nextPhase = nextBeforeFailure;
        view.status = "RUNNING";
        delete view.decision;
        delete view.error;
        delete view.finishedAt;
        break;
      case "STATE_ENTER": {
        const phase = data.state as LifecycleState;
        if (phase === "FAILED") {
          view.history.push({ step: event.step ?? view.lastStep, state: phase, at: event.time });
          break;
        }
        view.lastStep = event.step ?? view.lastStep + 1;
        view.history.push({ step: view.lastStep, state: phase, at: event.time });
        view.incomplete = { step: view.lastStep, phase };
        break;
      }
      case "STEP_COMPLETED": {
        const step: CompletedStep = {
          step: event.step ?? view.lastStep,
          phase: data.state as LifecycleState,
          next: (data.next as LifecycleState | null) ?? null,
          agentState: data.agentState,
          hasOutput: data.hasOutput === true,
        };
        if (typeof data.done === "boolean") step.done = data.done;
        if (step.hasOutput) step.output = data.output;
        view.completed.set(step.step, step);
        if (view.waitingFor?.kind === "approval") delete view.waitingFor;
        approvals.clear();
        view.agentState = step.agentState;
        view.nextPhase = step.next ?? undefined;
        delete view.incomplete;
        if (step.phase === "REVIEW") {
          view.iteration++;
          if (step.hasOutput) view.reviewOutput = { value: step.output };
        }
        break;
      }
      case "TOOL_CALL": {
        const record: ToolCallRecord = {
          step: event.step ?? view.lastStep,
          tool: String(data.tool),
          key: String(data.key),
          args: data.args,
          outcome: "pending",
        };
        calls.set(record.key, record);
        view.toolCalls.push(record);
        break;
      }
      case "TOOL_CALL_SUCCESS":
      case "TOOL_CALL_FAILED": {
        const record = calls.get(String(data.key));
        if (!record) break;
        record.outcome = event.type === "TOOL_CALL_SUCCESS" ? "success" : "failed";
        if (event.type === "TOOL_CALL_SUCCESS") record.result = data.result;
        else {
          const error = projectedError(data.error);
          if (error) record.error = error;
        }
        break;
      }
      case "IDEMPOTENT_TOOL_SKIPPED": {
        const original = calls.get(String(data.key));
        const record: ToolCallRecord = {
          step: event.step ?? view.lastStep,
          tool: String(data.tool),
          key: String(data.key),
          args: original?.args,
          outcome: "skipped",
        };
        if (original?.result !== undefined) record.result = original.result;
        view.toolCalls.push(record);
        break;
      }
      case "MODEL_CALL_STARTED": {
        const record: ModelCallRecord = {
          step: event.step ?? view.lastStep,
          model: String(data.model),
          key: String(data.key),
          outcome: "pending",
        };
        modelCalls.set(record.key, record);
        view.modelCalls.push(record);
        break;
      }
      case "MODEL_CALL_COMPLETED":
      case "MODEL_CALL_FAILED": {
        const record = modelCalls.get(String(data.key));
        if (!record) break;
        if (event.type === "MODEL_CALL_COMPLETED") {
          record.outcome = "success";
          const usage = data.usage as ModelCallRecord["usage"] | undefined;
          if (usage) {
            record.usage = {
              inputTokens: usage.inputTokens,
              outputTokens: usage.outputTokens,
              cachedInputTokens: usage.cachedInputTokens,
            };
          }
          if (typeof data.costUsd === "number") record.costUsd = data.costUsd;
          if (typeof data.finishReason === "string") record.finishReason = data.finishReason;
        } else {
          record.outcome = "failed";
          const error = projectedError(data.error);
          if (error) record.error = error;
        }
        break;
      }
      case "EXECUTION_COMPLETED":
        view.status = "SUCCESS";
        view.output = data.output;
        view.finishedAt = event.time;
        delete view.incomplete;
        view.nextPhase = undefined;
        break;
      case "EXECUTION_FAILED":
      case "EXECUTION_CANCELLED": {
        view.status = event.type === "EXECUTION_FAILED" ? "FAILED" : "CANCELLED";
        const error = projectedError(data.error);
        if (error) view.error = data.retryable === true ? { ...error, retryable: true } : error;
        delete view.decision;
        nextBeforeFailure = view.nextPhase;
        view.finishedAt = event.time;
        view.nextPhase = undefined;
        break;
      }
    }
  }
  view.activeMs = active.total(view.lastEventAt);
  const resumeFrom = view.incomplete?.step ?? Infinity;
  for (const call of [...view.toolCalls, ...view.modelCalls]) {
    if (call.step >= resumeFrom) continue;
    const [hash, occurrence] = splitKey(call.key);
    view.occurrences.set(hash, Math.max(view.occurrences.get(hash) ?? 0, occurrence));
  }
  return view;
}

/** The view of an execution that is queued (or was cancelled, or its job dead-lettered, while queued). */
function queuedView(executionId: string, events: readonly StoredEvent[]): ExecutionView {
  const queued = events.find((e) => e.type === "EXECUTION_QUEUED");
  if (!queued) throw new ExecutionNotFoundError(executionId);
  const d = (queued.data ?? {}) as Record<string, unknown>;
  const last = events[events.length - 1]!;
  const view: ExecutionView = {
    executionId,
    agent: String(d.agent),
    version: "",
    task: d.task,
    policy: (d.policy ?? {}) as PolicyLimits,
    hash: "",
    peers: [],
    status: "QUEUED",
    totals: { steps: 0, tokens: 0, toolCalls: 0 },
    history: [],
    completed: new Map(),
    agentState: undefined,
    nextPhase: "INIT",
    lastStep: 0,
    iteration: 0,
    startedAt: queued.time,
    lastEventAt: Math.max(queued.time, last.time),
    activeMs: 0,
    toolCalls: [],
    modelCalls: [],
    occurrences: new Map(),
    eventCount: events.length,
  };
  if (typeof d.traceparent === "string") view.traceparent = d.traceparent;
  const cancel = events.find((e) =>
    e.type === "CANCEL_REQUESTED" || e.type === "EXECUTION_CANCELLED"
  );
  if (cancel) {
    const data = (cancel.data ?? {}) as Record<string, unknown>;
    const reason = typeof data.reason === "string" ? data.reason : undefined;
    view.status = "CANCELLED";
    const { stack: _stack, ...error } = toErrorInfo(
      new ExecutionCancelledError(executionId, reason),
    );
    view.error = projectedError(data.error) ?? error;
    view.finishedAt = cancel.time;
    view.nextPhase = undefined;
    return view;
  }
  // Its job was dead-lettered (FAILED), then maybe re-enqueued (RETRIED).
  const outcome = events.findLast((e) =>
    e.type === "EXECUTION_FAILED" || e.type === "EXECUTION_RETRIED"
  );
  if (outcome?.type === "EXECUTION_FAILED") {
    const data = (outcome.data ?? {}) as Record<string, unknown>;
    view.status = "FAILED";
    const error = projectedError(data.error);
    if (error) view.error = data.retryable === true ? { ...error, retryable: true } : error;
    view.finishedAt = outcome.time;
    view.nextPhase = undefined;
  }
  return view;
}

// End of the run segment before a resume: the last event before it, leaving
// out what a new owner records just before resuming (the takeover's
// RETRY_ATTEMPTED, a cancellation request), which would count the downtime.
function previousTime(events: readonly StoredEvent[], event: StoredEvent): number {
  let index = events.indexOf(event) - 1;
  while (index > 0 && TAKEOVER_MARKERS.has(events[index]!.type)) index--;
  return index >= 0 ? events[index]!.time : event.time;
}

const TAKEOVER_MARKERS = new Set(["RETRY_ATTEMPTED", "CANCEL_REQUESTED", "EXECUTION_QUEUED"]);

function splitKey(key: string): [string, number] {
  const i = key.lastIndexOf("#");
  return i < 0 ? [key, 0] : [key.slice(0, i), Number(key.slice(i + 1)) || 0];
}

// An error as recorded, bounded: logs written before errors were bounded at
// record time (or by another writer) cannot blow up a view or a report.
function projectedError(value: unknown): ErrorInfo | undefined {
  if (typeof value !== "object" || value === null) return undefined;
  return boundErrorInfo(value as ErrorInfo, DEFAULT_LIMITS);
}
