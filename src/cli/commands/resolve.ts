/**
 * `oao resolve <id> <callId> --succeeded <json> | --failed <reason> | --rerun`:
 * records an operator's decision on the tool call an execution waits for
 * (status NEEDS_DECISION), then continues the execution with live progress
 * and prints the report.
 *
 * @module
 */
import { type Command, EXIT_FAILURE, EXIT_OK, UsageError } from "../_command.ts";
import { reportLines } from "../_format.ts";
import { runLive } from "../_live.ts";
import { notFoundMessage } from "../_not_found.ts";
import { createRuntime, RUNTIME_ENV, RUNTIME_FLAGS } from "../_runtime.ts";
import { ExecutionNotFoundError } from "../../errors.ts";
import type { Decision } from "../../orchestrator/execution_report.ts";

/**
 * The `resolve` command.
 *
 * @example
 * ```ts
 * import { resolveCommand } from "./resolve.ts";
 * import { renderCommandHelp } from "../_command.ts";
 * console.assert(renderCommandHelp(resolveCommand).includes("--succeeded"));
 * ```
 */
export const resolveCommand: Command = {
  name: "resolve",
  summary: "Decide on a tool call whose outcome a crash left unknown, and continue",
  description: [
    "A tool that is not declared idempotent and was running when its process died may or",
    "may not have had its effect: its execution waits in NEEDS_DECISION (see `oao status`).",
    "Say what happened — it succeeded (with the result the agent gets), it failed (the",
    "agent's call fails with the reason), or it must run again — and the execution goes on",
    "here. The decision and who made it (--by, default $USER) are in the audit log. Exit",
    "code 0 when the execution then succeeds, 1 otherwise, 2 for bad input.",
  ].join("\n"),
  args: [
    { name: "id", description: "Execution id" },
    { name: "callId", description: "The call's id, or its first 8+ characters" },
  ],
  flags: [
    ...RUNTIME_FLAGS,
    {
      name: "succeeded",
      type: "string",
      valueName: "json",
      description: "The call succeeded with this JSON result",
    },
    {
      name: "failed",
      type: "string",
      valueName: "reason",
      description: "The call failed (had no effect), for this reason",
    },
    { name: "rerun", type: "boolean", description: "Run the call again" },
    { name: "by", type: "string", valueName: "name", description: "Who decides (default $USER)" },
    { name: "json", type: "boolean", description: "Print only the report, as JSON" },
    { name: "quiet", short: "q", type: "boolean", description: "No live progress" },
  ],
  defaultLogLevel: "WARN",
  env: RUNTIME_ENV,
  examples: [
    `resolve exec-mwz08qmm-e67d12d24b 3f9a1c2e7b4d --succeeded '{"charged":true}'`,
    `resolve exec-mwz08qmm-e67d12d24b 3f9a1c2e7b4d --failed "the card was not charged"`,
    "resolve exec-mwz08qmm-e67d12d24b 3f9a1c2e7b4d --rerun",
  ],
  async run(ctx) {
    const [id, callId] = ctx.args as [string, string];
    const decision = decisionOf(
      ctx.string("succeeded"),
      ctx.string("failed"),
      ctx.boolean("rerun"),
    );
    const by = ctx.string("by") ?? ctx.env("USER") ?? "an operator";
    const runtime = await createRuntime(ctx);
    try {
      const orchestrator = runtime.createOrchestrator();
      const json = ctx.boolean("json");
      try {
        await orchestrator.resolve(id, callId, decision, { by: `${by} (oao resolve)` });
      } catch (error) {
        if (error instanceof ExecutionNotFoundError) {
          ctx.err(`error: ${notFoundMessage(id, runtime.storage)}`);
          return EXIT_FAILURE;
        }
        if (error instanceof TypeError) throw new UsageError(error.message, "resolve");
        throw error;
      }
      if (!json) ctx.out(`Decision recorded; resuming ${id}`);
      const report = await runLive(ctx, orchestrator, id, (eid) => orchestrator.startResume(eid), {
        progress: !json && !ctx.boolean("quiet"),
      });
      if (json) ctx.out(JSON.stringify(report, null, 2));
      else reportLines(report).forEach((line) => ctx.out(line));
      return report.status === "SUCCESS" ? EXIT_OK : EXIT_FAILURE;
    } finally {
      await runtime.close();
    }
  },
};

function decisionOf(
  succeeded: string | undefined,
  failed: string | undefined,
  rerun: boolean,
): Decision {
  const given = [succeeded !== undefined, failed !== undefined, rerun].filter(Boolean).length;
  if (given !== 1) {
    throw new UsageError(
      `Give exactly one of --succeeded <json>, --failed <reason>, --rerun (got ${given})`,
      "resolve",
    );
  }
  if (failed !== undefined) return { failed };
  if (rerun) return { rerun: true };
  try {
    return { succeeded: JSON.parse(succeeded!) };
  } catch (error) {
    throw new UsageError(
      `Invalid flag "--succeeded" value: expected JSON (${(error as Error).message})`,
      "resolve",
    );
  }
}
