import assert from "node:assert/strict";
import { BUILTIN_PROVIDERS, parseModelId } from "../../src/model/model_id.ts";

Deno.test("parseModelId splits provider and model at the first colon", () => {
  assert.deepEqual(parseModelId("openai:gpt-4o-mini"), {
    provider: "openai",
    model: "gpt-4o-mini",
    id: "openai:gpt-4o-mini",
  });
  assert.deepEqual(
    parseModelId("anthropic:claude-3-5-haiku-latest").model,
    "claude-3-5-haiku-latest",
  );
  assert.deepEqual(parseModelId("ollama:llama3.2:3b"), {
    provider: "ollama",
    model: "llama3.2:3b",
    id: "ollama:llama3.2:3b",
  });
});

Deno.test("parseModelId takes a configured OpenAI-compatible server by name, with or without the prefix", () => {
  const long = parseModelId("openai-compatible:vllm:meta/llama-3.1-8b", ["vllm"]);
  const short = parseModelId("vllm:meta/llama-3.1-8b", ["vllm"]);
  assert.deepEqual(long, {
    provider: "vllm",
    model: "meta/llama-3.1-8b",
    id: "vllm:meta/llama-3.1-8b",
  });
  assert.deepEqual(short, long);
});

Deno.test("parseModelId rejects a non-string with a TypeError", () => {
  assert.throws(() => parseModelId(42), TypeError);
  assert.throws(() => parseModelId(undefined), /Cannot parse model id undefined/);
});

Deno.test("parseModelId errors name the bad string and list the known providers", () => {
  const known = BUILTIN_PROVIDERS.map((p) => `"${p}"`).join(", ");
  const cases: [string, RegExp][] = [
    ["gpt-4o", /expected "provider:model"/],
    [":gpt-4o", /the provider is missing/],
    ["openai:", /the model name is missing/],
    ["openai:  ", /the model name is missing/],
    ["mistral:large", /unknown provider "mistral"/],
    ["openai-compatible:vllm", /expected "openai-compatible:<name>:<model>"/],
    [
      "openai-compatible:lmstudio:qwen",
      /no OpenAI-compatible provider is configured as "lmstudio"/,
    ],
  ];
  for (const [text, why] of cases) {
    assert.throws(() => parseModelId(text, ["vllm"]), (error: unknown) => {
      assert.ok(error instanceof RangeError, text);
      assert.match(
        error.message,
        new RegExp(`^Cannot parse model id "${text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}"`),
      );
      assert.match(error.message, why);
      assert.ok(error.message.includes(`known providers: ${known}, "vllm"`), error.message);
      return true;
    });
  }
});
