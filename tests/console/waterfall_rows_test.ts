// The console's waterfall rows from an execution's events: steps and tool
// calls with their spans, calls answered from the log, retries and restarts.
import assert from "node:assert/strict";
import { type LogEvent, waterfallRows } from "../../src/console/waterfall_rows.ts";

let seq = 0;
const e = (type: string, time: number, data: Record<string, unknown> = {}): LogEvent => ({
  seq: ++seq,
  type,
  time,
  data,
});

Deno.test("a crash and restart mid-step is marked between the step's calls", () => {
  const rows = waterfallRows([
    e("EXECUTION_STARTED", 0),
    e("STATE_ENTER", 10, { state: "INIT" }),
    e("STEP_COMPLETED", 20, { state: "INIT" }),
    e("STATE_ENTER", 20, { state: "EXECUTE" }),
    e("TOOL_CALL", 25, { tool: "process_item", key: "a#1" }),
    e("TOOL_CALL_SUCCESS", 30, { tool: "process_item", key: "a#1" }),
    e("RETRY_ATTEMPTED", 40, { attempt: 1 }),
    e("ACTOR_RESTARTED", 50, { incarnation: 2 }),
    e("IDEMPOTENT_TOOL_SKIPPED", 55, { tool: "process_item", key: "a#1" }),
    e("TOOL_CALL", 60, { tool: "charge", key: "b#1" }),
    e("TOOL_CALL_FAILURE", 70, { tool: "charge", key: "b#1" }),
    e("STATE_ENTER", 80, { state: "REVIEW" }),
    e("EXECUTION_FAILED", 90),
  ]);
  assert.deepEqual(
    rows.map((r) => [r.kind, r.label, r.start, r.end, r.outcome]),
    [
      ["step", "1 INIT", 10, 20, "ok"],
      ["step", "2 EXECUTE", 20, undefined, "running"],
      ["tool", "process_item", 25, 30, "ok"],
      ["mark", "Retry 1", 40, 40, "retry"],
      ["mark", "Restart (incarnation 2)", 50, 50, "restart"],
      ["tool", "process_item (from the log)", 55, 55, "skipped"],
      ["tool", "charge", 60, 70, "failed"],
      ["step", "3 REVIEW", 80, 90, "failed"],
    ],
  );
});

Deno.test("a call without its outcome yet is still running", () => {
  const rows = waterfallRows([
    e("STATE_ENTER", 0, { state: "EXECUTE" }),
    e("TOOL_CALL", 5, { tool: "sleep", key: "s#1" }),
  ]);
  assert.deepEqual(rows.map((r) => [r.label, r.end, r.outcome]), [
    ["1 EXECUTE", undefined, "running"],
    ["sleep", undefined, "running"],
  ]);
});
