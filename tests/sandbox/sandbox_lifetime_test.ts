// A sandbox process never outlives its orchestrator: `oao start` killed with
// SIGKILL while an agent runs leaves no sandbox process behind.
import assert from "node:assert/strict";
import { oaoServer } from "../cli/_cli.ts";
import { alive, childrenOf } from "./_proc.ts";

Deno.test("`oao start` runs agents in a sandbox process that dies with it on SIGKILL", async () => {
  await using server = await oaoServer(["start", "--port", "0"]);
  const response = await fetch(`${server.url}/executions`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ agent: "researcher", task: { topic: "lifetime", sources: 2 } }),
  });
  assert.equal(response.status, 202, await response.text());
  let sandboxes: number[] = [];
  for (let i = 0; i < 200 && sandboxes.length === 0; i++) {
    sandboxes = childrenOf(server.child.pid);
    await new Promise((r) => setTimeout(r, 25));
  }
  assert.equal(sandboxes.length, 1, "one sandbox process for the researcher's group");
  const cmdline = await Deno.readTextFile(`/proc/${sandboxes[0]}/cmdline`);
  assert.ok(cmdline.includes("sandbox_child.ts"), cmdline.replaceAll("\0", " "));
  const environ = await Deno.readTextFile(`/proc/${sandboxes[0]}/environ`);
  assert.ok(!environ.includes("PATH="), "the sandbox process has a cleared environment");

  await server.stop("SIGKILL");
  const [sandbox] = sandboxes as [number];
  for (let i = 0; i < 200 && alive(sandbox); i++) await new Promise((r) => setTimeout(r, 25));
  assert.equal(alive(sandbox), false, "the sandbox process ended with its orchestrator");
});
