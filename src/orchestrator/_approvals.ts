// Approval decisions and pending approvals, read from and written to an
// execution's log. Internal: `Orchestrator.decideApproval`, the HTTP routes
// and the command line call these, from any process that shares the stores
// (an API node of a distributed deployment included); the run that waits
// (_approval_gate.ts) sees the decision in the log.
//
// The first APPROVAL_DECIDED or APPROVAL_TIMED_OUT of a call in the log is
// the one that counts. A decision is checked against the log as read and
// appended on condition that nothing was appended since (`expectedSeq`);
// otherwise the new events are read and it is checked again. So a decision
// never lands after another one on its call (two people at once, or the
// timeout: ApprovalAlreadyDecidedError), after the execution finished
// (ExecutionFinishedError, the executions index left alone), or with an
// index entry that hides a request made meanwhile.
import { indexEntry } from "./_index_entries.ts";
import { wake } from "./_wake_bus.ts";
import { ExecutionFinishedError, StaleVersionError, StoreUnavailableError } from "../errors.ts";
import type { EventStore, StoredEvent } from "../events/event_store.ts";
import type { ExecutionIndexEntry } from "../events/execution_index.ts";
import {
  ApprovalAlreadyDecidedError,
  type ApprovalDecision,
  ApprovalNotFoundError,
  type PendingApproval,
  type RecordedApproval,
} from "./approvals.ts";
import { isFinal } from "./execution_report.ts";
import { type ExecutionView, projectExecution } from "./execution_view.ts";

/** Index key of a call's APPROVAL_REQUESTED. */
export function approvalRequestKey(callId: string): string {
  return `approval-requested:${callId}`;
}

/** Index key of a call's APPROVAL_DECIDED and APPROVAL_TIMED_OUT. */
export function approvalDecisionKey(callId: string): string {
  return `approval:${callId}`;
}

/** The event that ended the wait for a call's approval: the first of its decisions in `events`. */
export function firstDecision(
  events: readonly StoredEvent[],
  callId: string,
): StoredEvent | undefined {
  return events.find((e) =>
    (e.type === "APPROVAL_DECIDED" || e.type === "APPROVAL_TIMED_OUT") &&
    (e.data as { callId?: unknown } | undefined)?.callId === callId
  );
}

/** What ended a wait, for messages: `approved by "alice"`, `timed out`. */
export function describeDecision(event: StoredEvent): string {
  if (event.type === "APPROVAL_TIMED_OUT") return "timed out (nobody decided in time)";
  const d = event.data as { decision?: string; by?: string };
  return `${d.decision === "approve" ? "approved" : "denied"} by "${d.by}"`;
}

/**
 * Checks a decision before it is recorded.
 *
 * @throws {TypeError} Naming what is wrong.
 */
export function validateApprovalDecision(value: unknown): ApprovalDecision {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new TypeError(
      `Invalid approval decision: expected { "decision": "approve" | "deny", "reason"?: string }`,
    );
  }
  const { decision, reason, ...rest } = value as Record<string, unknown>;
  const unknown = Object.keys(rest);
  if (unknown.length) {
    throw new TypeError(
      `Invalid approval decision: unknown field "${unknown[0]!.slice(0, 40)}" ` +
        `(expected "decision" and "reason")`,
    );
  }
  if (decision !== "approve" && decision !== "deny") {
    throw new TypeError(
      `Invalid approval decision ${
        JSON.stringify(decision)?.slice(0, 60) ?? "undefined"
      }: expected "approve" or "deny"`,
    );
  }
  if (reason === undefined) return { decision };
  if (typeof reason !== "string" || reason.length > 2000) {
    throw new TypeError(`Invalid approval reason: expected a string of at most 2000 characters`);
  }
  return { decision, reason };
}

/**
 * The calls of an execution that wait for approval now: requested in the
 * step that runs, not decided, not timed out. None once it finished.
 */
export function pendingApprovals(view: ExecutionView, events: readonly StoredEvent[]) {
  if (view.status !== "RUNNING" || !view.incomplete) return [];
  const step = view.incomplete.step;
  const pending: PendingApproval[] = [];
  for (const event of events) {
    if (event.type !== "APPROVAL_REQUESTED" || event.step !== step) continue;
    const d = event.data as Record<string, unknown>;
    const callId = String(d.callId);
    if (firstDecision(events, callId)) continue;
    pending.push({
      executionId: view.executionId,
      agent: view.agent,
      callId,
      tool: String(d.tool),
      args: d.args ?? null,
      step,
      requestedAt: event.time,
      deadline: typeof d.deadline === "number" ? d.deadline : null,
    });
  }
  return pending;
}

/**
 * The executions that wait for a person's approval (`GET /approvals`, `oao
 * approvals`), newest first, from the executions index, at most `limit`.
 *
 * @param store The event store.
 * @param limit How many executions at most.
 * @returns Execution ids.
 */
export async function approvalCandidates(store: EventStore, limit: number): Promise<string[]> {
  const ids: string[] = [];
  let cursor: string | undefined;
  do {
    const page = await store.queryExecutions({
      status: ["RUNNING"],
      waitingFor: ["approval"],
      limit: Math.min(500, limit - ids.length),
      ...(cursor ? { cursor } : {}),
    });
    ids.push(...page.executions.map((e) => e.executionId));
    cursor = page.nextCursor;
  } while (cursor && ids.length < limit);
  return ids;
}

/**
 * The approvals pending in the given executions, oldest request first.
 * Executions that do not exist (any more) are skipped.
 *
 * @param store The event store.
 * @param executionIds The executions to look at (those that wait for an approval).
 * @returns Their pending approvals.
 */
