// An agent whose EXECUTE step fails, for the tests of the code a failed
// execution reports: it calls the tools its task lists without catching
// their errors, then throws the error its task describes, if any.
import { defineAgent } from "../../src/orchestrator/agent.ts";

export interface FailingStepTask {
  /** Tools called in turn; their errors are not caught. */
  tools?: string[];
  /** Thrown after the calls: an `Error` with this message, and `code` when given. */
  fail?: { message: string; code?: string };
}

export default defineAgent<Record<string, never>, FailingStepTask>({
  name: "failing-step",
  version: "1.0.0",
  initialState: () => ({}),
  async execute(ctx) {
    for (const tool of ctx.task.tools ?? []) await ctx.tool(tool, {});
    const fail = ctx.task.fail;
    if (fail) throw Object.assign(new Error(fail.message), fail.code ? { code: fail.code } : {});
  },
  review: () => ({ done: true }),
});
