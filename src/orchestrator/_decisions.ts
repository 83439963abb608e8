// Operators decide instead of dead ends. Internal.
//
// A non-idempotent tool call whose intent is in the log but whose outcome is
// not (the process died while it ran) may or may not have had its effect:
// only a person can tell. The execution then records DECISION_REQUIRED and
// stops with status NEEDS_DECISION, holding no worker and no claim. An
// operator records what happened with `Orchestrator.resolve` (`oao resolve`,
// `POST /executions/:id/decisions/:callId`) as DECISION_RECORDED, keyed by
// the call, and the execution is resumed: the call is answered with the
// decided result, fails with the decided reason, or runs again.
import type { Logger } from "@logtape/logtape";
import { OaoError, ToolOutcomeUnknownError } from "../errors.ts";
import type { EventStore } from "../events/event_store.ts";
import type { Decision, PendingDecision } from "./execution_report.ts";
import { projectExecution } from "./execution_view.ts";
import { indexEntry } from "./_index_entries.ts";
import type { Ownership } from "./_ownership.ts";

export type { Decision };

/** A decision as recorded in DECISION_RECORDED. */
export interface RecordedDecision {
  tool: string;
  key: string;
  decision: "succeeded" | "failed" | "rerun";
  result?: unknown;
  reason?: string;
  by: string;
}

/** The index key of a call's decision in the log. */
export function decisionKey(key: string): string {
  return `decision:${key}`;
}

/** The recorded decision on a call, if an operator made one. */
export async function findDecision(
  store: EventStore,
  executionId: string,
  key: string,
): Promise<RecordedDecision | undefined> {
  const event = await store.findByKey(executionId, decisionKey(key));
  return event?.type === "DECISION_RECORDED"
    ? event.data as unknown as RecordedDecision
    : undefined;
}

/** The error an execution stops with while it waits for a decision on `pending`. */
export function decisionRequiredError(executionId: string, pending: PendingDecision): OaoError {
  const error = new ToolOutcomeUnknownError(pending.tool, pending.callId);
  error.message =
    `Tool "${pending.tool}" (call ${
      pending.callId.slice(0, 12)
    }) was started before a crash and its outcome is unknown; it is not declared idempotent. ` +
    `Decide with \`oao resolve ${executionId} ${pending.callId.slice(0, 12)} ` +
    `--succeeded <json> | --failed <reason> | --rerun\``;
  return error;
}

/** The error the agent's call gets when an operator decided it failed. */
export function decidedFailure(decision: RecordedDecision): OaoError {
  return new OaoError(
    "TOOL_FAILED",
    `Tool "${decision.tool}" failed, as decided by ${decision.by}: ${decision.reason ?? ""}`,
  );
}

/**
 * Checks an operator's decision before it is recorded.
 *
 * @throws {TypeError} Naming what is wrong.
 */
export function validateDecision(
  decision: unknown,
  maxBytes: number,
): { decision: RecordedDecision["decision"]; result?: unknown; reason?: string } {
  if (typeof decision !== "object" || decision === null || Array.isArray(decision)) {
    throw new TypeError(
      `Invalid decision: expected { succeeded: <result> }, { failed: "<reason>" } or { rerun: true }`,
    );
  }
  const keys = Object.keys(decision);
  if (keys.length !== 1 || !["succeeded", "failed", "rerun"].includes(keys[0]!)) {
    throw new TypeError(
      `Invalid decision with ${
        keys.map((k) => `"${k.slice(0, 40)}"`).join(", ") || "no field"
      }: expected exactly one of "succeeded", "failed", "rerun"`,
    );
  }
  const d = decision as Record<string, unknown>;
  if ("rerun" in d) {
    if (d.rerun !== true) throw new TypeError(`Invalid decision: "rerun" must be true`);
    return { decision: "rerun" };
  }
  if ("failed" in d) {
    if (typeof d.failed !== "string" || d.failed.trim() === "" || d.failed.length > 2000) {
      throw new TypeError(`Invalid decision: "failed" must be a reason of 1 to 2000 characters`);
    }
    return { decision: "failed", reason: d.failed };
  }
  const result = d.succeeded ?? null;
  let json: string;
  try {
    json = JSON.stringify(result);
  } catch (error) {
    throw new TypeError(`Invalid decision: "succeeded" must be JSON (${String(error)})`);
  }
  if (new TextEncoder().encode(json).length > maxBytes) {
    throw new TypeError(`Invalid decision: the result is over ${maxBytes} bytes`);
  }
  return { decision: "succeeded", result: JSON.parse(json) };
}

/**
 * Finds the pending call a (possibly shortened) call id names.
 *
 * @throws {TypeError} When it names no pending call.
 */
export function matchPending(
  executionId: string,
  pending: PendingDecision | undefined,
  callId: string,
): PendingDecision {
  if (!pending) {
    throw new TypeError(`Execution "${executionId}" waits for no decision`);
  }
  if (callId.length < 8 || !pending.callId.startsWith(callId)) {
    throw new TypeError(
      `Execution "${executionId}" waits for a decision on call "${
        pending.callId.slice(0, 12)
      }" of tool "${pending.tool}", not on "${
        callId.slice(0, 40)
      }" (give 8 or more characters of the call id)`,
    );
  }
  return pending;
}

/** An operator's decision on a call, as `Orchestrator.resolve` gets it. */
export interface DecisionInput {
  /** The call's id, or 8+ first characters of it. */
  callId: string;
  /** The decision, unchecked. */
  decision: unknown;
  /** Who decided. @default {"an operator"} */
  by: string | undefined;
  /** The claims of the orchestrator: the decision is written under one. */
  ownership: Ownership;
  /** Largest `succeeded` result, in bytes of JSON. */
  maxValueBytes: number;
  /** Retention of the execution's log, in seconds. */
  retentionSeconds: number | undefined;
  /** Where the decision is logged. */
  log: Logger;
}

/**
 * Records an operator's decision on the call an execution waits for, as
 * DECISION_RECORDED, holding a claim on the execution meanwhile.
 *
 * @throws {TypeError} When the decision is malformed, or the execution waits
 *   for no decision, or for one on another call.
 * @throws {ExecutionNotFoundError} When there is no such execution.
 * @throws {ExecutionBusyError} When another runner holds it.
 */
export async function recordDecision(
  store: EventStore,
  executionId: string,
  input: DecisionInput,
): Promise<void> {
  const checked = validateDecision(input.decision, input.maxValueBytes);
  const claim = await input.ownership.acquire(executionId);
  try {
    const view = projectExecution(executionId, await store.readRange(executionId));
    const pending = matchPending(executionId, view.decision, input.callId);
    const by = (input.by ?? "an operator").slice(0, 200);
    await store.appendEvent(executionId, {
      type: "DECISION_RECORDED",
      step: pending.step,
      key: decisionKey(pending.callId),
      data: { tool: pending.tool, key: pending.callId, ...checked, by },
    }, {
      fencingToken: claim.token,
      ...(input.retentionSeconds === undefined ? {} : { expire: input.retentionSeconds }),
      index: indexEntry("DECISION_RECORDED", { agent: view.agent, createdAt: view.startedAt })!,
    });
    input.log.warn("Decision on call {callId} of execution {executionId}: {decision} by {by}", {
      executionId,
      callId: pending.callId.slice(0, 12),
      decision: checked.decision,
      by,
    });
  } finally {
    await claim.release();
  }
}
