/**
 * The benchmark agent: work in three steps (PLAN, EXECUTE with one tool call,
 * REVIEW) of the smallest lifecycle, INIT → PLAN → EXECUTE → REVIEW → TERMINATE.
 *
 * @module
 */
import { defineAgent } from "../src/orchestrator/agent.ts";

export default defineAgent<{ planned: boolean; result: unknown }, { item: number }>({
  name: "bench",
  version: "1.0.0",
  initialState: () => ({ planned: false, result: null }),
  plan(ctx) {
    ctx.state.planned = true;
    ctx.recordTokens(10);
  },
  async execute(ctx) {
    ctx.state.result = await ctx.tool("process_item", { item: ctx.task.item });
  },
  review: (ctx) => ({ done: true, output: ctx.state.result }),
});
