/**
 * One model call, made in the host through the AI SDK: plain or streamed,
 * with tools the model may ask for (returned, never run) and structured
 * output from a JSON Schema. 429 and 5xx answers and failures before any
 * text are retried with exponential backoff that honours `Retry-After`; the
 * result is plain JSON (text, tool calls, object, usage, cost, latency) ready
 * to be journaled.
 *
 * @example
 * ```ts
 * import { callModel } from "./model_call.ts";
 * import { ModelProviders } from "./providers.ts";
 * import { startLocalModelServer } from "./local_model_server.ts";
 *
 * await using server = startLocalModelServer();
 * const providers = new ModelProviders({ ollama: { baseURL: server.baseURL }, env: () => undefined });
 * const result = await callModel({ model: "ollama:llama3.2", prompt: "Hi" }, { providers });
 * console.assert(result.text === "Echo: Hi" && result.costUsd === 0);
 * ```
 *
 * @module
 */
import type { ModelMessage } from "ai";
import { backoffDelay, type BackoffOptions, resolveBackoff } from "../backoff.ts";
import { type Clock, systemClock } from "../clock.ts";
import { type AttemptResult, runAttempt } from "./_attempt.ts";
import { classifyFailure } from "./_classify.ts";
import { estimateTokens, validateRequest } from "./_request.ts";
import { ModelCallError } from "./model_errors.ts";
import { DEFAULT_PRICES, modelCost, type PriceTable } from "./prices.ts";
import type { ModelProviders } from "./providers.ts";
import type { RateLimiter } from "./rate_limits.ts";

export type { ModelMessage } from "ai";

/** A tool the model may ask for; the call returns its requests, it never runs them. */
export interface ModelTool {
  /** Tool name: 1 to 64 letters, digits, `_` or `-`. */
  name: string;
  /** What the tool does, for the model. */
  description?: string;
  /** JSON Schema of the tool's input. */
  inputSchema: Record<string, unknown>;
}

/** A structured answer to ask for. */
export interface ModelOutputSchema {
  /** JSON Schema the answer must match. */
  schema: Record<string, unknown>;
  /** Name of the answer, a hint for some providers. */
  name?: string;
  /** Description of the answer, a hint for some providers. */
  description?: string;
}

/** One model call: model, prompt or messages, and what to ask for. */
export interface ModelCallRequest {
  /** The model id, e.g. `"openai:gpt-4o-mini"`. */
  model: string;
  /** System instructions. */
  system?: string;
  /** A single user prompt (or `messages`, not both). */
  prompt?: string;
  /** The conversation in AI SDK message form (or `prompt`, not both). */
  messages?: ModelMessage[];
  /** Tools the model may ask for. */
  tools?: ModelTool[];
  /** Whether the model may, must or must not ask for tools. @default {"auto"} */
  toolChoice?: "auto" | "required" | "none";
  /** Ask for a structured answer matching a JSON Schema. */
  output?: ModelOutputSchema;
  /** Upper bound of output tokens. */
  maxOutputTokens?: number;
  /** Sampling temperature, 0 to 2. */
  temperature?: number;
  /** Stream the answer, passing text deltas to `onDelta`. @default {false} */
  stream?: boolean;
}

/** A tool the model asked for. */
export interface ModelToolCall {
  /** The provider's id of the call, to answer it with a tool result. */
  toolCallId: string;
  /** The tool's name. */
  toolName: string;
  /** The tool's input, parsed from the model's JSON (as sent when that is not JSON). */
  input: unknown;
  /**
   * Set when the call must not be run: its input is not JSON or does not
   * match the tool's schema, or no such tool was offered.
   */
  invalid?: true;
  /** Why the call is invalid, when `invalid`: to send back to the model as the tool's error. */
  error?: string;
}

/** Token counts of a call; `inputTokens` includes `cachedInputTokens`. */
export interface ModelUsage {
  /** All input tokens, cached ones included. */
  inputTokens: number;
  /** Output tokens. */
  outputTokens: number;
  /** Input tokens read from the provider's prompt cache. */
  cachedInputTokens: number;
  /** Input plus output tokens. */
  totalTokens: number;
}

