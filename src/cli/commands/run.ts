/**
 * `oao run <agent> <task>`: one execution in the foreground, with live
 * progress, then the report. Exit code 0 when it succeeds, 1 otherwise.
 *
 * @module
 */
import { type Command, EXIT_FAILURE, EXIT_OK, UsageError } from "../_command.ts";
import { reportLines } from "../_format.ts";
import { runLive } from "../_live.ts";
import {
  createRuntime,
  PATIENT_REDIS_TIMEOUT_MS,
  POLICY_FLAGS,
  policyFromFlags,
  RUNTIME_ENV,
  RUNTIME_FLAGS,
} from "../_runtime.ts";
import { UnknownAgentError } from "../../errors.ts";
import { newExecutionId } from "../../orchestrator/orchestrator.ts";

const ID = /^[A-Za-z0-9_.-]+$/;

/** The `run` command. */
export const runCommand: Command = {
  name: "run",
  summary: "Run one execution in the foreground with live progress, then print its report",
  description: [
    "Each step and tool call is printed as it happens; the report follows. SIGINT or",
    "SIGTERM cancels the execution. Exit code 0 when it succeeds, 1 when it fails or",
    "is cancelled, 2 for bad input.",
  ].join("\n"),
  args: [
    { name: "agent", description: "Registered agent name, e.g. researcher" },
    {
      name: "task",
      description: `The task as JSON, e.g. '{"topic":"actors"}', or @file.json`,
    },
  ],
  flags: [
    ...RUNTIME_FLAGS,
    ...POLICY_FLAGS,
    {
      name: "id",
      type: "string",
      valueName: "id",
      description: "Execution id (default: a new one)",
    },
    { name: "json", type: "boolean", description: "Print only the report, as JSON" },
    { name: "quiet", short: "q", type: "boolean", description: "No live progress" },
  ],
  defaultLogLevel: "WARN",
  env: RUNTIME_ENV,
  examples: [
    `run researcher '{"topic":"actor systems","sources":2}'`,
    "run flaky '{\"items\":3}'",
    "run runaway '{}' --max-tool-calls 3",
    "run researcher @task.json --json",
  ],
  async run(ctx) {
    const [agent, taskArg] = ctx.args as [string, string];
    const task = await _readTask(taskArg);
    const policy = policyFromFlags(ctx);
    const executionId = ctx.string("id") ?? newExecutionId();
    if (!ID.test(executionId)) {
      throw new UsageError(
        `Invalid flag "--id" value "${executionId}": expected letters, digits, "_", "." or "-"`,
      );
    }
    const runtime = await createRuntime(ctx, { redisTimeoutMs: PATIENT_REDIS_TIMEOUT_MS });
    try {
      const orchestrator = runtime.createOrchestrator();
      try {
        orchestrator.resolveAgent(agent);
      } catch (error) {
        if (error instanceof UnknownAgentError) throw new UsageError(error.message);
        throw error;
      }
      const json = ctx.boolean("json");
      if (!json) ctx.out(`Running "${agent}" as ${executionId}`);
      const report = await runLive(
        ctx,
        orchestrator,
        executionId,
        (id) => orchestrator.start(agent, task, { executionId: id, policy }),
        { progress: !json && !ctx.boolean("quiet") },
      );
      if (json) ctx.out(JSON.stringify(report, null, 2));
      else reportLines(report).forEach((line) => ctx.out(line));
      return report.status === "SUCCESS" ? EXIT_OK : EXIT_FAILURE;
    } finally {
      await runtime.close();
    }
  },
};

/**
 * Parses the `<task>` argument: JSON, or `@path` to a JSON file.
 *
 * @param raw The argument.
 * @returns The task.
 * @throws {UsageError} When it is not JSON or the file cannot be read.
 */
async function _readTask(raw: string): Promise<unknown> {
  let text = raw;
  if (raw.startsWith("@")) {
    try {
      text = await Deno.readTextFile(raw.slice(1));
    } catch (error) {
      throw new UsageError(
        `Invalid argument <task> "${raw}": cannot read "${raw.slice(1)}" (${
          (error as Error).message
        })`,
      );
    }
  }
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new UsageError(
      `Invalid argument <task> "${raw.length > 60 ? `${raw.slice(0, 59)}…` : raw}": not JSON (${
        (error as Error).message
      }); quote a string as '"text"'`,
    );
  }
}
