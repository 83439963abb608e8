// The console's reading of the Prometheus text format: samples, sums by a
// label, and histogram quantiles as histogram_quantile computes them.
import assert from "node:assert/strict";
import { parseMetrics, quantiles, rates, sumBy } from "../../src/console/metrics.ts";
import { OaoMetrics } from "../../src/api/metrics.ts";

const TEXT = `# HELP oao_executions_total Executions finished, by final status
# TYPE oao_executions_total counter
oao_executions_total{status="SUCCESS"} 7
oao_executions_total{status="FAILED"} 2
oao_step_duration_seconds_bucket{state="EXECUTE",le="0.1"} 2
oao_step_duration_seconds_bucket{state="EXECUTE",le="1"} 8
oao_step_duration_seconds_bucket{state="EXECUTE",le="+Inf"} 10
oao_step_duration_seconds_bucket{state="PLAN",le="0.1"} 4
oao_step_duration_seconds_bucket{state="PLAN",le="1"} 4
oao_step_duration_seconds_bucket{state="PLAN",le="+Inf"} 4
odd_label{text="a \\"quoted\\" value"} 1
`;

Deno.test("the console parses samples with their labels, escaped quotes included", () => {
  const samples = parseMetrics(TEXT);
  assert.equal(samples.length, 9);
  assert.deepEqual(samples.at(-1), {
    name: "odd_label",
    labels: { text: 'a "quoted" value' },
    value: 1,
  });
  assert.deepEqual([...sumBy(samples, "oao_executions_total", "status")], [
    ["SUCCESS", 7],
    ["FAILED", 2],
  ]);
});

Deno.test("histogram quantiles interpolate within the bucket, as Prometheus does", () => {
  const samples = parseMetrics(TEXT);
  // EXECUTE: rank 5 of 10 lies in (0.1, 1] holding 6: 0.1 + 0.9 * (3 / 6).
  const p50 = quantiles(samples, "oao_step_duration_seconds", "state", 0.5);
  assert.ok(Math.abs(p50.get("EXECUTE")! - 0.55) < 1e-9, String(p50.get("EXECUTE")));
  assert.ok(Math.abs(p50.get("PLAN")! - 0.05) < 1e-9, String(p50.get("PLAN")));
  // Beyond the last finite bucket: its upper bound.
  const p95 = quantiles(samples, "oao_step_duration_seconds", "state", 0.95);
  assert.equal(p95.get("EXECUTE"), 1);
});

Deno.test("rates per minute by status come from two readings of the counter", () => {
  const before = { at: 0, counts: new Map([["SUCCESS", 4], ["FAILED", 1]]) };
  const after = { at: 30_000, counts: new Map([["SUCCESS", 10], ["FAILED", 1], ["CANCELLED", 1]]) };
  assert.deepEqual([...rates(before, after)], [["SUCCESS", 12], ["FAILED", 0], ["CANCELLED", 2]]);
});

Deno.test("the console reads what the server's metrics registry writes", async () => {
  const metrics = new OaoMetrics();
  metrics.observe({ type: "EXECUTION_COMPLETED", executionId: "e1", time: 0, data: {} } as never);
  const samples = parseMetrics(await metrics.render());
  assert.equal(sumBy(samples, "oao_executions_total", "status").get("SUCCESS"), 1);
});
