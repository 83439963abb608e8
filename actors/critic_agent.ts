/**
 * A critic. As a peer agent, it answers `{ summary }` messages with a short
 * critique. As a workflow task, it critiques the `summary` of each of its
 * dependencies' outputs (`ctx.dependencies`) and of its own task, if it has
 * one, and outputs `{ <task name>: critique }` (`task` for its own).
 *
 * Task: `{ summary?: string }` (optional).
 *
 * @module
 */
import { defineAgent } from "../src/orchestrator/agent.ts";

/** The critique of one summary. */
function critique(summary: string): string {
  return summary.length > 20 ? "well sourced" : "too thin";
}

function summaryOf(value: unknown): string | undefined {
  const summary = (value as { summary?: unknown } | null | undefined)?.summary;
  return typeof summary === "string" ? summary : undefined;
}

export default defineAgent({
  name: "critic",
  version: "1.0.0",
  review(ctx) {
    const output: Record<string, string> = {};
    for (const [name, value] of Object.entries(ctx.dependencies)) {
      const summary = summaryOf(value);
      if (summary !== undefined) output[name] = critique(summary);
    }
    const own = summaryOf(ctx.task);
    if (own !== undefined) output.task = critique(own);
    return { done: true, output };
  },
  onMessage(message) {
    return critique(summaryOf(message) ?? "");
  },
});
