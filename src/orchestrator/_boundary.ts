// Validation of what an agent's worker sends the orchestrator: tool call
// requests and step results. The agent's code is untrusted (it may be
// hostile), so nothing it sends is used before it is checked here. Internal:
// the orchestrator and its runs call these.
import {
  type ErrorInfo,
  type OaoError,
  ProtocolViolationError,
  toErrorInfo,
  ValueTooLargeError,
} from "../errors.ts";
import { boundErrorInfo, jsonBytes, type Limits } from "../limits.ts";
import type { StepResult, ToolCallRequest } from "./agent.ts";

/** Longest tool name accepted. */
export const MAX_TOOL_NAME_CHARS = 200;
/** Longest `run` tag (`<attempt>:<incarnation>`) accepted. */
export const MAX_RUN_CHARS = 100;
/** Longest execution id accepted in a tool call. */
export const MAX_EXECUTION_ID_CHARS = 200;

/**
 * Checks a tool call request from an agent's worker.
 *
 * @param value What the worker sent.
 * @param limits `maxValueBytes` bounds the arguments.
 * @returns A fresh request holding only the checked fields.
 * @throws {TypeError} Naming the field of the wrong type (or arguments that are not JSON).
 * @throws {RangeError} Naming the field out of range (empty or too long name, bad step, tokens).
 * @throws {ValueTooLargeError} When the arguments are over `maxValueBytes`.
 *
 * @example
 * ```ts
 * import { validateToolCallRequest } from "./_boundary.ts";
 * import { DEFAULT_LIMITS } from "../limits.ts";
 * const request = { executionId: "e", step: 1, run: "1:1", name: "t", args: {}, tokens: 3 };
 * console.assert(validateToolCallRequest(request, DEFAULT_LIMITS).tokens === 3);
 * ```
 */
export function validateToolCallRequest(
  value: unknown,
  limits: Pick<Limits, "maxValueBytes">,
): ToolCallRequest {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new TypeError(`Tool call refused: expected an object, got ${describe(value)}`);
  }
  const r = value as Record<string, unknown>;
  const executionId = boundedString(r.executionId, "executionId", MAX_EXECUTION_ID_CHARS);
  const name = boundedString(r.name, "name", MAX_TOOL_NAME_CHARS);
  if (name === "") throw new RangeError(`Tool call refused: field "name" is an empty string`);
  const run = boundedString(r.run, "run", MAX_RUN_CHARS);
  if (typeof r.step !== "number") {
    throw new TypeError(
      `Tool call refused: field "step" must be a number, got ${describe(r.step)}`,
    );
  }
  if (!Number.isSafeInteger(r.step) || r.step < 1) {
    throw new RangeError(
      `Tool call refused: field "step" must be a positive integer, got ${String(r.step)}`,
    );
  }
  const tokens = checkTokens(r.tokens, "Tool call refused");
  const size = jsonBytes(r.args);
  if (size === undefined) {
    throw new TypeError(
      `Tool call "${name}" refused: field "args" is not JSON-serializable`,
    );
  }
  if (size > limits.maxValueBytes) {
    throw new ValueTooLargeError(
      `The arguments of tool call "${name}"`,
      size,
      limits.maxValueBytes,
    );
  }
  return { executionId, step: r.step, run, name, args: r.args, tokens };
}

/** What {@linkcode validateStepResult} needs. */
export interface StepResultContext {
  /** Path of the agent that answered (named in the error). */
  actor: string;
  /** The step answered (named in the error). */
  step: number;
  /** `maxValueBytes` bounds state and output; error fields are bounded. */
  limits: Pick<Limits, "maxValueBytes" | "maxErrorChars" | "maxStackChars">;
}

/**
 * Checks the answer of an agent's worker to a step message.
 *
 * @param value What the worker answered.
 * @param context The agent, the step and the limits.
 * @returns A fresh result holding only the checked fields; a failure's error
 *   is bounded with `boundErrorInfo`.
 * @throws {ProtocolViolationError} Naming the malformed field.
 * @throws {ValueTooLargeError} When the state or the output is over `maxValueBytes`.
 *
 * @example
 * ```ts
 * import { validateStepResult } from "./_boundary.ts";
 * import { DEFAULT_LIMITS } from "../limits.ts";
 * const context = { actor: "e/a", step: 1, limits: DEFAULT_LIMITS };
 * const result = validateStepResult({ ok: true, state: {}, tokens: 2, hasOutput: false }, context);
 * console.assert(result.ok && result.tokens === 2);
 * ```
 */
