// The job queue of a node that has one: depth, in flight, delayed, and the
// dead letters with their last error, each re-enqueued on request.
import { html } from "htm/preact";
import type { VNode } from "preact";
import { DataTable } from "../components/data_table.ts";
import { api, ApiFailure } from "../api.ts";
import { ConfirmAction } from "../components/confirm_action.ts";
import { time } from "../format.ts";
import { Link } from "../router.ts";
import { usePoll } from "../use_poll.ts";

interface QueueView {
  waiting: number;
  delayed: number;
  inFlight: number;
  dead: number;
  deadLetters: {
    jobId: string;
    executionId: string;
    agent: string;
    attempts: number;
    lastError: string;
    deadAt: number;
  }[];
}

/** The page. */
export function Queue(): VNode {
  const view = usePoll(async () => {
    try {
      return await api<QueueView>("/queue");
    } catch (e) {
      if (e instanceof ApiFailure && e.status === 501) return null;
      throw e;
    }
  }, 2000);
  if (view.data === null) {
    return html`
      <main>
        <h1>Queue</h1>
        <p
          class="muted">This node has no job queue: it runs executions itself. The queue is on API nodes started with <code>oao serve</code>.</p>
      </main>
    `;
  }
  const q = view.data;
  return html`<main>
    <h1>Queue</h1>
    ${view.error ? html`<p class="error" role="alert">${view.error}</p>` : ""}
    ${
    q
      ? html`
        <dl class="stats">
          <div class="card">
            <dt>Depth</dt>
            <dd>${q.waiting}</dd>
          </div>
          <div class="card">
            <dt>In flight</dt>
            <dd>${q.inFlight}</dd>
          </div>
          <div class="card">
            <dt>Delayed</dt>
            <dd>${q.delayed}</dd>
          </div>
          <div class="card">
            <dt>Dead</dt>
            <dd>${q.dead}</dd>
          </div>
        </dl>
        <h2>Dead letters</h2>
        <${DataTable} columns=${[
          "Job",
          "Execution",
          "Agent",
          "Attempts",
          "Last error",
          "Dead since",
          "Action",
        ]}>
                ${q.deadLetters.map((d) =>
                  html`
                    <tr key=${d.jobId} data-job=${d.jobId}>
                      <td class="mono">${d.jobId}</td>
                      <td>
                        <${Link} href=${`/ui/executions/${
                          encodeURIComponent(d.executionId)
                        }`} class="mono">${d.executionId}</${Link}></td>
                              <td>${d.agent}</td><td>${d.attempts}</td>
                              <td class="error-text">${d.lastError}</td><td>${time(d.deadAt)}</td>
                              <td><${ConfirmAction} label="Re-enqueue" confirmText=${`Move job ${d.jobId} back to the queue with fresh attempts?`}
                                run=${async () => {
                                  await api(`/queue/dead/${encodeURIComponent(d.jobId)}/requeue`, {
                                    method: "POST",
                                  });
                                  view.reload();
                                }} /></td>
                            </tr>
                  `
                )}
                ${q.deadLetters.length === 0
                  ? html`
                    <tr>
                      <td colspan="7" class="muted">No dead jobs.</td>
                    </tr>
                  `
                  : ""}
              </${DataTable}>
      `
      : html`<p class="muted">Loading…</p>`
  }
  </main>`;
}
