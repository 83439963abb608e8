// Which events change an execution's entry in the executions index
// (`AppendOptions.index`, see src/events/execution_index.ts), and to what:
// the one table every writer of such an event uses, so that the index says
// what `projectExecution` (execution_view.ts) would say of status and
// waitingFor. Only these events carry an entry: every other append leaves the
// index alone and costs nothing more. Internal.
import type { ExecutionIndexEntry } from "../events/execution_index.ts";
import type { ExecutionStatus } from "./execution_report.ts";

/** What an indexed event makes of the execution: its status and what it waits for. */
interface IndexChange {
  status: ExecutionStatus;
  waitingFor?: "signal" | "timer" | "approval" | "decision";
}

const RUNNING: IndexChange = { status: "RUNNING" };

/** The events that change an execution's entry. */
const CHANGES: ReadonlyMap<string, IndexChange> = new Map<string, IndexChange>([
  ["EXECUTION_QUEUED", { status: "QUEUED" }],
  ["EXECUTION_STARTED", RUNNING],
  ["EXECUTION_RESUMED", RUNNING],
  ["EXECUTION_RETRIED", RUNNING],
  ["DECISION_RECORDED", RUNNING],
  ["WAITING_FOR_SIGNAL", { status: "RUNNING", waitingFor: "signal" }],
  ["SIGNAL_CONSUMED", RUNNING],
  ["SIGNAL_TIMED_OUT", RUNNING],
  ["TIMER_STARTED", { status: "RUNNING", waitingFor: "timer" }],
  ["TIMER_FIRED", RUNNING],
  ["APPROVAL_REQUESTED", { status: "RUNNING", waitingFor: "approval" }],
  ["APPROVAL_DECIDED", RUNNING],
  ["APPROVAL_TIMED_OUT", RUNNING],
  ["DECISION_REQUIRED", { status: "NEEDS_DECISION", waitingFor: "decision" }],
  ["EXECUTION_COMPLETED", { status: "SUCCESS" }],
  ["EXECUTION_FAILED", { status: "FAILED" }],
  ["EXECUTION_CANCELLED", { status: "CANCELLED" }],
]);

/**
 * The index entry an event of `type` writes, or `undefined` when the event
 * does not change the execution's entry.
 *
 * @param type The event type.
 * @param execution The execution's agent and creation time (epoch ms; a
 * store keeps the first one it indexed).
 * @returns The entry for `AppendOptions.index`.
 */
export function indexEntry(
  type: string,
  execution: { agent: string; createdAt: number },
): ExecutionIndexEntry | undefined {
  const change = CHANGES.get(type);
  if (!change) return undefined;
  const entry: ExecutionIndexEntry = {
    status: change.status,
    agent: execution.agent,
    createdAt: execution.createdAt,
  };
  if (change.waitingFor) entry.waitingFor = change.waitingFor;
  return entry;
}