export async function listPendingApprovals(
  store: EventStore,
  executionIds: readonly string[],
): Promise<PendingApproval[]> {
  const found: PendingApproval[] = [];
  for (let at = 0; at < executionIds.length; at += 50) {
    const logs = await Promise.all(
      executionIds.slice(at, at + 50).map(async (id) => ({
        id,
        events: await store.readRange(id),
      })),
    );
    for (const { id, events } of logs) {
      if (!events.some((e) => e.type === "APPROVAL_REQUESTED")) continue;
      found.push(...pendingApprovals(projectExecution(id, events), events));
    }
  }
  return found.sort((a, b) => a.requestedAt - b.requestedAt);
}

/**
 * Records a person's decision on a call that waits for approval.
 *
 * @param store The event store.
 * @param executionId The execution.
 * @param callId The call's id, or 8 or more of its first characters.
 * @param input The decision (checked here) and who made it.
 * @returns The decision as recorded.
 * @throws {TypeError} When the decision is malformed, or the short call id names more than one call.
 * @throws {ExecutionNotFoundError} When there is no such execution.
 * @throws {ExecutionFinishedError} When it already finished.
 * @throws {ApprovalNotFoundError} When it has no pending request for that call.
 * @throws {ApprovalAlreadyDecidedError} When the call was decided (or timed out) first.
 * @throws {StoreUnavailableError} When the log grew between every read and append, 100 times.
 */
export async function decideApproval(
  store: EventStore,
  executionId: string,
  callId: string,
  input: { decision: unknown; by: string; retentionSeconds?: number | undefined },
): Promise<RecordedApproval> {
  const checked = validateApprovalDecision(input.decision);
  const by = String(input.by).slice(0, 200) || "anonymous";
  const events = await store.readRange(executionId);
  for (let attempt = 1;; attempt++) {
    const { request, index } = checkDecision(executionId, callId, events);
    const full = callOf(request);
    const tool = String((request.data as { tool?: unknown }).tool);
    const last = events.at(-1)?.seq ?? 0;
    let appended: StoredEvent;
    try {
      // Conditional on the log as read: stored only if nothing was appended
      // since (a finish, a cancel, another decision, another request).
      appended = await store.appendEvent(executionId, {
        type: "APPROVAL_DECIDED",
        ...(request.step === undefined ? {} : { step: request.step }),
        key: approvalDecisionKey(full),
        data: { callId: full, tool, ...checked, by },
      }, {
        expectedSeq: last,
        ...(input.retentionSeconds === undefined ? {} : { expire: input.retentionSeconds }),
        ...(index ? { index } : {}),
      });
    } catch (error) {
      if (!(error instanceof StaleVersionError)) throw error;
      if (attempt >= MAX_ATTEMPTS) {
        throw new StoreUnavailableError(`decideApproval("${executionId}")`, { cause: error });
      }
      events.push(...await store.readAfter(executionId, last));
      continue;
    }
    await wake(store, executionId, Date.now());
    return { callId: full, tool, ...checked, by, seq: appended.seq };
  }
}

/** Decisions tried before giving up on a log that keeps growing. */
const MAX_ATTEMPTS = 100;

function callOf(event: StoredEvent): string {
  return String((event.data as { callId?: unknown }).callId);
}

/**
 * The request a decision answers, and the executions index entry to write
 * with it, from the execution's log as read.
 *
 * @throws {TypeError} When the short call id names more than one call.
 * @throws {ExecutionNotFoundError} When there is no such execution.
 * @throws {ExecutionFinishedError} When it finished.
 * @throws {ApprovalNotFoundError} When it has no pending request for that call.
 * @throws {ApprovalAlreadyDecidedError} When the call was decided (or timed out).
 */
function checkDecision(
  executionId: string,
  callId: string,
  events: readonly StoredEvent[],
): { request: StoredEvent; index: ExecutionIndexEntry | undefined } {
  const view = projectExecution(executionId, events);
  if (isFinal(view.status)) throw new ExecutionFinishedError(executionId, view.status);
  const requests = events.filter((e) => e.type === "APPROVAL_REQUESTED");
  const matches = requests.filter((e) =>
    callOf(e) === callId || (callId.length >= 8 && callOf(e).startsWith(callId))
  );
  if (matches.length > 1 && !matches.some((e) => callOf(e) === callId)) {
    throw new TypeError(
      `Call id "${callId}" of execution "${executionId}" is ambiguous: it starts ${
        matches.map((e) => `"${callOf(e)}"`).join(", ")
      } (give the whole call id)`,
    );
  }
  const request = matches.find((e) => callOf(e) === callId) ?? matches[0];
  if (!request) {
    const pending = pendingApprovals(view, events);
    throw new ApprovalNotFoundError(
      executionId,
      callId,
      pending.length
        ? `it waits for approval of ${
          pending.map((p) => `call "${p.callId.slice(0, 12)}" (tool "${p.tool}")`).join(", ")
        }`
        : "it waits for no approval",
    );
  }
  const full = callOf(request);
  const after = events.filter((e) => e.seq > request.seq);
  const earlier = firstDecision(after, full);
  if (earlier) throw new ApprovalAlreadyDecidedError(executionId, full, describeDecision(earlier));
  if (view.incomplete?.step !== request.step) {
    throw new ApprovalNotFoundError(executionId, full, `its step ${request.step} is over`);
  }
  // The executions index: running again, unless another call still waits.
  const index = view.agent === undefined ? undefined : indexEntry("APPROVAL_DECIDED", {
    agent: view.agent,
    createdAt: view.startedAt ?? events[0]?.time ?? Date.now(),
  });
  if (index && pendingApprovals(view, events).some((p) => p.callId !== full)) {
    index.waitingFor = "approval";
  }
  return { request, index };
}
