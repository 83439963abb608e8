// The model calls of one orchestrator: its options checked at construction,
// one set of providers and one rate limiter for all its executions, and the
// model layer (the AI SDK, which needs `sys` and `env` permissions to load)
// imported on the first call only. Provider keys are registered with the log
// redaction as soon as they are read. Internal: the model gate of each run
// calls it (_model_gate.ts).
import { resolveBackoff } from "../backoff.ts";
import type { Clock } from "../clock.ts";
import { registerSecret } from "../logging/redaction.ts";
import type { CallModelOptions, ModelCallRequest, ModelCallResult } from "../model/model_call.ts";
import { type ModelId, parseModelId } from "../model/model_id.ts";
import { type ModelPrice, priceOf, type PriceTable, resolvePrices } from "../model/prices.ts";
import type { ModelProviders } from "../model/providers.ts";
import { InProcessRateLimiter, type RateLimiter } from "../model/rate_limits.ts";
import { assertSysPermission } from "../model/_sys_permission.ts";
import { DEFAULT_MODEL_TIMEOUT_MS, type ModelOptions } from "./model_options.ts";
import type { TextDelta } from "./_text_deltas.ts";

interface _Loaded {
  providers: ModelProviders;
  callModel: (request: ModelCallRequest, options: CallModelOptions) => Promise<ModelCallResult>;
}

/** What a call adds to the host's options. */
export interface ModelCallHooks {
  /** Aborts the call (the execution is cancelled or failed). */
  signal: AbortSignal;
  /** Called before each retry. */
  onRetry: NonNullable<CallModelOptions["onRetry"]>;
  /** Receives the text deltas of a streamed call. */
  onDelta?: (text: string) => void;
}

export class ModelHost {
  /** The price table: the built-in prices under the options'. */
  readonly prices: Readonly<PriceTable>;
  readonly #options: ModelOptions;
  readonly #clock: Clock;
  readonly #limiter: RateLimiter | undefined;
  readonly #compatible: string[];
  readonly #timeoutMs: number;
  #loaded: Promise<_Loaded> | undefined;
  readonly #watchers = new Set<(delta: TextDelta) => void>();

  /**
   * @param options The orchestrator's `models` option.
   * @param clock Clock of latencies, timeouts, retry waits and rate windows.
   * @throws {TypeError | RangeError} Naming the bad field (`models.<field>`).
   */
  constructor(options: ModelOptions | undefined, clock: Clock) {
    if (options !== undefined && (typeof options !== "object" || options === null)) {
      throw new TypeError(`Invalid models ${JSON.stringify(options)}: expected an object`);
    }
    const given = options ?? {};
    this.#options = given;
    this.#clock = clock;
    this.prices = Object.freeze(resolvePrices(given.prices));
    this.#limiter = given.rateLimiter ??
      (given.limits ? new InProcessRateLimiter(given.limits, { clock }) : undefined);
    const { maxAttempts, maxRetryAfterMs } = given;
    if (maxAttempts !== undefined && (!Number.isSafeInteger(maxAttempts) || maxAttempts < 1)) {
      throw new RangeError(
        `Invalid models.maxAttempts ${JSON.stringify(maxAttempts)}: expected an integer >= 1`,
      );
    }
    this.#timeoutMs = given.timeoutMs ?? DEFAULT_MODEL_TIMEOUT_MS;
    if (typeof this.#timeoutMs !== "number" || !(this.#timeoutMs > 0)) {
      throw new RangeError(
        `Invalid models.timeoutMs ${JSON.stringify(given.timeoutMs)}: expected a number of ms > 0`,
      );
    }
    if (maxRetryAfterMs !== undefined && !(maxRetryAfterMs >= 0)) {
      throw new RangeError(
        `Invalid models.maxRetryAfterMs ${JSON.stringify(maxRetryAfterMs)}: expected a number >= 0`,
      );
    }
    if (given.backoff !== undefined) resolveBackoff(given.backoff, "models.backoff");
    this.#compatible = Object.keys(given.providers?.compatible ?? {});
  }

