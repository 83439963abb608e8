/**
 * A node of a ring of actors (`args: { next }`). `{ type: "start", rounds }`
 * sends `rounds` pings to the next node; `{ type: "ping" }` is counted;
 * `{ type: "count" }` replies with the pings received.
 *
 * @module
 */
import { defineBehavior } from "../src/actor/behavior.ts";

/** Messages a ring node understands. */
export type RingMessage = { type: "start"; rounds: number } | { type: "ping"; from: string } | {
  type: "count";
};

export default defineBehavior({
  initialState: () => ({ pings: 0 }),
  receive(state: { pings: number }, message: RingMessage, ctx) {
    switch (message.type) {
      case "start": {
        const { next } = ctx.args as { next: string };
        for (let i = 0; i < message.rounds; i++) ctx.tell(next, { type: "ping", from: ctx.self });
        return state;
      }
      case "ping":
        return { pings: state.pings + 1 };
      case "count":
        ctx.reply(state.pings);
        return state;
    }
  },
});
