/**
 * The status document of an execution, as `GET /executions/:id` and
 * `oao status --json` return it: status and lifecycle state, the current
 * step, totals, policy, times, and the report once the execution is final.
 * Built from the event log alone (see `projectExecution`).
 *
 * @example
 * ```ts
 * import { executionStatus } from "./execution_status.ts";
 * const status = executionStatus("exec-1", [
 *   { executionId: "exec-1", seq: 1, id: "a", time: 0, type: "EXECUTION_STARTED", data: { agent: "a", version: "1", task: {}, policy: {}, hash: "h", peers: [] } },
 *   { executionId: "exec-1", seq: 2, id: "b", time: 5, type: "STATE_ENTER", step: 1, data: { state: "INIT" }, totals: { steps: 1, tokens: 0, toolCalls: 0 } },
 * ]);
 * console.assert(status?.status === "RUNNING" && status.state === "INIT" && status.step === 1);
 * ```
 *
 * @module
 */
import { type ErrorInfo, ExecutionNotFoundError } from "../errors.ts";
import type { StoredEvent, Totals } from "../events/event_store.ts";
import {
  type ExecutionReport,
  type ExecutionStatus,
  isFinal,
  type PendingDecision,
} from "../orchestrator/execution_report.ts";
import { type ExecutionView, projectExecution } from "../orchestrator/execution_view.ts";
import type { LifecycleState } from "../orchestrator/lifecycle.ts";
import { reportFromView } from "../orchestrator/orchestrator.ts";
import type { PolicyLimits } from "../orchestrator/policy.ts";

/** What `GET /executions/:id` answers. */
export interface ExecutionStatusBody {
  /** The execution id. */
  executionId: string;
  /** `QUEUED` (no EXECUTION_STARTED yet), `RUNNING`, `SUCCESS`, `FAILED` or `CANCELLED`. */
  status: ExecutionStatus;
  /** Agent name (absent while queued). */
  agent?: string;
  /** Agent version. */
  version?: string;
  /** Lifecycle state of the last step entered (`INIT` … `TERMINATE`, `FAILED`). */
  state?: LifecycleState;
  /** Number of the last step entered (0 before INIT). */
  step: number;
  /** PLAN → EXECUTE → REVIEW loops completed. */
  iteration: number;
  /** Running totals. */
  totals: Totals;
  /** Policy limits in force. */
  policy?: PolicyLimits;
  /** The task. */
  task?: unknown;
  /** Execution hash. */
  executionHash?: string;
  /** Epoch ms of the start. */
  startedAt?: number;
  /** Epoch ms of the final event. */
  finishedAt?: number;
  /** Epoch ms of the last event. */
  lastEventAt: number;
  /** Number of events in the log (the sequence number of the last). */
  eventCount: number;
  /** Why it failed or was cancelled. */
  error?: ErrorInfo & { retryable?: boolean };
  /** The call an operator must decide on (status NEEDS_DECISION). */
  decision?: PendingDecision;
  /** What the running step waits for: a signal or a timer. */
  waitingFor?: ExecutionView["waitingFor"];
  /** The report, once the status is final. */
  report?: ExecutionReport;
}

/**
 * Builds the status document from an execution's events.
 *
 * @param executionId The execution.
 * @param events Its events, in order.
 * @returns The document, or `undefined` when nothing is recorded. Before
 *   `EXECUTION_STARTED` (queued for a worker node) the status is `QUEUED`,
 *   or `CANCELLED` once a cancellation was requested.
 */
export function executionStatus(
  executionId: string,
  events: readonly StoredEvent[],
): ExecutionStatusBody | undefined {
  const last = events.at(-1);
  if (!last) return undefined;
  let view;
  try {
    view = projectExecution(executionId, events);
  } catch (error) {
    if (error instanceof ExecutionNotFoundError) return undefined;
    throw error;
  }
  const body: ExecutionStatusBody = {
    executionId,
    status: view.status,
    agent: view.agent,
    step: view.lastStep,
    iteration: view.iteration,
    totals: view.totals,
    policy: view.policy,
    task: view.task,
    startedAt: view.startedAt,
    lastEventAt: view.lastEventAt,
    eventCount: last.seq,
  };
  if (view.version) body.version = view.version;
  if (view.hash) body.executionHash = view.hash;
  const state = view.history.at(-1)?.state;
  if (state) body.state = state;
  if (view.finishedAt !== undefined) body.finishedAt = view.finishedAt;
  if (view.error) body.error = view.error;
  if (view.decision) body.decision = view.decision;
  if (view.waitingFor && view.status === "RUNNING") body.waitingFor = view.waitingFor;
  if (isFinal(view.status)) body.report = reportFromView(view);
  return body;
}
