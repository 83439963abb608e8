import assert from "node:assert/strict";
import {
  costUsd,
  DEFAULT_PRICES,
  modelCost,
  priceKeys,
  priceOf,
  resolvePrices,
} from "../../src/model/prices.ts";

Deno.test("cost is uncached input, cached input and output tokens, each at its price per million", () => {
  // gpt-4o: 2.50 in, 1.25 cached, 10 out.
  const usage = { inputTokens: 3_000, cachedInputTokens: 1_000, outputTokens: 500 };
  assert.equal(costUsd("openai:gpt-4o", usage), (2_000 * 2.5 + 1_000 * 1.25 + 500 * 10) / 1e6);
  assert.equal(costUsd("openai:gpt-4o", usage), 0.01125);
  // claude-sonnet-4: 3 in, 0.30 cached, 15 out.
  assert.equal(
    costUsd("anthropic:claude-sonnet-4", {
      inputTokens: 10_000,
      cachedInputTokens: 8_000,
      outputTokens: 1_000,
    }),
    0.0234,
  );
  assert.deepEqual(modelCost("openai:gpt-4o-mini", { inputTokens: 1e6, outputTokens: 1e6 }), {
    usd: 0.75,
    priced: true,
  });
});

Deno.test("cached tokens beyond the input count are capped and a missing cached price is the input price", () => {
  const prices = resolvePrices({ "x:m": { inputPerMTok: 1, outputPerMTok: 2 } });
  assert.equal(
    costUsd("x:m", { inputTokens: 100, cachedInputTokens: 50, outputTokens: 0 }, prices),
    100 / 1e6,
  );
  assert.equal(
    costUsd("openai:gpt-4o", { inputTokens: 100, cachedInputTokens: 500, outputTokens: 0 }),
    100 * 1.25 / 1e6,
  );
});

Deno.test("dated and -latest variants take the listed model's price, other names are not guessed", () => {
  assert.equal(
    priceOf("anthropic:claude-3-5-haiku-latest"),
    DEFAULT_PRICES["anthropic:claude-3-5-haiku"],
  );
  assert.equal(
    priceOf("anthropic:claude-3-5-haiku-20241022"),
    DEFAULT_PRICES["anthropic:claude-3-5-haiku"],
  );
  assert.equal(
    priceOf("anthropic:claude-opus-4-1-20250805"),
    DEFAULT_PRICES["anthropic:claude-opus-4-1"],
  );
  assert.equal(priceOf("openai:gpt-4o-mini-2024-07-18"), DEFAULT_PRICES["openai:gpt-4o-mini"]);
  assert.equal(priceOf("openai:gpt-4o-2024-08-06"), DEFAULT_PRICES["openai:gpt-4o"]);
  assert.equal(priceOf("openai:gpt-4o-audio-preview"), undefined, "no prefix guess");
  assert.equal(priceOf("anthropic:gpt-4o"), undefined, "a price is per provider");
});

Deno.test("local and unknown models cost 0 and are reported as not priced", () => {
  const usage = { inputTokens: 5_000, outputTokens: 5_000 };
  assert.deepEqual(modelCost("ollama:llama3.2", usage), { usd: 0, priced: false });
  assert.deepEqual(modelCost("vllm:qwen2.5", usage), { usd: 0, priced: false });
  assert.deepEqual(modelCost("openai:gpt-9", usage), { usd: 0, priced: false });
});

Deno.test("a price table overrides the built-in prices, by provider:model or by bare model name", () => {
  const prices = resolvePrices({
    "openai:gpt-4o": { inputPerMTok: 1, outputPerMTok: 1 },
    "llama3.2": { inputPerMTok: 0.01, outputPerMTok: 0.02, cachedInputPerMTok: 0 },
  });
  assert.equal(costUsd("openai:gpt-4o", { inputTokens: 1e6, outputTokens: 1e6 }, prices), 2);
  assert.deepEqual(modelCost("ollama:llama3.2", { inputTokens: 1e6, outputTokens: 1e6 }, prices), {
    usd: 0.03,
    priced: true,
  });
  assert.equal(costUsd("openai:gpt-4o-mini", { inputTokens: 1e6, outputTokens: 0 }, prices), 0.15);
  assert.equal(DEFAULT_PRICES["openai:gpt-4o"]?.inputPerMTok, 2.5, "the defaults are untouched");
});

Deno.test("an OpenAI-compatible server's model takes a price keyed by its full id, its canonical id or its name", () => {
  const price = { inputPerMTok: 1, outputPerMTok: 2 };
  const usage = { inputTokens: 1e6, outputTokens: 1e6 };
  for (const key of ["openai-compatible:local:my-model", "local:my-model", "my-model"]) {
    assert.deepEqual(modelCost("local:my-model", usage, { [key]: price }), {
      usd: 3,
      priced: true,
    });
  }
  assert.deepEqual(priceKeys("local:my-model-latest"), [
    "openai-compatible:local:my-model-latest",
    "local:my-model-latest",
    "my-model-latest",
    "openai-compatible:local:my-model",
    "local:my-model",
    "my-model",
  ]);
  assert.deepEqual(
    priceKeys("openai:gpt-4o"),
    ["openai:gpt-4o", "gpt-4o"],
    "no such key for openai",
  );
});

Deno.test("resolvePrices names the model and field of a bad price", () => {
  assert.throws(
    () => resolvePrices({ "openai:gpt-4o": { inputPerMTok: -1, outputPerMTok: 1 } }),
    /Invalid prices\["openai:gpt-4o"\]\.inputPerMTok -1: expected a number >= 0/,
  );
  assert.throws(
    // deno-lint-ignore no-explicit-any
    () => resolvePrices({ m: { inputPerMTok: 1, outputPerMTok: "2" as any } }),
    /Invalid prices\["m"\]\.outputPerMTok "2"/,
  );
  assert.throws(
    () => resolvePrices({ m: { inputPerMTok: 1, outputPerMTok: 1, cachedInputPerMTok: NaN } }),
    RangeError,
  );
});
