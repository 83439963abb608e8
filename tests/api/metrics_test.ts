// /metrics is valid Prometheus text and counts what executions did.
import assert from "node:assert/strict";
import { startTestServer } from "./_server.ts";
import { OaoMetrics } from "../../src/api/metrics.ts";

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** Parses the Prometheus text format strictly enough to catch malformed output. */
function parsePrometheus(text: string): { samples: Sample[]; types: Map<string, string> } {
  const samples: Sample[] = [];
  const types = new Map<string, string>();
  for (const line of text.split("\n")) {
    if (line === "") continue;
    const type = /^# TYPE (\w+) (counter|gauge|histogram|summary|untyped)$/.exec(line);
    if (type) {
      types.set(type[1]!, type[2]!);
      continue;
    }
    if (/^# HELP \w+ .+$/.test(line)) continue;
    const sample = /^(\w+)(?:\{((?:\w+="(?:[^"\\]|\\.)*",?)*)\})? (-?[\d.e+-]+|\+Inf|NaN)$/.exec(
      line,
    );
    assert.ok(sample, `malformed line: ${line}`);
    const labels: Record<string, string> = {};
    for (const m of (sample[2] ?? "").matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[m[1]!] = m[2]!;
    samples.push({ name: sample[1]!, labels, value: Number(sample[3]) });
  }
  return { samples, types };
}

const value = (samples: Sample[], name: string, labels: Record<string, string> = {}) =>
  samples.find((s) =>
    s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v)
  )?.value;

Deno.test("/metrics counts executions by status, steps, tool calls, tokens, retries and restarts", async () => {
  await using api = await startTestServer();
  const ids: string[] = [];
  for (
    const request of [
      { agent: "researcher", task: { topic: "t", sources: 1 } },
      { agent: "flaky", task: { items: 3 } },
      { agent: "runaway", task: {}, policy: { maxToolCalls: 2 } },
    ]
  ) {
    const { body } = await api.call("POST", "/executions", { body: JSON.stringify(request) });
    ids.push(body.executionId);
  }
  for (const id of ids) await api.waitFor(id, (s) => s.status !== "RUNNING");
  const response = await api.call("GET", "/metrics");
  assert.equal(response.status, 200);
  assert.match(response.headers.get("content-type") ?? "", /^text\/plain; version=0\.0\.4/);
  const { samples, types } = parsePrometheus(response.text);
  assert.equal(types.get("oao_executions_total"), "counter");
  assert.equal(types.get("oao_execution_duration_seconds"), "histogram");
  assert.equal(value(samples, "oao_executions_started_total"), 3);
  assert.equal(value(samples, "oao_executions_total", { status: "SUCCESS" }), 2);
  assert.equal(value(samples, "oao_executions_total", { status: "FAILED" }), 1);
  assert.equal(value(samples, "oao_executions_running"), 0);
  assert.equal(value(samples, "oao_policy_violations_total", { limit: "maxToolCalls" }), 1);
  assert.equal(value(samples, "oao_actor_restarts_total"), 1);
  assert.equal(value(samples, "oao_retries_total", { kind: "actor_restart" }), 1);
  assert.equal(
    value(samples, "oao_tool_calls_total", { tool: "process_item", outcome: "skipped" }),
    2,
  );
  assert.equal(value(samples, "oao_tool_calls_total", { tool: "fetch", outcome: "success" }), 1);
  const statuses = await Promise.all(ids.map((id) => api.call("GET", `/executions/${id}`)));
  const tokens = statuses.reduce((sum, s) => sum + s.body.totals.tokens, 0);
  assert.equal(value(samples, "oao_tokens_total"), tokens);
  const steps = statuses.reduce((sum, s) => sum + s.body.totals.steps, 0);
  const counted = samples.filter((s) => s.name === "oao_steps_total").reduce(
    (a, s) => a + s.value,
    0,
  );
  assert.equal(counted, steps, "steps entered");
  assert.equal(value(samples, "oao_execution_duration_seconds_count", { status: "SUCCESS" }), 2);
  const inf = value(samples, "oao_execution_duration_seconds_bucket", {
    status: "SUCCESS",
    le: "+Inf",
  });
  assert.equal(inf, 2);
  assert.equal(value(samples, "oao_queue_depth", { state: "waiting" }), 0);
  assert.ok(value(samples, "oao_actors") !== undefined);
  assert.equal(
    value(samples, "oao_http_requests_total", {
      method: "POST",
      route: "/executions",
      status: "202",
    }),
    3,
  );
});

Deno.test("histogram buckets are cumulative and end with +Inf equal to the count", async () => {
  await using api = await startTestServer();
  const { body } = await api.call("POST", "/executions", {
    body: JSON.stringify({ agent: "flaky", task: { items: 1 } }),
  });
  await api.waitFor(body.executionId, (s) => s.status !== "RUNNING");
  const { samples } = parsePrometheus((await api.call("GET", "/metrics")).text);
  const buckets = samples.filter((s) =>
    s.name === "oao_step_duration_seconds_bucket" && s.labels.state === "EXECUTE"
  );
  assert.ok(buckets.length > 2);
  for (let i = 1; i < buckets.length; i++) assert.ok(buckets[i]!.value >= buckets[i - 1]!.value);
  assert.equal(buckets.at(-1)!.labels.le, "+Inf");
  assert.equal(
    buckets.at(-1)!.value,
    value(samples, "oao_step_duration_seconds_count", { state: "EXECUTE" }),
  );
});

Deno.test("/metrics counts passivations and activations of executions", async () => {
  const metrics = new OaoMetrics();
  const event = (type: string) => ({ type, time: 0, executionId: "e", data: {} });
  metrics.observe(event("EXECUTION_PASSIVATED"));
  metrics.observe(event("EXECUTION_ACTIVATED"));
  metrics.observe(event("EXECUTION_PASSIVATED"));
  const { samples, types } = parsePrometheus(await metrics.render());
  assert.equal(types.get("oao_passivations_total"), "counter");
  assert.equal(value(samples, "oao_passivations_total"), 2);
  assert.equal(value(samples, "oao_activations_total"), 1);
});
