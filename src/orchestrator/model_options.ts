/**
 * How an orchestrator makes the model calls of its agents
 * (`ctx.generateText`): provider keys and base URLs, the price table the
 * `maxCostUsd` budget reads, per-provider rate limits, and each call's
 * attempts and time limit. One set of providers and one rate limiter serve
 * every execution of the orchestrator. The model layer (the AI SDK) is
 * loaded on the first model call, so an orchestrator whose agents make none
 * never loads it.
 *
 * @example
 * ```ts
 * import type { ModelOptions } from "./model_options.ts";
 * const models: ModelOptions = {
 *   providers: { ollama: { baseURL: "http://127.0.0.1:11434/v1" } },
 *   prices: { "ollama:llama3.2": { inputPerMTok: 0, outputPerMTok: 0 } },
 *   limits: { openai: { maxConcurrent: 4, requestsPerMinute: 500 } },
 * };
 * console.assert(models.limits?.openai?.maxConcurrent === 4);
 * ```
 *
 * @module
 */
import type { BackoffOptions } from "../backoff.ts";
import type { PriceTable } from "../model/prices.ts";
import type { ModelProvidersOptions } from "../model/providers.ts";
import type { RateLimiter, RateLimits } from "../model/rate_limits.ts";

/** Options of the model calls of an orchestrator (`OrchestratorOptions.models`). */
export interface ModelOptions {
  /**
   * Provider settings: API keys, base URLs, OpenAI-compatible servers.
   * @default {keys and base URLs from the providers' variables: OPENAI_API_KEY, OPENAI_BASE_URL, ANTHROPIC_API_KEY, ANTHROPIC_BASE_URL, OLLAMA_BASE_URL}
   */
  providers?: ModelProvidersOptions;
  /** Prices, USD per million tokens, over the built-in table. @default {DEFAULT_PRICES} */
  prices?: PriceTable;
  /**
   * Per-provider limits (concurrent requests, requests and tokens per
   * minute), shared by every execution of the orchestrator.
   * @default {no limits}
   */
  limits?: Record<string, RateLimits>;
  /** A limiter of your own (shared by several nodes), used instead of `limits`. */
  rateLimiter?: RateLimiter;
  /** Attempts of one call, the first included: 429, 5xx and network failures are retried. @default {4} */
  maxAttempts?: number;
  /** Time limit of one attempt, in ms (`Infinity`: none). @default {120000} */
  timeoutMs?: number;
  /** Backoff between attempts when the provider sends no `Retry-After`. @default {{ minMs: 1000, maxMs: 30000, factor: 2, jitter: 0.2 }} */
  backoff?: Partial<BackoffOptions>;
  /** A `Retry-After` longer than this fails the call instead of waiting, in ms. @default {60000} */
  maxRetryAfterMs?: number;
}

/** Default time limit of one attempt of a model call, in ms. */
export const DEFAULT_MODEL_TIMEOUT_MS = 120_000;
