// The live timeline: every event of the execution as it arrives, newest
// last, with its sequence number, time and a summary of its data.
import { html } from "htm/preact";
import type { VNode } from "preact";
import type { LogEvent } from "../waterfall_rows.ts";

const MARKED: Record<string, string> = {
  RETRY_ATTEMPTED: "retry",
  ACTOR_RESTARTED: "restart",
  ACTOR_FAILED: "failed",
  EXECUTION_FAILED: "failed",
  TOOL_CALL_FAILURE: "failed",
  EXECUTION_CANCELLED: "cancelled",
  APPROVAL_REQUESTED: "waiting",
};

function summary(e: LogEvent): string {
  const d = e.data ?? {};
  const parts: string[] = [];
  for (const key of ["state", "tool", "attempt", "reason", "durationMs", "decision"]) {
    const v = d[key];
    if (v !== undefined && typeof v !== "object") parts.push(`${key}: ${v}`);
  }
  const error = d.error as { message?: string } | undefined;
  if (error?.message) parts.push(`error: ${error.message}`);
  return parts.join(" · ");
}

/** The timeline. */
export function Timeline(props: { events: readonly LogEvent[]; ended: boolean }): VNode {
  return html`
    <section class="card" aria-labelledby="timeline-h">
      <h2 id="timeline-h">Timeline <span class="muted small">${props.ended
        ? "(ended)"
        : html`<span class="live-dot" aria-hidden="true"></span> live`}</span></h2>
      <ol class="timeline" aria-live="polite" data-count=${props.events.length}>
          ${props.events.map((e) =>
            html`
              <li key=${e.seq} class=${`tl-item ${MARKED[e.type] ? `tl-${MARKED[e.type]}` : ""}`}>
                <span class="tl-seq">#${e.seq}</span>
                <span class="tl-type">${e
                  .type}${MARKED[e.type] === "restart" || MARKED[e.type] === "retry"
                  ? html`
                    <span class="tag">${MARKED[e.type]}</span>
                  `
                  : ""}</span>
                <time class="tl-time">${new Date(e.time).toLocaleTimeString()}</time>
                <span class="tl-data">${summary(e)}</span>
              </li>
            `
          )}
        </ol>
    </section>
  `;
}
