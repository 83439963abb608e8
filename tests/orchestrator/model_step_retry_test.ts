// A step that fails on a model call that failed for good is not retried as a
// step: the model layer made its own attempts, and a step retry would send
// the call again as many times more (or again a call that cannot succeed).
import assert from "node:assert/strict";
import { Orchestrator } from "../../src/orchestrator/orchestrator.ts";
import { startLocalModelServer } from "../_support/model_server.ts";

const CALLER = new URL("../../bench/_llm_caller.ts", import.meta.url);

for (
  const [what, reply, sent] of [
    ["a provider answering 500 each time", { status: 500 }, 2],
    ["a refused key (401)", { status: 401 }, 1],
  ] as const
) {
  Deno.test(`a model call failed for good by ${what} is sent ${sent} time(s), not again by step retries`, async () => {
    await using server = startLocalModelServer({ apiKey: "sk-step-retry", respond: () => reply });
    const orchestrator = new Orchestrator({
      agents: [{ name: "llm-caller", module: CALLER }],
      models: {
        providers: { openai: { apiKey: "sk-step-retry", baseURL: server.baseURL } },
        maxAttempts: 2,
        backoff: { minMs: 1, maxMs: 5 },
      },
      retry: { attempts: 3, initialDelayMs: 1 },
    });
    try {
      const report = await orchestrator.run("llm-caller", { calls: 1, stream: false });
      assert.equal(report.status, "FAILED");
      assert.equal(report.error?.code, "STEP_FAILED", JSON.stringify(report.error));
      assert.equal(server.requests.length, sent, "requests the provider received");
      const events = await orchestrator.eventStore.readRange(report.executionId);
      assert.equal(events.filter((e) => e.type === "STEP_FAILED").length, 1);
    } finally {
      await orchestrator.close();
    }
  });
}
