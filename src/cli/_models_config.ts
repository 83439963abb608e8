/**
 * The `"models"` section of an agents config file: provider base URLs and
 * the names of the environment variables holding their keys (a key itself
 * is never written in the file), a price table over the built-in one,
 * per-provider rate limits, and each call's attempts and time limit. Checked
 * field by field, with errors naming the field; keys are read from the
 * environment when the orchestrator is made.
 *
 * ```json
 * "models": {
 *   "providers": {
 *     "openai": { "apiKeyEnv": "TEAM_OPENAI_KEY" },
 *     "ollama": { "baseURL": "http://gpu-box:11434/v1" },
 *     "compatible": { "vllm": { "baseURL": "http://vllm:8000/v1", "apiKeyEnv": "VLLM_KEY" } }
 *   },
 *   "prices": { "vllm:meta-llama/Llama-3.1-8B": { "inputPerMTok": 0.05, "outputPerMTok": 0.1 } },
 *   "limits": { "openai": { "maxConcurrent": 8, "requestsPerMinute": 500 } }
 * }
 * ```
 *
 * @example
 * ```ts
 * import { checkModelsConfig, modelOptions } from "./_models_config.ts";
 * const config = checkModelsConfig({ providers: { openai: { apiKeyEnv: "MY_KEY" } } });
 * const options = modelOptions(config, (name) => name === "MY_KEY" ? "sk-1234" : undefined);
 * console.assert(options.providers?.openai?.apiKey === "sk-1234");
 * ```
 *
 * @module
 */
import type { ModelOptions } from "../orchestrator/model_options.ts";
import { httpUrl } from "../http_url.ts";

/** Settings of one provider in the config file. */
export interface ProviderConfig {
  /** Base URL of its API, `/v1` included. */
  baseURL?: string;
  /** Name of the environment variable holding its API key. */
  apiKeyEnv?: string;
  /** OpenAI-compatible servers only: whether they support JSON-schema output. */
  structuredOutputs?: boolean;
}

/** The `"models"` section of a config file. */
export interface ModelsConfig {
  /** Providers: `openai`, `anthropic`, `ollama`, and OpenAI-compatible servers by name. */
  providers?: {
    openai?: ProviderConfig;
    anthropic?: ProviderConfig;
    ollama?: ProviderConfig;
    compatible?: Record<string, ProviderConfig & { baseURL: string }>;
  };
  /** Prices in USD per million tokens, by `provider:model` or model name. */
  prices?: Record<
    string,
    { inputPerMTok: number; outputPerMTok: number; cachedInputPerMTok?: number }
  >;
  /** Rate limits by provider. */
  limits?: Record<
    string,
    { maxConcurrent?: number; requestsPerMinute?: number; tokensPerMinute?: number }
  >;
  /** Attempts of one call. */
  maxAttempts?: number;
  /** Time limit of one attempt, in ms. */
  timeoutMs?: number;
}

const SECTION_KEYS = ["providers", "prices", "limits", "maxAttempts", "timeoutMs"];
const PROVIDER_KEYS = ["baseURL", "apiKeyEnv"];
const COMPATIBLE_KEYS = ["baseURL", "apiKeyEnv", "structuredOutputs"];
const PRICE_KEYS = ["inputPerMTok", "outputPerMTok", "cachedInputPerMTok"];
const LIMIT_KEYS = ["maxConcurrent", "requestsPerMinute", "tokensPerMinute"];
const NAME = /^[A-Za-z0-9][\w.-]*$/;
const VARIABLE = /^[A-Za-z_][A-Za-z0-9_]*$/;

/**
 * Checks the `"models"` section of a config file.
 *
 * @param value The section as parsed from JSON.
 * @returns The section, typed.
 * @throws {TypeError} With a message naming the bad field (`models.providers.openai.baseURL …`).
 *
 * @example
 * ```ts
 * import { checkModelsConfig } from "./_models_config.ts";
 * try {
 *   checkModelsConfig({ limits: { openai: { maxConcurrent: 0 } } });
 * } catch (error) {
 *   console.assert((error as Error).message.startsWith("models.limits.openai.maxConcurrent"));
 * }
 * ```
 */
