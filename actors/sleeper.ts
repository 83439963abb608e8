/**
 * Handles each message slowly: `{ value, sleepMs? }` waits `sleepMs` (an
 * await, not a busy loop), records `value` and replies with it.
 * `{ type: "report" }` replies with every value recorded, in order.
 *
 * @module
 */
import { defineBehavior } from "../src/actor/behavior.ts";

/** Messages the sleeper understands. */
export type SleeperMessage = { value: unknown; sleepMs?: number } | { type: "report" };

export default defineBehavior({
  initialState: (): unknown[] => [],
  async receive(state: unknown[], message: SleeperMessage, ctx) {
    if ("type" in message) {
      ctx.reply(state);
      return state;
    }
    if (message.sleepMs) await new Promise((resolve) => setTimeout(resolve, message.sleepMs));
    ctx.reply(message.value);
    return [...state, message.value];
  },
});
