/**
 * The host-side model layer: model ids, providers on the Vercel AI SDK
 * (OpenAI, Anthropic, Ollama and OpenAI-compatible servers), one model call
 * with retries that honour `Retry-After`, prices and per-provider rate limits.
 * Model calls run in the host, so an agent's worker needs no network
 * permission and never sees a key.
 *
 * @example Call a model and price the call
 * ```ts
 * import { callModel, ModelProviders } from "./mod.ts";
 * import { startLocalModelServer } from "./local_model_server.ts";
 *
 * await using server = startLocalModelServer();
 * server.script({ text: "Paris", usage: { inputTokens: 1_000, outputTokens: 1 } });
 * const providers = new ModelProviders({
 *   openai: { apiKey: "sk-local", baseURL: server.baseURL },
 *   env: () => undefined,
 * });
 * const result = await callModel(
 *   { model: "openai:gpt-4o-mini", system: "Answer in one word.", prompt: "Capital of France?" },
 *   { providers },
 * );
 * console.assert(result.text === "Paris" && result.usage.totalTokens === 1_001);
 * console.assert(result.costUsd > 0 && result.priced);
 * ```
 *
 * Loading it needs `--allow-sys` (`--allow-sys=hostname` is enough): the
 * AI SDK reads the hostname as it loads.
 *
 * @module
 */
// Before the AI SDK loads: without `sys` permission, an error naming the flag.
import "./_sys_permission_check.ts";

export {
  callModel,
  type CallModelOptions,
  type ModelCallRequest,
  type ModelCallResult,
  type ModelMessage,
  type ModelOutputSchema,
  type ModelRetry,
  type ModelTool,
  type ModelToolCall,
  type ModelUsage,
} from "./model_call.ts";
export {
  ModelCallError,
  type ModelCallErrorInit,
  type ModelFailureReason,
} from "./model_errors.ts";
export { BUILTIN_PROVIDERS, type ModelId, parseModelId } from "./model_id.ts";
export {
  costUsd,
  DEFAULT_PRICES,
  type ModelCost,
  modelCost,
  type ModelPrice,
  type PricedUsage,
  priceOf,
  type PriceTable,
  resolvePrices,
} from "./prices.ts";
export {
  type CompatibleProviderSettings,
  ModelProviders,
  type ModelProvidersOptions,
  type ProviderSettings,
  type ResolvedModel,
} from "./providers.ts";
export {
  InProcessRateLimiter,
  type RateLimiter,
  type RateLimitPermit,
  type RateLimitRequest,
  type RateLimits,
  type RateLimitStats,
} from "./rate_limits.ts";
