/**
 * `oao fork <executionId> --from-step N [--id newId]`: a new execution that
 * shares an execution's history up to a completed step and continues from
 * the state after it, in the foreground with live progress, then the report.
 * The original execution is left as it is.
 *
 * @module
 */
import { type Command, EXIT_FAILURE, EXIT_OK, UsageError } from "../_command.ts";
import { reportLines } from "../_format.ts";
import { runLive } from "../_live.ts";
import { notFoundMessage } from "../_not_found.ts";
import { createRuntime, RUNTIME_ENV, RUNTIME_FLAGS } from "../_runtime.ts";
import { ExecutionNotFoundError } from "../../errors.ts";
import { newExecutionId } from "../../orchestrator/orchestrator.ts";

const ID = /^[A-Za-z0-9_.-]{1,200}$/;

/**
 * The `fork` command.
 *
 * @example
 * ```ts
 * import { forkCommand } from "./fork.ts";
 * import { renderCommandHelp } from "../_command.ts";
 * console.assert(renderCommandHelp(forkCommand).includes("--from-step"));
 * ```
 */
export const forkCommand: Command = {
  name: "fork",
  summary: "Fork an execution from a completed step into a new execution, and run it",
  description: [
    "The new execution shares the history of <executionId> up to and including step N",
    "(its events are copied, the tool calls of those steps answered from the copy) and",
    "continues from the state after it. The original is not changed. The agent, its",
    "version and tools must still be registered. The source is looked up in the stores",
    "(the default Deno KV file, or REDIS_URL; not found in memory). Exit code 0 when the",
    "fork succeeds, 1 when it fails or the source is not found, 2 for bad input (a step",
    "that is not a completed step included).",
  ].join("\n"),
  args: [{ name: "executionId", description: "The execution to fork" }],
  flags: [
    ...RUNTIME_FLAGS,
    {
      name: "from-step",
      type: "integer",
      min: 1,
      valueName: "n",
      description: "The completed step the fork continues after (required)",
    },
    {
      name: "id",
      type: "string",
      valueName: "id",
      description: "Id of the new execution (default: a new one)",
    },
    { name: "json", type: "boolean", description: "Print only the report, as JSON" },
    { name: "quiet", short: "q", type: "boolean", description: "No live progress" },
  ],
  defaultLogLevel: "WARN",
  env: RUNTIME_ENV,
  examples: [
    "fork exec-mwz08qmm-e67d12d24b --from-step 3",
    "fork exec-mwz08qmm-e67d12d24b --from-step 3 --id what-if-1 --json",
  ],
  async run(ctx) {
    const [source] = ctx.args as [string];
    const fromStep = ctx.integer("from-step");
    if (fromStep === undefined) {
      throw new UsageError(`Missing flag "--from-step": the completed step to fork from`, "fork");
    }
    const newId = ctx.string("id") ?? newExecutionId();
    if (!ID.test(newId)) {
      throw new UsageError(
        `Invalid flag "--id" value "${newId}": expected 1–200 letters, digits, "_", "." or "-"`,
        "fork",
      );
    }
    const runtime = await createRuntime(ctx);
    try {
      const orchestrator = runtime.createOrchestrator();
      const json = ctx.boolean("json");
      // Said once the fork is accepted (its log written): before its first
      // progress line, never before a refusal.
      let announced = json;
      const announce = () => {
        if (announced) return;
        announced = true;
        ctx.out(`Forking ${source} from step ${fromStep} as ${newId}`);
      };
      let report;
      try {
        report = await runLive(
          ctx,
          orchestrator,
          newId,
          async (id) => {
            const started = await orchestrator.startFork(source, { fromStep, executionId: id });
            announce();
            return started;
          },
          {
            progress: !json && !ctx.boolean("quiet"),
            out: (line) => {
              announce();
              ctx.out(line);
            },
          },
        );
      } catch (error) {
        if (error instanceof ExecutionNotFoundError) {
          ctx.err(`error: ${notFoundMessage(source, runtime.storage)}`);
          return EXIT_FAILURE;
        }
        // Not a completed step, or a taken id: nothing was written.
        if (
          error instanceof RangeError ||
          (error instanceof TypeError && /already exists/.test(error.message))
        ) {
          throw new UsageError(error.message, "fork");
        }
        throw error;
      }
      if (json) ctx.out(JSON.stringify(report, null, 2));
      else reportLines(report).forEach((line) => ctx.out(line));
      return report.status === "SUCCESS" ? EXIT_OK : EXIT_FAILURE;
    } finally {
      await runtime.close();
    }
  },
};
