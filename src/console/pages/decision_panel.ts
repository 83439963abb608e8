// The decision an execution in NEEDS_DECISION waits for: a tool call that
// is not idempotent began and the process stopped before its outcome was
// recorded. The operator says what happened — it succeeded (with its
// result), it failed (why), or it must run again — and the execution goes
// on (`POST /executions/:id/decisions/:callId`, as `oao resolve` does).
import { html } from "htm/preact";
import type { VNode } from "preact";
import { useState } from "preact/hooks";
import { api } from "../api.ts";
import { ConfirmAction } from "../components/confirm_action.ts";
import { pretty } from "../format.ts";
import type { PendingDecision } from "../../orchestrator/execution_report.ts";

/** The result the operator typed, parsed; the message names what is wrong. */
function parseResult(text: string): unknown {
  if (text.trim() === "") throw new Error("Enter the call's result as JSON (for example {})");
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new Error(`The result is not JSON: ${(error as Error).message}`);
  }
}

/** The card. */
export function DecisionPanel(
  props: { executionId: string; decision: PendingDecision; onDone: () => void },
): VNode {
  const { decision } = props;
  const [result, setResult] = useState("");
  const path = `/executions/${encodeURIComponent(props.executionId)}/decisions/${
    encodeURIComponent(decision.callId)
  }`;
  const decide = async (body: unknown) => {
    await api(path, { method: "POST", body });
    props.onDone();
  };
  return html`
    <section class="card decision" aria-labelledby="decision-h" data-call=${decision.callId}>
      <h2 id="decision-h">Decision needed</h2>
      <p>The call of <span class="mono">${decision.tool}</span> (step ${decision.step}) began, and
        the process stopped before its outcome was recorded. The tool is not idempotent: running
        it again could repeat its effect. Check what happened, then decide.</p>
      <pre aria-label="Arguments of the call">${pretty(decision.args)}</pre>
      <div class="row wrap">
        <${ConfirmAction} label="It succeeded"
          confirmText="Record that the call succeeded with this result; the execution goes on with it."
          run=${() => decide({ succeeded: parseResult(result) })}>
          <label>Result (JSON) <textarea rows="3" value=${result} onInput=${(e: Event) =>
            setResult((e.target as HTMLTextAreaElement).value)}></textarea></label>
          </${ConfirmAction}>
          <${ConfirmAction} label="It failed" danger reason
            confirmText="Record that the call failed; the agent sees the failure with your reason."
            run=${(reason: string) => {
              if (reason.trim() === "") {
                throw new Error("Say why the call failed (the agent sees it)");
              }
              return decide({ failed: reason.trim() });
            }} />
          <${ConfirmAction} label="Run it again"
            confirmText="Run the call again? Only when you know its effect did not happen."
            run=${() => decide({ rerun: true })} />
          </div>
          </section>
  `;
}
