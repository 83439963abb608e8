/**
 * The outcome of an execution, and the one status vocabulary used by events,
 * reports, the command line and the HTTP API; the report of a finished
 * execution is read from its view.
 *
 * @module
 */
import type { ErrorInfo } from "../errors.ts";
import { parseTraceparent } from "../tracing/trace_context.ts";
import type { ExecutionView } from "./execution_view.ts";
import type { LifecycleState } from "./lifecycle.ts";

/** Status of an execution. */
export type ExecutionStatus =
  | "QUEUED"
  | "RUNNING"
  | "NEEDS_DECISION"
  | "SUCCESS"
  | "FAILED"
  | "CANCELLED";

/** Every status. */
export const EXECUTION_STATUSES: readonly ExecutionStatus[] = [
  "QUEUED",
  "RUNNING",
  "NEEDS_DECISION",
  "SUCCESS",
  "FAILED",
  "CANCELLED",
];

/**
 * Whether a status is final. `NEEDS_DECISION` is not: the execution waits
 * for an operator's decision (`Orchestrator.resolve`) and then goes on. A
 * `FAILED` execution whose error is `retryable` (the environment failed, not
 * the agent) can be continued with `resume(id, { retry: true })`.
 */
export function isFinal(status: ExecutionStatus): boolean {
  return status === "SUCCESS" || status === "FAILED" || status === "CANCELLED";
}

/** One entry of the state history. */
export interface StateEntry {
  /** Step number (FAILED repeats the step it failed in). */
  step: number;
  /** The state entered. */
  state: LifecycleState;
  /** Epoch ms. */
  at: number;
}

/**
 * A tool call whose outcome is unknown after a crash (its intent is in the
 * log, its outcome is not, and the tool is not idempotent): the execution
 * waits until an operator says what happened.
 */
export interface PendingDecision {
  /** The call's key (`oao resolve` takes it, or a unique prefix of 8+ characters). */
  callId: string;
  /** The tool. */
  tool: string;
  /** Its arguments. */
  args: unknown;
  /** The step that made the call. */
  step: number;
}

/**
 * What an operator decided about a call whose outcome is unknown: it
 * succeeded (with this JSON result), it failed (for this reason), or it must
 * run again.
 */
export type Decision =
  | { succeeded: unknown }
  | { failed: string }
  | { rerun: true };

/** What `Orchestrator.run` returns. */
export interface ExecutionReport {
  /** The execution id. */
  executionId: string;
  /** The agent's registered name. */
  agent: string;
  /** Final status. */
  status: ExecutionStatus;
  /** Steps run. */
  totalSteps: number;
  /** Tokens recorded. */
  tokens: number;
  /** Tool calls made (idempotent skips excluded). */
  toolCalls: number;
  /** Cost of the model calls made, in USD from the price table (absent when none completed). */
  costUsd?: number;
  /** Start to finish, in ms (across resumes). */
  durationMs: number;
  /** States entered, in order. */
  stateHistory: StateEntry[];
  /** The output of TERMINATE (or of REVIEW, or the final state). */
  output: unknown;
  /** SHA-256 of the execution's canonical specification. */
  executionHash: string;
  /**
   * Why it failed, when it failed, or why it waits for a decision. A failure
   * caused by the environment (a missing permission, the store unreachable, a
   * worker that could not start) is `retryable`.
   */
  error?: ErrorInfo & { retryable?: boolean };
  /** The tool call an operator must decide on, when the status is `NEEDS_DECISION`. */
  decision?: PendingDecision;
  /** Epoch ms of the start. */
  startedAt: number;
  /** Epoch ms of the end. */
  finishedAt: number;
  /** Trace id of the execution's trace. */
  traceId?: string;
}

/**
 * The report of a finished execution, from its view.
 *
 * @param view The execution's view.
 * @returns The report.
 */
export function reportFromView(view: ExecutionView): ExecutionReport {
  const report: ExecutionReport = {
    executionId: view.executionId,
    agent: view.agent,
    status: view.status,
    totalSteps: view.totals.steps,
    tokens: view.totals.tokens,
    toolCalls: view.totals.toolCalls,
    durationMs: view.activeMs,
    stateHistory: view.history,
    output: view.output,
    executionHash: view.hash,
    startedAt: view.startedAt,
    finishedAt: view.finishedAt ?? view.lastEventAt,
  };
  if (view.totals.costUsd !== undefined) report.costUsd = view.totals.costUsd;
  if (view.error) report.error = view.error;
  if (view.decision) report.decision = view.decision;
  const trace = parseTraceparent(view.traceparent);
  if (trace) report.traceId = trace.traceId;
  return report;
}
