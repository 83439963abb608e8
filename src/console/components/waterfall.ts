// A waterfall of an execution's steps and tool calls, built from its
// events: each bar starts and ends where its events say; retries and
// restarts of the agent's worker are marked where they happened.
import { html } from "htm/preact";
import type { VNode } from "preact";
import { duration } from "../format.ts";

/** An event of the log, as the API sends it. */
export interface LogEvent {
  seq: number;
  type: string;
  time: number;
  data?: Record<string, unknown>;
}

interface Row {
  kind: "step" | "tool" | "mark";
  label: string;
  start: number;
  end: number | undefined;
  outcome: "ok" | "failed" | "running" | "retry" | "restart" | "skipped";
}

/** The waterfall's rows (exported for the timeline's markers). */
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

/** The waterfall. */
export function Waterfall(props: { events: readonly LogEvent[]; now: number }): VNode {
  const rows = waterfallRows(props.events);
  if (!rows.length) return html`<p class="muted">No steps yet.</p>`;
  const t0 = rows[0]!.start;
  const t1 = Math.max(t0 + 1, ...rows.map((r) => r.end ?? props.now));
  const span = t1 - t0;
  return html`<ol class="waterfall" aria-label="Steps and tool calls">
    ${
    rows.map((r, i) => {
      const end = r.end ?? props.now;
      const left = ((r.start - t0) / span) * 100;
      const width = Math.max(0.5, ((end - r.start) / span) * 100);
      return html`
        <li key=${i} class=${`wf-row wf-${r.kind} wf-${r.outcome}`}>
          <span class="wf-label">${r.label}${r.outcome === "restart" || r.outcome === "retry"
            ? html`
              <span class="tag">${r.outcome}</span>
            `
            : ""}</span>
          <span class="wf-track"><span class="wf-bar" style=${{
            left: `${left}%`,
            width: `${width}%`,
          }}></span></span>
          <span class="wf-time">${r.kind === "mark"
            ? ""
            : r.end === undefined
            ? "running"
            : duration(end - r.start)}</span>
        </li>
      `;
    })
  }
  </ol>`;
}
