/**
 * HTTP helpers of the API: JSON responses, the JSON error body
 * (`{ "error": { "code", "message" } }`), {@linkcode ApiError} for 4xx
 * answers, request-body reading with a size limit, and parameter checks.
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
  return new Response(JSON.stringify(body), {
    status,
    headers: { "content-type": "application/json; charset=utf-8", ...headers },
  });
}

/**
 * The JSON error response of an {@linkcode ApiError}.
 *
 * @param error The error.
 * @returns `{ error: { code, message } }` with the error's status and headers.
 */
export function errorResponse(error: ApiError): Response {
  return json({ error: { code: error.code, message: error.message } }, error.status, error.headers);
}

/** Execution ids: what `Orchestrator.start` accepts. */
const ID = /^[A-Za-z0-9_.-]{1,200}$/;

/**
 * Checks an execution id from the path.
 *
 * @param id The id.
 * @returns The id.
 * @throws {ApiError} 400 `invalid_id` naming it.
 */
export function checkId(id: string | undefined): string {
  if (!id || !ID.test(id)) {
    throw new ApiError(
      400,
      "invalid_id",
      `Invalid execution id ${
        JSON.stringify(id ?? "")
      }: expected 1–200 letters, digits, "_", "." or "-"`,
    );
  }
  return id;
}

/**
 * Reads an optional integer query parameter.
 *
 * @param url The request URL.
 * @param name The parameter.
 * @param range Smallest and largest accepted values.
 * @returns The value, or `undefined` when absent.
 * @throws {ApiError} 400 `invalid_parameter` naming it.
 */
export function integerParam(
  url: URL,
  name: string,
  range: { min: number; max: number },
): number | undefined {
  const raw = url.searchParams.get(name);
  if (raw === null) return undefined;
  return checkInteger(raw, `query parameter "${name}"`, range);
}

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
 * Reads a JSON request body of at most `maxBytes`.
 *
 * @param request The request.
 * @param maxBytes The limit.
 * @param options `optional`: an empty body reads as `undefined`.
 * @returns The parsed body.
 * @throws {ApiError} 413 `body_too_large`, 415 `unsupported_media_type`, 400 `invalid_json`.
 */
export async function readJson(
  request: Request,
  maxBytes: number,
  options: { optional?: boolean } = {},
): Promise<unknown> {
  const type = request.headers.get("content-type");
  if (type && !/^application\/([\w.+-]+\+)?json\s*(;|$)/i.test(type.trim())) {
    throw new ApiError(
      415,
      "unsupported_media_type",
      `Unsupported content type "${type}": send application/json`,
    );
  }
  const tooLarge = () =>
    new ApiError(413, "body_too_large", `Request body exceeds the limit of ${maxBytes} bytes`);
  const length = request.headers.get("content-length");
  if (length !== null && Number(length) > maxBytes) throw tooLarge();
  const chunks: Uint8Array[] = [];
  let size = 0;
  if (request.body) {
    const reader = request.body.getReader();
    try {
      while (true) {
        const { done, value } = await reader.read();
        if (done) break;
        size += value.byteLength;
        if (size > maxBytes) throw tooLarge();
        chunks.push(value);
      }
    } finally {
      reader.releaseLock();
    }
  }
  const bytes = new Uint8Array(size);
  let offset = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, offset);
    offset += chunk.byteLength;
  }
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    throw new ApiError(400, "invalid_json", "Request body is not valid UTF-8");
  }
  if (text.trim() === "") {
    if (options.optional) return undefined;
    throw new ApiError(400, "invalid_json", "Request body is empty: expected a JSON object");
  }
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new ApiError(
      400,
      "invalid_json",
      `Request body is not valid JSON: ${(error as Error).message}`,
    );
  }
}