export function validateStepResult(value: unknown, context: StepResultContext): StepResult {
  const bad = (detail: string) =>
    new ProtocolViolationError(context.actor, `the result of step ${context.step} ${detail}`);
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw bad(`is ${describe(value)}, expected an object`);
  }
  const r = value as Record<string, unknown>;
  if (typeof r.ok !== "boolean") throw bad(`has "ok" ${describe(r.ok)}, expected a boolean`);
  if (!isTokenCount(r.tokens)) {
    throw bad(`has "tokens" ${describe(r.tokens)}, expected a finite number >= 0`);
  }
  const tokens = r.tokens;
  if (!r.ok) {
    const error = r.error as Record<string, unknown> | null | undefined;
    if (
      typeof error !== "object" || error === null || typeof error.name !== "string" ||
      typeof error.message !== "string"
    ) {
      throw bad(`has "error" ${describe(error)}, expected an object with string name and message`);
    }
    return {
      ok: false,
      error: boundErrorInfo(error as unknown as ErrorInfo, context.limits),
      tokens,
    };
  }
  for (const field of ["done", "hasOutput"] as const) {
    if (r[field] !== undefined && typeof r[field] !== "boolean") {
      throw bad(`has "${field}" ${describe(r[field])}, expected a boolean`);
    }
  }
  const hasOutput = r.hasOutput === true;
  checkValue(r.state, "state", context, bad);
  const result: StepResult = { ok: true, state: r.state, tokens, hasOutput };
  if (typeof r.done === "boolean") result.done = r.done;
  if (hasOutput) {
    checkValue(r.output, "output", context, bad);
    result.output = r.output;
  }
  return result;
}

/**
 * The tokens a malformed step result reports, when that field alone is valid:
 * tokens spent are counted even when the rest of the result is refused.
 *
 * @param value What the worker answered.
 * @returns The token count, or 0.
 *
 * @example
 * ```ts
 * import { reportedTokens } from "./_boundary.ts";
 * console.assert(reportedTokens({ tokens: 5, ok: "yes" }) === 5);
 * console.assert(reportedTokens({ tokens: -1 }) === 0);
 * ```
 */
export function reportedTokens(value: unknown): number {
  const tokens = typeof value === "object" && value !== null
    ? (value as { tokens?: unknown }).tokens
    : undefined;
  return isTokenCount(tokens) ? tokens : 0;
}

/**
 * Plain, bounded data of any error, for events, reports and logs.
 *
 * @param error Anything thrown.
 * @param limits The error limits.
 * @returns Name, message, code and stack, each within the limits.
 *
 * @example
 * ```ts
 * import { boundedErrorInfo } from "./_boundary.ts";
 * import { DEFAULT_LIMITS } from "../limits.ts";
 * console.assert(boundedErrorInfo(new Error("x".repeat(1e5)), DEFAULT_LIMITS).message.length < 9000);
 * ```
 */
export function boundedErrorInfo(
  error: unknown,
  limits: Pick<Limits, "maxErrorChars" | "maxStackChars">,
): ErrorInfo {
  return boundErrorInfo(toErrorInfo(error), limits);
}

/**
 * Refuses a value that is not JSON or is over `maxValueBytes`.
 *
 * @param value The value.
 * @param what Which value, for the error (sentence case: `The result of tool "x"`).
 * @param maxBytes The limit.
 * @throws {TypeError} When the value is not JSON.
 * @throws {ValueTooLargeError} When it is too large.
 *
 * @example
 * ```ts
 * import { assertJsonWithin } from "./_boundary.ts";
 * assertJsonWithin({ a: 1 }, "The value", 100);
 * ```
 */
export function assertJsonWithin(value: unknown, what: string, maxBytes: number): void {
  const size = jsonBytes(value);
  if (size === undefined) throw new TypeError(`${what} is not JSON-serializable`);
  if (size > maxBytes) throw new ValueTooLargeError(what, size, maxBytes);
}

function checkValue(
  value: unknown,
  field: "state" | "output",
  context: StepResultContext,
  bad: (detail: string) => OaoError,
): void {
  const size = jsonBytes(value);
  if (size === undefined) throw bad(`has a "${field}" that is not JSON-serializable`);
  if (size > context.limits.maxValueBytes) {
    throw new ValueTooLargeError(
      `The ${field} of step ${context.step} of "${context.actor}"`,
      size,
      context.limits.maxValueBytes,
    );
  }
}

function isTokenCount(value: unknown): value is number {
  return typeof value === "number" && Number.isFinite(value) && value >= 0;
}

function checkTokens(value: unknown, prefix: string): number {
  if (typeof value !== "number") {
    throw new TypeError(`${prefix}: field "tokens" must be a number, got ${describe(value)}`);
  }
  if (!isTokenCount(value)) {
    throw new RangeError(
      `${prefix}: field "tokens" must be a finite number >= 0, got ${String(value)}`,
    );
  }
  return value;
}

function boundedString(value: unknown, field: string, max: number): string {
  if (typeof value !== "string") {
    throw new TypeError(
      `Tool call refused: field "${field}" must be a string, got ${describe(value)}`,
    );
  }
  if (value.length > max) {
    throw new RangeError(
      `Tool call refused: field "${field}" is ${value.length} characters, over the limit of ${max}`,
    );
  }
  return value;
}

/**
 * A short description of an untrusted value, for error messages: its type,
 * and small primitives quoted.
 *
 * @param value The value.
 * @returns E.g. `the string "x"`, `number 3`, `an object`.
 */
export function describe(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  switch (typeof value) {
    case "string":
      return value.length <= 40 ? `the string ${JSON.stringify(value)}` : "a long string";
    case "number":
    case "boolean":
    case "bigint":
      return `${typeof value} ${String(value)}`;
    case "undefined":
      return "undefined";
    case "object":
      return "an object";
    default:
      return `a ${typeof value}`;
  }
}
