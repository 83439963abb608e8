import assert from "node:assert/strict";
import { callModel } from "../../src/model/model_call.ts";
import { ModelCallError } from "../../src/model/model_errors.ts";
import { ModelProviders } from "../../src/model/providers.ts";
import { startLocalModelServer } from "../_support/model_server.ts";

const envOf = (vars: Record<string, string>) => (name: string) => vars[name];
const providerOf = (model: unknown) => (model as { provider: string; modelId: string });

Deno.test("model ids resolve to the AI SDK's OpenAI chat, Anthropic and OpenAI-compatible models", () => {
  const providers = new ModelProviders({
    env: envOf({ OPENAI_API_KEY: "sk-o", ANTHROPIC_API_KEY: "sk-a" }),
    compatible: { vllm: { baseURL: "http://127.0.0.1:8000/v1" } },
  });
  const cases: [string, string, string][] = [
    ["openai:gpt-4o-mini", "openai.chat", "gpt-4o-mini"],
    ["anthropic:claude-haiku-4-5", "anthropic.messages", "claude-haiku-4-5"],
    ["ollama:llama3.2:3b", "ollama.chat", "llama3.2:3b"],
    ["vllm:meta/llama", "vllm.chat", "meta/llama"],
    ["openai-compatible:vllm:meta/llama", "vllm.chat", "meta/llama"],
  ];
  for (const [id, provider, modelId] of cases) {
    const { model } = providers.resolve(id);
    assert.equal(providerOf(model).provider, provider, id);
    assert.equal(providerOf(model).modelId, modelId, id);
  }
  assert.deepEqual(providers.compatibleNames(), ["vllm"]);
});

Deno.test("a missing key is an error naming the variable to set, for OpenAI and Anthropic only", () => {
  const providers = new ModelProviders({ env: () => undefined });
  for (
    const [id, variable] of [["openai:gpt-4o", "OPENAI_API_KEY"], [
      "anthropic:claude-sonnet-4",
      "ANTHROPIC_API_KEY",
    ]]
  ) {
    assert.throws(() => providers.resolve(id!), (error: unknown) => {
      assert.ok(error instanceof ModelCallError);
      assert.equal(error.reason, "missing_key");
      assert.equal(error.retryable, false);
      assert.match(
        error.message,
        new RegExp(`^Cannot call model "${id}": no API key .*set ${variable}`),
      );
      return true;
    });
  }
  assert.equal(providers.resolve("ollama:llama3.2").id.provider, "ollama", "Ollama needs no key");
});

Deno.test("keys and base URLs come from the environment, and the options win over it", async () => {
  await using server = startLocalModelServer();
  const env = envOf({
    OPENAI_API_KEY: "sk-from-env",
    OPENAI_BASE_URL: server.baseURL,
    ANTHROPIC_API_KEY: "sk-ant-env",
    ANTHROPIC_BASE_URL: "http://127.0.0.1:1/v1",
    OLLAMA_BASE_URL: server.baseURL,
  });
  const fromEnv = new ModelProviders({ env });
  await callModel({ model: "openai:gpt-4o-mini", prompt: "a" }, { providers: fromEnv });
  await callModel({ model: "ollama:llama3.2", prompt: "b" }, { providers: fromEnv });
  const fromOptions = new ModelProviders({
    env,
    anthropic: { apiKey: "sk-ant-options", baseURL: server.baseURL },
  });
  await callModel({ model: "anthropic:claude-haiku-4-5", prompt: "c" }, { providers: fromOptions });
  assert.deepEqual(server.requests.map((r) => [r.api, r.model]), [
    ["openai", "gpt-4o-mini"],
    ["openai", "llama3.2"],
    ["anthropic", "claude-haiku-4-5"],
  ]);
  assert.equal(server.requests[0]!.headers.authorization, "Bearer sk-from-env");
  assert.equal(server.requests[1]!.headers.authorization, undefined, "no key is sent to Ollama");
  assert.equal(server.requests[2]!.headers["x-api-key"], "sk-ant-options");
});

