/**
 * An agent whose worker crashes in the middle of its EXECUTE step the first
 * time it runs it (an uncaught error, as an out-of-memory or a native crash
 * would). The supervisor restarts the worker and the step is delivered again;
 * the second time it completes. Used by the demo and the tests to show
 * restarts with `RETRY_ATTEMPTED`.
 *
 * Task: `{ items: number }` — how many items to process.
 *
 * @module
 */
import { defineAgent } from "../src/orchestrator/agent.ts";

export default defineAgent<{ processed: number }, { items?: number }>({
  name: "flaky",
  version: "1.0.0",
  initialState: () => ({ processed: 0 }),
  async execute(ctx) {
    const items = ctx.task.items ?? 3;
    for (let i = 0; i < items; i++) {
      await ctx.tool("process_item", { item: i });
      ctx.state.processed++;
      if (i === 1 && !ctx.redelivered) {
        // Crash the worker outright: not an exception the step could catch.
        await new Promise(() =>
          setTimeout(() => {
            throw new Error("simulated crash: the agent's worker died mid-step");
          }, 0)
        );
      }
    }
  },
  review: (ctx) => ({ done: true, output: { processed: ctx.state.processed } }),
});
