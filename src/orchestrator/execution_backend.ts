/**
 * Where the HTTP API and the command line send execution requests: to an
 * orchestrator in this process (monolithic `start`), or to the Redis job
 * queue for worker nodes (API node `serve`). Status, events and the live
 * stream are read from the event store in both cases.
 *
 * @module
 */
import { OaoError } from "../errors.ts";
import type { PolicyLimits } from "./policy.ts";
import type { WorkflowSpec } from "./workflow.ts";
import type { Decision } from "./execution_report.ts";

/**
 * The node runs as many executions as it may and its waiting line is full:
 * the submit is refused (HTTP 429 with `Retry-After`); nothing was written.
 */
export class BackendBusyError extends OaoError {
  /** Seconds after which a retry is likely to be accepted. */
  readonly retryAfterSeconds: number;
  /**
   * @param message What is full.
   * @param retryAfterSeconds When to retry.
   */
  constructor(message: string, retryAfterSeconds: number) {
    super("BACKEND_BUSY", message);
    this.retryAfterSeconds = retryAfterSeconds;
  }
}

/** An idempotency key was used again with a different request (HTTP 409). */
export class IdempotencyKeyReusedError extends OaoError {
  /** The execution the key belongs to. */
  readonly executionId: string;
  /**
   * @param executionId The execution the key was first used for.
   */
  constructor(executionId: string) {
    super(
      "IDEMPOTENCY_KEY_REUSED",
      `The idempotency key was used for execution "${executionId}" with a different request (agent, task or policy): use a new key for a new request`,
    );
    this.executionId = executionId;
  }
}

/** A request to run a task with an agent. */
export interface SubmitRequest {
  /** Registered agent name. */
  agent: string;
  /** The task (JSON). */
  task: unknown;
  /** Policy overrides. */
  policy?: Partial<PolicyLimits>;
  /**
   * A repeated submit with the same key returns the first execution. Keys
   * starting with `oao-continue:` or `migrated:` are the runtime's own: refused.
   */
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
  /** True when it waits for a free place on this node (status `QUEUED`) instead of running. */
  queued?: boolean;
}

/** What an operator sees of a registered agent (its module's path is left out). */
export interface AgentDetails {
  /** Its name. */
  name: string;
  /** Its version, when registered with one. */
  version?: string;
  /** What it does. */
  description?: string;
  /** The tools it may call (absent: every registered tool). */
  tools?: string[];
  /** Agents started alongside it. */
  peers?: string[];
  /** Deno permissions of its worker: `"none"` or the granted ones. */
  permissions: unknown;
  /** `"pool"` or `"execution"`. */
  isolation?: string;
  /** Its own limit of executions at once. */
  maxRunning?: number;
}

/** Runs or enqueues executions. */
export interface ExecutionBackend {
  /** `"local"` (this process runs executions) or `"queue"` (worker nodes do). */
  readonly mode: "local" | "queue";
  /** Names of the agents that can be requested. */
  agents(): string[];
  /**
   * The tools agents may call (MCP servers' tools among them, `<server>.<tool>`).
   * Absent when this backend does not know them.
   */
  tools?(): { name: string; description?: string }[];
  /**
   * Starts (or enqueues) an execution; resolves once it is accepted.
   * @throws {UnknownAgentError} When the agent is not registered.
   * @throws {BackendBusyError} When the node cannot take more now.
   * @throws {IdempotencyKeyReusedError} When the key was used for a different request.
   * @throws {TypeError} When the idempotency key starts with a prefix the
   *   runtime's own jobs use (`oao-continue:`, `migrated:`).
   */
  submit(request: SubmitRequest): Promise<SubmitResult>;
  /**
   * The registered agents in detail (tools, permissions, isolation). Absent
   * where the agents are known only by name (an API node).
   */
  agentDetails?(): AgentDetails[];
  /** Requests cancellation; resolves `false` when the execution is unknown or already finished. */
  cancel(executionId: string, reason?: string): Promise<boolean>;
  /**
   * Records an operator's decision on the call an execution waits for
   * (`NEEDS_DECISION`) and continues the execution: in this process, or on
   * a worker node of a distributed deployment (an API node's backend enqueues
   * the job that continues it). Absent when the backend can do neither (the
   * HTTP API answers 501).
   *
   * @throws {ExecutionNotFoundError} When there is no such execution.
   * @throws {TypeError} When it waits for no decision on that call, or the decision is malformed.
   */
  resolve?(executionId: string, callId: string, decision: Decision, by: string): Promise<void>;
  /**
   * Sends a signal to an execution (as `Orchestrator.signal`). Absent when
   * this backend runs no executions in its process: the signal is then only
   * appended to the execution's log, and the process running it is woken
   * through the stores.
   */
  signal?(executionId: string, name: string, payload: unknown): Promise<number>;
  /** Executions running (or leased) now, for metrics. */
  inFlight(): Promise<number>;
  /** Releases resources. */
  close(): Promise<void>;
  /**
   * Starts a workflow; resolves once its start is recorded. Absent when the
   * backend runs no workflows (the HTTP API answers 501).
   * @throws {TypeError | RangeError} Naming what is invalid, or a taken id; nothing is written then.
   * @throws {UnknownAgentError} When a task names an unregistered agent.
   */
  startWorkflow?(spec: WorkflowSpec): Promise<{ workflowId: string }>;
  /**
   * Requests a workflow's cancellation; resolves `false` when it is unknown
   * or already finished. Absent when the backend runs no workflows.
   */
  cancelWorkflow?(workflowId: string, reason?: string): Promise<boolean>;
  /**
   * Starts a new execution sharing an execution's history up to step
   * `fromStep`; resolves with its id once its log is written. Absent when the
   * backend cannot fork (the HTTP API answers 501).
   * @throws {ExecutionNotFoundError} When there is no such execution.
   * @throws {RangeError} When `fromStep` is not a completed step.
   * @throws {TypeError} When the new id is invalid or taken; nothing is written then.
   */
  fork?(executionId: string, options: ForkRequest): Promise<{ executionId: string }>;
  /**
   * Continues an unfinished execution that no runner holds (its process
   * died, or it was stopped) from its event log; resolves once it runs here,
   * or once the job that continues it on a worker node is enqueued. Absent
   * when the backend can do neither (the HTTP API answers 501).
   * @throws {ExecutionNotFoundError} When there is no such execution.
   * @throws {ExecutionBusyError} When a runner holds it already.
   * @throws {ExecutionHashMismatchError} When its agent, tools or policy changed.
   */
  resume?(executionId: string): Promise<void>;
}

/** What {@linkcode ExecutionBackend.fork} needs. */
export interface ForkRequest {
  /** A completed step of the execution: the fork continues after it. */
  fromStep: number;
  /** Id of the new execution. @default {a new one} */
  executionId?: string;
}
