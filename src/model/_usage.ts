// A provider's token counts made safe to add to budgets: what the AI SDK
// reports comes from the provider's JSON unchecked, so a negative, fractional
// or absurd count must not refill or blow up a budget.
import type { LanguageModelUsage } from "ai";
import type { ModelUsage } from "./model_call.ts";

/** The most tokens one count of one call may report; more is taken as this many. */
export const MAX_USAGE_TOKENS = 1_000_000_000;

/**
 * The usage of one call as non-negative integers: NaN, negative and
 * non-numbers count 0, fractions are rounded, counts are capped at
 * {@linkcode MAX_USAGE_TOKENS}; cached tokens are at most the input tokens
 * and the total at least input plus output.
 */
export function toModelUsage(usage: Partial<LanguageModelUsage> | undefined): ModelUsage {
  const inputTokens = tokenCount(usage?.inputTokens);
  const outputTokens = tokenCount(usage?.outputTokens);
  return {
    inputTokens,
    outputTokens,
    cachedInputTokens: Math.min(inputTokens, tokenCount(usage?.inputTokenDetails?.cacheReadTokens)),
    totalTokens: Math.max(tokenCount(usage?.totalTokens), inputTokens + outputTokens),
  };
}

/** A token count as a non-negative integer of at most {@linkcode MAX_USAGE_TOKENS}. */
export function tokenCount(value: unknown): number {
  if (typeof value !== "number" || !(value > 0)) return 0;
  return Math.min(MAX_USAGE_TOKENS, Math.round(value));
}
