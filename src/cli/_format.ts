/**
 * Human-readable output of the command line: one line per event for live
 * progress (`run`, `resume`, `demo`), timelines (`events`, `replay`,
 * `demo`) and reports. Plain text without colours, so it reads the same in
 * a terminal, a CI log and a pipe.
 *
 * @example
 * ```ts
 * import { describeEvent } from "./_format.ts";
 * const text = describeEvent({ type: "STATE_ENTER", step: 3, data: { state: "EXECUTE" } });
 * console.assert(text === "step 3 EXECUTE");
 * ```
 *
 * @module
 */
import type { ErrorInfo } from "../errors.ts";
import type { ExecutionReport } from "../orchestrator/execution_report.ts";

/** The parts of an event the formatters read (stored and published events both fit). */
export interface EventLike {
  /** Event type. */
  type: string;
  /** Step number. */
  step?: number | undefined;
  /** Payload. */
  data?: Record<string, unknown> | undefined;
  /** Sequence number, once stored. */
  seq?: number | undefined;
  /** Epoch ms. */
  time?: number | undefined;
  /** The execution. */
  executionId?: string | undefined;
}

/** Event types that end an execution or a workflow. */
export const FINAL_EVENT_TYPES: readonly string[] = [
  "EXECUTION_COMPLETED",
  "EXECUTION_FAILED",
  "EXECUTION_CANCELLED",
  "WORKFLOW_COMPLETED",
  "WORKFLOW_FAILED",
  "WORKFLOW_CANCELLED",
];

const PROGRESS_HIDDEN = new Set([
  "STEP_COMPLETED",
  "TOOL_CALL",
  "MODEL_CALL_STARTED",
  "ACTOR_STARTED",
  "ACTOR_STOPPED",
]);

/**
 * Shortens a value's JSON to at most `max` characters.
 *
 * @param value Any JSON value.
 * @param max Longest result. @default {80}
 * @returns The JSON, cut with `…` when longer.
 *
 * @example
 * ```ts
 * import { brief } from "./_format.ts";
 * console.assert(brief({ a: "x".repeat(100) }, 10).length === 10);
 * ```
 */
