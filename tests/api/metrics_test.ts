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

const EXEC_TOTALS = (tokens: number, steps = 1) => ({ steps, tokens, toolCalls: 0 });

/** A realistic stream of one process: executions with steps, tools, retries, passivation. */
function observeRealisticRun(metrics: OaoMetrics): void {
  const at = (executionId: string, type: string, data: Record<string, unknown>, tokens: number) =>
    metrics.observe({ type, time: 0, executionId, data, totals: EXEC_TOTALS(tokens) });
  at("e1", "EXECUTION_STARTED", { agent: "researcher" }, 0);
  at("e1", "STATE_ENTER", { state: "INIT" }, 0);
  at("e1", "STEP_COMPLETED", { state: "INIT", durationMs: 3 }, 0);
  at("e1", "STATE_ENTER", { state: "EXECUTE" }, 0);
  at("e1", "TOOL_CALL_SUCCESS", { tool: "fetch", durationMs: 41 }, 0);
  at("e1", "TOOL_CALL_FAILED", { tool: "fetch", durationMs: 1200 }, 0);
  at("e1", "IDEMPOTENT_TOOL_SKIPPED", { tool: "process_item" }, 0);
  at("e1", "STEP_FAILED", { state: "EXECUTE", attempt: 1 }, 0);
  at("e1", "RETRY_ATTEMPTED", { attempt: 1, delayMs: 5, reason: "step failed" }, 0);
  at("e1", "STEP_COMPLETED", { state: "EXECUTE", durationMs: 250 }, 120);
  at("e1", "EXECUTION_PASSIVATED", { state: "EXECUTE", waitingOn: ["sleep"] }, 120);
  at("e1", "EXECUTION_ACTIVATED", { state: "EXECUTE", passivatedMs: 1500 }, 120);
  at("e1", "EXECUTION_COMPLETED", { output: {}, durationMs: 2100 }, 150);
  at("e2", "EXECUTION_STARTED", { agent: "flaky" }, 0);
  metrics.observe({
    type: "ACTOR_FAILED",
    time: 0,
    executionId: "e2",
    data: { actor: "a", reason: "worker_died" },
  });
  metrics.observe({ type: "RETRY_ATTEMPTED", time: 0, data: { actor: "a", attempt: 1 } });
  metrics.observe({ type: "ACTOR_RESTARTED", time: 0, data: { actor: "a", incarnation: 2 } });
  at("e2", "POLICY_VIOLATION", { limit: "maxToolCalls" }, 30);
  at("e2", "STATE_ENTER", { state: "FAILED" }, 30);
  at("e2", "EXECUTION_FAILED", { error: {}, durationMs: 90 }, 30);
  at("e3", "EXECUTION_STARTED", { agent: "researcher" }, 0);
  at("e3", "EXECUTION_CANCELLED", { error: {}, durationMs: 15 }, 0);
  metrics.observeRequest({ method: "POST", route: "/executions", status: 202 }, 0.004);
  metrics.observeRequest({ method: "GET", route: "/executions/:id", status: 200 }, 0.001);
  metrics.observeRequest({ method: "GET", route: "/executions/:id/stream", status: 200 });
  metrics.observeRequest({ method: "PROPFIND", route: "unmatched", status: 404 }, 0.0002);
}

