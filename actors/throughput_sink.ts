/**
 * Benchmark sink: counts `{ type: "add" }` messages; `{ type: "count" }`
 * replies with the count and resets it.
 *
 * @module
 */
import { defineBehavior } from "../src/actor/behavior.ts";

export default defineBehavior({
  initialState: () => ({ count: 0, sum: 0 }),
  receive(
    state: { count: number; sum: number },
    message: { type: "add"; n: number } | { type: "count" },
    ctx,
  ) {
    if (message.type === "count") {
      ctx.reply(state.count);
      return { count: 0, sum: 0 };
    }
    state.count++;
    state.sum += message.n;
    return state;
  },
});
