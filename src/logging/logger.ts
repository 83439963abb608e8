/**
 * OAO's loggers: LogTape loggers under the `oao` category whose records
 * carry the execution id, the actor and the trace id as the properties
 * `executionId`, `actor`, `traceId` (and `spanId`), either explicitly through
 * {@linkcode getOaoLogger}'s context or implicitly inside
 * {@linkcode withLogContext}.
 *
 * @example
 * ```ts
 * import { getOaoLogger } from "./logger.ts";
 * const log = getOaoLogger("runtime", { executionId: "exec-1", actor: "planner" });
 * log.info("Step {step} started", { step: 1 });
 * ```
 *
 * @module
 */
import { getLogger, type Logger, withContext } from "@logtape/logtape";
import type { TraceContext } from "../tracing/trace_context.ts";

/** What a log record is about. Absent fields are left out of the record. */
export interface LogContext {
  /** The execution the record belongs to. */
  executionId?: string | undefined;
  /** The actor path, e.g. `planner` or `supervisor/tools`. */
  actor?: string | undefined;
  /** The active span's context (`span.context`); adds `traceId` and `spanId`. */
  trace?: TraceContext | undefined;
}

/** The root category of every OAO logger. */
export const OAO_CATEGORY = "oao";

/**
 * Turns a {@linkcode LogContext} into record properties.
 *
 * @param context Execution, actor and trace.
 * @returns `{ executionId?, actor?, traceId?, spanId? }` without absent fields.
 *
 * @example
 * ```ts
 * import { logContextProperties } from "./logger.ts";
 * const props = logContextProperties({ actor: "planner" });
 * console.assert(props.actor === "planner" && !("executionId" in props));
 * ```
 */
export function logContextProperties(context: LogContext): Record<string, string> {
  const props: Record<string, string> = {};
  if (context.executionId !== undefined) props.executionId = context.executionId;
  if (context.actor !== undefined) props.actor = context.actor;
  if (context.trace !== undefined) {
    props.traceId = context.trace.traceId;
    props.spanId = context.trace.spanId;
  }
  return props;
}

/**
 * Returns the logger for an OAO subsystem, optionally bound to a context so
 * that every record it makes carries `executionId`, `actor` and `traceId`.
 *
 * @param category Subcategory below `oao`, e.g. `"runtime"` or `["redis", "queue"]`.
 * @param context Properties attached to every record.
 * @returns A LogTape logger (use `.with()` to add more properties).
 *
 * @example
 * ```ts
 * import { getOaoLogger } from "./logger.ts";
 * const log = getOaoLogger(["runtime", "supervisor"]);
 * console.assert(log.category.join(".") === "oao.runtime.supervisor");
 * ```
 */
export function getOaoLogger(
  category: string | readonly string[],
  context?: LogContext,
): Logger {
  const logger = getLogger([
    OAO_CATEGORY,
    ...(typeof category === "string" ? [category] : category),
  ]);
  return context ? logger.with(logContextProperties(context)) : logger;
}

/**
 * Runs `fn` with a context that every OAO record made inside it (including
 * after `await`) carries; nested contexts add to the outer one. Needs
 * {@linkcode configureLogging} (which installs the async context storage).
 *
 * @param context Execution, actor and trace.
 * @param fn The work to run.
 * @returns What `fn` returns.
 *
 * @example
 * ```ts
 * import { getOaoLogger, withLogContext } from "./logger.ts";
 * await withLogContext({ executionId: "exec-1" }, async () => {
 *   getOaoLogger("runtime").info("Inside the execution");
 * });
 * ```
 */
export function withLogContext<T>(context: LogContext, fn: () => T): T {
  return withContext(logContextProperties(context), fn);
}
