// Policy usage against limits as bars: steps, tokens, tool calls, cost and
// time, each when the execution has the limit.
import { html } from "htm/preact";
import type { VNode } from "preact";
import { duration } from "../format.ts";

interface Usage {
  label: string;
  used: number;
  limit: number | null | undefined;
  show: (n: number) => string;
}

function Bar({ label, used, limit, show }: Usage): VNode {
  const ratio = limit ? Math.min(1, used / limit) : 0;
  const level = ratio >= 0.9 ? "high" : ratio >= 0.7 ? "mid" : "low";
  return html`
    <div class="usage">
      <div class="usage-label"><span>${label}</span><span>${show(used)} / ${limit
        ? show(limit)
        : "no limit"}</span></div>
      <div class="meter" role="meter" aria-label=${label} aria-valuemin="0" aria-valuemax=${limit ??
        0}
        aria-valuenow=${used}>
        <div class=${`meter-fill ${level}`} style=${{
          width: `${(ratio * 100).toFixed(1)}%`,
        }}></div>
      </div>
    </div>
  `;
}

/** The bars of an execution's status document. */
export function UsageBars(
  props: {
    totals: { steps: number; tokens: number; toolCalls: number; costUsd?: number };
    policy?: Record<string, unknown> | undefined;
    elapsedMs: number;
  },
): VNode {
  const p = props.policy ?? {};
  const num = (v: unknown) => (typeof v === "number" && Number.isFinite(v) ? v : undefined);
  const count = (n: number) => String(n);
  const bars: Usage[] = [
    { label: "Steps", used: props.totals.steps, limit: num(p.maxSteps), show: count },
    { label: "Tokens", used: props.totals.tokens, limit: num(p.maxTokens), show: count },
    { label: "Tool calls", used: props.totals.toolCalls, limit: num(p.maxToolCalls), show: count },
  ];
  if (props.totals.costUsd !== undefined || num(p.maxCostUsd) !== undefined) {
    bars.push({
      label: "Cost",
      used: props.totals.costUsd ?? 0,
      limit: num(p.maxCostUsd),
      show: (n) => `$${n.toFixed(4)}`,
    });
  }
  if (num(p.timeoutMs) !== undefined) {
    bars.push({ label: "Time", used: props.elapsedMs, limit: num(p.timeoutMs), show: duration });
  }
  return html`<section class="card" aria-labelledby="usage-h">
    <h2 id="usage-h">Policy usage</h2>
    ${bars.map((b) => html`<${Bar} key=${b.label} ...${b} />`)}
  </section>`;
}
