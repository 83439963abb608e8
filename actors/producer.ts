/**
 * Sends numbered messages to another actor: `{ type: "produce", to, count, tag }`
 * tells `to` the messages `{ tag, i }` for i = 1…count, then replies `count`.
 *
 * @module
 */
import { defineBehavior } from "../src/actor/behavior.ts";

/** The produce command. */
export interface ProduceMessage {
  type: "produce";
  to: string;
  count: number;
  tag: string;
}

export default defineBehavior({
  initialState: null,
  receive(state: null, message: ProduceMessage, ctx) {
    for (let i = 1; i <= message.count; i++) ctx.tell(message.to, { tag: message.tag, i });
    ctx.reply(message.count);
    return state;
  },
});
