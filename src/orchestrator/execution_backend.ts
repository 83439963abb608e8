/**
 * Where the HTTP API and the command line send execution requests: to an
 * orchestrator in this process (monolithic `start`), or to the Redis job
 * queue for worker nodes (API node `serve`). Status, events and the live
 * stream are read from the event store in both cases.
 *
 * @module
 */
import type { PolicyLimits } from "./policy.ts";

/** A request to run a task with an agent. */
export interface SubmitRequest {
  /** Registered agent name. */
  agent: string;
  /** The task (JSON). */
  task: unknown;
  /** Policy overrides. */
  policy?: Partial<PolicyLimits>;
  /** A repeated submit with the same key returns the first execution. */
  idempotencyKey?: string;
  /** W3C trace context of the caller. */
  traceparent?: string;
  /** W3C tracestate of the caller. */
  tracestate?: string;
}

/** The answer to a submit. */
export interface SubmitResult {
  /** The execution id. */
  executionId: string;
  /** True when the idempotency key matched an earlier submit. */
  duplicate: boolean;
}

/** Runs or enqueues executions. */
export interface ExecutionBackend {
  /** `"local"` (this process runs executions) or `"queue"` (worker nodes do). */
  readonly mode: "local" | "queue";
  /** Names of the agents that can be requested. */
  agents(): string[];
  /**
   * Starts (or enqueues) an execution; resolves once it is accepted.
   * @throws {UnknownAgentError} When the agent is not registered.
   */
  submit(request: SubmitRequest): Promise<SubmitResult>;
  /** Requests cancellation; resolves `false` when the execution is unknown or already finished. */
  cancel(executionId: string, reason?: string): Promise<boolean>;
  /** Executions running (or leased) now, for metrics. */
  inFlight(): Promise<number>;
  /** Releases resources. */
  close(): Promise<void>;
}
