// One execution: status, agent, policy usage, actions, output or error,
// the waterfall of its steps and tool calls, and the live timeline.
import { html } from "htm/preact";
import type { VNode } from "preact";
import { api } from "../api.ts";
import { StatusBadge } from "../components/status_badge.ts";
import { Timeline } from "../components/timeline.ts";
import { UsageBars } from "../components/usage_bars.ts";
import { Waterfall } from "../components/waterfall.ts";
import { duration, isFinal, pretty, time } from "../format.ts";
import { Link } from "../router.ts";
import { usePoll } from "../use_poll.ts";
import { useStream } from "../use_stream.ts";
import { DecisionPanel } from "./decision_panel.ts";
import { ExecutionActions } from "./execution_actions.ts";
import type { PendingDecision } from "../../orchestrator/execution_report.ts";

interface Status {
  executionId: string;
  status: string;
  agent?: string;
  version?: string;
  step: number;
  totals: { steps: number; tokens: number; toolCalls: number; costUsd?: number };
  policy?: Record<string, unknown>;
  startedAt?: number;
  finishedAt?: number;
  lastEventAt: number;
  error?: { name?: string; message: string };
  waitingFor?: { kind?: string } & Record<string, unknown>;
  decision?: PendingDecision;
  report?: { output?: unknown; error?: { message: string }; traceId?: string };
  task?: unknown;
}

function traceLink(template: string | null, traceId: string | undefined): VNode | string {
  if (!traceId) return "–";
  if (!template) return html`<span class="mono">${traceId}</span>`;
  return html`<a class="mono" href=${
    template.replaceAll("{traceId}", traceId)
  } target="_blank" rel="noopener noreferrer">${traceId}</a>`;
}

// What "Run again" submits: the agent, the task and the limits the policy sets.
function rerunOf(s: Status): { agent: string; task: unknown; policy?: unknown } | undefined {
  if (!s.agent || s.task === undefined) return undefined;
  const policy: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(s.policy ?? {})) {
    if (value !== null && !(Array.isArray(value) && value.length === 0)) policy[key] = value;
  }
  return { agent: s.agent, task: s.task, policy };
}

/** The page. */
export function Execution(props: { id: string; traceUrl: string | null }): VNode {
  const path = `/executions/${encodeURIComponent(props.id)}`;
  const status = usePoll(() => api<Status>(path), 1500, [props.id]);
  const stream = useStream(props.id);
  const s = status.data;
  if (!s) {
    return html`<main><h1 class="mono">${props.id}</h1>${
      status.error
        ? html`<p class="error" role="alert">${status.error}</p>`
        : html`<p class="muted">Loading…</p>`
    }</main>`;
  }
  const started = stream.events.find((e) => e.type === "EXECUTION_STARTED");
  const traceparent = started?.data?.traceparent;
  const traceId = s.report?.traceId ??
    (typeof traceparent === "string" ? traceparent.split("-")[1] : undefined);
  const completed = stream.events.filter((e) => e.type === "STEP_COMPLETED").map((_, i) => i + 1);
  const now = s.finishedAt ?? Date.now();
  const error = s.report?.error ?? s.error;
  return html`
    <main>
      <p>
        <${Link} href="/ui/executions">← Executions</${Link}></p>
        <h1 class="mono">${s.executionId}</h1>
        <dl class="facts card">
          <div><dt>Status</dt><dd><${StatusBadge} status=${s.status} /></dd></div>
          <div><dt>Agent</dt><dd>${s.agent ?? "–"}${s.version ? ` ${s.version}` : ""}</dd></div>
          <div><dt>Step</dt><dd>${s.step}</dd></div>
          <div><dt>Started</dt><dd>${time(s.startedAt)}</dd></div>
          <div><dt>Duration</dt><dd>${s.startedAt ? duration(now - s.startedAt) : "–"}</dd></div>
          <div><dt>Trace</dt><dd>${traceLink(props.traceUrl, traceId)}</dd></div>
          ${s.waitingFor
            ? html`
              <div>
                <dt>Waits for</dt>
                <dd>${s.waitingFor.kind ?? pretty(s.waitingFor)} ${s.waitingFor.kind === "approval"
                  ? html`(<${Link} href="/ui/approvals">approvals</${Link}>)`
                  : ""}</dd>
              </div>
            `
            : ""}
        </dl>
        ${status.error ? html`<p class="error" role="alert">${status.error}</p>` : ""}
        ${s.status === "NEEDS_DECISION" && s.decision
          ? html`<${DecisionPanel} key=${s.decision.callId} executionId=${s.executionId} decision=${s.decision} onDone=${status.reload} />`
          : ""}
        <div class="grid-2">
          <${UsageBars} totals=${s.totals} policy=${s.policy} elapsedMs=${s.startedAt
            ? now - s.startedAt
            : 0} />
          <${ExecutionActions} id=${s.executionId} status=${s
            .status} completedSteps=${completed} onDone=${status.reload} rerun=${rerunOf(s)} />
        </div>
        ${isFinal(s.status)
          ? html`
            <section class="card" aria-labelledby="result-h">
              <h2 id="result-h">${error ? "Error" : "Output"}</h2>
              <pre class=${error ? "error-box" : ""}>${error
                ? `${error.message}`
                : pretty(s.report?.output)}</pre>
            </section>
          `
          : ""}
        <section class="card" aria-labelledby="waterfall-h">
          <h2 id="waterfall-h">Steps and tool calls</h2>
          <${Waterfall} events=${stream.events} now=${isFinal(s.status) ? now : Date.now()} />
        </section>
        <${Timeline} events=${stream.events} ended=${stream.ended} />
      </main>
  `;
}
