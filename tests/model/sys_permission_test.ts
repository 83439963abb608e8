// The model layer needs `sys` permission as it loads (the AI SDK reads the
// hostname then): a process without it is told to grant --allow-sys, by the
// import of the model layer's entry point and by an embedded orchestrator's
// model call alike, instead of getting a stack trace from inside the SDK.
import assert from "node:assert/strict";

const ROOT = new URL("../../", import.meta.url).pathname;
const CHILD = new URL("./_no_sys_child.ts", import.meta.url).pathname;

async function runChild(mode: "import" | "call", sys: string[] = []) {
  const output = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--no-check",
      "--unstable-worker-options",
      "--allow-read",
      "--allow-env",
      ...sys,
      CHILD,
      mode,
    ],
    cwd: ROOT,
    env: { NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const decode = (bytes: Uint8Array) => new TextDecoder().decode(bytes);
  return { code: output.code, stdout: decode(output.stdout), stderr: decode(output.stderr) };
}

const NAMES_THE_FLAG =
  /Cannot load the model layer: the Vercel AI SDK reads the hostname as it loads, which needs --allow-sys \(--allow-sys=hostname is enough\)/;

Deno.test("importing the model layer without --allow-sys fails naming the flag", async () => {
  const { code, stdout, stderr } = await runChild("import");
  assert.notEqual(code, 0);
  assert.equal(stdout, "");
  assert.match(stderr, NAMES_THE_FLAG);
});

Deno.test("the model layer loads with --allow-sys=hostname alone", async () => {
  const { code, stdout, stderr } = await runChild("import", ["--allow-sys=hostname"]);
  assert.equal(code, 0, stderr);
  assert.equal(stdout.trim(), "loaded");
});

Deno.test("an embedded orchestrator's model call without --allow-sys fails the execution retryably, naming the flag", async () => {
  const { code, stdout, stderr } = await runChild("call");
  assert.equal(code, 0, stderr);
  const report = JSON.parse(stdout.trim().split("\n").at(-1)!);
  assert.equal(report.status, "FAILED");
  assert.equal(report.error.retryable, true, "the environment's failure, not the agent's");
  assert.match(report.error.message, NAMES_THE_FLAG);
});
