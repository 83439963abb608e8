/**
 * A counter: `{ type: "add", n }` adds, `{ type: "get" }` replies with the
 * total. Its state is snapshotted, so a restarted counter resumes its total.
 *
 * @module
 */
import { defineBehavior } from "../src/actor/behavior.ts";

/** Messages the counter understands. */
export type CounterMessage = { type: "add"; n: number } | { type: "get" };

export default defineBehavior({
  initialState: () => ({ total: 0 }),
  receive(state: { total: number }, message: CounterMessage, ctx) {
    if (message.type === "add") return { total: state.total + message.n };
    ctx.reply(state.total);
    return state;
  },
});
