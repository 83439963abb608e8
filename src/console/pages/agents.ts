// The agents this node accepts and the tools they may call.
import { html } from "htm/preact";
import type { VNode } from "preact";
import { api } from "../api.ts";
import { usePoll } from "../use_poll.ts";

interface Agents {
  agents: string[];
  mode: string;
  tools?: { name: string; description?: string }[];
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
      ? html`
        <p class="muted">Mode: <strong>${a.mode}</strong> (${a.mode === "local"
          ? "this node runs executions"
          : "worker nodes run executions"})</p>
        <div class="grid-2">
          <section class="card" aria-labelledby="agents-h">
            <h2 id="agents-h">Agents (${a.agents.length})</h2>
            <ul class="plain">${a.agents.map((name) =>
              html`<li key=${name} class="mono">${name}</li>`
            )}</ul>
          </section>
          <section class="card" aria-labelledby="tools-h"><h2 id="tools-h">Tools${a.tools
            ? ` (${a.tools.length})`
            : ""}</h2>
                ${a.tools
                  ? html`
                    <table>
                      <thead>
                        <tr>
                          <th scope="col">Tool</th>
                          <th scope="col">Description</th>
                        </tr>
                      </thead>
                      <tbody>
                              ${a.tools.map((t) =>
                                html`
                                  <tr key=${t.name}>
                                    <td class="mono">${t.name}</td>
                                    <td>${t.description ?? ""}</td>
                                  </tr>
                                `
                              )}
                              </tbody>
                    </table>
                  `
                  : html`<p class="muted">Tools are known to the worker nodes.</p>`}</section>
        </div>
      `
      : html`<p class="muted">Loading…</p>`
  }
  </main>`;
}
