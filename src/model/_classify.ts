// Turns whatever the AI SDK threw into a ModelCallError: the reason (which
// decides retries), the provider's status, its Retry-After, and a detail
// with every known secret redacted.
import { APICallError, StreamProviderError } from "ai";
import { ModelCallError, type ModelFailureReason } from "./model_errors.ts";
import { toModelUsage } from "./_usage.ts";

/** What the classifier needs to know about the attempt that failed. */
export interface FailureContext {
  model: string;
  secrets: readonly string[];
  now: number;
  /** The caller's signal aborted. */
  aborted: boolean;
  /** The attempt's own timeout fired. */
  timedOut: boolean;
  /** The answer was asked for as a stream. */
  streamed?: boolean;
  timeoutMs?: number;
}

const MAX_DETAIL = 500;
const BAD_OUTPUT = new Set([
  "AI_NoOutputGeneratedError",
  "AI_NoObjectGeneratedError",
  "AI_TypeValidationError",
  "AI_JSONParseError",
  "AI_InvalidToolInputError",
  "AI_NoSuchToolError",
]);

/** Classifies `error` and builds the {@linkcode ModelCallError} to throw or retry. */
export function classifyFailure(error: unknown, context: FailureContext): ModelCallError {
  if (error instanceof ModelCallError) return error;
  const make = (
    reason: ModelFailureReason,
    detail: string,
    status?: number,
    retryAfterMs?: number,
  ) =>
    new ModelCallError({
      model: context.model,
      reason,
      detail: _clip(redactSecrets(detail, context.secrets)),
      ...(status === undefined ? {} : { status }),
      ...(retryAfterMs === undefined ? {} : { retryAfterMs }),
    }, { cause: _safeCause(error, context.secrets) });
  if (context.timedOut) {
    return make("timeout", `no complete answer within ${context.timeoutMs} ms`);
  }
  if (context.aborted) return make("aborted", "the call was aborted");
  if (APICallError.isInstance(error)) {
    const status = error.statusCode;
    const said = _providerMessage(error);
    if (status === undefined) {
      return make("network", `no answer from the provider: ${said}`);
    }
    if (status < 300) {
      const cause = error.cause instanceof Error ? `: ${error.cause.message}` : "";
      if (context.streamed === false) {
        return make(
          "provider_error",
          `the provider answered ${status} with no valid answer${cause}`,
          status,
        );
      }
      return make("stream_broken", `the answer broke off${cause}`, status);
    }
    const wait = retryAfterMs(error.responseHeaders, context.now);
    return make(_byStatus(status), `the provider answered ${status}: ${said}`, status, wait);
  }
  if (StreamProviderError.isInstance(error)) {
    const status = error.statusCode;
    const reason = status !== undefined
      ? _byStatus(status)
      : error.isRetryable
      ? "provider_error"
      : "bad_request";
    return make(reason, `the provider sent an error in its stream: ${error.message}`, status);
  }
  const name = (error as { name?: unknown })?.name;
  const message = error instanceof Error ? error.message : String(error);
  if (typeof name === "string" && BAD_OUTPUT.has(name)) {
    const cause = (error as { cause?: unknown }).cause;
    const why = cause instanceof Error ? ` (${cause.message})` : "";
    const invalid = make("invalid_output", `the answer is not valid: ${message}${why}`);
    // The provider answered, and billed the answer: its usage (NoObjectGeneratedError has it) counts.
    const usage = (error as { usage?: unknown }).usage;
    if (typeof usage !== "object" || usage === null) return invalid;
    return new ModelCallError({
      model: invalid.model,
      reason: invalid.reason,
      detail: invalid.detail,
      usage: toModelUsage(usage),
    }, { cause: invalid.cause });
  }
  if (error instanceof TypeError && /fetch|connect|network|body/i.test(message)) {
    return make("network", `no answer from the provider: ${message}`);
  }
  return make("bad_request", message);
}

/**
 * How long a provider asked to wait: `retry-after-ms`, else `Retry-After` in
 * seconds (a non-negative number) or as an HTTP date; `undefined` for any
 * other value (e.g. `-5`), so that the caller backs off instead.
 */
export function retryAfterMs(
  headers: Record<string, string> | undefined,
  now: number,
): number | undefined {
  if (!headers) return undefined;
  const get = (name: string) =>
    Object.entries(headers).find(([key]) => key.toLowerCase() === name)?.[1]?.trim();
  const ms = get("retry-after-ms");
  if (ms && /^\d+(\.\d+)?$/.test(ms)) return Math.ceil(Number(ms));
  const value = get("retry-after");
  if (!value) return undefined;
  if (/^\d+(\.\d+)?$/.test(value)) return Math.ceil(Number(value) * 1000);
  // Anything else must be an HTTP date ("Wed, 21 Oct 2026 07:28:00 GMT"):
  // Date.parse also reads "-5" or "2026" as dates, which would mean no wait.
  if (!/[A-Za-z]/.test(value)) return undefined;
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

/** `text` with every secret (4 characters or more) replaced by `[REDACTED]`. */
export function redactSecrets(text: string, secrets: readonly string[]): string {
  let out = text;
  for (const secret of secrets) {
    if (secret.length >= 4) out = out.replaceAll(secret, "[REDACTED]");
  }
  return out;
}

function _byStatus(status: number): ModelFailureReason {
  if (status === 429) return "rate_limited";
  if (status >= 500) return "provider_error";
  if (status === 401 || status === 403) return "auth";
  return "bad_request";
}

function _providerMessage(error: APICallError): string {
  const cause = error.cause instanceof Error && error.statusCode === undefined
    ? ` (${error.cause.message})`
    : "";
  return `${error.message}${cause}`;
}

// The SDK's error keeps the request body and the provider's raw answer (which
// may quote the key): the cause kept is its name and redacted message only.
function _safeCause(error: unknown, secrets: readonly string[]): Error {
  const name = (error as { name?: unknown })?.name;
  const message = error instanceof Error ? error.message : String(error);
  const cause = new Error(_clip(redactSecrets(message, secrets)));
  cause.name = typeof name === "string" ? name : "Error";
  return cause;
}

function _clip(text: string): string {
  return text.length > MAX_DETAIL ? `${text.slice(0, MAX_DETAIL)}…` : text;
}
