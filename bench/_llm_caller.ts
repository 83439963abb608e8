// The agent of bench/llm_bench.ts: in EXECUTE it makes `calls` model calls
// one after another and keeps how long each took, timed in its worker.
import { defineAgent } from "../src/orchestrator/agent.ts";

export default defineAgent<{ latencies: number[] }, { calls: number; stream: boolean }>({
  name: "llm-caller",
  version: "1.0.0",
  initialState: () => ({ latencies: [] }),
  async execute(ctx) {
    for (let i = 0; i < ctx.task.calls; i++) {
      const request = { model: "openai:gpt-4o-mini", prompt: `question ${i}` };
      const started = performance.now();
      if (ctx.task.stream) await ctx.streamText(request);
      else await ctx.generateText(request);
      ctx.state.latencies.push(performance.now() - started);
    }
  },
  review: (ctx) => ({ done: true, output: ctx.state }),
});
