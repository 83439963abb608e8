// The config file's "models" section: provider base URLs and the variables
// holding their keys, prices and rate limits — checked with errors naming
// the field, and used by `oao run` to call a model (the local model server)
// from an LLM agent, with the cost in the report.
import assert from "node:assert/strict";
import { type Command, parseCommandLine, UsageError } from "../../src/cli/_command.ts";
import { loadAgents, RUNTIME_ENV, RUNTIME_FLAGS } from "../../src/cli/_runtime.ts";
import { modelOptions } from "../../src/cli/_models_config.ts";
import { ModelProviders } from "../../src/model/providers.ts";
import { ModelCallError } from "../../src/model/model_errors.ts";
import { Orchestrator } from "../../src/orchestrator/orchestrator.ts";
import { startLocalModelServer } from "../_support/model_server.ts";
import { oao } from "./_cli.ts";
import { testRedisUrl } from "../_support/test_redis.ts";
import { deleteByPrefix, rawClient, testPrefix } from "../redis/_redis_helpers.ts";

const command: Command = {
  name: "probe",
  summary: "",
  flags: RUNTIME_FLAGS,
  env: RUNTIME_ENV,
  run: () => 0,
};
const ASSISTANT = new URL("../../actors/assistant_agent.ts", import.meta.url).pathname;

