// The rows of an execution's waterfall, from its events: steps (STATE_ENTER
// to STEP_COMPLETED), tool calls (TOOL_CALL to its outcome, calls answered
// from the log), and marks where a retry or a restart of the worker happened.

/** An event of the log, as the API sends it. */
export interface LogEvent {
  seq: number;
  type: string;
  time: number;
  data?: Record<string, unknown>;
}

/** A bar (or a mark) of the waterfall; `end` undefined while it runs. */
export interface Row {
  kind: "step" | "tool" | "mark";
  label: string;
  start: number;
  end: number | undefined;
  outcome: "ok" | "failed" | "running" | "retry" | "restart" | "skipped";
}

/** The rows, in the order of their events. */
export function waterfallRows(events: readonly LogEvent[]): Row[] {
  const rows: Row[] = [];
  const tools = new Map<string, Row>();
  let step: Row | undefined;
  let stepNumber = 0;
  for (const e of events) {
    const d = e.data ?? {};
    if (e.type === "STATE_ENTER") {
      stepNumber++;
      step = {
        kind: "step",
        label: `${stepNumber} ${d.state}`,
        start: e.time,
        end: undefined,
        outcome: "running",
      };
      rows.push(step);
    } else if (e.type === "STEP_COMPLETED" && step) {
      step.end = e.time;
      step.outcome = "ok";
    } else if (e.type === "TOOL_CALL") {
      const row: Row = {
        kind: "tool",
        label: String(d.tool),
        start: e.time,
        end: undefined,
        outcome: "running",
      };
      tools.set(String(d.key), row);
      rows.push(row);
    } else if (e.type === "TOOL_CALL_SUCCESS" || e.type === "TOOL_CALL_FAILURE") {
      const row = tools.get(String(d.key));
      if (row) {
        row.end = e.time;
        row.outcome = e.type === "TOOL_CALL_SUCCESS" ? "ok" : "failed";
      }
    } else if (e.type === "IDEMPOTENT_TOOL_SKIPPED") {
      rows.push({
        kind: "tool",
        label: `${d.tool} (from the log)`,
        start: e.time,
        end: e.time,
        outcome: "skipped",
      });
    } else if (e.type === "RETRY_ATTEMPTED") {
      rows.push({
        kind: "mark",
        label: `Retry ${d.attempt ?? ""}`.trim(),
        start: e.time,
        end: e.time,
        outcome: "retry",
      });
    } else if (e.type === "ACTOR_RESTARTED") {
      rows.push({
        kind: "mark",
        label: `Restart (incarnation ${d.incarnation})`,
        start: e.time,
        end: e.time,
        outcome: "restart",
      });
    } else if (
      /^EXECUTION_(COMPLETED|FAILED|CANCELLED)$/.test(e.type) && step && step.end === undefined
    ) {
      step.end = e.time;
      step.outcome = e.type === "EXECUTION_COMPLETED" ? "ok" : "failed";
    }
  }
  return rows;
}
