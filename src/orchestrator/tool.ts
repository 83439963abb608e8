/**
 * Tools: what agents call with `ctx.tool(name, args)`. Tools run in the
 * orchestrator's process (with its permissions), never in the agent's
 * worker. Every call gets a key — SHA-256 of the canonical JSON of the tool
 * name and arguments, plus the occurrence number of that same call within the
 * execution — so a replayed call is recognised and answered from the log,
 * while a genuine second identical call still runs.
 *
 * @example
 * ```ts
 * import { defineTool } from "./tool.ts";
 * const add = defineTool({
 *   name: "add",
 *   idempotent: true,
 *   run: ({ a, b }: { a: number; b: number }) => a + b,
 * });
 * console.assert(add.name === "add");
 * ```
 *
 * @module
 */
import { canonicalJson, sha256Hex } from "./canonical_json.ts";

/** What a tool sees besides its arguments. */
export interface ToolContext {
  /** The execution making the call. */
  executionId: string;
  /** The agent making the call. */
  agent: string;
  /** The step during which it is called. */
  step: number;
  /**
   * The call's idempotency key. Pass it to external APIs that deduplicate
   * (payment and messaging APIs usually do), so that a re-run after a crash
   * between the side effect and its record has no second effect.
   */
  key: string;
  /** Aborted when the execution is cancelled, times out or the call times out. */
  signal: AbortSignal;
}

/** A tool. */
export interface ToolDefinition<A = never, R = unknown> {
  /** Name agents call it by. */
  name: string;
  /** What it does (shown to operators and in `--help`). */
  description?: string;
  /**
   * Safe to run again when a crash left its outcome unknown (its intent is
   * recorded, its result is not). Non-idempotent tools then fail the
   * execution with `ToolOutcomeUnknownError`, for an operator to decide.
   * @default {false}
   */
  idempotent?: boolean;
  /** Time limit of one call, in ms. @default {60000} */
  timeoutMs?: number;
  /**
   * Every call waits for a person's approval before it runs, whatever the
   * policy says (a policy's `requireApproval` can name more tools).
   * @default {false}
   */
  requireApproval?: boolean;
  /** Does the work. Its result must be JSON-serializable (it is recorded). */
  run(args: A, ctx: ToolContext): R | Promise<R>;
}

/**
 * Types a tool definition (identity at run time) and validates its shape.
 *
 * @param tool The tool.
 * @returns The same tool.
 * @throws {TypeError} Naming what is wrong.
 *
 * @example
 * ```ts
 * import { defineTool } from "./tool.ts";
 * const now = defineTool({ name: "now", run: () => Date.now() });
 * console.assert(typeof now.run === "function");
 * ```
 */
export function defineTool<A, R>(tool: ToolDefinition<A, R>): ToolDefinition<A, R> {
  if (typeof tool !== "object" || tool === null) {
    throw new TypeError(`Invalid tool ${JSON.stringify(tool)}: expected an object`);
  }
  if (typeof tool.name !== "string" || !/^[A-Za-z0-9_.:-]+$/.test(tool.name)) {
    throw new TypeError(
      `Invalid tool name ${
        JSON.stringify(tool.name)
      }: expected letters, digits, "_", ".", ":" or "-"`,
    );
  }
  if (typeof tool.run !== "function") {
    throw new TypeError(`Invalid tool "${tool.name}": "run" must be a function`);
  }
  if (tool.requireApproval !== undefined && typeof tool.requireApproval !== "boolean") {
    throw new TypeError(
      `Invalid requireApproval ${
        JSON.stringify(tool.requireApproval)
      } of tool "${tool.name}": expected a boolean`,
    );
  }
  if (tool.timeoutMs !== undefined && !(tool.timeoutMs > 0)) {
    throw new RangeError(
      `Invalid timeoutMs ${
        JSON.stringify(tool.timeoutMs)
      } of tool "${tool.name}": expected a positive number`,
    );
  }
  return tool;
}

/**
 * The hash of a call: SHA-256 of the canonical JSON of `{ tool, args }`.
 *
 * @param tool Tool name.
 * @param args Arguments (JSON).
 * @returns 64 hex characters.
 * @throws {TypeError} When the arguments are not JSON.
 *
 * @example
 * ```ts
 * import { callHash } from "./tool.ts";
 * console.assert(await callHash("a", { x: 1, y: 2 }) === await callHash("a", { y: 2, x: 1 }));
 * ```
 */
export async function callHash(tool: string, args: unknown): Promise<string> {
  return await sha256Hex(canonicalJson({ tool, args: args === undefined ? null : args }));
}

/**
 * The key of the `occurrence`-th identical call (1 for the first).
 *
 * @param hash The call hash.
 * @param occurrence 1, 2, 3, … for repeated identical calls.
 * @returns `<hash>#<occurrence>`.
 *
 * @example
 * ```ts
 * import { callKey } from "./tool.ts";
 * console.assert(callKey("ab", 2) === "ab#2");
 * ```
 */
export function callKey(hash: string, occurrence: number): string {
  return `${hash}#${occurrence}`;
}
