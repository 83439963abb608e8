// Validation of the model calls an agent's worker sends the orchestrator
// (`ctx.generateText`). The agent's code is untrusted: every field is
// checked, bounded and copied before the host hashes, records or sends it,
// and what would make the host reach out on the agent's behalf (image and
// file parts, whose URLs the AI SDK downloads; provider options) is refused.
// Internal: the orchestrator calls it.
import { ValueTooLargeError } from "../errors.ts";
import { jsonBytes, type Limits } from "../limits.ts";
import type { GenerateTextRequest, ModelServiceRequest } from "./agent.ts";
import { describe } from "./_boundary.ts";

/** Longest model id accepted. */
export const MAX_MODEL_ID_CHARS = 200;
/** Most messages in one call. */
export const MAX_MESSAGES = 2_000;
/** Most content parts in one message. */
export const MAX_PARTS = 500;
/** Most tools offered to the model in one call. */
export const MAX_TOOLS = 128;
/** Deepest nesting of any JSON value in a call (schemas, tool inputs and results). */
export const MAX_DEPTH = 64;
/** Largest `maxOutputTokens` accepted. */
export const MAX_OUTPUT_TOKENS = 10_000_000;

const PREFIX = "Model call refused";
const REQUEST_KEYS = [
  "model",
  "system",
  "prompt",
  "messages",
  "tools",
  "toolChoice",
  "output",
  "maxOutputTokens",
  "temperature",
];
const TOOL_NAME = /^[A-Za-z0-9_-]{1,64}$/;
const SHORT = 200;
const OUTPUT_TYPES = ["text", "json", "error-text", "error-json", "execution-denied"];

type Json = Record<string, unknown>;

/**
 * Checks a model call from an agent's worker.
 *
 * @param value What the worker sent.
 * @param limits `maxValueBytes` bounds the request.
 * @returns A fresh request holding only the checked fields.
 * @throws {TypeError} Naming the field of the wrong type or an unknown field.
 * @throws {RangeError} Naming the field out of range (too long, too many, too deep).
 * @throws {ValueTooLargeError} When the request is over `maxValueBytes`.
 *
 * @example
 * ```ts
 * import { validateModelServiceRequest } from "./_model_boundary.ts";
 * import { DEFAULT_LIMITS } from "../limits.ts";
 * const call = validateModelServiceRequest({
 *   executionId: "e", step: 2, run: "1:1", tokens: 0,
 *   request: { model: "openai:gpt-4o-mini", prompt: "Hi", maxOutputTokens: 50 },
 * }, DEFAULT_LIMITS);
 * console.assert(call.request.maxOutputTokens === 50);
 * ```
 */
export function validateModelServiceRequest(
  value: unknown,
  limits: Pick<Limits, "maxValueBytes">,
): ModelServiceRequest {
  const r = _object(value, "the call");
  const executionId = _string(r.executionId, "executionId", SHORT);
  const run = _string(r.run, "run", 100);
  if (typeof r.step !== "number") _fail(TypeError, "step", "must be a number", r.step);
  if (!Number.isSafeInteger(r.step) || (r.step as number) < 1) {
    _fail(RangeError, "step", "must be a positive integer", r.step);
  }
  if (r.stream !== undefined && typeof r.stream !== "boolean") {
    _fail(TypeError, "stream", "must be a boolean", r.stream);
  }
  if (typeof r.tokens !== "number") _fail(TypeError, "tokens", "must be a number", r.tokens);
  if (!Number.isFinite(r.tokens) || (r.tokens as number) < 0) {
    _fail(RangeError, "tokens", "must be a finite number >= 0", r.tokens);
  }
  _object(r.request, "request");
  const size = jsonBytes(r.request);
  if (size === undefined) {
    throw new TypeError(`${PREFIX}: field "request" is not JSON-serializable`);
  }
  if (size > limits.maxValueBytes) {
    throw new ValueTooLargeError(`The model call request`, size, limits.maxValueBytes);
  }
  const call: ModelServiceRequest = {
    executionId,
    step: r.step as number,
    run,
    tokens: r.tokens as number,
    // Checked as the plain JSON it is recorded and hashed as.
    request: _request(JSON.parse(JSON.stringify(r.request))),
  };
  if (r.stream === true) call.stream = true;
  return call;
}

