// `await using` an Orchestrator, as the README's tests do a TestOrchestrator.
import assert from "node:assert/strict";
import { Orchestrator } from "../../src/orchestrator/orchestrator.ts";

Deno.test("`await using` closes an orchestrator at the end of its scope", async () => {
  let closed: Orchestrator;
  {
    await using orchestrator = new Orchestrator();
    closed = orchestrator;
    orchestrator.registerAgent({ name: "bench", module: "actors/bench_agent.ts" });
  }
  await assert.rejects(closed.start("bench", { item: 1 }), /The orchestrator is closed/);
});
