/**
 * Benchmark source: `{ type: "run", n, to, batch? }` tells `to` the messages
 * `{ type: "add", n: i }` for i < n, then asks `to` for its count (which,
 * by per-sender ordering, arrives after all of them) and replies with it.
 *
 * @module
 */
import { defineBehavior } from "../src/actor/behavior.ts";

export default defineBehavior({
  initialState: null,
  async receive(state: null, message: { type: "run"; n: number; to: string }, ctx) {
    for (let i = 0; i < message.n; i++) ctx.tell(message.to, { type: "add", n: i });
    ctx.reply(await ctx.ask(message.to, { type: "count" }, { timeoutMs: 120_000 }));
    return state;
  },
});