Deno.test("an OpenAI-compatible server is called at its base URL with its optional key", async () => {
  await using server = startLocalModelServer({ apiKey: "lm-key" });
  const providers = new ModelProviders({
    env: () => undefined,
    compatible: { lmstudio: { baseURL: `${server.baseURL}/`, apiKey: "lm-key" } },
  });
  const result = await callModel({ model: "lmstudio:qwen2.5-7b", prompt: "Hi", stream: true }, {
    providers,
  });
  assert.equal(result.text, "Echo: Hi");
  assert.equal(result.providerName, "lmstudio");
  assert.equal(result.costUsd, 0);
  assert.equal(result.priced, false);
  assert.ok(result.usage.totalTokens > 0, "usage is asked for in streams too");
  assert.equal(server.requests[0]!.headers.authorization, "Bearer lm-key");
});

Deno.test("secrets() lists every key and authorization-like header, for redaction", () => {
  const providers = new ModelProviders({
    env: envOf({ OPENAI_API_KEY: "sk-env", OLLAMA_BASE_URL: "http://10.0.0.2:11434/v1" }),
    anthropic: { apiKey: "sk-ant" },
    compatible: {
      proxy: {
        baseURL: "https://proxy.example/v1",
        headers: { "X-Proxy-Token": "tok-1", "X-Trace": "t" },
      },
      vllm: { baseURL: "http://127.0.0.1:8000/v1", apiKey: "sk-env" },
    },
  });
  assert.deepEqual(providers.secrets().sort(), ["sk-ant", "sk-env", "tok-1"]);
});

Deno.test("bad provider settings are refused naming the field", () => {
  assert.throws(
    () => new ModelProviders({ env: () => undefined, openai: { baseURL: "api.openai.com" } }),
    /Invalid openai\.baseURL "api\.openai\.com": expected an http\(s\) URL/,
  );
  assert.throws(
    () => new ModelProviders({ env: envOf({ OLLAMA_BASE_URL: "ftp://x" }) }),
    /Invalid ollama\.baseURL "ftp:\/\/x"/,
  );
  assert.throws(
    () => new ModelProviders({ env: () => undefined, compatible: { vllm: { baseURL: "nope" } } }),
    /Invalid compatible\.vllm\.baseURL "nope"/,
  );
  assert.throws(
    () =>
      new ModelProviders({
        env: () => undefined,
        compatible: { openai: { baseURL: "http://x/v1" } },
      }),
    /Invalid compatible provider name "openai"/,
  );
});

// The AI SDK's provider modules read OPENAI_BASE_URL and ANTHROPIC_BASE_URL when
// they are imported (for their default instances): only those are granted.
Deno.test("without permission for a variable the providers read nothing and do not fail", async () => {
  const script = `
    import { ModelProviders } from ${
    JSON.stringify(new URL("../../src/model/providers.ts", import.meta.url).href)
  };
    const providers = new ModelProviders();
    let message = "";
    try { providers.resolve("openai:gpt-4o"); } catch (e) { message = e.message; }
    console.log(JSON.stringify({ ollama: providers.resolve("ollama:llama3.2").id.id, message }));
  `;
  const dir = await Deno.makeTempDir({ prefix: "oao-model-env-" });
  await Deno.writeTextFile(`${dir}/main.ts`, script);
  const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--no-prompt",
      "--allow-env=OPENAI_BASE_URL,ANTHROPIC_BASE_URL",
      "--config",
      new URL("../../deno.json", import.meta.url).pathname,
      `${dir}/main.ts`,
    ],
    env: { OPENAI_API_KEY: "sk-not-readable", NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output().finally(() => Deno.remove(dir, { recursive: true }));
  assert.equal(code, 0, new TextDecoder().decode(stderr));
  const out = JSON.parse(new TextDecoder().decode(stdout));
  assert.equal(out.ollama, "ollama:llama3.2");
  assert.match(out.message, /set OPENAI_API_KEY/);
});
