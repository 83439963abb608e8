/**
 * The model providers of a node: resolves a `provider:model` id to an AI SDK
 * language model — OpenAI and Anthropic through their AI SDK providers,
 * Ollama and any configured OpenAI-compatible server (vLLM, LM Studio, …)
 * through `@ai-sdk/openai-compatible`. Keys and base URLs come from the
 * options (the config file) first, else from the providers' usual
 * environment variables. Every key is listed by
 * {@linkcode ModelProviders.secrets} so that the caller registers it for
 * redaction; no key is ever put in an error message.
 *
 * @example
 * ```ts
 * import { ModelProviders } from "./providers.ts";
 * const providers = new ModelProviders({
 *   openai: { apiKey: "sk-test", baseURL: "http://127.0.0.1:8080/v1" },
 *   env: () => undefined,
 * });
 * const { id } = providers.resolve("openai:gpt-4o-mini");
 * console.assert(id.provider === "openai" && providers.secrets()[0] === "sk-test");
 * ```
 *
 * @module
 */
import { createAnthropic } from "@ai-sdk/anthropic";
import { createOpenAI } from "@ai-sdk/openai";
import { createOpenAICompatible } from "@ai-sdk/openai-compatible";
import type { LanguageModel } from "ai";
import { type ModelId, parseModelId } from "./model_id.ts";
import { ModelCallError } from "./model_errors.ts";
import { httpUrl } from "../http_url.ts";

/** Settings of the OpenAI, Anthropic or Ollama provider. */
export interface ProviderSettings {
  /** API key. @default {the provider's environment variable, e.g. `OPENAI_API_KEY`} */
  apiKey?: string;
  /**
   * The environment variable holding the key, instead of the provider's own
   * (e.g. `OPENAI_API_KEY`): when it is unset, the provider has no key (it
   * does not fall back to the provider's own variable, which may hold
   * another account's key).
   */
  apiKeyEnv?: string;
  /** Base URL of the API, `/v1` included. @default {the provider's variable, else its public URL} */
  baseURL?: string;
  /** Extra request headers. Values of authorization-like headers count as secrets. */
  headers?: Record<string, string>;
}

/** Settings of an OpenAI-compatible server (vLLM, LM Studio, a proxy, …). */
export interface CompatibleProviderSettings {
  /** Base URL of its OpenAI-compatible API, `/v1` included. */
  baseURL: string;
  /** API key, when the server wants one. */
  apiKey?: string;
  /** Extra request headers. */
  headers?: Record<string, string>;
  /** Whether the server supports JSON-schema structured output. @default {true} */
  structuredOutputs?: boolean;
}

/** Options of {@linkcode ModelProviders}. */
export interface ModelProvidersOptions {
  /** OpenAI settings. Variables: `OPENAI_API_KEY`, `OPENAI_BASE_URL`. */
  openai?: ProviderSettings;
  /** Anthropic settings. Variables: `ANTHROPIC_API_KEY`, `ANTHROPIC_BASE_URL`. */
  anthropic?: ProviderSettings;
  /** Ollama settings (no key needed). Variable: `OLLAMA_BASE_URL`. */
  ollama?: ProviderSettings;
  /** OpenAI-compatible servers by name, used as `<name>:<model>`. */
  compatible?: Record<string, CompatibleProviderSettings>;
  /**
   * Reads an environment variable. @default {`Deno.env.get`, or nothing without env permission}
   */
  env?: (name: string) => string | undefined;
}

/** A model id resolved to an AI SDK language model. */
export interface ResolvedModel {
  /** The parsed id. */
  id: ModelId;
  /** The AI SDK language model. */
  model: LanguageModel;
}

interface _Settings {
  apiKey: string | undefined;
  baseURL: string;
  headers: Record<string, string>;
  keyVariable?: string;
  structuredOutputs?: boolean;
}

const DEFAULT_URLS = {
  openai: "https://api.openai.com/v1",
  anthropic: "https://api.anthropic.com/v1",
  ollama: "http://127.0.0.1:11434/v1",
} as const;

/** Resolves model ids to AI SDK language models, with keys from options or the environment. */
export class ModelProviders {
  #settings = new Map<string, _Settings>();
  #factories = new Map<string, (model: string) => LanguageModel>();
  #compatible: string[];