export function brief(value: unknown, max = 80): string {
  let text: string;
  try {
    text = JSON.stringify(value) ?? String(value);
  } catch {
    text = String(value);
  }
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

/**
 * An amount in USD for people: `$0.000270`, `$1.2346` (six decimals below a cent, else four).
 *
 * @param usd The amount.
 * @returns The text.
 *
 * @example
 * ```ts
 * import { formatUsd } from "./_format.ts";
 * console.assert(formatUsd(0.00027) === "$0.000270" && formatUsd(2.5) === "$2.5000");
 * ```
 */
export function formatUsd(usd: number): string {
  return `$${usd.toFixed(Math.abs(usd) < 0.01 ? 6 : 4)}`;
}

/**
 * Describes an event in a few words: `step 3 EXECUTE`, `tool search ok in 2 ms → […]`,
 * `RETRY_ATTEMPTED attempt 1 in 11 ms (worker_error: …)`.
 *
 * @param event The event.
 * @returns One line, without the sequence number or time.
 *
 * @example
 * ```ts
 * import { describeEvent } from "./_format.ts";
 * console.assert(describeEvent({ type: "POLICY_VIOLATION", step: 12, data: { limit: "maxToolCalls", value: 4, max: 3 } })
 *   .includes("maxToolCalls"));
 * ```
 */
export function describeEvent(event: EventLike): string {
  const d = event.data ?? {};
  const error = (d.error as ErrorInfo | undefined)?.message;
  switch (event.type) {
    case "EXECUTION_STARTED":
      return `EXECUTION_STARTED agent "${d.agent}" task ${brief(d.task, 60)}`;
    case "EXECUTION_RESUMED":
      return `EXECUTION_RESUMED from step ${d.fromStep ?? d.step ?? "?"}`;
    case "STATE_ENTER":
      return `step ${event.step} ${d.state}`;
    case "STEP_COMPLETED":
      return `step ${event.step} ${d.state} done in ${d.durationMs} ms${
        d.next ? ` → ${d.next}` : ""
      }`;
    case "STEP_FAILED":
      return `STEP_FAILED step ${event.step} ${d.state} attempt ${d.attempt}: ${error}`;
    case "TOOL_CALL":
      return `tool ${d.tool} ${brief(d.args, 60)}${d.rerun ? " (re-run)" : ""}`;
    case "TOOL_CALL_SUCCESS":
      return `tool ${d.tool} ok in ${d.durationMs} ms → ${brief(d.result, 60)}`;
    case "TOOL_CALL_FAILED":
      return `tool ${d.tool} FAILED in ${d.durationMs} ms: ${error}`;
    case "MODEL_CALL_STARTED":
      return `model ${d.model}${
        typeof d.maxOutputTokens === "number" ? ` (at most ${d.maxOutputTokens} output tokens)` : ""
      }${d.rerun ? " (made again: a crash cut it)" : ""}`;
    case "MODEL_CALL_COMPLETED": {
      const usage = (d.usage ?? {}) as { inputTokens?: number; outputTokens?: number };
      return `model ${d.model} ${d.finishReason} in ${d.latencyMs} ms: ${usage.inputTokens} in, ${usage.outputTokens} out${
        typeof d.costUsd === "number" && d.costUsd > 0 ? `, ${formatUsd(d.costUsd)}` : ""
      }`;
    }
    case "MODEL_CALL_FAILED":
      return `model ${d.model} FAILED: ${error}`;
    case "IDEMPOTENT_TOOL_SKIPPED":
      return `IDEMPOTENT_TOOL_SKIPPED ${d.tool} (answered from the log, not run again)`;
    case "POLICY_VIOLATION":
      return `POLICY_VIOLATION ${d.limit}: ${d.value} exceeds the maximum ${d.max}`;
    case "RETRY_ATTEMPTED":
      return `RETRY_ATTEMPTED attempt ${d.attempt} in ${d.delayMs} ms (${d.reason})`;
    case "ACTOR_FAILED":
      return `ACTOR_FAILED ${_actor(d.actor)} (${d.reason}): ${error}`;
    case "ACTOR_RESTARTED":
      return `ACTOR_RESTARTED ${_actor(d.actor)} incarnation ${d.incarnation} from its snapshot`;
    case "ACTOR_STARTED":
      return `ACTOR_STARTED ${_actor(d.actor)} incarnation ${d.incarnation}`;
    case "ACTOR_STOPPED":
      return `ACTOR_STOPPED ${_actor(d.actor)}: ${d.reason}`;
    case "EXECUTION_COMPLETED":
      return `EXECUTION_COMPLETED in ${d.durationMs} ms → ${brief(d.output, 60)}`;
    case "EXECUTION_FAILED":
      return `EXECUTION_FAILED after ${d.durationMs} ms: ${error}`;
    case "EXECUTION_CANCELLED":
      return `EXECUTION_CANCELLED after ${d.durationMs} ms: ${error}`;
    case "WORKFLOW_STARTED":
      return `WORKFLOW_STARTED tasks ${
        (d.tasks as string[] | undefined)?.join(", ")
      } (concurrency ${d.concurrency}, ${d.onFailure})`;
    case "TASK_STARTED":
      return `task ${d.task} started: agent "${d.agent}" as ${d.executionId}`;
    case "TASK_COMPLETED":
      return `task ${d.task} SUCCESS`;
    case "TASK_FAILED":
      return `task ${d.task} FAILED: ${error}`;
    case "TASK_CANCELLED":
      return `task ${d.task} CANCELLED: ${error ?? d.reason}`;
    case "TASK_SKIPPED":
      return `task ${d.task} SKIPPED: ${d.reason}`;
    case "WORKFLOW_CANCEL_REQUESTED":
      return `WORKFLOW_CANCEL_REQUESTED: ${d.reason}`;
    case "APPROVAL_REQUESTED":
      return `APPROVAL_REQUESTED tool ${d.tool} ${brief(d.args, 60)} (call ${
        String(d.callId).slice(0, 12)
      })`;
    case "APPROVAL_DECIDED":
      return `APPROVAL_DECIDED tool ${d.tool}: ${d.decision} by "${d.by}"${
        d.reason ? ` (${brief(d.reason, 60)})` : ""
      }`;
    case "APPROVAL_WAITING":
    case "APPROVAL_WAIT_ENDED":
      return `${event.type} tool ${d.tool}${
        d.outcome ? `: ${d.outcome} after ${d.waitedMs} ms` : ""
      }`;
    case "WORKFLOW_COMPLETED":
    case "WORKFLOW_FAILED":
    case "WORKFLOW_CANCELLED":
      return `${event.type} ${
        Object.entries((d.tasks ?? {}) as Record<string, string>).map(([n, s]) => `${n} ${s}`)
          .join(", ")
      }${d.reason ? ` (${d.reason})` : ""}`;
    default:
      return `${event.type}${event.step ? ` step ${event.step}` : ""}${
        Object.keys(d).length ? ` ${brief(d, 60)}` : ""
      }`;
  }
}

/**
 * The live-progress line of an event, or `undefined` for the events progress
 * leaves out (step completions, tool call intents, actor starts and stops).
 *
 * @param event The event.
 * @returns The line (indented under its execution), or `undefined`.
 *
 * @example
 * ```ts
 * import { progressLine } from "./_format.ts";
 * console.assert(progressLine({ type: "TOOL_CALL", data: {} }) === undefined);
 * console.assert(progressLine({ type: "STATE_ENTER", step: 1, data: { state: "INIT" } }) === "  step 1 INIT");
 * ```
 */
export function progressLine(event: EventLike): string | undefined {
  if (PROGRESS_HIDDEN.has(event.type)) return undefined;
  if (event.type === "STATE_ENTER" && event.data?.state !== "FAILED") {
    return `  ${describeEvent(event)}`;
  }
  return `    ${describeEvent(event)}`;
}

/**
 * Formats a timeline: one line per event with its sequence number and its
 * time relative to the first event.
 *
 * @param events Stored events, in order.
 * @returns The lines.
 *
 * @example
 * ```ts
 * import { timelineLines } from "./_format.ts";
 * const [line] = timelineLines([{ type: "STATE_ENTER", seq: 3, time: 1005, step: 1, data: { state: "INIT" } }]);
 * console.assert(line!.includes("#3") && line!.includes("step 1 INIT"));
 * ```
 */
export function timelineLines(events: readonly EventLike[]): string[] {
  const origin = events[0]?.time ?? 0;
  return events.map((event) => timelineLine(event, origin));
}

/**
 * Formats one timeline line: time since `origin`, sequence number, description.
 *
 * @param event The event.
 * @param origin Epoch ms the time is counted from (the first event's).
 * @returns The line.
 *
 * @example
 * ```ts
 * import { timelineLine } from "./_format.ts";
 * console.assert(timelineLine({ type: "X", seq: 2, time: 1012, data: {} }, 1000).includes("+12 ms"));
 * ```
 */
export function timelineLine(event: EventLike, origin: number): string {
  const at = `+${Math.max(0, (event.time ?? origin) - origin)} ms`.padStart(10);
  const seq = `#${event.seq ?? "-"}`.padEnd(5);
  return `${at}  ${seq} ${describeEvent(event)}`;
}

/**
 * Formats a report: status, steps, tool calls, tokens, duration, output or error.
 *
 * @param report The report.
 * @returns The lines.
 *
 * @example
 * ```ts
 * import { reportLines } from "./_format.ts";
 * const lines = reportLines({
 *   executionId: "exec-1", agent: "a", status: "SUCCESS", totalSteps: 5, tokens: 0, toolCalls: 1,
 *   durationMs: 12, stateHistory: [], output: 42, executionHash: "ab", startedAt: 0, finishedAt: 12,
 * });
 * console.assert(lines[0]!.includes("SUCCESS"));
 * ```
 */
export function reportLines(report: ExecutionReport): string[] {
  const lines = [
    `${report.status}  ${report.agent}  ${report.executionId}`,
    `  steps ${report.totalSteps}, tool calls ${report.toolCalls}, tokens ${report.tokens}${
      report.costUsd === undefined ? "" : `, cost ${formatUsd(report.costUsd)}`
    }, ${report.durationMs} ms`,
    `  states  ${report.stateHistory.map((s) => s.state).join(" → ") || "-"}`,
  ];
  if (report.error) lines.push(`  error   ${report.error.message}`);
  if (report.decision) {
    const { callId, tool, args, step } = report.decision;
    lines.push(
      `  waits   a decision on call ${callId} of tool "${tool}" (step ${step}), args ${
        brief(args, 80)
      }`,
    );
  } else lines.push(`  output  ${brief(report.output, 100)}`);
  if (report.traceId) lines.push(`  trace   ${report.traceId}`);
  return lines;
}

function _actor(path: unknown): string {
  const text = String(path);
  const slash = text.lastIndexOf("/");
  return slash < 0 ? text : text.slice(slash + 1);
}
