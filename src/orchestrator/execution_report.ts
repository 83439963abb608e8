/**
 * The outcome of an execution, and the one status vocabulary used by events,
 * reports, the command line and the HTTP API.
 *
 * @module
 */
import type { ErrorInfo } from "../errors.ts";
import type { LifecycleState } from "./lifecycle.ts";

/** Status of an execution. */
export type ExecutionStatus = "QUEUED" | "RUNNING" | "SUCCESS" | "FAILED" | "CANCELLED";

/** Every status. */
export const EXECUTION_STATUSES: readonly ExecutionStatus[] = [
  "QUEUED",
  "RUNNING",
  "SUCCESS",
  "FAILED",
  "CANCELLED",
];

/** Whether a status is final. */
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
  /** Start to finish, in ms (across resumes). */
  durationMs: number;
  /** States entered, in order. */
  stateHistory: StateEntry[];
  /** The output of TERMINATE (or of REVIEW, or the final state). */
  output: unknown;
  /** SHA-256 of the execution's canonical specification. */
  executionHash: string;
  /** Why it failed, when it failed. */
  error?: ErrorInfo;
  /** Epoch ms of the start. */
  startedAt: number;
  /** Epoch ms of the end. */
  finishedAt: number;
  /** Trace id of the execution's trace. */
  traceId?: string;
}
