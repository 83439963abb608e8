/**
 * What the API shows of the log: events and status documents without
 * stack traces (they name server paths and code) and with an agent's module
 * reduced to its file name. The event log itself keeps everything, for the
 * operator's own tools (`oao events`, the stores).
 *
 * @module
 */
import type { StoredEvent } from "../events/event_store.ts";
import type { ExecutionStatusBody } from "./execution_status.ts";

/**
 * An event as the API sends it.
 *
 * @param event The stored event.
 * @returns The event, or a copy without stacks and server paths.
 */
export function publicEvent(event: StoredEvent): StoredEvent {
  const data = event.data as Record<string, unknown> | undefined;
  if (!data || !_needsCleaning(data)) return event;
  return { ...event, data: _clean(data) as Record<string, unknown> };
}

/**
 * A status document as the API sends it.
 *
 * @param status The document.
 * @returns The document without stack traces.
 */
export function publicStatus(status: ExecutionStatusBody): ExecutionStatusBody {
  if (!status.error?.stack && !status.report?.error?.stack) return status;
  const copy = { ...status };
  if (copy.error) copy.error = _withoutStack(copy.error);
  if (copy.report?.error) copy.report = { ...copy.report, error: _withoutStack(copy.report.error) };
  return copy;
}

function _withoutStack<T extends { stack?: string }>(error: T): T {
  const { stack: _stack, ...rest } = error;
  return rest as T;
}

// Stacks travel in the errors events carry (`error`, `cause`); modules in EXECUTION_STARTED.
function _needsCleaning(data: Record<string, unknown>): boolean {
  return "module" in data || "error" in data || "cause" in data;
}

// Copies a JSON value, dropping every "stack" string and reducing "module" to a file name.
function _clean(value: unknown, depth = 0): unknown {
  if (depth > 64 || typeof value !== "object" || value === null) return value;
  if (Array.isArray(value)) return value.map((v) => _clean(v, depth + 1));
  const out: Record<string, unknown> = {};
  for (const [key, v] of Object.entries(value)) {
    if (key === "stack" && typeof v === "string") continue;
    if (key === "module" && typeof v === "string") {
      out[key] = v.replace(/[?#].*$/, "").split("/").at(-1) ?? "";
      continue;
    }
    out[key] = _clean(v, depth + 1);
  }
  return out;
}
