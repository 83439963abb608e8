/**
 * The errors of executions: a policy limit reached, an unknown execution or
 * agent, a resume with another specification, a tool call whose outcome is
 * unknown, an execution busy elsewhere, finished or cancelled.
 *
 * @example
 * ```ts
 * import { ExecutionNotFoundError } from "./execution_errors.ts";
 * const error = new ExecutionNotFoundError("exec-1");
 * console.assert(error.code === "EXECUTION_NOT_FOUND");
 * ```
 *
 * @module
 */
import { OaoError, registerErrorClass } from "../oao_error.ts";

/** A governance policy limit was reached. Never retried. */
export class PolicyViolationError extends OaoError {
  /** Which limit: `"maxSteps"`, `"maxTokens"`, `"maxCostUsd"`, `"maxToolCalls"` or `"timeoutMs"`. */
  readonly limit: string;
  /** The value that reached the limit. */
  readonly value: number;
  /** The configured maximum. */
  readonly max: number;
  /**
   * @param limit Which limit.
   * @param value The value that reached it.
   * @param max The configured maximum.
   */
  constructor(limit: string, value: number, max: number) {
    super(
      "POLICY_VIOLATION",
      `Policy limit "${limit}" reached: ${value} exceeds the maximum ${max}`,
    );
    this.limit = limit;
    this.value = value;
    this.max = max;
  }
}

/** Resuming an execution with a specification other than the one it started with. */
export class ExecutionHashMismatchError extends OaoError {
  /** The execution concerned. */
  readonly executionId: string;
  /**
   * @param executionId The execution concerned.
   * @param expected The hash recorded when the execution started.
   * @param actual The hash of the specification given now.
   */
  constructor(executionId: string, expected: string, actual: string) {
    super(
      "EXECUTION_HASH_MISMATCH",
      `Cannot resume execution "${executionId}": its specification hash "${actual}" differs from the recorded "${expected}"`,
    );
    this.executionId = executionId;
  }
}

/** No execution with the given id is known. */
export class ExecutionNotFoundError extends OaoError {
  /** The id that was looked up. */
  readonly executionId: string;
  /**
   * @param executionId The id that was looked up.
   */
  constructor(executionId: string) {
    super("EXECUTION_NOT_FOUND", `No execution "${executionId}" is recorded`);
    this.executionId = executionId;
  }
}

/** No agent is registered under the given name. */
export class UnknownAgentError extends OaoError {
  /** The agent name. */
  readonly agent: string;
  /**
   * @param agent The agent name.
   * @param known The registered names, listed in the message.
   */
  constructor(agent: string, known: readonly string[]) {
    super(
      "UNKNOWN_AGENT",
      `No agent is registered as "${agent}" (registered: ${
        known.length ? known.map((k) => `"${k}"`).join(", ") : "none"
      })`,
    );
    this.agent = agent;
  }
}

/** A tool call's intent was recorded without an outcome and the tool is not idempotent. */
export class ToolOutcomeUnknownError extends OaoError {
  /** The tool name. */
  readonly tool: string;
  /** The tool call key. */
  readonly key: string;
  /**
   * @param tool The tool name.
   * @param key The tool call key.
   */
  constructor(tool: string, key: string) {
    super(
      "TOOL_OUTCOME_UNKNOWN",
      `Tool "${tool}" (call ${
        key.slice(0, 12)
      }) was started before a crash and its outcome is unknown; ` +
        `it is not declared idempotent, so an operator must decide whether to re-run it`,
    );
    this.tool = tool;
    this.key = key;
  }
}

/**
 * Another runner holds the execution: only one process runs an execution at a
 * time, and the holder's lease must expire (or be released) first.
 */
export class ExecutionBusyError extends OaoError {
  /** The execution concerned. */
  readonly executionId: string;
  /** Who holds it, e.g. `"process 4242 on host-a"`. */
  readonly holder: string;
  /** Milliseconds until the holder's lease expires unless it renews it. */
  readonly expiresInMs: number;
  /**
   * @param executionId The execution concerned.
   * @param holder Who holds it.
   * @param expiresInMs Milliseconds until the holder's lease expires.
   */
  constructor(executionId: string, holder: string, expiresInMs: number) {
    super(
      "EXECUTION_BUSY",
      `Execution "${executionId}" is being run by ${holder}; its lease expires in ${
        Math.ceil(expiresInMs / 1000)
      } s unless renewed. Wait for that runner to finish, or stop it and retry after the lease expires`,
    );
    this.executionId = executionId;
    this.holder = holder;
    this.expiresInMs = expiresInMs;
  }
}

/** The execution already ended: what was asked of it (a signal, a decision) has no taker. */
export class ExecutionFinishedError extends OaoError {
  /** The execution. */
  readonly executionId: string;
  /** Its final status. */
  readonly status: string;
  /**
   * @param executionId The execution.
   * @param status Its final status.
   */
  constructor(executionId: string, status: string) {
    super(
      "EXECUTION_FINISHED",
      `Execution "${executionId}" already finished with status ${status}`,
    );
    this.executionId = executionId;
    this.status = status;
  }
}

/**
 * An execution holds as many signals as it may hold untaken: a client sends
 * the next one once the agent has taken some (HTTP 429 `too_many_signals`).
 */
export class TooManySignalsError extends OaoError {
  /** The execution. */
  readonly executionId: string;
  /** The most signals an execution holds untaken. */
  readonly max: number;
  /**
   * @param executionId The execution.
   * @param max The most signals it may hold untaken.
   */
  constructor(executionId: string, max: number) {
    super(
      "TOO_MANY_SIGNALS",
      `Execution "${executionId}" holds ${max} signals it has not taken, the most it may hold: ` +
        `send more once it has taken some`,
    );
    this.executionId = executionId;
    this.max = max;
  }
}

/** The execution was cancelled on request. */
export class ExecutionCancelledError extends OaoError {
  /**
   * @param executionId The execution that was cancelled.
   * @param reason The reason given.
   */
  constructor(executionId: string, reason = "cancelled on request") {
    super("EXECUTION_CANCELLED", `Execution "${executionId}" was cancelled: ${reason}`);
  }
}

// Registered, so that fromErrorInfo rebuilds them and instanceof matches copies.
registerErrorClass("POLICY_VIOLATION", PolicyViolationError);
registerErrorClass("EXECUTION_HASH_MISMATCH", ExecutionHashMismatchError);
registerErrorClass("EXECUTION_NOT_FOUND", ExecutionNotFoundError);
registerErrorClass("UNKNOWN_AGENT", UnknownAgentError);
registerErrorClass("TOOL_OUTCOME_UNKNOWN", ToolOutcomeUnknownError);
registerErrorClass("EXECUTION_BUSY", ExecutionBusyError);
registerErrorClass("EXECUTION_FINISHED", ExecutionFinishedError);
registerErrorClass("TOO_MANY_SIGNALS", TooManySignalsError);
registerErrorClass("EXECUTION_CANCELLED", ExecutionCancelledError);
