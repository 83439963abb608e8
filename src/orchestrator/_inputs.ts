// Checks of what callers give the orchestrator: execution and workflow ids
// (start, fork, workflows; the HTTP API's schemas state the same rule) and
// the dependencies of an execution.
import { jsonBytes } from "../limits.ts";
import { ValueTooLargeError } from "../errors.ts";
import { canonicalJson } from "./canonical_json.ts";

/** Execution and workflow ids: 1–200 letters, digits, `_`, `.` or `-`. */
export const EXECUTION_ID = /^[A-Za-z0-9_.-]{1,200}$/;

/** Longest execution or workflow id. */
export const MAX_ID_LENGTH = 200;

/**
 * Checks an execution or workflow id.
 *
 * @param value The id.
 * @param what What it is, e.g. `executionId` or `workflow id`.
 * @returns The id.
 * @throws {TypeError} Naming `what` and the value when it breaks the rule.
 */
export function assertId(value: unknown, what: string): string {
  if (typeof value !== "string" || !EXECUTION_ID.test(value)) {
    throw new TypeError(
      `Invalid ${what} ${
        briefValue(value)
      }: expected 1–${MAX_ID_LENGTH} letters, digits, "_", "." or "-"`,
    );
  }
  return value;
}

/**
 * A value for an error message: its JSON (or text) cut to 80 characters.
 *
 * @param value Anything.
 * @returns The text.
 */
export function briefValue(value: unknown): string {
  let text: string;
  try {
    text = JSON.stringify(value) ?? String(value);
  } catch {
    text = String(value);
  }
  return text.length > 80 ? `${text.slice(0, 79)}…` : text;
}

/**
 * Checks the dependencies of an execution: an object of JSON outputs, within the size limit.
 *
 * @param value The dependencies.
 * @param maxBytes The `maxValueBytes` limit.
 * @throws {TypeError} When they are not an object of JSON values.
 * @throws {ValueTooLargeError} When they are over the limit.
 */
export function assertDependencies(value: unknown, maxBytes: number): void {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new TypeError(`Invalid dependencies ${briefValue(value)}: expected an object of outputs`);
  }
  canonicalJson(value);
  const size = jsonBytes(value)!;
  if (size > maxBytes) throw new ValueTooLargeError("The dependencies", size, maxBytes);
}