Deno.test("the rendered metrics pass `promtool check metrics` without lint findings", async () => {
  const metrics = new OaoMetrics({
    inFlight: () => Promise.resolve(2),
    queueStats: () => Promise.resolve({ waiting: 3, delayed: 1, inFlight: 2, dead: 0 }),
    actors: () => 4,
    pooledWorkers: () => 1,
  });
  observeRealisticRun(metrics);
  const text = await metrics.render();
  let child: Deno.ChildProcess;
  try {
    child = new Deno.Command("promtool", {
      args: ["check", "metrics"],
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
    assert.fail(
      'promtool not found: install the Debian package "prometheus" ' +
        "(apt-get install -y prometheus), which provides /usr/bin/promtool",
    );
  }
  const writer = child.stdin.getWriter();
  await writer.write(new TextEncoder().encode(text));
  await writer.close();
  const { code, stdout, stderr } = await child.output();
  const findings = new TextDecoder().decode(stdout) + new TextDecoder().decode(stderr);
  assert.equal(findings.trim(), "", `promtool findings:\n${findings}`);
  assert.equal(code, 0, "promtool check metrics exit code");
  // The text checked is the real one: every OAO metric with a value in it.
  const { samples } = parsePrometheus(text);
  assert.equal(value(samples, "oao_tokens_total"), 180);
  assert.equal(value(samples, "oao_pooled_workers"), 1);
});

Deno.test("prom-client's default process metrics have values in Deno", async () => {
  const metrics = new OaoMetrics();
  await metrics.render(); // the event-loop lag is measured after a scrape, shown by the next
  await new Promise((resolve) => setTimeout(resolve, 5));
  const { samples, types } = parsePrometheus(await metrics.render());
  for (
    const name of [
      "process_cpu_seconds_total",
      "process_start_time_seconds",
      "process_resident_memory_bytes",
      "process_open_fds",
      "nodejs_heap_size_used_bytes",
      "nodejs_heap_size_total_bytes",
      "nodejs_external_memory_bytes",
      "nodejs_eventloop_lag_seconds",
    ]
  ) {
    const v = value(samples, name);
    assert.ok(v !== undefined && v > 0, `${name} is ${v}, expected a positive value`);
  }
  const p99 = value(samples, "nodejs_eventloop_lag_p99_seconds");
  assert.ok(p99 !== undefined && p99 >= 0, `nodejs_eventloop_lag_p99_seconds is ${p99}`);
  assert.ok(
    samples.some((s) => s.name === "nodejs_heap_space_size_used_bytes" && s.value > 0),
    "heap spaces",
  );
  // Declared, though Deno delivers no "gc" performance entries to fill it.
  assert.equal(types.get("nodejs_gc_duration_seconds"), "histogram");
  assert.equal(types.get("process_resident_memory_bytes"), "gauge");
});

Deno.test("several OaoMetrics in one process count apart and each render the process metrics", async () => {
  const a = new OaoMetrics();
  const b = new OaoMetrics();
  a.observe({ type: "EXECUTION_STARTED", time: 0, executionId: "e", data: {} });
  const [textA, textB] = await Promise.all([a.render(), b.render()]);
  const parsedA = parsePrometheus(textA);
  const parsedB = parsePrometheus(textB);
  assert.equal(value(parsedA.samples, "oao_executions_started_total"), 1);
  assert.equal(value(parsedB.samples, "oao_executions_started_total"), 0);
  for (const { samples } of [parsedA, parsedB]) {
    const rss = samples.filter((s) => s.name === "process_resident_memory_bytes");
    assert.equal(rss.length, 1, "one process_resident_memory_bytes sample");
  }
});

Deno.test("HTTP labels stay bounded: 50 random methods and paths make at most 8 methods × their statuses", async () => {
  const metrics = new OaoMetrics();
  const known = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"];
  const random = () => crypto.randomUUID().replaceAll("-", "").slice(0, 6 + Math.random() * 20);
  const statuses = [404, 405, 200.7, Number.NaN, 1e9, -3];
  for (let i = 0; i < 50; i++) {
    const method = i % 10 === 0 ? known[i % known.length]! : random().toUpperCase();
    const path = `/${random()}/${random()}`;
    // What the server passes for a path no route matches.
    const route = path.startsWith("/executions/") ? "/executions/:id" : "unmatched";
    metrics.observeRequest({ method, route, status: statuses[i % statuses.length]! }, 0.001);
  }
  const { samples } = parsePrometheus(await metrics.render());
  const requests = samples.filter((s) => s.name === "oao_http_requests_total");
  const durations = samples.filter((s) => s.name === "oao_http_request_duration_seconds_count");
  assert.equal(requests.reduce((sum, s) => sum + s.value, 0), 50, "every request is counted");
  for (const s of requests) {
    assert.ok([...known, "other"].includes(s.labels.method!), `method "${s.labels.method}"`);
    assert.match(s.labels.status!, /^[1-5]\d\d$/);
    assert.equal(s.labels.route, "unmatched");
  }
  const seenStatuses = new Set(requests.map((s) => s.labels.status));
  assert.deepEqual([...seenStatuses].sort(), ["100", "200", "404", "405", "500", "599"]);
  assert.ok(requests.length <= 8 * seenStatuses.size, `${requests.length} request series`);
  assert.ok(durations.length <= 8, `${durations.length} duration series`);
  assert.ok(requests.filter((s) => s.labels.method === "other").length <= seenStatuses.size);
});

Deno.test("10,000 finished executions leave no token marks behind and their tokens are all counted", async () => {
  const metrics = new OaoMetrics();
  const finals = ["EXECUTION_COMPLETED", "EXECUTION_FAILED", "EXECUTION_CANCELLED"];
  const event = (i: number, type: string, tokens: number) =>
    metrics.observe({
      type,
      time: i,
      executionId: `exec-${i}`,
      data: { state: "EXECUTE", durationMs: 10 },
      totals: EXEC_TOTALS(tokens),
    });
  for (let i = 0; i < 10_000; i++) {
    event(i, "EXECUTION_STARTED", 0);
    event(i, "STEP_COMPLETED", 7);
  }
  assert.equal(metrics.trackedExecutions, 10_000, "executions in progress are followed");
  for (let i = 0; i < 10_000; i++) {
    if (i % 2 === 0) {
      event(i, "EXECUTION_PASSIVATED", 7);
      event(i, "EXECUTION_ACTIVATED", 7);
    }
    event(i, "STEP_COMPLETED", 9);
    event(i, finals[i % 3]!, 10);
  }
  assert.equal(metrics.trackedExecutions, 0, "token marks left after the final events");
  const { samples } = parsePrometheus(await metrics.render());
  assert.equal(value(samples, "oao_tokens_total"), 100_000);
});

Deno.test("a passivated execution is forgotten until its activation, which sets its baseline", async () => {
  const metrics = new OaoMetrics();
  const event = (type: string, tokens: number) =>
    metrics.observe({ type, time: 0, executionId: "e", data: {}, totals: EXEC_TOTALS(tokens) });
  event("EXECUTION_STARTED", 0);
  event("STEP_COMPLETED", 5);
  event("EXECUTION_PASSIVATED", 8);
  assert.equal(metrics.trackedExecutions, 0);
  event("EXECUTION_ACTIVATED", 8);
  assert.equal(metrics.trackedExecutions, 1);
  event("EXECUTION_COMPLETED", 12);
  const { samples } = parsePrometheus(await metrics.render());
  assert.equal(value(samples, "oao_tokens_total"), 12);
});

Deno.test("a final event without a duration is counted, not observed, and still drops its mark", async () => {
  const metrics = new OaoMetrics();
  metrics.observe({ type: "EXECUTION_STARTED", time: 0, executionId: "e", data: {} });
  metrics.observe({ type: "STEP_COMPLETED", time: 0, executionId: "e", data: { state: "X" } });
  metrics.observe({ type: "EXECUTION_FAILED", time: 0, executionId: "e", data: {} });
  assert.equal(metrics.trackedExecutions, 0);
  const { samples } = parsePrometheus(await metrics.render());
  assert.equal(value(samples, "oao_executions_total", { status: "FAILED" }), 1);
  assert.equal(
    value(samples, "oao_execution_duration_seconds_count", { status: "FAILED" }),
    undefined,
  );
  assert.equal(value(samples, "oao_step_duration_seconds_count", { state: "X" }), undefined);
});

Deno.test("scrape-time gauges read their sources; a failing source keeps the last value", async () => {
  let pooled = 3;
  let failing = false;
  const metrics = new OaoMetrics({
    inFlight: () => failing ? Promise.reject(new Error("redis down")) : Promise.resolve(5),
    actors: () => 7,
    pooledWorkers: () => {
      if (failing) throw new Error("pool closed");
      return pooled;
    },
  });
  let { samples, types } = parsePrometheus(await metrics.render());
  assert.equal(types.get("oao_pooled_workers"), "gauge");
  assert.equal(value(samples, "oao_pooled_workers"), 3);
  assert.equal(value(samples, "oao_executions_running"), 5);
  assert.equal(value(samples, "oao_actors"), 7);
  assert.equal(value(samples, "oao_queue_depth", { state: "dead" }), 0);
  pooled = 9;
  failing = true;
  ({ samples } = parsePrometheus(await metrics.render()));
  assert.equal(value(samples, "oao_pooled_workers"), 3);
  assert.equal(value(samples, "oao_executions_running"), 5);
  assert.match(await new OaoMetrics().render(), /^oao_pooled_workers 0$/m);
});

Deno.test("decisions and durable waits are counted: required decisions, waits by kind, signal waits by outcome", async () => {
  const metrics = new OaoMetrics();
  const at = (type: string, data: Record<string, unknown> = {}) =>
    metrics.observe({ type, time: 1, executionId: "e", data });
  at("DECISION_REQUIRED", { tool: "charge" });
  at("WAITING_FOR_SIGNAL", { name: "approved" });
  at("WAITING_FOR_SIGNAL", { name: "approved" });
  at("TIMER_STARTED", { until: 5 });
  at("SIGNAL_CONSUMED", { name: "approved" });
  at("SIGNAL_TIMED_OUT", { name: "approved" });
  const { samples } = parsePrometheus(await metrics.render());
  assert.equal(value(samples, "oao_decisions_required_total", {}), 1);
  assert.equal(value(samples, "oao_waits_total", { kind: "signal" }), 2);
  assert.equal(value(samples, "oao_waits_total", { kind: "timer" }), 1);
  assert.equal(value(samples, "oao_signal_waits_ended_total", { outcome: "taken" }), 1);
  assert.equal(value(samples, "oao_signal_waits_ended_total", { outcome: "timed_out" }), 1);
});
