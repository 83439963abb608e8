/**
 * OAO's execution lifecycle: INIT → PLAN → EXECUTE → REVIEW → TERMINATE, with
 * REVIEW able to send the execution back to PLAN (an agent loop), and FAILED
 * reachable from every state. Every state entry but FAILED is a numbered step.
 *
 * @example
 * ```ts
 * import { nextState } from "./lifecycle.ts";
 * console.assert(nextState("REVIEW", { done: false }) === "PLAN");
 * console.assert(nextState("REVIEW", { done: true }) === "TERMINATE");
 * ```
 *
 * @module
 */

/** Lifecycle states. */
export type LifecycleState = "INIT" | "PLAN" | "EXECUTE" | "REVIEW" | "TERMINATE" | "FAILED";

/** Every lifecycle state, in order. */
export const LIFECYCLE_STATES: readonly LifecycleState[] = [
  "INIT",
  "PLAN",
  "EXECUTE",
  "REVIEW",
  "TERMINATE",
  "FAILED",
];

/** Allowed transitions (FAILED is allowed from every non-terminal state). */
export const TRANSITIONS: Readonly<Record<LifecycleState, readonly LifecycleState[]>> = {
  INIT: ["PLAN", "FAILED"],
  PLAN: ["EXECUTE", "FAILED"],
  EXECUTE: ["REVIEW", "FAILED"],
  REVIEW: ["PLAN", "TERMINATE", "FAILED"],
  TERMINATE: [],
  FAILED: [],
};

/**
 * The state after a completed step.
 *
 * @param state The state whose step completed.
 * @param outcome For REVIEW: whether the agent is done.
 * @returns The next state, or `undefined` after TERMINATE.
 * @throws {RangeError} For FAILED, which has no next state.
 *
 * @example
 * ```ts
 * import { nextState } from "./lifecycle.ts";
 * console.assert(nextState("INIT", {}) === "PLAN");
 * ```
 */
export function nextState(
  state: LifecycleState,
  outcome: { done?: boolean },
): LifecycleState | undefined {
  switch (state) {
    case "INIT":
      return "PLAN";
    case "PLAN":
      return "EXECUTE";
    case "EXECUTE":
      return "REVIEW";
    case "REVIEW":
      return outcome.done === false ? "PLAN" : "TERMINATE";
    case "TERMINATE":
      return undefined;
    case "FAILED":
      throw new RangeError(`Invalid transition: FAILED is terminal`);
  }
}

/**
 * Whether `to` may follow `from`.
 *
 * @param from Current state.
 * @param to Candidate next state.
 * @returns `true` when the transition is allowed.
 *
 * @example
 * ```ts
 * import { canTransition } from "./lifecycle.ts";
 * console.assert(canTransition("PLAN", "FAILED") && !canTransition("PLAN", "REVIEW"));
 * ```
 */
export function canTransition(from: LifecycleState, to: LifecycleState): boolean {
  return TRANSITIONS[from].includes(to);
}
