/**
 * HTTP helpers of the API: JSON responses, the JSON error body
 * (`{ "error": { "code", "message" } }`, with `Retry-After` on every 503)
 * and {@linkcode ApiError} for 4xx and 5xx answers.
 *
 * @module
 */

/** An answer with a 4xx (or 503) status and a JSON error body; handlers throw it. */
export class ApiError extends Error {
  /** HTTP status. */
  readonly status: number;
  /** Stable machine-readable code, e.g. `invalid_json`. */
  readonly code: string;
  /** Extra response headers (e.g. `Allow`, `WWW-Authenticate`). */
  readonly headers: Record<string, string>;

  /**
   * Creates the error.
   *
   * @param status HTTP status.
   * @param code Machine-readable code.
   * @param message What is wrong, naming the field or parameter.
   * @param headers Extra response headers.
   */
  constructor(status: number, code: string, message: string, headers: Record<string, string> = {}) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.code = code;
    this.headers = headers;
  }
}

/**
 * A JSON response.
 *
 * @param body The body.
 * @param status The status. @default {200}
 * @param headers Extra headers.
 * @returns The response.
 */
export function json(body: unknown, status = 200, headers: Record<string, string> = {}): Response {
  return jsonText(JSON.stringify(body), status, headers);
}

/**
 * A JSON response of a body already serialized (kept answers).
 *
 * @param text The JSON text.
 * @param status The status. @default {200}
 * @param headers Extra headers.
 * @returns The response.
 */
export function jsonText(
  text: string,
  status = 200,
  headers: Record<string, string> = {},
): Response {
  return new Response(text, {
    status,
    headers: { "content-type": "application/json; charset=utf-8", ...headers },
  });
}

/**
 * The JSON error response of an {@linkcode ApiError}.
 *
 * @param error The error.
 * @returns `{ error: { code, message } }` with the error's status and headers
 *   (and `Retry-After` when the status is 503).
 */
export function errorResponse(error: ApiError): Response {
  const headers = error.status === 503 && !error.headers["retry-after"]
    ? { ...error.headers, "retry-after": String(RETRY_AFTER_SECONDS) }
    : error.headers;
  return json({ error: { code: error.code, message: error.message } }, error.status, headers);
}

/**
 * Answers a conditional GET: `304 Not Modified` when the request's
 * `If-None-Match` names `tag`, else `response` with the tag. For answers
 * whose version is known without hashing them (an execution's status is a
 * function of its event count: the log is append-only).
 *
 * @param request The request.
 * @param tag The weak entity tag of the current answer (without `W/` and quotes).
 * @param response Builds the full answer.
 * @returns The 304 or the answer, both with the `ETag` (weak; with no
 *   `Last-Modified`, caches revalidate instead of guessing a freshness).
 */
export function conditional(request: Request, tag: string, response: () => Response): Response {
  const etag = `W/"${tag}"`;
  const given = request.headers.get("if-none-match");
  if (given && given.split(",").some((t) => t.trim() === etag || t.trim() === "*")) {
    return new Response(null, { status: 304, headers: { etag } });
  }
  const answer = response();
  answer.headers.set("etag", etag);
  return answer;
}

/** Seconds a client is told to wait (`Retry-After`) before retrying a 503. */
export const RETRY_AFTER_SECONDS = 5;

/**
 * Checks that a string is an integer in range.
 *
 * @param raw The text.
 * @param what What it is, for the message.
 * @param range Smallest and largest accepted values.
 * @returns The integer.
 * @throws {ApiError} 400 `invalid_parameter`.
 */
export function checkInteger(
  raw: string,
  what: string,
  range: { min: number; max: number },
): number {
  const value = Number(raw);
  if (
    !/^\d+$/.test(raw.trim()) || !Number.isSafeInteger(value) || value < range.min ||
    value > range.max
  ) {
    throw new ApiError(
      400,
      "invalid_parameter",
      `Invalid ${what} ${JSON.stringify(raw)}: expected an integer ${range.min}–${range.max}`,
    );
  }
  return value;
}

/**
 * The values of a list header with their q-values (`Accept`,
 * `Accept-Encoding`): lower-cased, `q` 1 when absent and 0 when malformed.
 *
 * @param header The header's value.
 * @returns Each value and its quality, in the header's order.
 */
export function qualities(header: string): { value: string; q: number }[] {
  return header.toLowerCase().split(",").map((part) => {
    const [value, ...params] = part.trim().split(";");
    const q = params.map((p) => p.trim()).find((p) => p.startsWith("q="));
    const quality = q ? Number(q.slice(2)) : 1;
    return { value: (value ?? "").trim(), q: Number.isNaN(quality) ? 0 : quality };
  }).filter((entry) => entry.value !== "");
}
