/**
 * An agent that never considers itself done: every review sends it back to
 * PLAN, and every iteration calls a tool and spends tokens. Only its policy
 * stops it — which is the point.
 *
 * @module
 */
import { defineAgent } from "../src/orchestrator/agent.ts";

export default defineAgent<{ calls: number }>({
  name: "runaway",
  version: "1.0.0",
  initialState: () => ({ calls: 0 }),
  async execute(ctx) {
    await ctx.tool("search", { query: `more, more, more (${ctx.state.calls})` });
    ctx.state.calls++;
    ctx.recordTokens(500);
  },
  review: () => false,
});
