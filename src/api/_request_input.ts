/**
 * Reads and validates a request's parts against its route's schemas: the
 * path parameters, the query, the headers and the JSON body (content type,
 * size limit, UTF-8, JSON, then the schema). Every failure becomes an
 * {@linkcode ApiError} with the API's stable codes and a message that names
 * the field, parameter or header and what was expected.
 *
 * Why not `app.openapi()`'s own validators: they answer a missing or
 * malformed body with Hono's generic texts and statuses, where the API
 * promises its codes (`invalid_json`, `invalid_body`, `unknown_field`,
 * `invalid_field`, …) and messages that name the input. The schemas are the
 * same ones the OpenAPI document is generated from.
 *
 * @module
 */
import type { RouteConfig } from "@hono/zod-openapi";
import type { Context } from "hono";
import type { z } from "zod";
import { ApiError } from "./_http.ts";
import type { RouteInput } from "./route.ts";
import { _deadline } from "./_deadline_sweep.ts";

type Part = "params" | "query" | "headers";

/**
 * Validates a request against its route's schemas.
 *
 * @param c The Hono context.
 * @param spec The route's definition.
 * @param maxBodyBytes Largest accepted body.
 * @param bodyTimeoutMs How long the body may take to arrive.
 * @returns The validated parts.
 * @throws {ApiError} 400, 413 or 415 naming what is wrong.
 */
export async function readRouteInput(
  c: Context,
  spec: RouteConfig,
  maxBodyBytes: number,
  bodyTimeoutMs: number = BODY_TIMEOUT_MS,
): Promise<RouteInput> {
  const request = spec.request ?? {};
  const params = request.params
    ? _parse(
      request.params as z.ZodType,
      c.req.param(),
      "params",
      spec.path.startsWith("/workflows")
        ? "workflow id"
        : spec.path.startsWith("/schedules")
        ? "schedule id"
        : "execution id",
    )
    : c.req.param();
  const query = request.query ? _parse(request.query as z.ZodType, c.req.query(), "query") : {};
  if (request.headers) _parse(request.headers as z.ZodType, c.req.header(), "headers");
  let body: unknown;
  const content = request.body?.content?.["application/json"] as
    | { schema?: z.ZodType }
    | undefined;
  if (content?.schema) {
    const required = request.body?.required === true;
    const type = (content.schema as unknown as { _zod?: { def?: { type?: string } } })._zod?.def
      ?.type;
    const raw = await readJson(c.req.raw, maxBodyBytes, {
      optional: !required,
      timeoutMs: bodyTimeoutMs,
      ...(type === "any" || type === "unknown") ? { expected: ANY_JSON_VALUE } : {},
    });
    if (raw !== undefined) body = _parseBody(content.schema, raw);
  }
  return {
    params: params as Record<string, string>,
    query: query as Record<string, unknown>,
    body,
  };
}

/**
 * Reads a JSON request body of at most `maxBytes`. A body without a
 * content type is read as JSON; one with another type is refused.
 *
 * @param request The request.
 * @param maxBytes The limit.
 * @param options `optional`: an empty body reads as `undefined`; `timeoutMs`:
 *   how long the whole body may take to arrive ({@linkcode BODY_TIMEOUT_MS});
 *   `expected`: what the body should be, for the message that refuses an empty
 *   one (default `"a JSON object"`).
 * @returns The parsed body.
 * @throws {ApiError} 413 `body_too_large`, 415 `unsupported_media_type`, 400
 *   `invalid_json`, 408 `body_timeout` (a client that sends its body too slowly).
 */
