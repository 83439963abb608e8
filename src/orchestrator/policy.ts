/**
 * Governance: hard limits on steps, tokens, model cost, tool calls and
 * wall-clock time. Checked before every step, every tool call and every model
 * call (which is refused when its `maxOutputTokens` could exceed the token or
 * cost budget, and sent with what the budgets have left as its bound when it
 * sets none); a violation fails the execution at once and is never retried. One more limit bounds each
 * step on its own (`stepTimeoutMs`): a step that runs longer is stopped and
 * counts as a failed attempt, retried by the retry policy. And governance
 * beyond limits: the tools whose calls wait for a person's approval
 * (`requireApproval`), and how long they wait (`approvalTimeoutMs`).
 *
 * @example
 * ```ts
 * import { StrictPolicy } from "./policy.ts";
 * const policy = new StrictPolicy({ maxSteps: 10, maxToolCalls: 3 });
 * console.assert(policy.checkToolCall({ steps: 2, tokens: 0, toolCalls: 3 }, 0)?.limit === "maxToolCalls");
 * ```
 *
 * @module
 */
import type { Totals } from "../events/event_store.ts";

/** The limits of a policy. */
export interface PolicyLimits {
  /** Steps (state entries) allowed. @default {50} */
  maxSteps: number;
  /** Tokens allowed: model calls' usage plus what agents record. @default {100000} */
  maxTokens: number;
  /** Tool calls allowed. @default {100} */
  maxToolCalls: number;
  /**
   * Wall-clock time allowed for the whole execution, in ms. Waits for a
   * person or for time (signals, approvals, `ctx.sleep`) do not count: they
   * have their own limits (`timeoutMs` of the wait, `approvalTimeoutMs`).
   * @default {300000}
   */
  timeoutMs: number;
  /**
   * Wall-clock time allowed for one attempt of one step, in ms, even when
   * `timeoutMs` is `Infinity`: the agent's worker is stopped when a step runs
   * longer (the smaller of the two applies), and the attempt fails. Waits for
   * a person or for time do not count, as for `timeoutMs`, once the execution
   * is passivated (with `passivateAfterMs: Infinity`, their waits count).
   * @default {300000}
   */
  stepTimeoutMs: number;
  /**
   * Cost of model calls allowed, in USD, from the price table (models it does
   * not price cost 0). Any positive number; `Infinity` is no limit.
   * @default {Infinity}
   */
  maxCostUsd: number;
  /**
   * Tools whose calls wait for a person's approval (`POST
   * /executions/:id/approvals/:callId`, `oao approve`) before they run; a
   * denial fails the call with `ApprovalDeniedError`. Per-execution
   * overrides add to this list, never remove from it.
   * @default {[]}
   */
  requireApproval: readonly string[];
  /**
   * How long a call waits for its approval, in ms, before it fails with
   * `ApprovalTimeoutError`; `Infinity` waits for as long as the execution may.
   * @default {Infinity}
   */
  approvalTimeoutMs: number;
}

/** A limit that was reached. */
export interface Violation {
  /** Which limit. */
  limit: Exclude<keyof PolicyLimits, "requireApproval">;
  /** The value that would exceed it. */
  value: number;
  /** The limit. */
  max: number;
}

/** Default limits. */
export const DEFAULT_POLICY: PolicyLimits = {
  maxSteps: 50,
  maxTokens: 100_000,
  maxToolCalls: 100,
  timeoutMs: 300_000,
  stepTimeoutMs: 300_000,
  maxCostUsd: Infinity,
  requireApproval: [],
  approvalTimeoutMs: Infinity,
};

/** Limits measured in milliseconds (any positive number, `Infinity` included). */
const TIME_LIMITS: ReadonlySet<string> = new Set([
  "timeoutMs",
  "stepTimeoutMs",
  "approvalTimeoutMs",
]);
/** Limits that are any positive number; the others are integers. */
const NUMBER_LIMITS: ReadonlySet<string> = new Set([...TIME_LIMITS, "maxCostUsd"]);

