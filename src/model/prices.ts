/**
 * What model calls cost: a built-in price table for common OpenAI and
 * Anthropic models, in USD per million tokens (input, output, cached input),
 * overridable by a table from the config file. Models of local servers
 * (Ollama, OpenAI-compatible) and unknown models cost 0 and are reported as
 * not priced, unless the table names them.
 *
 * @example
 * ```ts
 * import { modelCost } from "./prices.ts";
 * const cost = modelCost("openai:gpt-4o-mini", { inputTokens: 1_000_000, outputTokens: 0 });
 * console.assert(cost.priced && cost.usd === 0.15);
 * ```
 *
 * @module
 */
import { BUILTIN_PROVIDERS } from "./model_id.ts";

/** Prices of one model, in USD per million tokens. */
export interface ModelPrice {
  /** Per million input tokens that were not read from a cache. */
  inputPerMTok: number;
  /** Per million output tokens. */
  outputPerMTok: number;
  /** Per million input tokens read from the provider's prompt cache. @default {inputPerMTok} */
  cachedInputPerMTok?: number;
}

/**
 * Prices by model: keys are `provider:model` (one provider; for an
 * OpenAI-compatible server `<name>:<model>` or
 * `openai-compatible:<name>:<model>`) or a bare model name (any provider). A dated or `-latest` variant of a listed model
 * (`gpt-4o-2024-08-06`, `claude-3-5-haiku-latest`) takes its price.
 */
export type PriceTable = Record<string, ModelPrice>;

/** Token counts to price; `inputTokens` includes `cachedInputTokens`. */
export interface PricedUsage {
  /** All input tokens, cached ones included. */
  inputTokens: number;
  /** Output tokens. */
  outputTokens: number;
  /** Input tokens read from the provider's prompt cache. @default {0} */
  cachedInputTokens?: number;
}

/** The cost of a call. */
export interface ModelCost {
  /** Cost in USD; 0 when the model is not priced. */
  usd: number;
  /** Whether the price table knows the model. */
  priced: boolean;
}

const p = (input: number, output: number, cached: number): ModelPrice => ({
  inputPerMTok: input,
  outputPerMTok: output,
  cachedInputPerMTok: cached,
});

/**
 * Built-in prices, USD per million tokens (input, output, cached input).
 * Source: the providers' public price pages as of 2026 (openai.com/api/pricing,
 * anthropic.com/pricing); standard tier, no batch discount, cache writes
 * priced as input. Override them with the config file's price table.
 */
export const DEFAULT_PRICES: Readonly<PriceTable> = Object.freeze({
  "openai:gpt-4o": p(2.5, 10, 1.25),
  "openai:gpt-4o-mini": p(0.15, 0.6, 0.075),
  "openai:gpt-4.1": p(2, 8, 0.5),
  "openai:gpt-4.1-mini": p(0.4, 1.6, 0.1),
  "openai:gpt-4.1-nano": p(0.1, 0.4, 0.025),
  "openai:o3": p(2, 8, 0.5),
  "openai:o3-mini": p(1.1, 4.4, 0.55),
  "openai:o4-mini": p(1.1, 4.4, 0.275),
  "openai:gpt-5": p(1.25, 10, 0.125),
  "openai:gpt-5-mini": p(0.25, 2, 0.025),
  "openai:gpt-5-nano": p(0.05, 0.4, 0.005),
  "anthropic:claude-3-haiku": p(0.25, 1.25, 0.03),
  "anthropic:claude-3-5-haiku": p(0.8, 4, 0.08),
  "anthropic:claude-3-5-sonnet": p(3, 15, 0.3),
  "anthropic:claude-3-7-sonnet": p(3, 15, 0.3),
  "anthropic:claude-haiku-4-5": p(1, 5, 0.1),
  "anthropic:claude-sonnet-4": p(3, 15, 0.3),
  "anthropic:claude-sonnet-4-5": p(3, 15, 0.3),
  "anthropic:claude-opus-4": p(15, 75, 1.5),
  "anthropic:claude-opus-4-1": p(15, 75, 1.5),
  "anthropic:claude-opus-4-5": p(5, 25, 0.5),
});

// Suffixes naming a snapshot of a listed model: -latest, -20241022, -2024-08-06, -0.
const VARIANT = /-(?:latest|\d{8}|\d{4}-\d{2}-\d{2}|0)$/;

/**
 * Merges `overrides` over the built-in prices and validates every entry.
 *
 * @param overrides Prices from the config file.
 * @returns The merged table.
 * @throws {RangeError} Naming the model and field of a price that is not a number >= 0.
 *
 * @example
 * ```ts
 * import { resolvePrices } from "./prices.ts";
 * const prices = resolvePrices({ "ollama:llama3.2": { inputPerMTok: 0.01, outputPerMTok: 0.02 } });
 * console.assert(prices["openai:gpt-4o"] !== undefined);
 * ```
 */