export async function readJson(
  request: Request,
  maxBytes: number,
  options: { optional?: boolean; timeoutMs?: number; expected?: string } = {},
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
  // Length known and within the limit (Deno refuses a body longer than its
  // Content-Length): read it whole, the fast path; else count as it comes.
  const reading = length !== null || !request.body
    ? request.bytes()
    : _readLimited(request.body, maxBytes, tooLarge);
  let done = () => {};
  const timeoutMs = options.timeoutMs ?? BODY_TIMEOUT_MS;
  const late = new Promise<never>((_, reject) => {
    done = _deadline(timeoutMs, () => {
      reject(
        new ApiError(
          408,
          "body_timeout",
          `The request body did not arrive within ${timeoutMs} ms`,
          {
            connection: "close",
          },
        ),
      );
    });
  });
  let bytes: Uint8Array;
  try {
    bytes = await Promise.race([reading, late]);
  } catch (error) {
    reading.catch(() => {});
    if (error instanceof ApiError && error.status === 408) request.body?.cancel().catch(() => {});
    throw error;
  } finally {
    done();
  }
  const size = bytes.byteLength;
  if (!type && size > 0) {
    throw new ApiError(
      415,
      "unsupported_media_type",
      "A request body needs the header Content-Type: application/json",
    );
  }
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    throw new ApiError(400, "invalid_json", "Request body is not valid UTF-8");
  }
  if (text.trim() === "") {
    if (options.optional) return undefined;
    throw new ApiError(
      400,
      "invalid_json",
      `Request body is empty: expected ${options.expected ?? "a JSON object"}`,
    );
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new ApiError(
      400,
      "invalid_json",
      `Request body is not valid JSON: ${_truncate((error as Error).message)}`,
    );
  }
  const { depth, nonFinite } = _scan(value);
  if (depth > MAX_JSON_DEPTH) {
    throw new ApiError(
      400,
      "invalid_json",
      `Request body nests arrays and objects deeper than ${MAX_JSON_DEPTH} levels`,
    );
  }
  if (nonFinite) {
    const { path, source } = _outOfRange(text);
    throw new ApiError(
      400,
      "invalid_json",
      `Request body holds a number out of range at ${path}: ${
        _truncate(source)
      } is not a finite number`,
    );
  }
  return value;
}

/** How long a request body may take to arrive, in ms: a slow client does not hold a request open. */
export const BODY_TIMEOUT_MS = 10_000;

/** What a body of any JSON value should be, for the message that refuses an empty one. */
const ANY_JSON_VALUE = "a JSON value (an object, array, string, number, true, false or null)";

/** Deepest nesting of arrays and objects a request body may have. */
export const MAX_JSON_DEPTH = 64;

/**
 * Nesting depth of a parsed JSON value, and whether it holds a number that is
 * not finite (`1e999` parses as `Infinity`, which no later step can store or
 * hash). One iterative walk: no stack to overflow; it stops once too deep.
 */
function _scan(value: unknown): { depth: number; nonFinite: boolean } {
  let deepest = 0;
  let nonFinite = typeof value === "number" && !Number.isFinite(value);
  const stack: [unknown, number][] = [[value, 0]];
  while (stack.length) {
    const [item, depth] = stack.pop()!;
    if (typeof item !== "object" || item === null) continue;
    if (depth + 1 > deepest) deepest = depth + 1;
    if (deepest > MAX_JSON_DEPTH) return { depth: deepest, nonFinite };
    for (const child of Array.isArray(item) ? item : Object.values(item)) {
      if (typeof child === "object" && child !== null) stack.push([child, depth + 1]);
      else if (typeof child === "number" && !Number.isFinite(child)) nonFinite = true;
    }
  }
  return { depth: deepest, nonFinite };
}

/** A number's literal as the body wrote it, standing in for its non-finite value. */
class _OutOfRange {
  constructor(readonly source: string) {}
}

/**
 * Where a JSON text first holds a number that is not finite (a JSON path such
 * as `$.task.x`) and how it was written. Only on the error path: it parses the
 * text again, keeping each such number's source text.
 */
