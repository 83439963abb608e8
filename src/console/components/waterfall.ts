// A waterfall of an execution's steps and tool calls, built from its
// events: each bar starts and ends where its events say; retries and
// restarts of the agent's worker are marked where they happened.
import { html } from "htm/preact";
import type { VNode } from "preact";
import { duration } from "../format.ts";
import { type LogEvent, waterfallRows } from "../waterfall_rows.ts";

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
