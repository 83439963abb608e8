// The actions on one execution: cancel, resume, fork from a completed step
// and run again, each confirmed in place, and replay (a read: the execution
// rebuilt from its log).
import { html } from "htm/preact";
import type { VNode } from "preact";
import { useState } from "preact/hooks";
import { api } from "../api.ts";
import { ConfirmAction } from "../components/confirm_action.ts";
import { ReplayPanel } from "../components/replay_panel.ts";
import { isFinal } from "../format.ts";
import { navigate } from "../router.ts";

/** The actions' card. */
export function ExecutionActions(
  props: {
    id: string;
    status: string;
    completedSteps: number[];
    onDone: () => void;
    rerun?: { agent: string; task: unknown; policy?: unknown } | undefined;
  },
): VNode {
  const path = `/executions/${encodeURIComponent(props.id)}`;
  const [fromStep, setFromStep] = useState("");
  const final = isFinal(props.status);
  const step = fromStep || String(props.completedSteps.at(-1) ?? "");
  return html`
    <section class="card actions" aria-labelledby="actions-h">
      <h2 id="actions-h">Actions</h2>
      <div class="row wrap">
        <${ConfirmAction} label="Cancel" danger reason disabled=${final}
          confirmText="Cancel this execution? Its running step is stopped."
          run=${async (reason: string) => {
            await api(`${path}/cancel`, { method: "POST", body: reason ? { reason } : {} });
            props.onDone();
          }} />
        <${ConfirmAction} label="Resume" disabled=${final || props.status === "QUEUED"}
          confirmText="Resume this execution from its event log? Use it when the process that ran it stopped."
          run=${async () => {
            await api(`${path}/resume`, { method: "POST" });
            props.onDone();
          }} />
        <${ConfirmAction} label="Fork" disabled=${props.completedSteps.length === 0}
          confirmText="Start a new execution that shares this one's history up to the step below."
          run=${async () => {
            const forked = await api<{ executionId: string }>(`${path}/fork`, {
              method: "POST",
              body: { fromStep: Number(step) },
            });
            navigate(`/ui/executions/${encodeURIComponent(forked.executionId)}`);
          }}>
          <label>From step <select value=${step} onChange=${(e: Event) =>
            setFromStep((e.target as HTMLSelectElement).value)}>
              ${props.completedSteps.map((s) => html`<option value=${String(s)}>${s}</option>`)}
            </select></label>
          </${ConfirmAction}>
          <${ConfirmAction} label="Run again" disabled=${!props.rerun}
            confirmText="Start a new execution with the same agent, task and policy? (This one is not changed.)"
            run=${async () => {
              const started = await api<{ executionId: string }>("/executions", {
                method: "POST",
                body: props.rerun,
              });
              navigate(`/ui/executions/${encodeURIComponent(started.executionId)}`);
            }} />
          </div>
          <${ReplayPanel} id=${props.id} />
          </section>
  `;
}
