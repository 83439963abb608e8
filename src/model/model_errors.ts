/**
 * The error of a model call that failed, whatever the provider: rate limited,
 * a provider error, a broken stream, a bad request, a missing key. Its
 * message names the model and the provider's status and never holds a key.
 *
 * @example
 * ```ts
 * import { ModelCallError } from "./model_errors.ts";
 * const error = new ModelCallError({
 *   model: "openai:gpt-4o-mini",
 *   reason: "rate_limited",
 *   status: 429,
 *   detail: "Rate limit reached",
 * });
 * console.assert(error.code === "MODEL_CALL_FAILED" && error.retryable);
 * console.assert(error.message.includes("429"));
 * ```
 *
 * @module
 */
import { OaoError, registerErrorClass } from "../oao_error.ts";
import type { ModelUsage } from "./model_call.ts";

/**
 * Why a model call failed. `rate_limited` (429), `provider_error` (5xx),
 * `network` (no answer), `stream_broken` (the answer stopped mid-stream) and
 * `timeout` are retryable; `bad_request` (other 4xx), `auth` (401, 403),
 * `missing_key`, `invalid_output` (no valid structured output), `aborted`
 * and `unpriced` (a model without a price under a `maxCostUsd` limit, which
 * could not bound its cost: refused before it is sent) are not.
 */
export type ModelFailureReason =
  | "rate_limited"
  | "provider_error"
  | "network"
  | "stream_broken"
  | "timeout"
  | "bad_request"
  | "auth"
  | "missing_key"
  | "invalid_output"
  | "aborted"
  | "unpriced";

const RETRYABLE: ReadonlySet<ModelFailureReason> = new Set([
  "rate_limited",
  "provider_error",
  "network",
  "stream_broken",
  "timeout",
]);

/** What {@linkcode ModelCallError} is made of. */
export interface ModelCallErrorInit {
  /** The model id, e.g. `"openai:gpt-4o-mini"`. */
  model: string;
  /** Why the call failed. */
  reason: ModelFailureReason;
  /** The provider's HTTP status, when it answered. */
  status?: number;
  /** What went wrong, already free of secrets. */
  detail: string;
  /** How long the provider asked to wait (`Retry-After`), in ms. */
  retryAfterMs?: number;
  /** Number of attempts made. @default {1} */
  attempts?: number;
  /** Tokens of an answer the provider gave (and billed) that then failed, e.g. invalid output. */
  usage?: ModelUsage;
  /** Cost in USD of `usage` from the price table. @default {0} */
  costUsd?: number;
}

/** A model call failed. `retryable` says whether making it again may succeed. */
export class ModelCallError extends OaoError {
  /** The model id, e.g. `"openai:gpt-4o-mini"`. */
  readonly model: string;
  /** The provider part of the model id. */
  readonly provider: string;
  /** Why the call failed. */
  readonly reason: ModelFailureReason;
  /** The provider's HTTP status, when it answered. */
  readonly status: number | undefined;
  /** Whether making the call again may succeed. */
  readonly retryable: boolean;
  /** How long the provider asked to wait (`Retry-After`), in ms. */
  readonly retryAfterMs: number | undefined;
  /** Number of attempts made. */
  readonly attempts: number;
  /** What went wrong, free of secrets (the message without the model and status). */
  readonly detail: string;
  /**
   * Tokens the provider billed for an answer that then failed (invalid
   * output): budgets count them. `undefined` when no answer was received.
   */
  readonly usage: ModelUsage | undefined;
  /** Cost in USD of `usage`; 0 without usage or when the model is not priced. */
  readonly costUsd: number;

  /**
   * Creates the error; its message reads `Cannot call model "<model>" (status <n>): <detail>`.
   *
   * @param init Model, reason, status and a detail free of secrets.
   * @param options Standard error options (`cause`).
   */
  constructor(init: ModelCallErrorInit, options?: ErrorOptions) {
    const status = init.status === undefined ? "" : ` (status ${init.status})`;
    const attempts = init.attempts && init.attempts > 1 ? ` after ${init.attempts} attempts` : "";
    super(
      "MODEL_CALL_FAILED",
      `Cannot call model "${init.model}"${status}${attempts}: ${init.detail}`,
      options,
    );
    this.model = init.model;
    this.provider = init.model.slice(0, Math.max(0, init.model.indexOf(":")));
    this.reason = init.reason;
    this.status = init.status;
    this.retryable = RETRYABLE.has(init.reason);
    this.retryAfterMs = init.retryAfterMs;
    this.attempts = init.attempts ?? 1;
    this.detail = init.detail;
    this.usage = init.usage;
    this.costUsd = init.costUsd ?? 0;
  }
}

// Rebuilt as a ModelCallError from its code (fromErrorInfo), in the host and in agents' workers.
registerErrorClass("MODEL_CALL_FAILED", ModelCallError);
