/**
 * The message of the commands that look an execution or a workflow up
 * (`status`, `events`, `resume`, `replay`, `fork`, `workflow`) when it is
 * not found.
 *
 * @module
 */

/**
 * Says that an execution (or a workflow) is not recorded, and why that may be.
 *
 * @param executionId The id looked up.
 * @param storage Where the command looked.
 * @param kind What was looked up. @default {"execution"}
 * @returns The message.
 *
 * @example
 * ```ts
 * import { notFoundMessage } from "./_not_found.ts";
 * console.assert(notFoundMessage("exec-1", "memory").includes("OAO_STORE=kv"));
 * ```
 */
export function notFoundMessage(
  executionId: string,
  storage: "redis" | "kv" | "memory",
  kind: "execution" | "workflow" = "execution",
): string {
  if (storage === "kv") {
    return `No ${kind} "${executionId}" is recorded in the Deno KV file (check OAO_STORE, OAO_KEY_PREFIX, and the 7-day retention)`;
  }
  return storage === "redis"
    ? `No ${kind} "${executionId}" is recorded in Redis (check REDIS_URL, OAO_KEY_PREFIX, and the 7-day retention)`
    : `No ${kind} "${executionId}" is recorded: this command runs on its own empty in-memory stores (OAO_STORE=memory, or Deno KV unavailable: ask the process running it over HTTP, or use OAO_STORE=kv or REDIS_URL)`;
}
