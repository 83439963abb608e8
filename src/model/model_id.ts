/**
 * Model ids: the usual `provider:model` strings (`openai:gpt-4o-mini`,
 * `anthropic:claude-3-5-haiku-latest`, `ollama:llama3.2`), plus
 * `openai-compatible:<name>:<model>` or `<name>:<model>` for an
 * OpenAI-compatible server configured under `<name>` (vLLM, LM Studio, …).
 *
 * @example
 * ```ts
 * import { parseModelId } from "./model_id.ts";
 * const id = parseModelId("ollama:llama3.2:3b");
 * console.assert(id.provider === "ollama" && id.model === "llama3.2:3b");
 * ```
 *
 * @module
 */

/** The providers every node knows, before any configured OpenAI-compatible server. */
export const BUILTIN_PROVIDERS: readonly string[] = Object.freeze([
  "openai",
  "anthropic",
  "ollama",
  "openai-compatible",
]);

/** A parsed model id. */
export interface ModelId {
  /** The provider: `"openai"`, `"anthropic"`, `"ollama"` or a configured compatible name. */
  provider: string;
  /** The provider's model name, e.g. `"gpt-4o-mini"`; may itself contain `:`. */
  model: string;
  /** Canonical `provider:model` form. */
  id: string;
}

/**
 * Parses a `provider:model` string.
 *
 * @param text The model id, e.g. `"openai:gpt-4o-mini"`.
 * @param compatible Names of configured OpenAI-compatible servers, usable as providers.
 * @returns The provider, the model and the canonical id.
 * @throws {TypeError} When `text` is not a string.
 * @throws {RangeError} When it has no provider or no model, or names an unknown provider;
 * the message lists the known providers.
 *
 * @example
 * ```ts
 * import { parseModelId } from "./model_id.ts";
 * const id = parseModelId("openai-compatible:vllm:meta/llama-3.1-8b", ["vllm"]);
 * console.assert(id.provider === "vllm" && id.id === "vllm:meta/llama-3.1-8b");
 * ```
 */
export function parseModelId(text: unknown, compatible: readonly string[] = []): ModelId {
  if (typeof text !== "string") {
    throw new TypeError(
      `Cannot parse model id ${_show(text)}: expected a "provider:model" string`,
    );
  }
  const known = [...BUILTIN_PROVIDERS, ...compatible];
  const fail = (why: string): never => {
    throw new RangeError(
      `Cannot parse model id "${text}": ${why} (known providers: ${
        known.map((k) => `"${k}"`).join(", ")
      })`,
    );
  };
  const colon = text.indexOf(":");
  if (colon < 0) fail('expected "provider:model", e.g. "openai:gpt-4o-mini"');
  let provider = text.slice(0, colon).trim();
  let model = text.slice(colon + 1).trim();
  if (!provider) fail("the provider is missing before the colon");
  if (provider === "openai-compatible") {
    const inner = model.indexOf(":");
    if (inner < 0) fail('expected "openai-compatible:<name>:<model>"');
    provider = model.slice(0, inner).trim();
    model = model.slice(inner + 1).trim();
    if (!compatible.includes(provider)) {
      fail(`no OpenAI-compatible provider is configured as "${provider}"`);
    }
  } else if (!known.includes(provider)) {
    fail(`unknown provider "${provider}"`);
  }
  if (!model) fail("the model name is missing after the provider");
  return { provider, model, id: `${provider}:${model}` };
}

function _show(value: unknown): string {
  if (value === undefined) return "undefined";
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return String(value);
  }
}