export function checkModelsConfig(value: unknown): ModelsConfig {
  const section = _object(value, "models");
  _keys(section, "models", SECTION_KEYS);
  if (section.providers !== undefined) {
    const providers = _object(section.providers, "models.providers");
    _keys(providers, "models.providers", ["openai", "anthropic", "ollama", "compatible"]);
    for (const name of ["openai", "anthropic", "ollama"]) {
      if (providers[name] !== undefined) {
        _provider(providers[name], `models.providers.${name}`, false);
      }
    }
    if (providers.compatible !== undefined) {
      const compatible = _object(providers.compatible, "models.providers.compatible");
      for (const [name, settings] of Object.entries(compatible)) {
        const at = `models.providers.compatible.${name}`;
        if (
          !NAME.test(name) || ["openai", "anthropic", "ollama", "openai-compatible"].includes(name)
        ) {
          throw new TypeError(
            `${at}: the name must be letters, digits, ".", "_" or "-", and not a built-in provider's`,
          );
        }
        _provider(settings, at, true);
      }
    }
  }
  if (section.prices !== undefined) {
    for (const [model, price] of Object.entries(_object(section.prices, "models.prices"))) {
      const at = `models.prices["${model}"]`;
      const fields = _keys(_object(price, at), at, PRICE_KEYS);
      for (const field of PRICE_KEYS) {
        const n = fields[field];
        if (n === undefined && field === "cachedInputPerMTok") continue;
        if (typeof n !== "number" || !Number.isFinite(n) || n < 0) {
          throw new TypeError(`${at}.${field} must be a number >= 0, got ${JSON.stringify(n)}`);
        }
      }
    }
  }
  if (section.limits !== undefined) {
    const compatible = Object.keys(
      ((section.providers as Record<string, unknown> | undefined)?.compatible ?? {}) as object,
    );
    const known = ["openai", "anthropic", "ollama", ...compatible];
    for (const [provider, limits] of Object.entries(_object(section.limits, "models.limits"))) {
      const at = `models.limits.${provider}`;
      if (!known.includes(provider)) {
        // A typo here would silently mean no limit at all.
        throw new TypeError(
          `${at}: no provider is named "${provider}" (have: ${known.join(", ")})`,
        );
      }
      const fields = _keys(_object(limits, at), at, LIMIT_KEYS);
      for (const field of LIMIT_KEYS) {
        const n = fields[field];
        if (n !== undefined && (!Number.isSafeInteger(n) || (n as number) < 1)) {
          throw new TypeError(`${at}.${field} must be an integer >= 1, got ${JSON.stringify(n)}`);
        }
      }
    }
  }
  const { maxAttempts, timeoutMs } = section;
  if (
    maxAttempts !== undefined && (!Number.isSafeInteger(maxAttempts) || (maxAttempts as number) < 1)
  ) {
    throw new TypeError(
      `models.maxAttempts must be an integer >= 1, got ${JSON.stringify(maxAttempts)}`,
    );
  }
  if (
    timeoutMs !== undefined &&
    (typeof timeoutMs !== "number" || !(timeoutMs > 0) || !Number.isFinite(timeoutMs))
  ) {
    throw new TypeError(
      `models.timeoutMs must be a number of ms > 0, got ${JSON.stringify(timeoutMs)}`,
    );
  }
  return section as ModelsConfig;
}

/**
 * The orchestrator's model options from a checked section: keys read from
 * the variables it names, the providers' usual variables read through `env`.
 *
 * @param config The checked section (or nothing: the providers' variables only).
 * @param env Reads an environment variable.
 * @returns The options of `OrchestratorOptions.models`.
 *
 * @example
 * ```ts
 * import { modelOptions } from "./_models_config.ts";
 * const options = modelOptions(undefined, () => undefined);
 * console.assert(options.providers?.env?.("OPENAI_API_KEY") === undefined);
 * ```
 */
export function modelOptions(
  config: ModelsConfig | undefined,
  env: (name: string) => string | undefined,
): ModelOptions {
  const given = config?.providers ?? {};
  const settings = (p: ProviderConfig) => {
    const key = p.apiKeyEnv === undefined ? undefined : env(p.apiKeyEnv) || undefined;
    return {
      ...(p.baseURL === undefined ? {} : { baseURL: p.baseURL }),
      ...(key === undefined ? {} : { apiKey: key }),
    };
  };
  const providers: NonNullable<ModelOptions["providers"]> = { env };
  for (const name of ["openai", "anthropic", "ollama"] as const) {
    const p = given[name];
    // The provider reads its apiKeyEnv variable itself: unset, it has no key
    // (no fallback to its own variable, which may hold another account's key).
    if (p) {
      providers[name] = {
        ...(p.baseURL === undefined ? {} : { baseURL: p.baseURL }),
        ...(p.apiKeyEnv === undefined ? {} : { apiKeyEnv: p.apiKeyEnv }),
      };
    }
  }
  if (given.compatible) {
    providers.compatible = Object.fromEntries(
      Object.entries(given.compatible).map(([name, p]) => [name, {
        ...settings(p),
        baseURL: p.baseURL,
        ...(p.structuredOutputs === undefined ? {} : { structuredOutputs: p.structuredOutputs }),
      }]),
    );
  }
  return {
    providers,
    ...(config?.prices ? { prices: config.prices } : {}),
    ...(config?.limits ? { limits: config.limits } : {}),
    ...(config?.maxAttempts === undefined ? {} : { maxAttempts: config.maxAttempts }),
    ...(config?.timeoutMs === undefined ? {} : { timeoutMs: config.timeoutMs }),
  };
}

function _provider(value: unknown, at: string, compatible: boolean): void {
  const p = _keys(_object(value, at), at, compatible ? COMPATIBLE_KEYS : PROVIDER_KEYS);
  if (p.baseURL !== undefined || compatible) {
    if (!httpUrl(p.baseURL)) {
      throw new TypeError(`${at}.baseURL must be an http(s) URL, got ${JSON.stringify(p.baseURL)}`);
    }
  }
  if (
    p.apiKeyEnv !== undefined && (typeof p.apiKeyEnv !== "string" || !VARIABLE.test(p.apiKeyEnv))
  ) {
    // The value is not quoted: it may be a key pasted in by mistake.
    throw new TypeError(
      `${at}.apiKeyEnv must be the name of an environment variable holding the key (letters, digits and "_"; the key itself never goes in the file)`,
    );
  }
  if (p.structuredOutputs !== undefined && typeof p.structuredOutputs !== "boolean") {
    throw new TypeError(`${at}.structuredOutputs must be true or false`);
  }
}

function _object(value: unknown, at: string): Record<string, unknown> {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new TypeError(`${at} must be an object`);
  }
  return value as Record<string, unknown>;
}

function _keys(
  value: Record<string, unknown>,
  at: string,
  allowed: string[],
): Record<string, unknown> {
  for (const key of Object.keys(value)) {
    if (!allowed.includes(key)) {
      throw new TypeError(
        `${at} has unknown key "${key}" (expected ${allowed.map((k) => `"${k}"`).join(", ")})`,
      );
    }
  }
  return value;
}