async function withConfig(config: unknown, body: (path: string) => Promise<void>) {
  const dir = await Deno.makeTempDir();
  try {
    const path = `${dir}/oao.json`;
    await Deno.writeTextFile(path, JSON.stringify(config));
    await body(path);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

async function load(config: unknown) {
  let result: Awaited<ReturnType<typeof loadAgents>> | undefined;
  await withConfig(config, async (path) => {
    const ctx = parseCommandLine(command, ["--config", path, "--no-examples"], {
      env: () => undefined,
    });
    assert.ok(ctx !== "help");
    result = await loadAgents(ctx);
  });
  return result!;
}

Deno.test("a malformed models section is a usage error naming the field", async () => {
  const cases: [unknown, RegExp][] = [
    [[], /models must be an object/],
    [
      { limits: { opnai: { maxConcurrent: 2 } } },
      /models.limits.opnai: no provider is named "opnai" \(have: openai, anthropic, ollama\)/,
    ],
    [{ provider: {} }, /models has unknown key "provider"/],
    [
      { providers: { openai: { baseURL: "ftp://x" } } },
      /models.providers.openai.baseURL must be an http\(s\) URL, got "ftp:\/\/x"/,
    ],
    [
      { providers: { openai: { apiKey: "sk-live-123" } } },
      /models.providers.openai has unknown key "apiKey" \(expected "baseURL", "apiKeyEnv"\)/,
    ],
    [
      { providers: { anthropic: { apiKeyEnv: "sk-live-123456" } } },
      /models.providers.anthropic.apiKeyEnv must be the name of an environment variable/,
    ],
    [
      { providers: { compatible: { openai: { baseURL: "http://x/v1" } } } },
      /models.providers.compatible.openai: the name must be/,
    ],
    [
      { providers: { compatible: { vllm: {} } } },
      /models.providers.compatible.vllm.baseURL must be an http\(s\) URL, got undefined/,
    ],
    [
      { prices: { "openai:x": { inputPerMTok: -1, outputPerMTok: 1 } } },
      /models.prices\["openai:x"\].inputPerMTok must be a number >= 0, got -1/,
    ],
    [
      { limits: { openai: { maxConcurrent: 0 } } },
      /models.limits.openai.maxConcurrent must be an integer >= 1, got 0/,
    ],
    [{ maxAttempts: 1.5 }, /models.maxAttempts must be an integer >= 1, got 1.5/],
    [{ timeoutMs: "1s" }, /models.timeoutMs must be a number of ms > 0, got "1s"/],
  ];
  for (const [models, message] of cases) {
    await assert.rejects(load({ models }), (error: unknown) => {
      assert.ok(error instanceof UsageError, String(error));
      assert.match(error.message, /^Invalid config ".*oao\.json": /);
      assert.match(error.message, message);
      assert.ok(!error.message.includes("sk-live"), "a key pasted by mistake is not quoted");
      return true;
    });
  }
});

Deno.test("keys come from the variables the section names, base URLs and limits as written", async () => {
  const { models } = await load({
    models: {
      providers: {
        openai: { apiKeyEnv: "TEAM_OPENAI_KEY" },
        compatible: { vllm: { baseURL: "http://vllm:8000/v1", structuredOutputs: false } },
      },
      limits: { openai: { maxConcurrent: 2 } },
      prices: { "vllm:llama": { inputPerMTok: 0.1, outputPerMTok: 0.2 } },
    },
  });
  const env = (name: string) =>
    ({ TEAM_OPENAI_KEY: "sk-team-1234" } as Record<string, string>)[name];
  const options = modelOptions(models, env);
  assert.equal(options.providers?.openai?.apiKeyEnv, "TEAM_OPENAI_KEY");
  assert.deepEqual(new ModelProviders(options.providers).secrets(), ["sk-team-1234"]);
  assert.deepEqual(options.providers?.compatible, {
    vllm: { baseURL: "http://vllm:8000/v1", structuredOutputs: false },
  });
  assert.deepEqual(options.limits, { openai: { maxConcurrent: 2 } });
  assert.equal(options.prices?.["vllm:llama"]?.outputPerMTok, 0.2);
  assert.equal(options.providers?.env?.("TEAM_OPENAI_KEY"), "sk-team-1234");
});

Deno.test("an apiKeyEnv variable that is unset leaves the provider without a key: no fallback to OPENAI_API_KEY", async () => {
  const { models } = await load({
    models: { providers: { openai: { apiKeyEnv: "TEAM_OPENAI_KEY" } } },
  });
  const env = (name: string) =>
    ({ OPENAI_API_KEY: "sk-other-account-1234" } as Record<string, string>)[name];
  const providers = new ModelProviders(modelOptions(models, env).providers);
  assert.throws(() => providers.resolve("openai:gpt-4o-mini"), (error: unknown) => {
    assert.ok(error instanceof ModelCallError);
    assert.equal(error.reason, "missing_key");
    assert.match(error.message, /set TEAM_OPENAI_KEY \(the config file's "apiKeyEnv"\)/);
    return true;
  });
  const defaults = new ModelProviders({ env: () => undefined });
  assert.throws(
    () => defaults.resolve("openai:gpt-4o-mini"),
    /set OPENAI_API_KEY, or name the variable holding it in the config file \("apiKeyEnv"\)/,
  );
});

Deno.test("an empty OPENAI_BASE_URL stops the command at start naming it; an embedding gets a model error naming it", async () => {
  const cli = await oao(["run", "assistant", '"hi"'], { env: { OPENAI_BASE_URL: "" } });
  assert.equal(cli.code, 2, cli.stderr);
  assert.match(cli.stderr, /Invalid OPENAI_BASE_URL "": expected an http\(s\) URL/);
  // The AI SDK's module reads this process's variable as it loads, whatever the options say.
  Deno.env.set("ANTHROPIC_BASE_URL", "");
  const orchestrator = new Orchestrator({ agents: [{ name: "assistant", module: ASSISTANT }] });
  try {
    const report = await orchestrator.run("assistant", "hi");
    assert.equal(report.status, "FAILED");
    assert.match(
      report.error?.message ?? "",
      /ANTHROPIC_BASE_URL is set but empty: unset it for the provider's default URL/,
    );
  } finally {
    Deno.env.delete("ANTHROPIC_BASE_URL");
    await orchestrator.close();
  }
});

Deno.test("`oao run` runs an LLM agent against the model server of the config file and reports its cost", async () => {
  await using server = startLocalModelServer({ apiKey: "sk-team-5678" });
  server.script(
    { toolCalls: [{ name: "search", input: { query: "actors" } }] },
    { text: "Actors isolate failures.", usage: { inputTokens: 1_000, outputTokens: 100 } },
  );
  await withConfig({
    agents: [{ name: "assistant", module: ASSISTANT }],
    models: { providers: { openai: { baseURL: server.baseURL, apiKeyEnv: "TEAM_OPENAI_KEY" } } },
  }, async (path) => {
    const { code, stdout, stderr } = await oao(
      ["run", "assistant", '"What do actors do?"', "--config", path, "--max-cost-usd", "1"],
      { env: { TEAM_OPENAI_KEY: "sk-team-5678", OAO_LOG_LEVEL: "ERROR" } },
    );
    assert.equal(code, 0, stderr + stdout);
    assert.match(stdout, /model openai:gpt-4o-mini stop in \d+ ms: 1000 in, 100 out, \$0\.000210/);
    // The answer was streamed: its text came as it was written, under its call, before its end.
    assert.match(stdout, /\n {6}Actors isolate failures\.\n.*model openai:gpt-4o-mini stop/);
    assert.ok(server.requests.every((r) => r.stream));
    assert.match(stdout, /tool search ok/);
    assert.match(stdout, /tokens \d+, cost \$0\.\d{6}, \d+ ms/);
    assert.match(stdout, /output {2}"Actors isolate failures\."/);
    assert.ok(!stdout.includes("sk-team-5678") && !stderr.includes("sk-team-5678"));
    assert.equal(server.requests.length, 2);
  });
});

Deno.test("with REDIS_URL, the config's model limits are kept in Redis, shared by every node", async () => {
  const redisUrl = await testRedisUrl();
  const keyPrefix = testPrefix();
  await using server = startLocalModelServer({ apiKey: "sk-team-5678" });
  server.script({ text: "Shared limits." });
  try {
    await withConfig({
      agents: [{ name: "assistant", module: ASSISTANT }],
      models: {
        providers: { openai: { baseURL: server.baseURL, apiKeyEnv: "TEAM_OPENAI_KEY" } },
        limits: { openai: { maxConcurrent: 2, tokensPerMinute: 100_000 } },
      },
    }, async (path) => {
      const { code, stdout, stderr } = await oao(
        ["run", "assistant", '"Limits?"', "--config", path],
        {
          env: {
            TEAM_OPENAI_KEY: "sk-team-5678",
            OAO_LOG_LEVEL: "ERROR",
            REDIS_URL: redisUrl,
            OAO_KEY_PREFIX: keyPrefix,
          },
        },
      );
      assert.equal(code, 0, stderr + stdout);
    });
    const redis = await rawClient(redisUrl);
    try {
      const window = `${keyPrefix}{ratelimit:openai}:window`;
      assert.equal(await redis.zcard(window), 1, "the call took its slot in Redis");
      assert.equal(
        await redis.zcard(`${keyPrefix}{ratelimit:openai}:active`),
        0,
        "and gave it back",
      );
    } finally {
      redis.disconnect();
    }
  } finally {
    await deleteByPrefix(keyPrefix, redisUrl);
  }
});
