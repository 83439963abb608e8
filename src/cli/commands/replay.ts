/**
 * `oao replay <id>`: rebuilds an execution from its events alone — no agent
 * code, no tool runs — and prints its timeline and the rebuilt report; for a
 * workflow id, the workflow's timeline and status.
 *
 * @module
 */
import { type Command, EXIT_FAILURE, EXIT_OK } from "../_command.ts";
import { reportLines, timelineLines } from "../_format.ts";
import { notFoundMessage } from "../_not_found.ts";
import { createRuntime, OBSERVABILITY_ENV, QUERY_RUNTIME, STORE_ENV } from "../_runtime.ts";
import { ExecutionNotFoundError } from "../../errors.ts";
import { projectExecution } from "../../orchestrator/execution_view.ts";
import { reportFromView } from "../../orchestrator/orchestrator.ts";
import { findWorkflow, taskOutputs, workflowStatusLines } from "../_workflow.ts";

/** The `replay` command. */
export const replayCommand: Command = {
  name: "replay",
  summary: "Rebuild an execution from its events (no side effects) and print it",
  description: [
    "Reads the event log and folds it into the execution's state: the timeline, the tool",
    "calls with their recorded results, and the report. No agent code and no tool runs.",
    "Given a workflow id, the workflow's timeline and the state of each task (whose",
    "executions replay on their own: oao replay <workflow id>.<task>).",
    "Exit code 1 when there is no such execution.",
  ].join("\n"),
  args: [{ name: "id", description: "Execution id (or workflow id)" }],
  flags: [
    { name: "json", type: "boolean", description: "Print { report, toolCalls, timeline } as JSON" },
  ],
  env: [...STORE_ENV, ...OBSERVABILITY_ENV],
  examples: ["replay exec-mwz08qmm-e67d12d24b"],
  async run(ctx) {
    const [id] = ctx.args as [string];
    const runtime = await createRuntime(ctx, QUERY_RUNTIME);
    try {
      const timeline = await runtime.eventStore.readRange(id);
      let view;
      try {
        view = projectExecution(id, timeline);
      } catch (error) {
        if (!(error instanceof ExecutionNotFoundError)) throw error;
        const workflow = await findWorkflow(runtime, id);
        if (!("view" in workflow)) {
          ctx.err(`error: ${notFoundMessage(id, runtime.storage)}`);
          return EXIT_FAILURE;
        }
        const outputs = await taskOutputs(runtime.eventStore, workflow.view);
        if (ctx.boolean("json")) {
          ctx.out(JSON.stringify({ workflow: workflow.view, outputs, timeline }, null, 2));
          return EXIT_OK;
        }
        ctx.out(`Timeline of workflow ${id} (${timeline.length} events, rebuilt from the log)`);
        timelineLines(timeline).forEach((line) => ctx.out(line));
        ctx.out("");
        workflowStatusLines(workflow.view, outputs).forEach((line) => ctx.out(line));
        return EXIT_OK;
      }
      const report = reportFromView(view);
      if (ctx.boolean("json")) {
        ctx.out(JSON.stringify({ report, toolCalls: view.toolCalls, timeline }, null, 2));
        return EXIT_OK;
      }
      ctx.out(`Timeline of ${id} (${timeline.length} events, rebuilt from the log)`);
      timelineLines(timeline).forEach((line) => ctx.out(line));
      ctx.out("");
      reportLines(report).forEach((line) => ctx.out(line));
      return EXIT_OK;
    } finally {
      await runtime.close();
    }
  },
};