function _request(value: unknown): GenerateTextRequest {
  const r = _object(value, "request");
  for (const key of Object.keys(r)) {
    if (!REQUEST_KEYS.includes(key)) {
      throw new TypeError(
        `${PREFIX}: unknown field "request.${_clip(key)}" (expected ${
          REQUEST_KEYS.map((k) => `"${k}"`).join(", ")
        })`,
      );
    }
  }
  const model = _string(r.model, "request.model", MAX_MODEL_ID_CHARS);
  if (!model.includes(":")) {
    _fail(
      RangeError,
      "request.model",
      'must be "provider:model", e.g. "openai:gpt-4o-mini"',
      model,
    );
  }
  const request: GenerateTextRequest = { model };
  if (r.system !== undefined) request.system = _string(r.system, "request.system");
  if ((r.prompt === undefined) === (r.messages === undefined)) {
    throw new TypeError(`${PREFIX}: expected either "request.prompt" or "request.messages"`);
  }
  if (r.prompt !== undefined) request.prompt = _string(r.prompt, "request.prompt");
  if (r.messages !== undefined) {
    const list = _array(r.messages, "request.messages", MAX_MESSAGES);
    request.messages = list.map((m, i) => _message(m, `request.messages[${i}]`)) as NonNullable<
      GenerateTextRequest["messages"]
    >;
  }
  if (r.tools !== undefined) {
    const names = new Set<string>();
    request.tools = _array(r.tools, "request.tools", MAX_TOOLS).map((t, i) => {
      const at = `request.tools[${i}]`;
      const tool = _keys(_object(t, at), at, ["name", "description", "inputSchema"]);
      const name = _string(tool.name, `${at}.name`, 64);
      if (!TOOL_NAME.test(name)) {
        _fail(RangeError, `${at}.name`, 'must be 1 to 64 letters, digits, "_" or "-"', name);
      }
      if (names.has(name)) _fail(RangeError, `${at}.name`, "must be unique", name);
      names.add(name);
      const checked: NonNullable<GenerateTextRequest["tools"]>[number] = {
        name,
        inputSchema: _schema(tool.inputSchema, `${at}.inputSchema`),
      };
      if (tool.description !== undefined) {
        checked.description = _string(tool.description, `${at}.description`);
      }
      return checked;
    });
  }
  if (r.toolChoice !== undefined) {
    if (r.toolChoice !== "auto" && r.toolChoice !== "required" && r.toolChoice !== "none") {
      _fail(TypeError, "request.toolChoice", 'must be "auto", "required" or "none"', r.toolChoice);
    }
    request.toolChoice = r.toolChoice;
  }
  if (r.output !== undefined) {
    const output = _keys(_object(r.output, "request.output"), "request.output", [
      "schema",
      "name",
      "description",
    ]);
    request.output = { schema: _schema(output.schema, "request.output.schema") };
    if (output.name !== undefined) {
      request.output.name = _string(output.name, "request.output.name", 64);
    }
    if (output.description !== undefined) {
      request.output.description = _string(output.description, "request.output.description");
    }
  }
  if (r.maxOutputTokens !== undefined) {
    const n = r.maxOutputTokens;
    if (typeof n !== "number") _fail(TypeError, "request.maxOutputTokens", "must be a number", n);
    if (!Number.isSafeInteger(n) || (n as number) < 1 || (n as number) > MAX_OUTPUT_TOKENS) {
      _fail(
        RangeError,
        "request.maxOutputTokens",
        `must be an integer from 1 to ${MAX_OUTPUT_TOKENS}`,
        n,
      );
    }
    request.maxOutputTokens = n as number;
  }
  if (r.temperature !== undefined) {
    const t = r.temperature;
    if (typeof t !== "number") _fail(TypeError, "request.temperature", "must be a number", t);
    if (!((t as number) >= 0 && (t as number) <= 2)) {
      _fail(RangeError, "request.temperature", "must be a number from 0 to 2", t);
    }
    request.temperature = t as number;
  }
  return request;
}

// One message: its role's content, text, tool calls and tool results only.
function _message(value: unknown, at: string): Json {
  const m = _keys(_object(value, at), at, ["role", "content"]);
  const role = m.role;
  if (role !== "system" && role !== "user" && role !== "assistant" && role !== "tool") {
    _fail(TypeError, `${at}.role`, 'must be "system", "user", "assistant" or "tool"', role);
  }
  if (role === "system") return { role, content: _string(m.content, `${at}.content`) };
  if (typeof m.content === "string" && role !== "tool") return { role, content: m.content };
  const allowed = role === "user"
    ? ["text"]
    : role === "assistant"
    ? ["text", "reasoning", "tool-call"]
    : ["tool-result"];
  const parts = _array(m.content, `${at}.content`, MAX_PARTS);
  return { role, content: parts.map((p, i) => _part(p, `${at}.content[${i}]`, allowed)) };
}

