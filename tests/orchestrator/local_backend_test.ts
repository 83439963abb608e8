// The monolithic node's backend, as a library: what its submit refuses.
import assert from "node:assert/strict";
import { LocalBackend } from "../../src/orchestrator/local_backend.ts";
import { testOrchestrator } from "./_helpers.ts";

Deno.test("LocalBackend.submit refuses an idempotency key under a prefix of the runtime's own jobs, naming the key and the prefix, and starts nothing", async () => {
  await using orchestrator = testOrchestrator();
  const backend = new LocalBackend(orchestrator);
  const reserved: [key: string, prefix: string][] = [
    ["oao-continue:exec-1@3", "oao-continue:"],
    ["migrated:job-1", "migrated:"],
  ];
  for (const [key, prefix] of reserved) {
    await assert.rejects(
      backend.submit({ agent: "tester", task: { calls: [] }, idempotencyKey: key }),
      (error: unknown) =>
        error instanceof TypeError &&
        error.message ===
          `Cannot submit with idempotency key "${key}": the prefix "${prefix}" is reserved for the runtime's own jobs; use another key`,
    );
  }
  assert.deepEqual(await orchestrator.eventStore.listExecutions(), []);
});
