/**
 * `oao list`: executions newest first, with the filters of `GET
 * /executions` (status, agent, what they wait for, creation time) and a
 * cursor, from the event store's executions index (Redis when `REDIS_URL`
 * is set).
 *
 * @module
 */
import { type Command, EXIT_OK, UsageError } from "../_command.ts";
import { createRuntime, OBSERVABILITY_ENV, QUERY_RUNTIME, STORE_ENV } from "../_runtime.ts";
import { EXECUTION_STATUSES, type ExecutionStatus } from "../../orchestrator/execution_report.ts";
import {
  type ExecutionListFilter,
  listExecutions,
  WAIT_KINDS,
  type WaitKind,
} from "../../orchestrator/execution_list.ts";

/** The `list` command. */
export const listCommand: Command = {
  name: "list",
  summary: "List executions, newest first, with filters",
  description: [
    "Reads the executions index of the event store, which follows every status change.",
    "Without REDIS_URL (or OAO_STORE) the stores are this command's own (empty): ask the",
    "process that runs the executions (GET /executions) instead. Executions leave the",
    "list with their log's retention (7 days by default). Unfinished executions:",
    "oao list --status QUEUED,RUNNING,NEEDS_DECISION",
  ].join("\n"),
  args: [],
  flags: [
    {
      name: "status",
      type: "string",
      multiple: true,
      valueName: "status",
      description: `Only these statuses, repeated or comma-separated (${
        EXECUTION_STATUSES.join(", ")
      })`,
    },
    { name: "agent", type: "string", valueName: "name", description: "Only this agent" },
    {
      name: "waiting-for",
      type: "string",
      multiple: true,
      valueName: "kind",
      description: `Only executions waiting for one of these (${WAIT_KINDS.join(", ")})`,
    },
    {
      name: "created-after",
      type: "string",
      valueName: "time",
      description: "Only executions created at or after this ISO 8601 time",
    },
    {
      name: "created-before",
      type: "string",
      valueName: "time",
      description: "Only executions created before this ISO 8601 time",
    },
    {
      name: "limit",
      type: "integer",
      min: 1,
      max: 500,
      valueName: "n",
      description: "Executions per page",
      default: 50,
    },
    {
      name: "cursor",
      type: "string",
      valueName: "cursor",
      description: "Start after this cursor (printed after a full page)",
    },
    { name: "json", type: "boolean", description: "Print the page as JSON" },
  ],
  env: [...STORE_ENV, ...OBSERVABILITY_ENV],
  examples: [
    "list",
    "list --status RUNNING,NEEDS_DECISION --agent researcher",
    "list --waiting-for approval --json",
  ],
  async run(ctx) {
    const filter: ExecutionListFilter = { limit: ctx.integer("limit")! };
    const statuses = _words(ctx.strings("status"));
    if (statuses) filter.status = _known("--status", statuses, EXECUTION_STATUSES);
    const waits = _words(ctx.strings("waiting-for"));
    if (waits) filter.waitingFor = _known("--waiting-for", waits, WAIT_KINDS);
    const agent = ctx.string("agent");
    if (agent !== undefined) filter.agent = agent;
    const after = ctx.string("created-after");
    if (after !== undefined) filter.createdAfter = _time("--created-after", after);
    const before = ctx.string("created-before");
    if (before !== undefined) filter.createdBefore = _time("--created-before", before);
    const cursor = ctx.string("cursor");
    if (cursor !== undefined) filter.cursor = cursor;
    const runtime = await createRuntime(ctx, QUERY_RUNTIME);
    try {
      let page;
      try {
        page = await listExecutions(runtime.eventStore, filter);
      } catch (error) {
        if (error instanceof TypeError && /cursor/.test(error.message)) {
          throw new UsageError(`Invalid --cursor: ${error.message}`, "list");
        }
        throw error;
      }
      if (ctx.boolean("json")) {
        ctx.out(JSON.stringify(page, null, 2));
        return EXIT_OK;
      }
      if (page.executions.length === 0) ctx.out("No executions.");
      for (const e of page.executions) {
        ctx.out(
          [
            e.executionId,
            e.agent,
            e.status + (e.waitingFor ? ` (waiting for ${e.waitingFor})` : ""),
            new Date(e.createdAt).toISOString(),
          ].join("  "),
        );
      }
      if (page.nextCursor) ctx.out(`More: oao list --cursor ${page.nextCursor} (same filters)`);
      return EXIT_OK;
    } finally {
      await runtime.close();
    }
  },
};

function _words(values: string[]): string[] | undefined {
  const words = values.flatMap((v) => v.split(",")).map((v) => v.trim()).filter((v) => v);
  return words.length > 0 ? words : undefined;
}

function _known<T extends ExecutionStatus | WaitKind>(
  flag: string,
  values: string[],
  known: readonly T[],
): T[] {
  for (const value of values) {
    if (!known.includes(value as T)) {
      throw new UsageError(
        `Invalid ${flag} "${value.slice(0, 60)}": expected one of ${known.join(", ")}`,
        "list",
      );
    }
  }
  return values as T[];
}

function _time(flag: string, value: string): number {
  const ms = Date.parse(value);
  if (!Number.isSafeInteger(ms) || ms < 0) {
    throw new UsageError(
      `Invalid ${flag} "${value.slice(0, 60)}": expected an ISO 8601 time (2025-01-31T12:00:00Z)`,
      "list",
    );
  }
  return ms;
}