  /**
   * Parses a model id against the configured providers.
   *
   * @throws {TypeError | RangeError} When it is not a known `provider:model`.
   */
  modelId(text: string): ModelId {
    return parseModelId(text, this.#compatible);
  }

  /**
   * Passes the text deltas of this orchestrator's streamed calls to `listener`.
   *
   * @returns Stops passing them.
   */
  watchDeltas(listener: (delta: TextDelta) => void): () => void {
    const own = (delta: TextDelta) => listener(delta);
    this.#watchers.add(own);
    return () => this.#watchers.delete(own);
  }

  /** Passes one delta to the watchers; a watcher's failure is its own. */
  emitDelta(delta: TextDelta): void {
    for (const watcher of this.#watchers) {
      try {
        watcher(delta);
      } catch {
        // Nothing to do: the call goes on.
      }
    }
  }

  /** The price of a model, or `undefined` when it is not priced. */
  price(modelId: string): ModelPrice | undefined {
    return priceOf(modelId, this.prices);
  }

  /**
   * Makes one call, with the orchestrator's providers, prices, limits and retries.
   *
   * @throws {ModelCallError} When it fails for good.
   * @throws {Deno.errors.NotCapable} When the model layer cannot be loaded for want of a
   *   permission (`--allow-sys`, `--allow-env`).
   */
  async call(request: ModelCallRequest, hooks: ModelCallHooks): Promise<ModelCallResult> {
    const { providers, callModel } = await this.#load();
    const o = this.#options;
    return await callModel(request, {
      providers,
      prices: this.prices,
      clock: this.#clock,
      signal: hooks.signal,
      onRetry: hooks.onRetry,
      ...(hooks.onDelta ? { onDelta: hooks.onDelta } : {}),
      ...(Number.isFinite(this.#timeoutMs) ? { timeoutMs: this.#timeoutMs } : {}),
      ...(o.maxAttempts === undefined ? {} : { maxAttempts: o.maxAttempts }),
      ...(o.backoff === undefined ? {} : { backoff: o.backoff }),
      ...(o.maxRetryAfterMs === undefined ? {} : { maxRetryAfterMs: o.maxRetryAfterMs }),
      ...(this.#limiter ? { rateLimiter: this.#limiter } : {}),
    });
  }

  // The model layer, loaded once; a failed load (a missing permission) is tried again next call.
  #load(): Promise<_Loaded> {
    if (!this.#loaded) {
      const loading = (async (): Promise<_Loaded> => {
        _refuseEmptyBaseUrls();
        assertSysPermission();
        const [{ ModelProviders }, { callModel }] = await Promise.all([
          import("../model/providers.ts"),
          import("../model/model_call.ts"),
        ]);
        const providers = new ModelProviders(this.#options.providers);
        // (A key of under 4 characters would redact ordinary text: it is no secret anyway.)
        for (const secret of providers.secrets()) if (secret.length >= 4) registerSecret(secret);
        return { providers, callModel };
      })();
      this.#loaded = loading;
      loading.catch(() => {
        if (this.#loaded === loading) this.#loaded = undefined;
      });
    }
    return this.#loaded;
  }
}

/** The providers' base-URL variables, read by the AI SDK's modules as they load. */
export const BASE_URL_VARIABLES = ["OPENAI_BASE_URL", "ANTHROPIC_BASE_URL", "OLLAMA_BASE_URL"];

/**
 * Refuses a base-URL variable of this process that is set but empty: the AI
 * SDK's provider module reads it as it loads (whatever the options say) and
 * fails with "baseURL must be a non-empty string", naming no variable, for
 * every provider at once.
 */
function _refuseEmptyBaseUrls(): void {
  const read = (name: string) => {
    try {
      const granted = Deno.permissions.querySync({ name: "env", variable: name });
      return granted.state === "granted" ? Deno.env.get(name) : undefined;
    } catch {
      return undefined;
    }
  };
  const empty = BASE_URL_VARIABLES.filter((name) => read(name) === "");
  if (empty.length > 0) {
    throw new TypeError(
      `${empty.join(" and ")} ${empty.length > 1 ? "are" : "is"} set but empty: unset ${
        empty.length > 1 ? "them" : "it"
      } for the provider's default URL, or set an http(s) URL`,
    );
  }
}