/** The result of a model call: plain JSON-serializable data. */
export interface ModelCallResult {
  /** Canonical model id, e.g. `"openai:gpt-4o-mini"`. */
  model: string;
  /** The provider part of the id: `"openai"`, `"anthropic"`, `"ollama"` or a configured name. */
  providerName: string;
  /** The answer text (empty when the model only asks for tools). */
  text: string;
  /** The tools the model asked for, not run. */
  toolCalls: ModelToolCall[];
  /** The structured answer, when `output` was asked for and no tool was called. */
  object?: unknown;
  /** `"stop"`, `"length"`, `"tool-calls"`, `"content-filter"`, `"error"` or `"other"`. */
  finishReason: string;
  /** Token counts. */
  usage: ModelUsage;
  /** Cost in USD from the price table; 0 when the model is not priced. */
  costUsd: number;
  /** Whether the price table knows the model. */
  priced: boolean;
  /** Duration of the successful attempt, in ms of the injected clock. */
  latencyMs: number;
  /** The model name the provider reported. */
  responseModel?: string;
  /** Attempts made, retries included. */
  attempts: number;
  /** Provider warnings (unsupported settings, …) as JSON strings. */
  warnings: string[];
}

/** A retry about to be made, as passed to `onRetry`. */
export interface ModelRetry {
  /** Number of the attempt that failed, from 1. */
  attempt: number;
  /** `rate_limited` for 429, else `provider_error`. */
  reason: "rate_limited" | "provider_error";
  /** Wait before the next attempt, in ms. */
  delayMs: number;
  /** The provider's HTTP status, when it answered. */
  status?: number;
  /** The failure, with a message free of secrets. */
  error: ModelCallError;
}

/** Options of {@linkcode callModel}. */
export interface CallModelOptions {
  /** Resolves the model id; its keys are redacted from every error. */
  providers: ModelProviders;
  /** Price table (see `resolvePrices`). @default {DEFAULT_PRICES} */
  prices?: Readonly<PriceTable>;
  /** Clock of latency, timeouts and retry waits. @default {systemClock} */
  clock?: Clock;
  /** Source of backoff jitter. @default {Math.random} */
  random?: () => number;
  /** Attempts in all, the first included. @default {4} */
  maxAttempts?: number;
  /** Backoff between attempts when the provider gives no `Retry-After`. @default {{ minMs: 1000, maxMs: 30000, factor: 2, jitter: 0.2 }} */
  backoff?: Partial<BackoffOptions>;
  /** A `Retry-After` longer than this fails the call instead of waiting, in ms. @default {60000} */
  maxRetryAfterMs?: number;
  /** Time limit of each attempt, in ms; a timeout is not retried. */
  timeoutMs?: number;
  /** Aborts the call, waiting included. */
  signal?: AbortSignal;
  /** Per-provider limits to wait for before each attempt. */
  rateLimiter?: RateLimiter;
  /** More secrets to redact from error messages. */
  secrets?: readonly string[];
  /** Receives each text delta of a streamed answer, in order. */
  onDelta?: (text: string) => void;
  /** Called before waiting for each retry. */
  onRetry?: (retry: ModelRetry) => void | Promise<void>;
}

const MODEL_BACKOFF: BackoffOptions = { minMs: 1000, maxMs: 30_000, factor: 2, jitter: 0.2 };

/**
 * Makes one model call, retrying 429, 5xx and failures that happened before
 * any text was passed to `onDelta`.
 *
 * @param request Model, prompt or messages, tools, output schema, limits.
 * @param options Providers, prices, clock, retries, limits and callbacks.
 * @returns Text, tool calls, structured answer, usage, cost and latency.
 * @throws {TypeError} When a field of `request` has the wrong type.
 * @throws {RangeError} When a field is out of range or the model id cannot be parsed.
 * @throws {ModelCallError} When the call fails for good; `retryable` says whether making it
 * again may succeed (a stream that broke after text was passed on, a timeout); `usage` and
 * `costUsd` hold what an answer that was received but then failed (invalid output) cost.
 * @throws The reason of `options.signal` when it aborts while waiting for a limit or a retry.
 *
 * @example
 * ```ts
 * import { callModel } from "./model_call.ts";
 * import { ModelProviders } from "./providers.ts";
 * import { startLocalModelServer } from "./local_model_server.ts";
 *
 * await using server = startLocalModelServer();
 * server.script({ toolCalls: [{ name: "search", input: { q: "oao" } }] });
 * const providers = new ModelProviders({
 *   openai: { apiKey: "sk-local", baseURL: server.baseURL },
 *   env: () => undefined,
 * });
 * const result = await callModel({
 *   model: "openai:gpt-4o-mini",
 *   prompt: "Find oao",
 *   tools: [{ name: "search", inputSchema: { type: "object", properties: { q: { type: "string" } } } }],
 * }, { providers });
 * console.assert(result.toolCalls[0]?.toolName === "search");
 * ```
 */