function _outOfRange(text: string): { path: string; source: string } {
  const revived: unknown = JSON.parse(
    text,
    (_key, value, context?: { source?: string }) =>
      typeof value === "number" && !Number.isFinite(value)
        ? new _OutOfRange(context?.source ?? String(value))
        : value,
  );
  // Depth first, in document order: the first such number the body holds.
  const stack: [unknown, string][] = [[revived, "$"]];
  while (stack.length) {
    const [item, path] = stack.pop()!;
    if (item instanceof _OutOfRange) return { path, source: item.source };
    if (typeof item !== "object" || item === null) continue;
    const children: [unknown, string][] = Array.isArray(item)
      ? item.map((child, i) => [child, `${path}[${i}]`])
      : Object.entries(item).map(([key, child]) => [child, _member(path, key)]);
    for (let i = children.length - 1; i >= 0; i--) stack.push(children[i]!);
  }
  return { path: "$", source: "a number" };
}

/** A JSON path one member further: `$.task.x`, or `$["a b"]` for a key that is not a name. */
function _member(path: string, key: string): string {
  return /^[A-Za-z_$][\w$]*$/.test(key) ? `${path}.${key}` : `${path}[${JSON.stringify(key)}]`;
}

/** A value quoted for an error message: at most its first 100 characters, and its length. */
function _quoted(text: string): string {
  return text.length > 100
    ? `${JSON.stringify(text.slice(0, 100))}… (${text.length} characters)`
    : JSON.stringify(text);
}

/** A value for an error message: at most 100 characters. */
function _truncate(text: string): string {
  return text.length > 100 ? `${text.slice(0, 100)}… (${text.length} characters)` : text;
}

async function _readLimited(
  body: ReadableStream<Uint8Array>,
  maxBytes: number,
  tooLarge: () => ApiError,
): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  let size = 0;
  const reader = body.getReader();
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
  const bytes = new Uint8Array(size);
  let offset = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return bytes;
}

function _parse(
  schema: z.ZodType,
  value: Record<string, string>,
  part: Part,
  what = "execution id",
): unknown {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const issue = result.error.issues[0]!;
  const name = String(issue.path[0] ?? "");
  const raw = _quoted(value[name] ?? "");
  if (part === "params") {
    const label = name === "id" ? what : `path parameter "${name}"`;
    return _throw(400, "invalid_id", `Invalid ${label} ${raw}: ${issue.message}`);
  }
  if (part === "query") {
    return _throw(
      400,
      "invalid_parameter",
      `Invalid query parameter "${name}" ${raw}: ${issue.message}`,
    );
  }
  return _throw(400, "invalid_header", `Invalid header "${name}" ${raw}: ${issue.message}`);
}

function _parseBody(schema: z.ZodType, body: unknown): unknown {
  const result = schema.safeParse(body);
  if (result.success) return result.data;
  const issue = result.error.issues[0]!;
  if (issue.path.length === 0) {
    if (issue.code === "unrecognized_keys") {
      const expected = _fields(schema).map((f) => `"${f}"`).join(", ");
      return _throw(
        400,
        "unknown_field",
        `Unknown field ${
          _truncate(issue.keys.map((k) => JSON.stringify(k)).join(", "))
        } (expected ${expected})`,
      );
    }
    return _throw(400, "invalid_body", `Invalid request body: ${issue.message}`);
  }
  const field = issue.path.map(String).join(".");
  if (issue.code === "unrecognized_keys") {
    return _throw(
      400,
      "invalid_field",
      `Invalid field "${_truncate(field)}": unknown key ${
        _truncate(issue.keys.map((k) => JSON.stringify(k)).join(", "))
      }`,
    );
  }
  return _throw(400, "invalid_field", `Invalid field "${field}": ${issue.message}`);
}

function _fields(schema: z.ZodType): string[] {
  const shape = (schema as unknown as { shape?: Record<string, unknown> }).shape;
  return shape ? Object.keys(shape) : [];
}

function _throw(status: number, code: string, message: string): never {
  throw new ApiError(status, code, message);
}