/**
 * Largest finite time limit (`timeoutMs`, `stepTimeoutMs`), in ms: the
 * longest timer a runtime can set (about 24.8 days). `Infinity` means none.
 */
export const MAX_TIME_LIMIT_MS = 2_147_483_647;

/** A policy object: limits plus the checks. */
export class StrictPolicy {
  /** The limits. */
  readonly limits: Readonly<PolicyLimits>;

  /**
   * @param limits Limits; missing ones take the defaults.
   * @throws {RangeError} Naming a limit that is not a positive number.
   */
  constructor(limits: Partial<PolicyLimits> = {}) {
    const merged = { ...DEFAULT_POLICY, ...limits };
    for (const key of Object.keys(merged) as (keyof PolicyLimits)[]) {
      if (!(key in DEFAULT_POLICY)) {
        throw new RangeError(
          `Invalid policy field "${key}": expected one of ${
            Object.keys(DEFAULT_POLICY).join(", ")
          }`,
        );
      }
      const value = merged[key];
      if (key === "requireApproval") {
        merged.requireApproval = toolList(value);
        continue;
      }
      const integer = !NUMBER_LIMITS.has(key);
      if (
        typeof value !== "number" || !(value > 0) ||
        (integer && !Number.isInteger(value) && value !== Infinity)
      ) {
        throw new RangeError(
          `Invalid policy ${key} ${JSON.stringify(value)}: expected a positive ${
            integer ? "integer" : "number"
          }`,
        );
      }
      if (TIME_LIMITS.has(key) && value !== Infinity && value > MAX_TIME_LIMIT_MS) {
        throw new RangeError(
          `Invalid policy ${key} ${value}: expected at most ${MAX_TIME_LIMIT_MS} ms (about 24.8 days, the longest timer)`,
        );
      }
    }
    this.limits = Object.freeze(merged);
  }

  /**
   * Whether a call of the tool waits for a person's approval under this policy.
   *
   * @param tool The tool's name.
   * @returns `true` when `requireApproval` lists it.
   *
   * @example
   * ```ts
   * import { StrictPolicy } from "./policy.ts";
   * console.assert(new StrictPolicy({ requireApproval: ["charge"] }).requiresApproval("charge"));
   * ```
   */
  requiresApproval(tool: string): boolean {
    return this.limits.requireApproval.includes(tool);
  }

  /**
   * Checks that `requireApproval` names registered tools only. A name that
   * is no tool guards nothing: a misspelt `"chrage"` would let every call of
   * `"charge"` through without a person's approval.
   *
   * @param registered The names of the tools agents may call.
   * @throws {TypeError} Naming the tools that are not registered, and those that are.
   *
   * @example
   * ```ts
   * import { StrictPolicy } from "./policy.ts";
   * new StrictPolicy({ requireApproval: ["charge"] }).checkTools(["charge", "search"]);
   * ```
   */
  checkTools(registered: readonly string[]): void {
    const unknown = this.limits.requireApproval.filter((tool) => !registered.includes(tool));
    if (unknown.length === 0) return;
    const quoted = (names: readonly string[]) =>
      names.slice(0, 20).map((n) => JSON.stringify(n)).join(", ") +
      (names.length > 20 ? `, … (${names.length - 20} more)` : "");
    throw new TypeError(
      `Invalid policy requireApproval: ${quoted(unknown)} ${
        unknown.length === 1 ? "is no registered tool" : "are no registered tools"
      } (tools: ${quoted([...registered].sort()) || "none"})`,
    );
  }

  /**
   * Checks whether one more step may start.
   *
   * @param totals Totals so far.
   * @param elapsedMs Time since the execution started.
   * @returns The violation, or `undefined`.
   */
  checkStep(totals: Totals, elapsedMs: number): Violation | undefined {
    return this.#check(totals, elapsedMs) ??
      (totals.steps + 1 > this.limits.maxSteps
        ? { limit: "maxSteps", value: totals.steps + 1, max: this.limits.maxSteps }
        : undefined);
  }

