/**
 * Approvals: governance that waits for a person. A policy (`requireApproval`)
 * or a tool definition (`requireApproval: true`) names the tools whose calls
 * need a person's approval. Such a call records `APPROVAL_REQUESTED` (tool,
 * arguments, deadline) and waits — holding no worker — until someone decides
 * (`POST /executions/:id/approvals/:callId`, `oao approve|deny`,
 * `Orchestrator.decideApproval`), which records `APPROVAL_DECIDED` with who
 * decided and why. Approved, the tool runs; denied, the agent's call fails
 * with {@linkcode ApprovalDeniedError}; undecided past the policy's
 * `approvalTimeoutMs`, with {@linkcode ApprovalTimeoutError}. The first
 * decision in the log is the one that counts: a second is refused with
 * {@linkcode ApprovalAlreadyDecidedError}.
 *
 * @example An agent that handles a denial
 * ```ts
 * import { ApprovalDeniedError } from "./approvals.ts";
 * const error = new ApprovalDeniedError("charge", "alice", "over budget");
 * console.assert(error.code === "APPROVAL_DENIED");
 * console.assert(error.message === 'Tool "charge" was denied by "alice": over budget');
 * ```
 *
 * @module
 */
import { OaoError, registerErrorClass } from "../errors.ts";

/** A tool call that waits for a person's approval. */
export interface PendingApproval {
  /** The execution. */
  executionId: string;
  /** The agent of the execution. */
  agent: string;
  /** The call's id (what `POST /executions/:id/approvals/:callId` names). */
  callId: string;
  /** The tool. */
  tool: string;
  /** The call's arguments. */
  args: unknown;
  /** The step of the call. */
  step: number;
  /** Epoch ms of the request. */
  requestedAt: number;
  /** Epoch ms after which the call fails with `ApprovalTimeoutError`; `null`: none. */
  deadline: number | null;
}

/** A person's decision on a call that waits for approval. */
export interface ApprovalDecision {
  /** `"approve"` runs the tool; `"deny"` fails the agent's call. */
  decision: "approve" | "deny";
  /** Why, for the audit log (at most 2,000 characters). */
  reason?: string;
}

/** A decision as recorded in `APPROVAL_DECIDED`. */
export interface RecordedApproval extends ApprovalDecision {
  /** The call's id. */
  callId: string;
  /** The tool. */
  tool: string;
  /** Who decided: the API token's name, or the command line's user. */
  by: string;
  /** Sequence number of the `APPROVAL_DECIDED` event. */
  seq: number;
}

/** A person denied a tool call: the agent's call fails with it (and may handle it). */
export class ApprovalDeniedError extends OaoError {
  /**
   * Creates the error; its message names the tool, who denied it and why.
   *
   * @param tool The tool.
   * @param by Who denied it.
   * @param reason Why, when they said.
   */
  constructor(tool: string, by: string, reason?: string) {
    super(
      "APPROVAL_DENIED",
      `Tool "${tool}" was denied by "${by}"${reason ? `: ${reason}` : ""}`,
    );
  }
}

/** Nobody decided on a tool call within the policy's `approvalTimeoutMs`. */
export class ApprovalTimeoutError extends OaoError {
  /**
   * Creates the error; its message names the tool and the time limit.
   *
   * @param tool The tool.
   * @param timeoutMs The policy's `approvalTimeoutMs`.
   */
  constructor(tool: string, timeoutMs: number) {
    super(
      "APPROVAL_TIMEOUT",
      `Tool "${tool}" got no approval within ${timeoutMs} ms (the policy's approvalTimeoutMs)`,
    );
  }
}

/** The execution has no approval request for that call id (HTTP 404). */
export class ApprovalNotFoundError extends OaoError {
  /**
   * Creates the error; its message names the execution and the call.
   *
   * @param executionId The execution.
   * @param callId The call id given.
   * @param detail What the execution does wait for, or why none matched.
   */
  constructor(executionId: string, callId: string, detail: string) {
    super(
      "APPROVAL_NOT_FOUND",
      `Execution "${executionId}" has no approval request for call "${
        callId.slice(0, 80)
      }": ${detail}`,
    );
  }
}

/** The call was decided already, or timed out (HTTP 409): the first decision counts. */
export class ApprovalAlreadyDecidedError extends OaoError {
  /**
   * Creates the error; its message names the call and what decided it.
   *
   * @param executionId The execution.
   * @param callId The call's id.
   * @param decided What ended the wait: `approved by "alice"`, `timed out`, …
   */
  constructor(executionId: string, callId: string, decided: string) {
    super(
      "APPROVAL_ALREADY_DECIDED",
      `Call "${callId.slice(0, 12)}" of execution "${executionId}" was already ${decided}`,
    );
  }
}

registerErrorClass("APPROVAL_DENIED", ApprovalDeniedError);
registerErrorClass("APPROVAL_TIMEOUT", ApprovalTimeoutError);
registerErrorClass("APPROVAL_NOT_FOUND", ApprovalNotFoundError);
registerErrorClass("APPROVAL_ALREADY_DECIDED", ApprovalAlreadyDecidedError);