export function resolvePrices(overrides: PriceTable = {}): PriceTable {
  for (const [model, price] of Object.entries(overrides)) {
    for (const field of ["inputPerMTok", "outputPerMTok", "cachedInputPerMTok"] as const) {
      const value = price?.[field];
      if (field === "cachedInputPerMTok" && value === undefined) continue;
      if (typeof value !== "number" || !Number.isFinite(value) || value < 0) {
        throw new RangeError(
          `Invalid prices["${model}"].${field} ${JSON.stringify(value)}: expected a number >= 0`,
        );
      }
    }
  }
  return { ...DEFAULT_PRICES, ...overrides };
}

/**
 * The keys under which {@linkcode priceOf} looks for a model's price, in
 * order: `provider:model` (and, for an OpenAI-compatible server, the full
 * `openai-compatible:<name>:<model>` before it), then the bare model name;
 * then the same for the model without a snapshot suffix (`-latest`, a date).
 *
 * @param modelId A `provider:model` id, or `openai-compatible:<name>:<model>`.
 * @returns The keys looked up, most specific first.
 *
 * @example
 * ```ts
 * import { priceKeys } from "./prices.ts";
 * console.assert(priceKeys("vllm:llama-latest").join() ===
 *   "openai-compatible:vllm:llama-latest,vllm:llama-latest,llama-latest," +
 *     "openai-compatible:vllm:llama,vllm:llama,llama");
 * ```
 */
export function priceKeys(modelId: string): string[] {
  const colon = modelId.indexOf(":");
  const provider = colon < 0 ? "" : modelId.slice(0, colon);
  // A configured OpenAI-compatible server's canonical id is `<name>:<model>`;
  // its price may be keyed by the id the agent wrote, `openai-compatible:<name>:<model>`.
  const compatible = provider !== "" && !BUILTIN_PROVIDERS.includes(provider);
  const keys: string[] = [];
  let model = modelId.slice(colon + 1);
  while (true) {
    if (compatible) keys.push(`openai-compatible:${provider}:${model}`);
    if (provider) keys.push(`${provider}:${model}`);
    keys.push(model);
    const base = model.replace(VARIANT, "");
    if (base === model) return keys;
    model = base;
  }
}

/**
 * The price of a model: the first of its {@linkcode priceKeys} the table
 * has — an exact `provider:model` entry (for an OpenAI-compatible server,
 * `openai-compatible:<name>:<model>` too), else a bare model entry, else the
 * same for the model without a snapshot suffix.
 *
 * @param modelId A `provider:model` id.
 * @param prices The price table. @default {DEFAULT_PRICES}
 * @returns The price, or `undefined` when the model is not priced.
 *
 * @example
 * ```ts
 * import { priceOf } from "./prices.ts";
 * console.assert(priceOf("anthropic:claude-3-5-haiku-20241022")?.outputPerMTok === 4);
 * console.assert(priceOf("ollama:llama3.2") === undefined);
 * ```
 */
export function priceOf(
  modelId: string,
  prices: Readonly<PriceTable> = DEFAULT_PRICES,
): ModelPrice | undefined {
  for (const key of priceKeys(modelId)) {
    if (Object.hasOwn(prices, key) && prices[key]) return prices[key];
  }
  return undefined;
}

/**
 * What a call with `usage` costs: uncached input, cached input and output
 * tokens, each at its price.
 *
 * @param modelId A `provider:model` id.
 * @param usage The token counts.
 * @param prices The price table. @default {DEFAULT_PRICES}
 * @returns The cost in USD and whether the model is priced.
 *
 * @example
 * ```ts
 * import { modelCost } from "./prices.ts";
 * const cost = modelCost("ollama:llama3.2", { inputTokens: 500, outputTokens: 20 });
 * console.assert(cost.usd === 0 && !cost.priced);
 * ```
 */
export function modelCost(
  modelId: string,
  usage: PricedUsage,
  prices: Readonly<PriceTable> = DEFAULT_PRICES,
): ModelCost {
  const price = priceOf(modelId, prices);
  if (!price) return { usd: 0, priced: false };
  const cached = Math.min(usage.cachedInputTokens ?? 0, usage.inputTokens);
  const usd = ((usage.inputTokens - cached) * price.inputPerMTok +
    cached * (price.cachedInputPerMTok ?? price.inputPerMTok) +
    usage.outputTokens * price.outputPerMTok) / 1_000_000;
  return { usd: Math.round(usd * 1e12) / 1e12, priced: true };
}

/**
 * The cost of a call in USD, 0 for a model that is not priced.
 *
 * @param modelId A `provider:model` id.
 * @param usage The token counts.
 * @param prices The price table. @default {DEFAULT_PRICES}
 * @returns The cost in USD.
 *
 * @example
 * ```ts
 * import { costUsd } from "./prices.ts";
 * console.assert(costUsd("openai:gpt-4o", { inputTokens: 0, outputTokens: 1_000_000 }) === 10);
 * ```
 */
export function costUsd(
  modelId: string,
  usage: PricedUsage,
  prices: Readonly<PriceTable> = DEFAULT_PRICES,
): number {
  return modelCost(modelId, usage, prices).usd;
}
