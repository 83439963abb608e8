// A tool call that waits for a person's approval, inside its execution's
// tool gate (_tool_gate.ts). Internal.
//
// The request is recorded once per call (APPROVAL_REQUESTED, keyed by the
// call, with its arguments and deadline, both kept across resumes); the
// decision comes from anywhere that shares the stores (_approvals.ts). While
// it waits, the step waits on the host: the execution is passivated and holds
// no worker. A run of the step again (an activation, a retry, a resume in
// another process) finds the request and the decision in the log: the call
// is decided once, whatever process runs it.
import type { StoredEvent } from "../events/event_store.ts";
import { ApprovalDeniedError, ApprovalTimeoutError } from "./approvals.ts";
import { approvalDecisionKey, approvalRequestKey, firstDecision } from "./_approvals.ts";
import type { GateRun } from "./_tool_gate.ts";
import { beginDurableWait } from "./_wait_gate.ts";

/** The call an approval is asked for. */
export interface ApprovalCall {
  tool: string;
  /** The call's key: its id in the approval API. */
  key: string;
  args: unknown;
  step: number;
}

/**
 * Waits until the call is approved.
 *
 * @returns Who approved it, and the sequence number of the decision.
 * @throws {ApprovalDeniedError} When a person denied it.
 * @throws {ApprovalTimeoutError} When nobody decided within the policy's `approvalTimeoutMs`.
 */
export async function awaitApproval(
  run: GateRun,
  call: ApprovalCall,
): Promise<{ by: string; seq: number }> {
  const { eventStore: store, clock } = run.host;
  const { tool, key, step } = call;
  let request = await store.findByKey(run.executionId, approvalRequestKey(key));
  if (!request) {
    const limit = run.policy.limits.approvalTimeoutMs;
    const timeoutMs = Number.isFinite(limit) ? limit : null;
    const recorded = await run.record("APPROVAL_REQUESTED", {
      tool,
      callId: key,
      args: call.args ?? null,
      timeoutMs,
      deadline: timeoutMs === null ? null : clock.now() + timeoutMs,
    }, { step, key: approvalRequestKey(key) });
    request = recorded as unknown as StoredEvent;
  }
  const data = request.data as { deadline?: number | null; timeoutMs?: number | null };
  const deadline = typeof data.deadline === "number" ? data.deadline : null;
  let outcome = "interrupted";
  const end = beginDurableWait(run, {
    kind: "approval",
    what: `approval of tool "${tool}"`,
    data: { tool, callId: key },
    span: { "oao.tool.name": tool },
  });
  try {
    // Registered first: a decision appended after it wakes this wait; one before, the read finds.
    const watch = await run.host.wakes.watch(run.executionId, clock, run.signal);
    try {
      while (true) {
        watch.again(); // a wake from now on announces what the read below may miss
        const events = await store.readAfter(run.executionId, request.seq);
        const decided = firstDecision(events, key);
        if (decided) {
          outcome = decided.type === "APPROVAL_TIMED_OUT"
            ? "timed_out"
            : (decided.data as { decision: string }).decision === "approve"
            ? "approved"
            : "denied";
          return answer(decided, tool, data.timeoutMs ?? 0);
        }
        if (deadline !== null && clock.now() >= deadline) {
          // Recorded like a decision: when a person's decision landed first, it counts.
          await run.record("APPROVAL_TIMED_OUT", { tool, callId: key, timeoutMs: data.timeoutMs }, {
            step,
            key: approvalDecisionKey(key),
          });
          continue;
        }
        await watch.wait(deadline);
        run.throwIfFatal();
      }
    } finally {
      watch.stop();
    }
  } finally {
    end(outcome);
  }
}

function answer(event: StoredEvent, tool: string, timeoutMs: number): { by: string; seq: number } {
  if (event.type === "APPROVAL_TIMED_OUT") throw new ApprovalTimeoutError(tool, timeoutMs);
  const d = event.data as { decision: string; by: string; reason?: string };
  if (d.decision !== "approve") throw new ApprovalDeniedError(tool, d.by, d.reason);
  return { by: d.by, seq: event.seq };
}
