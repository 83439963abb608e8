/**
 * `oao queue`: the job queue (Redis, or the Deno KV file) shared by API and
 * worker nodes — its counts (`stats`, the default), its dead-letter queue
 * (`dead`) and re-enqueueing a dead job (`requeue <jobId>`).
 *
 * @module
 */
import { type Command, EXIT_FAILURE, EXIT_OK, UsageError } from "../_command.ts";
import { createRuntime, OBSERVABILITY_ENV, QUERY_RUNTIME, STORE_ENV } from "../_runtime.ts";
import type { DeadJob } from "../../queue/job_queue.ts";

const ACTIONS = ["stats", "dead", "requeue"] as const;

/**
 * The `queue` command.
 *
 * @example
 * ```ts
 * import { queueCommand } from "./queue.ts";
 * import { renderCommandHelp } from "../_command.ts";
 * console.assert(renderCommandHelp(queueCommand).includes("Usage: oao queue"));
 * ```
 */
export const queueCommand: Command = {
  name: "queue",
  summary: "Show the job queue's counts and dead jobs; re-enqueue a dead job",
  description: [
    "Actions:",
    "  stats            waiting (queue depth), delayed, in-flight and dead jobs (default)",
    "  dead             the dead-letter queue: jobs that used up their attempts, with the",
    "                   attempts made and the last error, oldest first",
    "  requeue <jobId>  move a dead job back to the queue with fresh attempts; a worker",
    "                   resumes its execution from the event log",
    "Reads the queue OAO_QUEUE (REDIS_URL, or the Deno KV file). Exit 1: no such dead job.",
  ].join("\n"),
  args: [
    { name: "action", description: `One of ${ACTIONS.join(", ")}`, optional: true },
    { name: "jobId", description: "The dead job to re-enqueue (requeue)", optional: true },
  ],
  flags: [
    {
      name: "limit",
      type: "integer",
      min: 1,
      max: 10_000,
      valueName: "n",
      default: 100,
      description: "Most dead jobs listed (dead)",
    },
    { name: "json", type: "boolean", description: "Print JSON" },
  ],
  env: [...STORE_ENV, ...OBSERVABILITY_ENV],
  examples: ["queue", "queue stats --json", "queue dead --limit 20", "queue requeue 6f1c…"],
  async run(ctx) {
    const [action = "stats", jobId] = ctx.args;
    if (!(ACTIONS as readonly string[]).includes(action)) {
      throw new UsageError(
        `Invalid argument <action> "${action}": expected one of ${
          ACTIONS.map((a) => `"${a}"`).join(", ")
        }`,
        "queue",
      );
    }
    if (action === "requeue" && !jobId) {
      throw new UsageError(`Missing argument <jobId>: the dead job to re-enqueue`, "queue");
    }
    if (action !== "requeue" && jobId !== undefined) {
      throw new UsageError(`Unexpected argument "${jobId}": "${action}" takes none`, "queue");
    }
    const runtime = await createRuntime(ctx, {
      requireSharedStore: true,
      sharedStoreReason: `"queue" reads the job queue shared with the API and worker nodes`,
      ...QUERY_RUNTIME,
      readOnly: action !== "requeue",
    });
    const json = ctx.boolean("json");
    try {
      const { queue } = runtime;
      if (action === "requeue") {
        const requeued = await queue.requeueDead(jobId!);
        if (json) ctx.out(JSON.stringify({ jobId, requeued }));
        else if (requeued) ctx.out(`Requeued job ${jobId}`);
        if (!requeued) ctx.err(`error: No dead job "${jobId}" in the queue`);
        return requeued ? EXIT_OK : EXIT_FAILURE;
      }
      if (action === "dead") {
        const dead = await queue.deadLetters(ctx.integer("limit")!);
        if (json) ctx.out(JSON.stringify(dead, null, 2));
        else _deadLines(dead).forEach((line) => ctx.out(line));
        return EXIT_OK;
      }
      const stats = await queue.stats();
      if (json) ctx.out(JSON.stringify(stats));
      else {
        ctx.out(`waiting    ${stats.waiting}`);
        ctx.out(`delayed    ${stats.delayed}`);
        ctx.out(`in-flight  ${stats.inFlight}`);
        ctx.out(`dead       ${stats.dead}`);
      }
      return EXIT_OK;
    } finally {
      await runtime.close();
    }
  },
};

function _deadLines(dead: readonly DeadJob[]): string[] {
  if (dead.length === 0) return ["No dead jobs"];
  const lines: string[] = [];
  for (const job of dead) {
    lines.push(
      `${job.jobId}  ${job.spec.executionId}  ${job.spec.agent}  ${job.attempts} attempt${
        job.attempts === 1 ? "" : "s"
      }  dead since ${new Date(job.deadAt).toISOString()}`,
    );
    lines.push(`  last error: ${job.lastError.split("\n")[0]}`);
  }
  return lines;
}
