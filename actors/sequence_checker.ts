/**
 * Checks per-sender order: receives `{ tag, i }` and counts, per tag, the
 * messages and the order violations (an `i` that is not the previous + 1).
 * `{ type: "report" }` replies with `{ counts, violations }`.
 *
 * @module
 */
import { defineBehavior } from "../src/actor/behavior.ts";

/** The checker's state. */
export interface CheckerState {
  last: Record<string, number>;
  counts: Record<string, number>;
  violations: number;
}

export default defineBehavior({
  initialState: (): CheckerState => ({ last: {}, counts: {}, violations: 0 }),
  receive(state: CheckerState, message: { tag: string; i: number } | { type: "report" }, ctx) {
    if ("type" in message) {
      ctx.reply({ counts: state.counts, violations: state.violations });
      return state;
    }
    const previous = state.last[message.tag] ?? 0;
    if (message.i !== previous + 1) state.violations++;
    state.last[message.tag] = message.i;
    state.counts[message.tag] = (state.counts[message.tag] ?? 0) + 1;
    return state;
  },
});
