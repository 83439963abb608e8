// "Replay": the execution rebuilt from its events alone (GET
// /executions/:id/replay) — no agent code runs, no tool is called — shown
// beside the live view, so an operator sees what the log by itself says.
import { html } from "htm/preact";
import type { VNode } from "preact";
import { useState } from "preact/hooks";
import { api } from "../api.ts";
import { DataTable } from "./data_table.ts";
import { StatusBadge } from "./status_badge.ts";

interface Replay {
  events: number;
  report: { status: string; totalSteps: number; toolCalls: number };
  toolCalls: { step: number; tool: string; outcome: string }[];
}

/** A button that rebuilds the execution from its log, and what it gave. */
export function ReplayPanel(props: { id: string }): VNode {
  const [replay, setReplay] = useState<Replay | undefined>(undefined);
  const [error, setError] = useState("");
  const [busy, setBusy] = useState(false);
  const run = async () => {
    setBusy(true);
    setError("");
    try {
      setReplay(await api<Replay>(`/executions/${encodeURIComponent(props.id)}/replay`));
    } catch (failure) {
      setError((failure as Error).message);
    } finally {
      setBusy(false);
    }
  };
  return html`
    <div class="replay">
      <button type="button" onClick=${run} disabled=${busy}>Replay</button>
      ${error ? html`<p class="error" role="alert">${error}</p>` : ""}
      ${replay
        ? html`
          <div role="status" aria-label="Replay">
            <p>
              ${`Rebuilt from its ${replay.events} events alone (no agent code ran, no tool was called): `}
              <${StatusBadge} status=${replay.report.status} />
              ${`, ${replay.report.totalSteps} steps, ${replay.report.toolCalls} tool calls.`}
            </p>
            ${replay.toolCalls.length
              ? html`<${DataTable} label="Tool calls of the replay" columns=${[
                "Step",
                "Tool",
                "Outcome",
              ]}>
              ${
                replay.toolCalls.map((c, i) =>
                  html`
                    <tr key=${i}>
                      <td>${c.step}</td>
                      <td class="mono">${c.tool}</td>
                      <td>${c.outcome}</td>
                    </tr>
                  `
                )
              }
            </${DataTable}>`
              : ""}
          </div>
        `
        : ""}
    </div>
  `;
}
