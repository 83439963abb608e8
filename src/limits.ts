/**
 * Size limits enforced where values cross the boundary between an actor's
 * worker and the host: step results, tool arguments, error messages, log
 * records, span batches and events. The defaults fit Redis, the HTTP API and
 * a browser console; each can be changed per orchestrator or actor system.
 *
 * @example
 * ```ts
 * import { boundErrorInfo, resolveLimits } from "./limits.ts";
 * const limits = resolveLimits({ maxErrorChars: 20 });
 * const info = boundErrorInfo({ name: "Error", message: "x".repeat(100) }, limits);
 * console.assert(info.message.startsWith("x".repeat(20)) && info.message.includes("80 more"));
 * ```
 *
 * @module
 */
import type { ErrorInfo } from "./errors.ts";

/** Size limits at the worker boundary. */
export interface Limits {
  /**
   * Largest UTF-8 size of the JSON of a value that crosses the boundary and is
   * recorded: a step's state, result or output, a tool call's arguments or result.
   * @default {1048576}
   */
  maxValueBytes: number;
  /** Longest error message kept; the rest is cut off with a note of how much. @default {8192} */
  maxErrorChars: number;
  /** Longest stack trace kept. @default {8192} */
  maxStackChars: number;
  /** Longest log message kept. @default {8192} */
  maxLogMessageChars: number;
  /** Most log records in one batch from a worker. @default {1000} */
  maxLogRecords: number;
  /** Most spans in one batch from a worker. @default {10000} */
  maxSpans: number;
  /** Largest UTF-8 size of the JSON of one stored event's data. @default {2097152} */
  maxEventBytes: number;
}

/** The default limits. */
export const DEFAULT_LIMITS: Readonly<Limits> = Object.freeze({
  maxValueBytes: 1024 * 1024,
  maxErrorChars: 8192,
  maxStackChars: 8192,
  maxLogMessageChars: 8192,
  maxLogRecords: 1000,
  maxSpans: 10_000,
  maxEventBytes: 2 * 1024 * 1024,
});

/**
 * Merges limits with the defaults and validates every field.
 *
 * @param partial Limits to change.
 * @returns Every limit.
 * @throws {TypeError} When a field is unknown or not a positive integer.
 *
 * @example
 * ```ts
 * import { resolveLimits } from "./limits.ts";
 * console.assert(resolveLimits({ maxLogRecords: 10 }).maxLogRecords === 10);
 * ```
 */
export function resolveLimits(partial: Partial<Limits> = {}): Limits {
  if (typeof partial !== "object" || partial === null) {
    throw new TypeError(`Invalid limits ${String(partial)}: expected an object`);
  }
  const limits: Limits = { ...DEFAULT_LIMITS };
  for (const [key, value] of Object.entries(partial)) {
    if (!Object.hasOwn(DEFAULT_LIMITS, key)) {
      throw new TypeError(
        `Invalid limit "${key}": expected one of ${
          Object.keys(DEFAULT_LIMITS).map((k) => `"${k}"`).join(", ")
        }`,
      );
    }
    if (value === undefined) continue;
    if (!Number.isSafeInteger(value) || value <= 0) {
      throw new TypeError(
        `Invalid limit "${key}": expected a positive integer, got ${JSON.stringify(value)}`,
      );
    }
    limits[key as keyof Limits] = value;
  }
  return limits;
}

/**
 * Cuts `text` to `max` characters, saying how much was cut.
 *
 * @param text The text.
 * @param max Most characters kept.
 * @returns The text, or its first `max` characters and a note.
 *
 * @example
 * ```ts
 * import { truncateText } from "./limits.ts";
 * console.assert(truncateText("abcdef", 3) === "abc… (3 more characters)");
 * ```
 */
export function truncateText(text: string, max: number): string {
  if (text.length <= max) return text;
  return `${text.slice(0, max)}… (${text.length - max} more characters)`;
}

/**
 * Bounds the message and stack of an error's plain data.
 *
 * @param info Error data (from a worker: any field may be absent or wrong).
 * @param limits The limits.
 * @returns Error data whose fields are strings within the limits.
 *
 * @example
 * ```ts
 * import { boundErrorInfo, DEFAULT_LIMITS } from "./limits.ts";
 * console.assert(boundErrorInfo({ name: "E", message: "m" }, DEFAULT_LIMITS).message === "m");
 * ```
 */
export function boundErrorInfo(
  info: ErrorInfo,
  limits: Pick<Limits, "maxErrorChars" | "maxStackChars">,
): ErrorInfo {
  const bounded: ErrorInfo = {
    name: truncateText(String(info.name), 200),
    message: truncateText(String(info.message), limits.maxErrorChars),
  };
  if (typeof info.code === "string") bounded.code = truncateText(info.code, 100);
  if (typeof info.stack === "string") {
    bounded.stack = truncateText(info.stack, limits.maxStackChars);
  }
  return bounded;
}

const encoder = new TextEncoder();

/**
 * UTF-8 size of the JSON of a value, or `undefined` when it is not JSON
 * (a cycle, a BigInt).
 *
 * @param value Any value.
 * @returns The size in bytes.
 *
 * @example
 * ```ts
 * import { jsonBytes } from "./limits.ts";
 * console.assert(jsonBytes({ a: "é" }) === 10);
 * ```
 */
export function jsonBytes(value: unknown): number | undefined {
  let json: string | undefined;
  try {
    json = JSON.stringify(value ?? null);
  } catch {
    return undefined;
  }
  if (json === undefined) return undefined;
  return encoder.encode(json).length;
}
