/**
 * Sums numbers, and can be told to crash in the ways a real actor fails:
 * throw, reject unhandled, hang in a busy loop, or have its worker exit. A crash
 * message only crashes on its first delivery, so after the restart it is a
 * no-op — the sum is exact if and only if no `add` is lost or applied twice.
 *
 * Messages: `{ type: "add", n }`, `{ type: "sum" }` (replies with
 * `{ sum, count }`), `{ type: "crash", mode: "throw" | "reject" | "hang" | "exit" }`.
 *
 * @module
 */
import { defineBehavior } from "../src/actor/behavior.ts";

/** Ways to fail. */
export type CrashMode = "throw" | "reject" | "hang" | "exit";

/** Messages the summer understands. */
export type SummerMessage =
  | { type: "add"; n: number }
  | { type: "sum" }
  | { type: "crash"; mode: CrashMode }
  | { type: "poison" };

/** The summer's state. */
export interface SummerState {
  sum: number;
  count: number;
}

export default defineBehavior({
  initialState: (): SummerState => ({ sum: 0, count: 0 }),
  receive(state: SummerState, message: SummerMessage, ctx) {
    switch (message.type) {
      case "add":
        return { sum: state.sum + message.n, count: state.count + 1 };
      case "sum":
        ctx.reply(state);
        return state;
      case "poison":
        throw new Error("poison message: fails on every delivery");
      case "crash":
        if (ctx.message.redelivered) return state;
        switch (message.mode) {
          case "throw":
            throw new Error("crash requested (throw)");
          case "reject":
            Promise.reject(new Error("crash requested (unhandled rejection)"));
            return state;
          case "hang":
            while (true) { /* busy loop until the watchdog terminates the worker */ }
          // falls through (unreachable)
          case "exit":
            // The worker ends itself between messages (the host hears of it: worker_exited).
            setTimeout(() => self.close(), 10);
            return state;
        }
    }
    return state;
  },
});
