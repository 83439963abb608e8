// Executions whose agents run in sandbox processes behave as in threads —
// tool calls, peers, crashes and restarts, events — and a runaway agent
// costs its sandbox process, retried from the log, never the orchestrator.
import assert from "node:assert/strict";
import { testOrchestrator } from "../orchestrator/_helpers.ts";
import { childrenOf, cpuTicks } from "./_proc.ts";

// CPU ticks of this process's children (the sandbox processes). This process
// itself is left out: other tests of the run may have left spinning threads.
function treeTicks(): number {
  return childrenOf(Deno.pid).reduce((sum, pid) => sum + cpuTicks(pid), 0);
}

Deno.test("an execution with tools and a peer succeeds with its agents in a sandbox process", async () => {
  await using orchestrator = testOrchestrator({ sandbox: "process" });
  assert.equal(orchestrator.sandbox, "process");
  const report = await orchestrator.run("researcher-with-critic", {
    topic: "actor systems",
    sources: 2,
  });
  assert.equal(report.status, "SUCCESS", JSON.stringify(report.error));
  assert.ok(report.toolCalls >= 3);
  const events = await orchestrator.eventStore.readRange(report.executionId);
  const started = events.filter((e) => e.type === "ACTOR_STARTED").map((e) => e.data?.actor);
  assert.ok(started.includes(`${report.executionId}/researcher-with-critic`), String(started));
  assert.ok(started.includes(`${report.executionId}/critic`), String(started));
  assert.deepEqual(orchestrator.system.actors, [], "no agent worker in the orchestrator's process");
});

Deno.test("a worker crash in a sandbox process is restarted by its supervisor and the step finishes", async () => {
  await using orchestrator = testOrchestrator({ sandbox: "process" });
  const report = await orchestrator.run("flaky", { items: 3 });
  assert.equal(report.status, "SUCCESS", JSON.stringify(report.error));
  const types = (await orchestrator.eventStore.readRange(report.executionId)).map((e) => e.type);
  assert.ok(types.includes("ACTOR_FAILED") && types.includes("ACTOR_RESTARTED"), String(types));
});

Deno.test("a runaway step costs its sandbox process; the execution fails and a concurrent one succeeds", async () => {
  await using orchestrator = testOrchestrator({
    sandbox: "process",
    retry: { attempts: 2, initialDelayMs: 5, maxDelayMs: 10 },
  });
  const started = Date.now();
  const [runaway, calm] = await Promise.all([
    orchestrator.run("tester", { busy: true }, { policy: { stepTimeoutMs: 1_000 } }),
    orchestrator.run("researcher", { topic: "calm", sources: 1 }),
  ]);
  assert.equal(runaway.status, "FAILED");
  assert.match(runaway.error?.message ?? "", /stepTimeoutMs|never yields|sandbox/);
  assert.ok(Date.now() - started < 20_000);
  assert.equal(calm.status, "SUCCESS", JSON.stringify(calm.error));
  // Nothing of the runaway is left: no sandbox process burns a core. One being
  // killed may take a moment to go; a spinner left behind burns every second.
  let spun = Infinity;
  for (let second = 0; second < 5 && spun >= 60; second++) {
    const before = treeTicks();
    await new Promise((r) => setTimeout(r, 1_000));
    spun = treeTicks() - before;
  }
  assert.ok(spun < 60, `no spinning thread is left (${spun} ticks in the last second)`);
  const after = await orchestrator.run("tester", {}, {});
  assert.equal(after.status, "SUCCESS");
});

Deno.test("an agent whose module is refused fails its execution before any sandbox process runs it", async () => {
  await using orchestrator = testOrchestrator({
    sandbox: "process",
    agents: [{
      name: "refused",
      module: "tests/fixtures/hostile/import_agent_refused.ts",
      version: "1.0.0",
    }],
  });
  const report = await orchestrator.run("refused", {});
  assert.equal(report.status, "FAILED");
  assert.match(
    report.error?.message ?? "",
    /deno\.json" is refused: it is outside the actor's root/,
  );
  assert.ok(!JSON.stringify(report).includes("@oao/runtime"), "no file contents in the report");
});
