// The overview: small charts from the node's metrics (executions by final
// status, p50 and p95 step duration by state, retries by kind).
import { html } from "htm/preact";
import type { VNode } from "preact";
import { api } from "../api.ts";
import { BarChart } from "../components/bar_chart.ts";
import { duration } from "../format.ts";
import { parseMetrics, quantiles, rates, type Reading, sumBy } from "../metrics.ts";
import { usePoll } from "../use_poll.ts";

// Readings of the finished-executions counter while the console is open
// (kept across pages), for the rate per minute over the last minute or so.
const readings: Reading[] = [];

function perMinute(counts: Map<string, number>): [string, number][] {
  const now = Date.now();
  readings.push({ at: now, counts });
  while (readings.length > 2 && readings[1]!.at <= now - 60_000) readings.shift();
  if (readings.length < 2) return [];
  return [...rates(readings[0]!, readings.at(-1)!)];
}

/** The page. */
export function Overview(): VNode {
  const metrics = usePoll(async () => {
    const samples = parseMetrics(await api<string>("/metrics", { text: true }));
    return { samples, perMinute: perMinute(sumBy(samples, "oao_executions_total", "status")) };
  }, 5000);
  const m = metrics.data?.samples ?? [];
  const byStatus = [...sumBy(m, "oao_executions_total", "status")];
  const ms = (n: number) => duration(n * 1000);
  const p50 = [...quantiles(m, "oao_step_duration_seconds", "state", 0.5)];
  const p95 = [...quantiles(m, "oao_step_duration_seconds", "state", 0.95)];
  const retries = [...sumBy(m, "oao_retries_total", "kind")];
  const running = m.find((s) => s.name === "oao_executions_running")?.value;
  return html`<main>
    <h1>Overview</h1>
    ${metrics.error ? html`<p class="error" role="alert">${metrics.error}</p>` : ""}
    ${running !== undefined ? html`<p>Running now: <strong>${running}</strong></p>` : ""}
    <div class="charts">
      <${BarChart} title="Executions per minute, by status (last minute)" entries=${
    metrics.data
      ?.perMinute ?? []
  } classOf=${(s: string) => `status-${s.toLowerCase()}`} />
      <${BarChart} title="Executions finished, by status" entries=${byStatus}
        classOf=${(s: string) => `status-${s.toLowerCase()}`} />
      <${BarChart} title="Step duration p50, by state" entries=${p50} show=${ms} />
      <${BarChart} title="Step duration p95, by state" entries=${p95} show=${ms} />
      <${BarChart} title="Retries, by kind" entries=${retries} />
    </div>
  </main>`;
}
