// Formatting shared by the pages.

/** Statuses of executions, in the order the filters list them. */
export const STATUSES = ["QUEUED", "RUNNING", "NEEDS_DECISION", "SUCCESS", "FAILED", "CANCELLED"];

/** Whether a status is final. */
export function isFinal(status: string): boolean {
  return status === "SUCCESS" || status === "FAILED" || status === "CANCELLED";
}

/** A duration in ms as `850 ms`, `2.4 s`, `3 min 5 s`. */
export function duration(ms: number | undefined): string {
  if (ms === undefined || !Number.isFinite(ms)) return "–";
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  return `${Math.floor(ms / 60_000)} min ${Math.round((ms % 60_000) / 1000)} s`;
}

/** Epoch ms as local date and time. */
export function time(ms: number | undefined): string {
  return ms === undefined ? "–" : new Date(ms).toLocaleString();
}

/** JSON, indented, for `<pre>`. */
export function pretty(value: unknown): string {
  return JSON.stringify(value, null, 2) ?? "undefined";
}

/** The message of anything thrown. */
export function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