export async function callModel(
  request: ModelCallRequest,
  options: CallModelOptions,
): Promise<ModelCallResult> {
  validateRequest(request);
  const maxAttempts = options.maxAttempts ?? 4;
  if (!Number.isSafeInteger(maxAttempts) || maxAttempts < 1) {
    throw new RangeError(`Invalid maxAttempts "${maxAttempts}": expected an integer >= 1`);
  }
  const backoff = resolveBackoff(options.backoff, "backoff", MODEL_BACKOFF);
  const clock = options.clock ?? systemClock;
  const secrets = [...options.providers.secrets(), ...(options.secrets ?? [])];
  const { id, model } = options.providers.resolve(request.model);
  const estimate = estimateTokens(request);
  let delivered = false;
  const onDelta = (text: string) => {
    delivered = true;
    options.onDelta?.(text);
  };
  for (let attempt = 1;; attempt++) {
    const permit = await options.rateLimiter?.acquire(id.provider, {
      tokens: estimate,
      ...(options.signal ? { signal: options.signal } : {}),
    });
    const started = clock.now();
    const timeout = new AbortController();
    const timer = options.timeoutMs === undefined ? undefined : clock.setTimeout(
      () => timeout.abort(new DOMException("Timed out", "TimeoutError")),
      options.timeoutMs,
    );
    const signal = options.signal
      ? AbortSignal.any([options.signal, timeout.signal])
      : timeout.signal;
    let result: AttemptResult;
    try {
      result = await runAttempt(request, model, signal, onDelta);
    } catch (thrown) {
      const error = _priced(
        classifyFailure(thrown, {
          model: id.id,
          secrets,
          now: clock.now(),
          aborted: options.signal?.aborted ?? false,
          timedOut: timeout.signal.aborted,
          streamed: request.stream === true,
          ...(options.timeoutMs === undefined ? {} : { timeoutMs: options.timeoutMs }),
        }),
        options.prices ?? DEFAULT_PRICES,
      );
      permit?.release(
        error.usage
          ? error.usage.totalTokens
          : error.reason === "stream_broken" || error.reason === "timeout"
          ? undefined
          : 0,
      );
      const again = _retryReason(error, delivered);
      const delayMs = error.retryAfterMs ?? backoffDelay(attempt, backoff, options.random);
      if (!again || attempt >= maxAttempts || delayMs > (options.maxRetryAfterMs ?? 60_000)) {
        throw attempt > 1 ? _withAttempts(error, attempt) : error;
      }
      await options.onRetry?.({
        attempt,
        reason: again,
        delayMs,
        ...(error.status === undefined ? {} : { status: error.status }),
        error,
      });
      await clock.sleep(delayMs, options.signal);
      continue;
    } finally {
      if (timer !== undefined) clock.clearTimeout(timer);
    }
    permit?.release(result.usage.totalTokens);
    const cost = modelCost(id.id, result.usage, options.prices ?? DEFAULT_PRICES);
    return {
      model: id.id,
      providerName: id.provider,
      ...result,
      costUsd: cost.usd,
      priced: cost.priced,
      latencyMs: clock.now() - started,
      attempts: attempt,
    };
  }
}

function _retryReason(
  error: ModelCallError,
  delivered: boolean,
): "rate_limited" | "provider_error" | undefined {
  if (error.reason === "rate_limited") return "rate_limited";
  if (error.reason === "provider_error" || error.reason === "network") return "provider_error";
  // A stream that broke before any text was passed on is retried like a network error.
  if (error.reason === "stream_broken" && !delivered) return "provider_error";
  return undefined;
}

function _withAttempts(error: ModelCallError, attempts: number): ModelCallError {
  return _copy(error, { attempts });
}

// The error with the cost of the usage it carries (an answer that was billed, then failed).
function _priced(error: ModelCallError, prices: Readonly<PriceTable>): ModelCallError {
  if (!error.usage) return error;
  return _copy(error, { costUsd: modelCost(error.model, error.usage, prices).usd });
}

function _copy(
  error: ModelCallError,
  change: { attempts?: number; costUsd?: number },
): ModelCallError {
  return new ModelCallError({
    model: error.model,
    reason: error.reason,
    detail: error.detail,
    attempts: change.attempts ?? error.attempts,
    costUsd: change.costUsd ?? error.costUsd,
    ...(error.status === undefined ? {} : { status: error.status }),
    ...(error.retryAfterMs === undefined ? {} : { retryAfterMs: error.retryAfterMs }),
    ...(error.usage === undefined ? {} : { usage: error.usage }),
  }, { cause: error.cause });
}
