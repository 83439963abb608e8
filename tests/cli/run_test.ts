// `oao run`: live progress, the report, exit codes.
import assert from "node:assert/strict";
import { oao } from "./_cli.ts";

Deno.test("`run` prints each step and tool call as it happens, then the report, and exits 0", async () => {
  const { code, stdout, stderr } = await oao([
    "run",
    "researcher",
    '{"topic":"actors","sources":1}',
  ]);
  assert.equal(code, 0, stderr);
  const lines = stdout.split("\n");
  assert.match(lines[0]!, /^Running "researcher" as exec-/);
  const init = lines.findIndex((l) => l === "  step 1 INIT");
  const search = lines.findIndex((l) => /tool search ok/.test(l));
  const report = lines.findIndex((l) => /^SUCCESS {2}researcher/.test(l));
  assert.ok(init > 0 && search > init && report > search, stdout);
  assert.match(stdout, /states {2}INIT → PLAN → EXECUTE → REVIEW → TERMINATE/);
  assert.match(stderr, /OAO_STORE=memory: running on the in-memory stores/);
  assert.equal(stderr.trim().split("\n").length, 1, "one log line about the stores");
});

Deno.test("`run --json` prints only the report; a failed execution exits 1", async () => {
  const { code, stdout } = await oao([
    "run",
    "runaway",
    "{}",
    "--max-tool-calls",
    "2",
    "--json",
    "--id",
    "exec-cli-json",
  ]);
  assert.equal(code, 1);
  const report = JSON.parse(stdout);
  assert.equal(report.executionId, "exec-cli-json");
  assert.equal(report.status, "FAILED");
  assert.equal(report.error.code, "POLICY_VIOLATION");
  assert.equal(report.toolCalls, 2);
});

Deno.test("`run` reads the task from @file", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(`${dir}/task.json`, JSON.stringify({ items: 1 }));
    const { code, stdout } = await oao(["run", "flaky", `@${dir}/task.json`, "--quiet"]);
    assert.equal(code, 0);
    assert.doesNotMatch(stdout, /step 1 INIT/, "--quiet: no progress");
    assert.match(stdout, /output {2}\{"processed":1\}/);
    const missing = await oao(["run", "flaky", `@${dir}/nope.json`]);
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /cannot read/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
