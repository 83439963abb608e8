// Validation of a durable wait an agent's worker asks for (`ctx.waitForSignal`,
// `ctx.sleep`, `ctx.sleepUntil`): untrusted, so checked field by field before
// anything is recorded. Internal.
import type { WaitServiceRequest } from "./agent.ts";
import { MAX_EXECUTION_ID_CHARS, MAX_RUN_CHARS } from "./_boundary.ts";

const NAME = /^[A-Za-z0-9_.:-]{1,100}$/;
const MAX_DELAY_MS = 2 ** 31 - 1;
// Timers at most ten years ahead: a date beyond is a mistake, not a plan.
const MAX_UNTIL_AHEAD_MS = 10 * 365 * 24 * 3_600_000;

/**
 * Checks a wait request from an agent's worker.
 *
 * @param value What the worker sent.
 * @param now The host's time (for `until`).
 * @returns A fresh request: a signal wait, or a timer with its due time.
 * @throws {TypeError | RangeError} Naming the field that is wrong.
 */
export function validateWaitRequest(
  value: unknown,
  now: number,
): Omit<WaitServiceRequest, "wait"> & {
  wait: { kind: "signal"; name: string; timeoutMs?: number } | { kind: "timer"; until: number };
} {
  const refuse = (detail: string) => new TypeError(`Wait refused: ${detail}`);
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw refuse("expected an object");
  }
  const r = value as Record<string, unknown>;
  const text = (v: unknown, field: string, max: number) => {
    if (typeof v !== "string" || v.length > max) {
      throw refuse(`field "${field}" must be a string of at most ${max} characters`);
    }
    return v;
  };
  const executionId = text(r.executionId, "executionId", MAX_EXECUTION_ID_CHARS);
  const run = text(r.run, "run", MAX_RUN_CHARS);
  if (typeof r.step !== "number" || !Number.isSafeInteger(r.step) || r.step < 1) {
    throw refuse(`field "step" must be a positive integer`);
  }
  const w = r.wait;
  if (typeof w !== "object" || w === null || Array.isArray(w)) {
    throw refuse(`field "wait" must be an object`);
  }
  const wait = w as Record<string, unknown>;
  const base = { executionId, run, step: r.step };
  if (wait.kind === "signal") {
    if (typeof wait.name !== "string" || !NAME.test(wait.name)) {
      throw new TypeError(
        `Invalid signal name ${
          JSON.stringify(String(wait.name).slice(0, 120))
        }: expected 1–100 letters, digits, "_", ".", ":" or "-"`,
      );
    }
    if (wait.timeoutMs === undefined) return { ...base, wait: { kind: "signal", name: wait.name } };
    const timeoutMs = delay(wait.timeoutMs, "timeoutMs");
    return { ...base, wait: { kind: "signal", name: wait.name, timeoutMs } };
  }
  if (wait.kind === "timer") {
    if ((wait.ms === undefined) === (wait.until === undefined)) {
      throw refuse(`a timer needs exactly one of "ms" and "until"`);
    }
    if (wait.ms !== undefined) {
      return { ...base, wait: { kind: "timer", until: now + delay(wait.ms, "ms") } };
    }
    if (typeof wait.until !== "number" || !Number.isFinite(wait.until)) {
      throw new TypeError(
        `Invalid sleepUntil time ${String(wait.until)}: expected epoch ms or a Date`,
      );
    }
    if (wait.until > now + MAX_UNTIL_AHEAD_MS) {
      throw new RangeError(
        `Invalid sleepUntil time ${_time(wait.until)}: more than ten years ahead`,
      );
    }
    return { ...base, wait: { kind: "timer", until: wait.until } };
  }
  throw refuse(`field "wait.kind" must be "signal" or "timer"`);
}

/** A time for an error message: ISO 8601 when a Date can hold it, else the number. */
function _time(ms: number): string {
  return Math.abs(ms) <= 8.64e15 ? new Date(ms).toISOString() : String(ms);
}

function delay(value: unknown, field: string): number {
  if (typeof value !== "number" || !Number.isInteger(value) || value < 0 || value > MAX_DELAY_MS) {
    throw new RangeError(
      `Invalid ${field} ${String(value)}: expected an integer from 0 to ${MAX_DELAY_MS} ms`,
    );
  }
  return value;
}
