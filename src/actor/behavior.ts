/**
 * An actor's behaviour: a plain object exported by the actor's module. The
 * runtime owns everything else — the worker, the mailbox, retries,
 * snapshots and redelivery.
 *
 * @example An actor module
 * ```ts
 * import { defineBehavior } from "./behavior.ts";
 *
 * export default defineBehavior({
 *   initialState: () => ({ total: 0 }),
 *   receive(state, message: { add: number }, ctx) {
 *     const total = state.total + message.add;
 *     ctx.reply(total);
 *     return { total };
 *   },
 * });
 * ```
 *
 * @module
 */
import type { ActorContext } from "./actor_context.ts";

/** What an actor module exports (as `default` or as `behavior`). */
export interface ActorBehavior<S = unknown, M = unknown> {
  /** The state of a fresh actor, or a function that makes it. */
  initialState: S | (() => S);
  /**
   * Handles one message and returns the next state. May be async; the
   * mailbox does not deliver the next message before it settles. Throwing
   * (or rejecting) fails the actor: its supervisor decides what happens.
   * Answer an `ask` with `ctx.reply(value)`; without it the asker gets
   * `undefined` once the handler completes.
   */
  receive(state: S, message: M, ctx: ActorContext): S | Promise<S>;
  /**
   * Turns state into JSON-serializable snapshot data.
   * @default {the state itself}
   */
  snapshot?(state: S): unknown;
  /**
   * Rebuilds state from snapshot data.
   * @default {the data itself}
   */
  restore?(data: unknown): S;
}

/**
 * Types an actor behaviour (identity at run time).
 *
 * @param behavior The behaviour object.
 * @returns The same object, typed.
 *
 * @example
 * ```ts
 * import { defineBehavior } from "./behavior.ts";
 * const echo = defineBehavior({
 *   initialState: null,
 *   receive(state, message: string, ctx) {
 *     ctx.reply(message);
 *     return state;
 *   },
 * });
 * console.assert(typeof echo.receive === "function");
 * ```
 */
export function defineBehavior<S, M = unknown>(behavior: ActorBehavior<S, M>): ActorBehavior<S, M> {
  return behavior;
}

/**
 * Finds and validates the behaviour exported by an actor module.
 *
 * @param module The module namespace object.
 * @returns The behaviour.
 * @throws {TypeError} Naming what is missing or of the wrong type.
 *
 * @example
 * ```ts
 * import { behaviorFromModule } from "./behavior.ts";
 * const behavior = behaviorFromModule({ default: { initialState: 0, receive: (s: number) => s } });
 * console.assert(behavior.initialState === 0);
 * ```
 */
export function behaviorFromModule(module: Record<string, unknown>): ActorBehavior {
  const candidate = module.default ?? module.behavior;
  if (candidate === undefined) {
    throw new TypeError(
      `the module exports neither "default" nor "behavior" (exports: ${
        Object.keys(module).map((k) => `"${k}"`).join(", ") || "none"
      })`,
    );
  }
  if (typeof candidate !== "object" || candidate === null) {
    throw new TypeError(`the exported behaviour is a ${typeof candidate}, expected an object`);
  }
  const b = candidate as Record<string, unknown>;
  if (typeof b.receive !== "function") {
    throw new TypeError(`the exported behaviour has no "receive" function`);
  }
  if (!("initialState" in b)) {
    throw new TypeError(`the exported behaviour has no "initialState"`);
  }
  for (const hook of ["snapshot", "restore"] as const) {
    if (b[hook] !== undefined && typeof b[hook] !== "function") {
      throw new TypeError(
        `the exported behaviour's "${hook}" is a ${typeof b[hook]}, expected a function`,
      );
    }
  }
  return candidate as ActorBehavior;
}
