// The agents this node accepts: their tools, peers, permissions and limits,
// and the tools registered on the node.
import { html } from "htm/preact";
import type { VNode } from "preact";
import { DataTable } from "../components/data_table.ts";
import { api } from "../api.ts";
import { usePoll } from "../use_poll.ts";
import type { AgentDetails } from "../../orchestrator/execution_backend.ts";

interface Agents {
  agents: string[];
  mode: string;
  tools?: { name: string; description?: string }[];
  details?: AgentDetails[];
}

function permissions(value: unknown): string {
  if (value === "none" || value === undefined) return "none";
  return Object.entries(value as Record<string, unknown>)
    .map(([name, grant]) => `${name}: ${Array.isArray(grant) ? grant.join(", ") : String(grant)}`)
    .join("; ") || "none";
}

function AgentTable(props: { details: AgentDetails[] }): VNode {
  return html`
    <${DataTable} columns=${[
      "Agent",
      "Version",
      "Tools",
      "Peers",
      "Permissions",
      "Isolation",
      "At once",
    ]}>
          ${props.details.map((a) =>
            html`
              <tr key=${a.name} data-agent=${a.name}>
                <td><span class="mono">${a.name}</span>${a.description
                  ? html`<div class="muted small">${a.description}</div>`
                  : ""}</td>
                <td>${a.version ?? "–"}</td>
                <td>${a.tools ? a.tools.join(", ") || "none" : "all"}</td>
                <td>${a.peers?.join(", ") || "–"}</td>
                <td class="mono">${permissions(a.permissions)}</td>
                <td>${a.isolation ?? "pool"}</td>
                <td>${a.maxRunning ?? "no limit"}</td>
              </tr>
            `
          )}
        </${DataTable}>
  `;
}

/** The page. */
export function AgentsPage(): VNode {
  const view = usePoll(() => api<Agents>("/agents"), 0);
  const a = view.data;
  return html`<main>
    <h1>Agents</h1>
    ${view.error ? html`<p class="error" role="alert">${view.error}</p>` : ""}
    ${
    a
      ? html`<p class="muted">Mode: <strong>${a.mode}</strong> (${
        a.mode === "local" ? "this node runs executions" : "worker nodes run executions"
      })</p>
    ${
        a.details
          ? html`<${AgentTable} details=${a.details} />`
          : html`<ul class="plain card">${
            a.agents.map((name) => html`<li key=${name} class="mono">${name}</li>`)
          }</ul>`
      }
    <h2>Tools${a.tools ? ` (${a.tools.length})` : ""}</h2>
    ${
        a.tools
          ? html`
            <${DataTable} columns=${["Tool", "Description"]}>
                      ${a.tools.map((t) =>
                        html`
                          <tr key=${t.name}>
                            <td class="mono">${t.name}</td>
                            <td>${t.description ?? ""}</td>
                          </tr>
                        `
                      )}
                      </${DataTable}>
          `
          : html`<p class="muted">Tools are known to the worker nodes.</p>`
      }`
      : html`<p class="muted">Loading…</p>`
  }
  </main>`;
}
