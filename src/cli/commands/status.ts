/**
 * `oao status <id>`: an execution's status, step, totals and report, from
 * its event log (see `OAO_STORE`); for a workflow id, the
 * workflow's status (as `oao workflow status` shows it).
 *
 * @module
 */
import { type Command, EXIT_FAILURE, EXIT_OK } from "../_command.ts";
import { brief, formatUsd, reportLines } from "../_format.ts";
import { createRuntime, OBSERVABILITY_ENV, QUERY_RUNTIME, STORE_ENV } from "../_runtime.ts";
import { notFoundMessage } from "../_not_found.ts";
import { executionStatus } from "../../api/execution_status.ts";
import { findWorkflow, printWorkflowStatus } from "../_workflow.ts";

/** The `status` command. */
export const statusCommand: Command = {
  name: "status",
  summary: "Show an execution's status, step, totals and report",
  description: [
    "Reads the execution's event log (the Deno KV file, or Redis with REDIS_URL). With",
    "OAO_STORE=memory the stores are this command's own (empty): ask the process that runs",
    "the execution (GET /executions/:id) instead.",
    'Given a workflow id, shows the workflow (as "oao workflow status" does).',
    "Exit code 0 when found, 1 when there is no such execution.",
  ].join("\n"),
  args: [{ name: "id", description: "Execution id (or workflow id)" }],
  flags: [{ name: "json", type: "boolean", description: "Print the status document as JSON" }],
  env: [...STORE_ENV, ...OBSERVABILITY_ENV],
  examples: ["status exec-mwz08qmm-e67d12d24b", "status exec-mwz08qmm-e67d12d24b --json"],
  async run(ctx) {
    const [id] = ctx.args as [string];
    const runtime = await createRuntime(ctx, QUERY_RUNTIME);
    try {
      const status = executionStatus(id, await runtime.eventStore.readRange(id));
      if (!status) {
        const workflow = await findWorkflow(runtime, id);
        if ("view" in workflow) return await printWorkflowStatus(ctx, runtime, workflow.view);
        ctx.err(`error: ${notFoundMessage(id, runtime.storage)}`);
        return EXIT_FAILURE;
      }
      if (ctx.boolean("json")) {
        ctx.out(JSON.stringify(status, null, 2));
        return EXIT_OK;
      }
      ctx.out(`${status.executionId}  ${status.agent ?? "-"}  ${status.status}`);
      ctx.out(
        `  state   ${status.state ?? "-"} (step ${status.step}, iteration ${status.iteration})`,
      );
      const cost = status.totals.costUsd;
      ctx.out(
        `  totals  steps ${status.totals.steps}, tool calls ${status.totals.toolCalls}, tokens ${status.totals.tokens}${
          cost === undefined ? "" : `, cost ${formatUsd(cost)}`
        }`,
      );
      if (status.startedAt !== undefined) {
        ctx.out(`  started ${new Date(status.startedAt).toISOString()}`);
      }
      ctx.out(
        `  last    ${new Date(status.lastEventAt).toISOString()} (${status.eventCount} events)`,
      );
      if (status.task !== undefined) ctx.out(`  task    ${brief(status.task, 100)}`);
      const waiting = status.waitingFor;
      if (waiting?.kind === "signal") {
        ctx.out(
          `  waits   for signal "${waiting.name}"${
            waiting.deadline === null ? "" : ` until ${new Date(waiting.deadline).toISOString()}`
          } (send it with: oao signal ${status.executionId} ${waiting.name} '<json>')`,
        );
      } else if (waiting?.kind === "timer") {
        ctx.out(`  waits   until ${new Date(waiting.until).toISOString()} (a durable sleep)`);
      } else if (waiting?.kind === "approval") {
        ctx.out(
          `  waits   for approval of call ${waiting.callId.slice(0, 12)} of tool "${waiting.tool}"${
            waiting.deadline === null ? "" : ` until ${new Date(waiting.deadline).toISOString()}`
          } (decide with: oao approve|deny ${status.executionId} ${waiting.callId.slice(0, 12)})`,
        );
      }
      if (status.decision) {
        ctx.out(
          `  decide  call ${status.decision.callId} of tool "${status.decision.tool}": oao resolve ${status.executionId} ${
            status.decision.callId.slice(0, 12)
          } --succeeded <json> | --failed <reason> | --rerun`,
        );
      }
      if (status.report) {
        ctx.out("");
        reportLines(status.report).forEach((line) => ctx.out(line));
      }
      return EXIT_OK;
    } finally {
      await runtime.close();
    }
  },
};