function _part(value: unknown, at: string, allowed: string[]): Json {
  const part = _object(value, at);
  const type = part.type;
  if (typeof type !== "string" || !allowed.includes(type)) {
    _fail(
      TypeError,
      `${at}.type`,
      `must be ${allowed.map((t) => `"${t}"`).join(" or ")} (images and files are not accepted)`,
      type,
    );
  }
  switch (type) {
    case "text":
    case "reasoning":
      _keys(part, at, ["type", "text"]);
      return { type, text: _string(part.text, `${at}.text`) };
    case "tool-call":
      _keys(part, at, ["type", "toolCallId", "toolName", "input"]);
      return {
        type,
        toolCallId: _string(part.toolCallId, `${at}.toolCallId`, SHORT),
        toolName: _string(part.toolName, `${at}.toolName`, 64),
        input: _json(part.input ?? {}, `${at}.input`),
      };
    default: {
      _keys(part, at, ["type", "toolCallId", "toolName", "output"]);
      const output = _keys(_object(part.output, `${at}.output`), `${at}.output`, [
        "type",
        "value",
        "reason",
      ]);
      if (typeof output.type !== "string" || !OUTPUT_TYPES.includes(output.type)) {
        _fail(
          TypeError,
          `${at}.output.type`,
          `must be ${OUTPUT_TYPES.map((t) => `"${t}"`).join(", ")}`,
          output.type,
        );
      }
      const checked: Json = { type: output.type };
      if (output.type === "execution-denied") {
        if (output.reason !== undefined) {
          checked.reason = _string(output.reason, `${at}.output.reason`);
        }
      } else if (output.type === "text" || output.type === "error-text") {
        checked.value = _string(output.value, `${at}.output.value`);
      } else checked.value = _json(output.value ?? null, `${at}.output.value`);
      return {
        type,
        toolCallId: _string(part.toolCallId, `${at}.toolCallId`, SHORT),
        toolName: _string(part.toolName, `${at}.toolName`, 64),
        output: checked,
      };
    }
  }
}

function _schema(value: unknown, at: string): Record<string, unknown> {
  return _json(_object(value, at), at) as Record<string, unknown>;
}

// A JSON value no deeper than MAX_DEPTH (size and JSON-ness are checked for the whole request).
function _json(value: unknown, at: string): unknown {
  const stack: [unknown, number][] = [[value, 1]];
  while (stack.length) {
    const [item, depth] = stack.pop()!;
    if (typeof item !== "object" || item === null) continue;
    if (depth > MAX_DEPTH) {
      throw new RangeError(`${PREFIX}: field "${at}" is nested deeper than ${MAX_DEPTH} levels`);
    }
    for (const child of Object.values(item)) stack.push([child, depth + 1]);
  }
  return value;
}

function _object(value: unknown, at: string): Json {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    _fail(TypeError, at, "must be an object", value);
  }
  return value as Json;
}

function _array(value: unknown, at: string, max: number): unknown[] {
  if (!Array.isArray(value)) _fail(TypeError, at, "must be an array", value);
  const list = value as unknown[];
  if (list.length > max) {
    throw new RangeError(
      `${PREFIX}: field "${at}" has ${list.length} entries, over the limit of ${max}`,
    );
  }
  return list;
}

function _keys(value: Json, at: string, allowed: string[]): Json {
  for (const key of Object.keys(value)) {
    if (!allowed.includes(key)) {
      throw new TypeError(
        `${PREFIX}: unknown field "${at}.${_clip(key)}" (expected ${
          allowed.map((k) => `"${k}"`).join(", ")
        })`,
      );
    }
  }
  return value;
}

function _string(value: unknown, at: string, max?: number): string {
  if (typeof value !== "string") _fail(TypeError, at, "must be a string", value);
  const text = value as string;
  if (max !== undefined && text.length > max) {
    throw new RangeError(
      `${PREFIX}: field "${at}" is ${text.length} characters, over the limit of ${max}`,
    );
  }
  return text;
}

function _fail(
  Kind: typeof TypeError | typeof RangeError,
  at: string,
  what: string,
  value: unknown,
): never {
  throw new Kind(`${PREFIX}: field "${at}" ${what}, got ${describe(value)}`);
}

function _clip(text: string): string {
  return text.length > 40 ? `${text.slice(0, 40)}…` : text;
}
