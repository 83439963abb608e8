// The calls that wait for a person's approval, with their arguments;
// approve or deny each with a reason.
import { html } from "htm/preact";
import type { VNode } from "preact";
import { useState } from "preact/hooks";
import { api } from "../api.ts";
import { message, pretty, time } from "../format.ts";
import { Link } from "../router.ts";
import { usePoll } from "../use_poll.ts";
import type { PendingApproval as Approval } from "../../orchestrator/approvals.ts";

function Decide(props: { approval: Approval; onDone: () => void }): VNode {
  const a = props.approval;
  const [reason, setReason] = useState("");
  const [error, setError] = useState("");
  const [busy, setBusy] = useState(false);
  const decide = async (decision: "approve" | "deny") => {
    setBusy(true);
    setError("");
    try {
      await api(
        `/executions/${encodeURIComponent(a.executionId)}/approvals/${
          encodeURIComponent(a.callId)
        }`,
        { method: "POST", body: reason ? { decision, reason } : { decision } },
      );
      props.onDone();
    } catch (e) {
      setError(message(e));
    } finally {
      setBusy(false);
    }
  };
  const id = `reason-${a.executionId}-${a.callId}`.replace(/[^\w-]/g, "_");
  return html`
    <li class="card approval" data-call=${a.callId}>
      <h2><span class="mono">${a.tool}</span> <span class="muted small">step ${a.step}</span></h2>
      <p>Execution <${Link} href=${`/ui/executions/${
        encodeURIComponent(a.executionId)
      }`} class="mono">${a.executionId}</${Link}> (${a.agent}), asked ${time(
        a.requestedAt,
      )}${a.deadline ? `, decide before ${time(a.deadline)}` : ""}</p>
        <pre aria-label="Arguments">${pretty(a.args)}</pre>
        <label for=${id}>Reason</label>
        <input id=${id} value=${reason} onInput=${(e: Event) =>
          setReason((e.target as HTMLInputElement).value)} />
        <div class="row">
          <button type="button" class="primary" disabled=${busy} onClick=${() =>
            decide("approve")}>Approve</button>
          <button type="button" class="danger" disabled=${busy} onClick=${() =>
            decide("deny")}>Deny</button>
        </div>
        ${error ? html`<p class="error" role="alert">${error}</p>` : ""}
      </li>
  `;
}

/** The page. */
export function Approvals(): VNode {
  const list = usePoll(() => api<{ approvals: Approval[] }>("/approvals"), 2000);
  const approvals = list.data?.approvals ?? [];
  return html`<main>
    <h1>Approvals</h1>
    ${list.error ? html`<p class="error" role="alert">${list.error}</p>` : ""}
    ${
    list.data && approvals.length === 0
      ? html`<p class="muted">No call waits for approval.</p>`
      : ""
  }
    <ul class="cards">
      ${
    approvals.map((a) =>
      html`<${Decide} key=${`${a.executionId}/${a.callId}`} approval=${a} onDone=${list.reload} />`
    )
  }
    </ul>
  </main>`;
}