  /**
   * Checks whether one more tool call may run.
   *
   * @param totals Totals so far.
   * @param elapsedMs Time since the execution started.
   * @returns The violation, or `undefined`.
   */
  checkToolCall(totals: Totals, elapsedMs: number): Violation | undefined {
    return this.#check(totals, elapsedMs) ??
      (totals.toolCalls + 1 > this.limits.maxToolCalls
        ? { limit: "maxToolCalls", value: totals.toolCalls + 1, max: this.limits.maxToolCalls }
        : undefined);
  }

  /**
   * Checks whether a model call may be made: the budgets must hold even if
   * it writes all of `maxOutputTokens` (priced at `outputPerMTokUsd`). A
   * call without `maxOutputTokens` must be sent with
   * {@linkcode StrictPolicy.outputAllowance} as its bound; it is refused
   * when that allows not even one token.
   *
   * @param totals Totals so far.
   * @param elapsedMs Time since the execution started.
   * @param call The call's output bound and its model's output price (USD per million tokens).
   * @returns The violation, or `undefined`.
   *
   * @example
   * ```ts
   * import { StrictPolicy } from "./policy.ts";
   * const policy = new StrictPolicy({ maxTokens: 1_000 });
   * const totals = { steps: 2, tokens: 900, toolCalls: 0 };
   * console.assert(policy.checkModelCall(totals, 0, { maxOutputTokens: 200 })?.limit === "maxTokens");
   * ```
   */
  checkModelCall(
    totals: Totals,
    elapsedMs: number,
    call: { maxOutputTokens?: number | undefined; outputPerMTokUsd?: number | undefined },
  ): Violation | undefined {
    const now = this.#check(totals, elapsedMs);
    if (now) return now;
    // Sent with the allowance as its bound: only an allowance of 0 breaks a budget.
    const output = call.maxOutputTokens ??
      (this.outputAllowance(totals, call) === 0 ? 1 : 0);
    const tokens = totals.tokens + output;
    if (tokens > this.limits.maxTokens) {
      return { limit: "maxTokens", value: tokens, max: this.limits.maxTokens };
    }
    const cost = roundUsd((totals.costUsd ?? 0) + output * (call.outputPerMTokUsd ?? 0) / 1e6);
    if (cost > this.limits.maxCostUsd) {
      return { limit: "maxCostUsd", value: cost, max: this.limits.maxCostUsd };
    }
    return undefined;
  }

  /**
   * The most output tokens a model call may write with the budgets left:
   * the tokens left under `maxTokens`, and under `maxCostUsd` at the model's
   * output price. The bound to send with a call that sets no `maxOutputTokens`.
   *
   * @param totals Totals so far.
   * @param call The model's output price (USD per million tokens), when it is priced.
   * @returns The allowance (0 when a budget is spent), or `undefined` when no budget bounds it.
   *
   * @example
   * ```ts
   * import { StrictPolicy } from "./policy.ts";
   * const policy = new StrictPolicy({ maxTokens: 1_000, maxCostUsd: 0.01 });
   * const totals = { steps: 2, tokens: 600, toolCalls: 0, costUsd: 0.008 };
   * console.assert(policy.outputAllowance(totals, {}) === 400);
   * console.assert(policy.outputAllowance(totals, { outputPerMTokUsd: 10 }) === 200);
   * ```
   */
  outputAllowance(
    totals: Totals,
    call: { outputPerMTokUsd?: number | undefined },
  ): number | undefined {
    const { maxTokens, maxCostUsd } = this.limits;
    let allowance = maxTokens === Infinity ? Infinity : Math.max(0, maxTokens - totals.tokens);
    const price = call.outputPerMTokUsd ?? 0;
    if (maxCostUsd !== Infinity && price > 0) {
      const spent = totals.costUsd ?? 0;
      const left = Math.floor((maxCostUsd - spent) * 1e6 / price + 1e-6);
      let byCost = Math.max(0, Math.min(Number.MAX_SAFE_INTEGER, left));
      // The check rounds to 1e-12 USD: the allowance is what it lets through.
      for (let i = 0; i < 3 && byCost > 0; i++) {
        if (roundUsd(spent + byCost * price / 1e6) <= maxCostUsd) break;
        byCost--;
      }
      allowance = Math.min(allowance, byCost);
    }
    return allowance === Infinity ? undefined : Math.min(allowance, Number.MAX_SAFE_INTEGER);
  }

