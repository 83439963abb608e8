/**
 * Replies with the message it receives; stateless.
 *
 * @module
 */
import { defineBehavior } from "../src/actor/behavior.ts";

export default defineBehavior({
  initialState: null,
  receive(state: null, message: unknown, ctx) {
    ctx.reply(message);
    return state;
  },
});
