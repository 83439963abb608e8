/**
 * `oao resume <id>`: continues an execution whose process died, from its
 * event log and snapshots (the Deno KV file or Redis), with live progress,
 * then the report.
 *
 * @module
 */
import { type Command, EXIT_FAILURE, EXIT_OK } from "../_command.ts";
import { reportLines } from "../_format.ts";
import { runLive } from "../_live.ts";
import { notFoundMessage } from "../_not_found.ts";
import {
  createRuntime,
  PATIENT_REDIS_TIMEOUT_MS,
  RUNTIME_ENV,
  RUNTIME_FLAGS,
} from "../_runtime.ts";
import { ExecutionNotFoundError } from "../../errors.ts";
import { findWorkflow } from "../_workflow.ts";

/** The `resume` command. */
export const resumeCommand: Command = {
  name: "resume",
  summary: "Continue an execution whose process died, from its event log",
  description: [
    "State, counters and history are rebuilt from the event log; the first incomplete",
    "step runs again, its completed tool calls answered from the log. An execution that",
    "already finished is not run again: its report is printed. The agent, its version,",
    "its tools and the policy must be those it started with. Needs durable stores (the",
    "default Deno KV file, or REDIS_URL). Exit code 0 when it succeeds, 1 otherwise.",
    "Another process running it makes this one refuse, naming it, until its lease expires.",
    "An execution that failed because of its environment (a permission this process lacked,",
    "the store unreachable, a worker that could not start) goes on with --retry once fixed.",
    'One that waits for a decision (NEEDS_DECISION) goes on with "oao resolve"; one still',
    "QUEUED is started by what queued it (exit code 1, saying so).",
  ].join("\n"),
  args: [{ name: "id", description: "Execution id" }],
  flags: [
    ...RUNTIME_FLAGS,
    {
      name: "retry",
      type: "boolean",
      description: "Continue an execution that FAILED because of its environment (error retryable)",
    },
    { name: "json", type: "boolean", description: "Print only the report, as JSON" },
    { name: "quiet", short: "q", type: "boolean", description: "No live progress" },
  ],
  defaultLogLevel: "WARN",
  env: RUNTIME_ENV,
  examples: ["resume exec-mwz08qmm-e67d12d24b", "resume --retry exec-mwz08qmm-e67d12d24b"],
  async run(ctx) {
    const [id] = ctx.args as [string];
    const runtime = await createRuntime(ctx, { redisTimeoutMs: PATIENT_REDIS_TIMEOUT_MS });
    try {
      const orchestrator = runtime.createOrchestrator();
      const json = ctx.boolean("json");
      if (!json) ctx.out(`Resuming ${id}`);
      let report;
      try {
        report = await runLive(
          ctx,
          orchestrator,
          id,
          (eid) => orchestrator.startResume(eid, { retry: ctx.boolean("retry") }),
          {
            progress: !json && !ctx.boolean("quiet"),
          },
        );
      } catch (error) {
        if (error instanceof ExecutionNotFoundError) {
          const workflow = await findWorkflow(runtime, id);
          ctx.err(
            `error: ${
              "view" in workflow
                ? `"${id}" is a workflow: resume it with "oao workflow resume ${id}"`
                : notFoundMessage(id, runtime.storage)
            }`,
          );
          return EXIT_FAILURE;
        }
        throw error;
      }
      if (json) ctx.out(JSON.stringify(report, null, 2));
      else if (report.status === "QUEUED") {
        // Nothing to continue: what queued it (a node's line, a job) starts it.
        ctx.err(
          `error: execution "${id}" is QUEUED: it has not started, and the node or the job that queued it starts it; a resume would do nothing`,
        );
      } else reportLines(report).forEach((line) => ctx.out(line));
      return report.status === "SUCCESS" ? EXIT_OK : EXIT_FAILURE;
    } finally {
      await runtime.close();
    }
  },
};
