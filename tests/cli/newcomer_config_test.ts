// What a newcomer following the README writes in a config file and in the
// environment: a model price keyed by the agent's full model id
// (`openai-compatible:<name>:<model>`), and OAO_PASSIVATE_AFTER_MS=Infinity
// (the README's "`off` or `Infinity` to disable").
import assert from "node:assert/strict";
import { type Command, parseCommandLine, UsageError } from "../../src/cli/_command.ts";
import { createRuntime, RUNTIME_ENV, RUNTIME_FLAGS } from "../../src/cli/_runtime.ts";
import { startLocalModelServer } from "../_support/model_server.ts";
import type { ModelTask } from "../fixtures/model_agent.ts";

const command: Command = {
  name: "probe",
  summary: "",
  flags: RUNTIME_FLAGS,
  env: RUNTIME_ENV,
  run: () => 0,
};
const MODEL_AGENT = new URL("../fixtures/model_agent.ts", import.meta.url).pathname;

function context(argv: string[], vars: Record<string, string> = {}) {
  const env: Record<string, string> = { OAO_STORE: "memory", ...vars };
  const ctx = parseCommandLine(command, argv, { env: (name) => env[name] });
  assert.ok(ctx !== "help");
  return ctx;
}

Deno.test('a config file\'s price keyed "openai-compatible:local:my-model" prices the calls of an agent using that model', async () => {
  await using server = startLocalModelServer();
  server.script({ text: "priced", usage: { inputTokens: 10_000, outputTokens: 50 } });
  const dir = await Deno.makeTempDir();
  try {
    const path = `${dir}/oao.json`;
    await Deno.writeTextFile(
      path,
      JSON.stringify({
        agents: [{ name: "model-caller", module: MODEL_AGENT }],
        models: {
          providers: { compatible: { local: { baseURL: server.baseURL } } },
          prices: { "openai-compatible:local:my-model": { inputPerMTok: 1, outputPerMTok: 2 } },
        },
      }),
    );
    const runtime = await createRuntime(context(["--config", path, "--no-examples"]), {
      announce: false,
    });
    const orchestrator = runtime.createOrchestrator();
    try {
      const report = await orchestrator.run(
        "model-caller",
        {
          calls: [{ model: "openai-compatible:local:my-model", prompt: "hi", maxOutputTokens: 50 }],
        } satisfies ModelTask,
        { policy: { maxCostUsd: 1 } },
      );
      assert.equal(report.status, "SUCCESS", JSON.stringify(report.error));
      assert.equal(report.costUsd, 0.0101, "10,000 tokens in at $1/M, 50 out at $2/M");
    } finally {
      await orchestrator.close();
      await runtime.close();
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test('OAO_PASSIVATE_AFTER_MS accepts "Infinity" as it does "off"; anything else is refused naming both', async () => {
  for (const value of ["Infinity", "off", "0", "2500"]) {
    const runtime = await createRuntime(context([], { OAO_PASSIVATE_AFTER_MS: value }), {
      announce: false,
    });
    await runtime.close();
  }
  for (const value of ["-Infinity", "infinite", "1e3", "-1"]) {
    await assert.rejects(
      createRuntime(context([], { OAO_PASSIVATE_AFTER_MS: value }), { announce: false }),
      (error: unknown) => {
        assert.ok(error instanceof UsageError, String(error));
        assert.equal(
          error.message,
          `Invalid OAO_PASSIVATE_AFTER_MS "${value}": expected a whole number of ms, ` +
            `or "off" or "Infinity" to never passivate`,
        );
        return true;
      },
    );
  }
});