  /**
   * Checks the limits that hold at every moment (tokens, cost, time).
   *
   * @param totals Totals so far.
   * @param elapsedMs Time since the execution started.
   * @returns The violation, or `undefined`.
   */
  checkNow(totals: Totals, elapsedMs: number): Violation | undefined {
    return this.#check(totals, elapsedMs);
  }

  #check(totals: Totals, elapsedMs: number): Violation | undefined {
    if (totals.tokens > this.limits.maxTokens) {
      return { limit: "maxTokens", value: totals.tokens, max: this.limits.maxTokens };
    }
    if ((totals.costUsd ?? 0) > this.limits.maxCostUsd) {
      return { limit: "maxCostUsd", value: totals.costUsd!, max: this.limits.maxCostUsd };
    }
    if (elapsedMs > this.limits.timeoutMs) {
      return { limit: "timeoutMs", value: Math.round(elapsedMs), max: this.limits.timeoutMs };
    }
    return undefined;
  }

  /**
   * A copy with some limits replaced (per-execution overrides). Tools that
   * `requireApproval` lists are added to this policy's, never removed.
   *
   * @param overrides Limits to replace.
   * @returns The new policy.
   * @throws {RangeError | TypeError} Naming an invalid limit.
   */
  with(overrides: Partial<PolicyLimits>): StrictPolicy {
    const requireApproval = overrides.requireApproval === undefined
      ? this.limits.requireApproval
      : [...new Set([...this.limits.requireApproval, ...toolList(overrides.requireApproval)])];
    return new StrictPolicy({ ...this.limits, ...overrides, requireApproval });
  }
}

// The tool names of `requireApproval`, checked, without duplicates, sorted.
function toolList(value: unknown): readonly string[] {
  if (
    !Array.isArray(value) || value.length > 1_000 ||
    !value.every((n) => typeof n === "string" && /^[A-Za-z0-9_.:-]{1,200}$/.test(n))
  ) {
    throw new TypeError(
      `Invalid policy requireApproval ${
        JSON.stringify(value)?.slice(0, 200)
      }: expected an array of tool names (letters, digits, "_", ".", ":" or "-")`,
    );
  }
  return Object.freeze([...new Set(value as string[])].sort());
}

/**
 * Accepts a policy object or plain limits.
 *
 * @param policy A `StrictPolicy`, limits, or nothing (defaults).
 * @returns A `StrictPolicy`.
 *
 * @example
 * ```ts
 * import { toPolicy } from "./policy.ts";
 * console.assert(toPolicy({ maxSteps: 3 }).limits.maxSteps === 3);
 * ```
 */
export function toPolicy(policy: StrictPolicy | Partial<PolicyLimits> | undefined): StrictPolicy {
  if (policy instanceof StrictPolicy) return policy;
  if (policy !== undefined && (typeof policy !== "object" || policy === null)) {
    throw new TypeError(`Invalid policy ${JSON.stringify(policy)}: expected an object of limits`);
  }
  if (policy && "limits" in policy && typeof (policy as { limits: unknown }).limits === "object") {
    return new StrictPolicy((policy as { limits: Partial<PolicyLimits> }).limits);
  }
  return new StrictPolicy(policy ?? {});
}

/**
 * Rounds an amount in USD to 1e-12 (a sum of prices per token stays exact enough to compare).
 *
 * @param usd The amount.
 * @returns The rounded amount.
 *
 * @example
 * ```ts
 * import { roundUsd } from "./policy.ts";
 * console.assert(roundUsd(0.1 + 0.2) === 0.3);
 * ```
 */
export function roundUsd(usd: number): number {
  return Math.round(usd * 1e12) / 1e12;
}
