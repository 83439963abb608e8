// The executions: newest first, filtered by status and agent, paged by
// cursor, refreshed every 2 s (new executions and status changes appear
// without reloading), and a search by id.
import { html } from "htm/preact";
import type { VNode } from "preact";
import { useState } from "preact/hooks";
import { DataTable } from "../components/data_table.ts";
import { api } from "../api.ts";
import { StatusBadge } from "../components/status_badge.ts";
import { message, STATUSES, time } from "../format.ts";
import { Link, navigate } from "../router.ts";
import { usePoll } from "../use_poll.ts";

interface Summary {
  executionId: string;
  agent: string;
  status: string;
  createdAt: number;
  updatedAt: number;
  waitingFor?: string;
}

function Search(): VNode {
  const [id, setId] = useState("");
  const [error, setError] = useState("");
  const submit = async (event: Event) => {
    event.preventDefault();
    const wanted = id.trim();
    if (!wanted) return;
    try {
      await api(`/executions/${encodeURIComponent(wanted)}`);
      navigate(`/ui/executions/${encodeURIComponent(wanted)}`);
    } catch (e) {
      setError(message(e));
    }
  };
  return html`<form class="row search" role="search" onSubmit=${submit}>
    <label for="search-id">Execution id</label>
    <input id="search-id" value=${id} placeholder="exec-…" onInput=${(e: Event) =>
    setId((e.target as HTMLInputElement).value)} />
    <button type="submit">Open</button>
    ${error ? html`<span class="error" role="alert">${error}</span>` : ""}
  </form>`;
}

/** The page. */
export function Executions(): VNode {
  const [status, setStatus] = useState("");
  const [agent, setAgent] = useState("");
  const [cursors, setCursors] = useState<string[]>([]);
  const cursor = cursors.at(-1);
  const agents = usePoll(() => api<{ agents: string[] }>("/agents"), 0);
  const list = usePoll(
    () => {
      const q = new URLSearchParams({ limit: "25" });
      if (status) q.set("status", status);
      if (agent) q.set("agent", agent);
      if (cursor) q.set("cursor", cursor);
      return api<{ executions: Summary[]; nextCursor?: string }>(`/executions?${q}`);
    },
    2000,
    [status, agent, cursor],
  );
  const filter = (set: (v: string) => void) => (e: Event) => {
    set((e.target as HTMLSelectElement).value);
    setCursors([]);
  };
  const rows = list.data?.executions ?? [];
  return html`<main>
    <h1>Executions</h1>
    <div class="toolbar">
      <label>Status <select value=${status} onChange=${filter(setStatus)}>
        <option value="">All</option>
        ${STATUSES.map((s) => html`<option value=${s}>${s}</option>`)}
      </select></label>
      <label>Agent <select value=${agent} onChange=${filter(setAgent)}>
        <option value="">All</option>
        ${(agents.data?.agents ?? []).map((a) => html`<option value=${a}>${a}</option>`)}
      </select></label>
      <${Search} />
    </div>
    ${list.error ? html`<p class="error" role="alert">${list.error}</p>` : ""}
    <${DataTable} columns=${["Execution", "Agent", "Status", "Created", "Updated"]}>
          ${
    rows.map((e) =>
      html`
        <tr key=${e.executionId} data-id=${e.executionId}>
          <td>
            <${Link} href=${`/ui/executions/${encodeURIComponent(e.executionId)}`} class="mono">${e
              .executionId}</${Link}></td>
                    <td>${e.agent}</td>
                    <td><${StatusBadge} status=${e.status} />${e.waitingFor
                      ? html`
                        <span class="tag">waits for ${e.waitingFor}</span>
                      `
                      : ""}</td>
                    <td>${time(e.createdAt)}</td>
                    <td>${time(e.updatedAt)}</td>
                  </tr>
      `
    )
  }
          ${
    list.data && rows.length === 0
      ? html`
        <tr>
          <td colspan="5" class="muted">No executions${status || agent
            ? " match these filters"
            : " yet"}.</td>
        </tr>
      `
      : ""
  }
        </${DataTable}>
    <nav class="row pager" aria-label="Pages">
      <button type="button" disabled=${cursors.length === 0} onClick=${() =>
    setCursors(cursors.slice(0, -1))}>Newer</button>
      <button type="button" disabled=${!list.data?.nextCursor} onClick=${() =>
    setCursors([...cursors, list.data!.nextCursor!])}>Older</button>
    </nav>
  </main>`;
}
