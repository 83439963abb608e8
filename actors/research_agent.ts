/**
 * A research agent: plans queries, searches and fetches with tools, records
 * the tokens it "spends", and reviews its notes — looping back to PLAN
 * until it has read `task.sources` pages (default 2). With a `critic` peer
 * it asks the critic to review its summary.
 *
 * Task: `{ topic: string, sources?: number }`.
 *
 * @module
 */
import { defineAgent } from "../src/orchestrator/agent.ts";

/** The research task. */
export interface ResearchTask {
  topic: string;
  sources?: number;
}

/** What the agent remembers between steps. */
export interface ResearchState {
  queries: string[];
  notes: string[];
}

export default defineAgent<ResearchState, ResearchTask>({
  name: "researcher",
  version: "1.0.0",
  initialState: () => ({ queries: [], notes: [] }),
  plan(ctx) {
    const query = `${ctx.task.topic} (part ${ctx.state.notes.length + 1})`;
    ctx.state.queries.push(query);
    ctx.recordTokens(50);
    ctx.log.info(`Planned query "${query}"`);
  },
  async execute(ctx) {
    const query = ctx.state.queries.at(-1)!;
    const hits = await ctx.tool<{ url: string }[]>("search", { query });
    const page = await ctx.tool<string>("fetch", { url: hits[0]!.url });
    ctx.recordTokens(Math.ceil(page.length / 4));
    ctx.state.notes.push(page);
  },
  async review(ctx) {
    ctx.recordTokens(30);
    const wanted = ctx.task.sources ?? 2;
    if (ctx.state.notes.length < wanted) return { done: false };
    let summary = `${ctx.task.topic}: ${ctx.state.notes.length} sources read`;
    let critic: string | undefined;
    try {
      critic = ctx.peer("critic");
    } catch {
      // No critic in this execution: the summary stands alone.
    }
    if (critic) summary += ` — critic: ${await ctx.ask<string>(critic, { summary })}`;
    return { done: true, output: { summary, notes: ctx.state.notes } };
  },
});