  /**
   * Reads the settings of every provider once, from `options` first, else the environment.
   *
   * @param options Provider settings and the environment reader.
   * @throws {RangeError} When a base URL is not an http(s) URL or a compatible server's
   * name is not usable (empty, with a colon, or a built-in provider's name).
   */
  constructor(options: ModelProvidersOptions = {}) {
    const env = options.env ?? _denoEnv;
    const builtin = (name: "openai" | "anthropic" | "ollama", prefix: string, keyed: boolean) => {
      const given = options[name] ?? {};
      const keyVariable = given.apiKeyEnv ?? `${prefix}_API_KEY`;
      this.#settings.set(name, {
        apiKey: given.apiKey ?? (keyed ? _nonEmpty(env(keyVariable)) : undefined),
        baseURL: _url(
          given.baseURL ?? _nonEmpty(env(`${prefix}_BASE_URL`)) ?? DEFAULT_URLS[name],
          `${name}.baseURL`,
        ),
        headers: { ...given.headers },
        ...(keyed ? { keyVariable } : {}),
      });
    };
    builtin("openai", "OPENAI", true);
    builtin("anthropic", "ANTHROPIC", true);
    builtin("ollama", "OLLAMA", false);
    this.#compatible = Object.keys(options.compatible ?? {});
    for (const [name, given] of Object.entries(options.compatible ?? {})) {
      if (
        !/^[A-Za-z0-9][\w.-]*$/.test(name) || this.#settings.has(name) ||
        name === "openai-compatible"
      ) {
        throw new RangeError(
          `Invalid compatible provider name "${name}": expected letters, digits, ".", "_" or "-", ` +
            `and not a built-in provider's name`,
        );
      }
      this.#settings.set(name, {
        apiKey: given.apiKey,
        baseURL: _url(given.baseURL, `compatible.${name}.baseURL`),
        headers: { ...given.headers },
        structuredOutputs: given.structuredOutputs ?? true,
      });
    }
  }

  /**
   * Names of the configured OpenAI-compatible servers.
   *
   * @returns The names usable as providers in model ids.
   */
  compatibleNames(): readonly string[] {
    return this.#compatible;
  }

  /**
   * Resolves a model id to an AI SDK language model.
   *
   * @param modelId A `provider:model` string, e.g. `"anthropic:claude-3-5-haiku-latest"`.
   * @returns The parsed id and the language model.
   * @throws {TypeError} When `modelId` is not a string.
   * @throws {RangeError} When it cannot be parsed or names an unknown provider.
   * @throws {ModelCallError} With reason `missing_key` when the provider needs a key and
   * none is configured; the message names the variable to set.
   *
   * @example
   * ```ts
   * import { ModelProviders } from "./providers.ts";
   * const providers = new ModelProviders({ env: () => undefined });
   * console.assert(providers.resolve("ollama:llama3.2").id.model === "llama3.2");
   * ```
   */
  resolve(modelId: string): ResolvedModel {
    const id = parseModelId(modelId, this.#compatible);
    const settings = this.#settings.get(id.provider)!;
    if (settings.keyVariable && !settings.apiKey) {
      throw new ModelCallError({
        model: id.id,
        reason: "missing_key",
        detail: `no API key for provider "${id.provider}": set ${settings.keyVariable}` +
          (settings.keyVariable === `${id.provider.toUpperCase()}_API_KEY`
            ? `, or name the variable holding it in the config file ("apiKeyEnv")`
            : ` (the config file's "apiKeyEnv")`),
      });
    }
    let factory = this.#factories.get(id.provider);
    if (!factory) {
      factory = _factory(id.provider, settings);
      this.#factories.set(id.provider, factory);
    }
    return { id, model: factory(id.model) };
  }

  /**
   * Every key and authorization header value known to these providers, for redaction.
   *
   * @returns The secret strings, without duplicates.
   *
   * @example
   * ```ts
   * import { ModelProviders } from "./providers.ts";
   * const providers = new ModelProviders({ env: (name) => name === "ANTHROPIC_API_KEY" ? "sk-ant" : undefined });
   * console.assert(providers.secrets().includes("sk-ant"));
   * ```
   */
  secrets(): string[] {
    const found = new Set<string>();
    for (const settings of this.#settings.values()) {
      if (settings.apiKey) found.add(settings.apiKey);
      for (const [name, value] of Object.entries(settings.headers)) {
        if (value && /auth|key|token|secret/i.test(name)) found.add(value);
      }
    }
    return [...found];
  }
}

function _factory(provider: string, settings: _Settings): (model: string) => LanguageModel {
  const { apiKey, baseURL, headers } = settings;
  switch (provider) {
    case "openai": {
      // The chat-completions API: what OpenAI-compatible proxies and OPENAI_BASE_URL servers speak.
      const openai = createOpenAI({ apiKey: apiKey!, baseURL, headers });
      return (model) => openai.chat(model);
    }
    case "anthropic": {
      const anthropic = createAnthropic({ apiKey: apiKey!, baseURL, headers });
      return (model) => anthropic(model);
    }
    default: {
      const compatible = createOpenAICompatible({
        name: provider,
        baseURL,
        headers,
        includeUsage: true,
        supportsStructuredOutputs: settings.structuredOutputs ?? true,
        ...(apiKey ? { apiKey } : {}),
      });
      return (model) => compatible.chatModel(model);
    }
  }
}

function _url(value: string, field: string): string {
  if (!httpUrl(value)) {
    throw new RangeError(`Invalid ${field} "${value}": expected an http(s) URL`);
  }
  return value.replace(/\/+$/, "");
}

function _nonEmpty(value: string | undefined): string | undefined {
  return value ? value : undefined;
}

function _denoEnv(name: string): string | undefined {
  try {
    if (Deno.permissions.querySync({ name: "env", variable: name }).state !== "granted") {
      return undefined;
    }
    return Deno.env.get(name);
  } catch {
    return undefined;
  }
}
