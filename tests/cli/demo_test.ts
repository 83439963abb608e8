// `deno task demo` as a user runs it: the task's permissions only, no Redis.
import assert from "node:assert/strict";
import { oao } from "./_cli.ts";
import { startOtlpReceiver } from "../_support/otlp_receiver.ts";

Deno.test("`demo` runs the five scenes with the task's permissions and exits 0", async () => {
  // REDIS_URL is ignored by the demo: a bad one must not matter.
  const { code, stdout, stderr } = await oao(["demo"], {
    env: { REDIS_URL: "redis://127.0.0.1:1" },
  });
  assert.equal(code, 0, `${stdout}\n${stderr}`);
  // Live progress of each scene.
  assert.match(stdout, /1\/5 .*researcher/);
  assert.match(stdout, /tool search ok in \d+ ms/);
  assert.match(stdout, /ACTOR_FAILED flaky \(worker_error\): simulated crash/);
  assert.match(stdout, /RETRY_ATTEMPTED attempt 1/);
  assert.match(stdout, /ACTOR_RESTARTED flaky incarnation 2 from its snapshot/);
  assert.match(stdout, /IDEMPOTENT_TOOL_SKIPPED process_item/);
  assert.match(stdout, /POLICY_VIOLATION maxToolCalls: 4 exceeds the maximum 3/);
  // The LLM scene, against the local model server the demo starts (no key, no network).
  assert.match(stdout, /model openai:gpt-4o-mini tool-calls in \d+ ms: \d+ in, \d+ out, \$/);
  assert.match(stdout, /model openai:gpt-4o-mini stop in \d+ ms/);
  // The reports.
  const reports = stdout.slice(stdout.indexOf("\nReports\n"));
  assert.match(reports, /SUCCESS {2}researcher {2}exec-/);
  assert.match(reports, /SUCCESS {2}flaky {2}exec-/);
  assert.match(reports, /FAILED {2}runaway {2}exec-/);
  assert.match(reports, /SUCCESS {2}assistant {2}exec-/);
  // The approval scene: what it waits for, then its approval through the HTTP API.
  assert.match(stdout, /APPROVAL_REQUESTED tool fetch \{"url":/);
  assert.match(stdout, /waits for approval of tool "fetch" \(call [0-9a-f]{12}/);
  assert.match(
    stdout,
    /POST \/executions\/exec-\S+\/approvals\/[0-9a-f]{12} \{"decision":"approve"/,
  );
  assert.match(stdout, /→ 202 approved by "demo-operator"/);
  assert.match(reports, /SUCCESS {2}researcher {2}exec-[\s\S]*SUCCESS {2}researcher {2}exec-/);
  assert.match(reports, /error {3}Policy limit "maxToolCalls" reached/);
  assert.doesNotMatch(reports, /unexpected/);
  // A readable timeline of the crash, from the event log.
  assert.match(stdout, /Timeline of exec-\S+ \(flaky\), from its event log/);
  assert.match(stdout, /\+\d+ ms {2}#1 +EXECUTION_STARTED agent "flaky"/);
  assert.match(stdout, /#\d+ +RETRY_ATTEMPTED/);
  assert.match(stdout, /Every scene ended as described/);
  assert.match(stdout, /the console at http:\/\/127\.0\.0\.1:8080\/ui/);
  assert.equal(stderr, "", "no log noise unless OAO_LOG_LEVEL is set");
});

Deno.test("`demo` exports its traces when OTEL_EXPORTER_OTLP_ENDPOINT is set", async () => {
  const receiver = await startOtlpReceiver();
  try {
    const { code, stderr } = await oao(["demo"], {
      env: { OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint, OTEL_SERVICE_NAME: "oao-demo-test" },
    });
    assert.equal(code, 0, stderr);
    // The demo flushed its spans before exiting: they are all here already.
    const names = new Set(receiver.spans().map((s) => s.name));
    for (
      const name of ["oao.execution", "oao.step.1", "oao.tool.search", "oao.tool.process_item"]
    ) {
      assert.ok(names.has(name), `${name} in ${[...names].join(", ")}`);
    }
  } finally {
    await receiver.close();
  }
});
