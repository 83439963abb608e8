// Spans a killed process never exported. Internal.
//
// A run's root span (`oao.execution`) and the span of the step it was in end
// only when the run ends: a process killed mid-run exports neither, and every
// span it did export (tool calls, actor messages) and every span of the run
// that resumes it would hang from parents that do not exist. The log knows
// those two spans: each event carries the trace and span id that was active
// when it was recorded (EXECUTION_STARTED and EXECUTION_RESUMED the root's,
// STATE_ENTER its step's). The resuming run exports them, ended at the last
// event the dead run recorded, with status ERROR.
import type { StoredEvent } from "../events/event_store.ts";
import type { SpanData } from "../tracing/span_data.ts";

const SEGMENT_START = new Set(["EXECUTION_STARTED", "EXECUTION_RESUMED"]);
// A run that recorded one of these ended its spans itself.
const CLEAN_END = new Set([
  "EXECUTION_COMPLETED",
  "EXECUTION_FAILED",
  "EXECUTION_CANCELLED",
  "DECISION_REQUIRED",
]);

/**
 * The spans of the last run of an execution that its process never
 * exported: none when that run ended cleanly.
 *
 * @param events The execution's log.
 * @param agent The agent's name (an attribute of the root span).
 * @returns The root span of that run and the span of the step it was in.
 */
export function crashedSpans(events: readonly StoredEvent[], agent: string): SpanData[] {
  const at = events.findLastIndex((e) => SEGMENT_START.has(e.type));
  const start = events[at];
  if (!start?.traceId || !start.spanId) return [];
  const segment = events.slice(at + 1);
  if (segment.some((e) => CLEAN_END.has(e.type))) return [];
  const end = (segment.at(-1) ?? start).time;
  const interrupted = {
    code: "error" as const,
    message: "The process running this execution stopped before it ended (killed or crashed)",
  };
  const root: SpanData = {
    name: "oao.execution",
    traceId: start.traceId,
    spanId: start.spanId,
    kind: "internal",
    startTime: start.time,
    endTime: end,
    attributes: {
      "oao.execution.id": start.executionId,
      "oao.agent": agent,
      "oao.execution.resumed": start.type === "EXECUTION_RESUMED",
      "oao.execution.interrupted": true,
    },
    events: [],
    status: interrupted,
  };
  const parent = parentOf(start, events);
  if (parent) root.parentSpanId = parent;
  const spans = [root];
  const entered = segment.findLast((e) => e.type === "STATE_ENTER");
  const state = (entered?.data as { state?: unknown } | undefined)?.state;
  const completed = entered !== undefined &&
    segment.some((e) =>
      e.type === "STEP_COMPLETED" && e.step === entered.step && e.seq > entered.seq
    );
  if (entered?.spanId && entered.spanId !== start.spanId && state !== "FAILED" && !completed) {
    spans.push({
      name: `oao.step.${entered.step}`,
      traceId: start.traceId,
      spanId: entered.spanId,
      parentSpanId: start.spanId,
      kind: "internal",
      startTime: entered.time,
      endTime: end,
      attributes: {
        "oao.execution.id": start.executionId,
        "oao.agent": agent,
        "oao.lifecycle.state": String(state),
        "oao.step": entered.step ?? 0,
        "oao.execution.interrupted": true,
      },
      events: [],
      status: interrupted,
    });
  }
  return spans;
}

// The parent of a run's root: the caller's span for the first run (recorded
// in EXECUTION_STARTED), the first run's root for a resumed one.
function parentOf(start: StoredEvent, events: readonly StoredEvent[]): string | undefined {
  const first = events.find((e) => e.type === "EXECUTION_STARTED");
  if (start.type === "EXECUTION_RESUMED") return first?.spanId;
  const recorded = (first?.data as { parentSpanId?: unknown } | undefined)?.parentSpanId;
  return typeof recorded === "string" && /^[0-9a-f]{16}$/.test(recorded) ? recorded : undefined;
}
