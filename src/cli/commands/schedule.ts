/**
 * `oao schedule <action>`: cron schedules in the stores the nodes share
 * (Redis, or a Deno KV file) — `create`, `list`, `pause`, `resume`,
 * `delete`. The nodes (`oao start`, `oao serve`) start their executions.
 *
 * @module
 */
import { type Command, EXIT_FAILURE, EXIT_OK, UsageError } from "../_command.ts";
import { createRuntime, RUNTIME_ENV, RUNTIME_FLAGS } from "../_runtime.ts";
import { UnknownAgentError } from "../../errors.ts";
import {
  CATCH_UP_POLICIES,
  type CatchUpPolicy,
  MAX_CATCH_UP_LIMIT,
  OVERLAP_POLICIES,
  type OverlapPolicy,
  type Schedule,
  type ScheduleSpec,
} from "../../schedule/schedule.ts";
import { Scheduler } from "../../schedule/scheduler.ts";
import { ScheduleExistsError, ScheduleNotFoundError } from "../../schedule/schedule_store.ts";

const ACTIONS = ["create", "list", "pause", "resume", "delete"] as const;

/**
 * The `schedule` command.
 *
 * @example
 * ```ts
 * import { scheduleCommand } from "./schedule.ts";
 * import { renderCommandHelp } from "../_command.ts";
 * console.assert(renderCommandHelp(scheduleCommand).includes("Usage: oao schedule"));
 * ```
 */
export const scheduleCommand: Command = {
  name: "schedule",
  summary: "Create, list, pause, resume or delete cron schedules that start executions",
  description: [
    "Actions:",
    "  create <agent> <cron>  a schedule: at every tick of the cron expression (5 fields,",
    "                         or @daily, @hourly, …; in --tz) a node starts an execution of",
    "                         the agent with --task, once per tick however many nodes run",
    "  list                   the schedules with their next tick and latest execution",
    "  pause <id>             skip its ticks until resumed",
    "  resume <id>            start its ticks again (those of the pause are not caught up)",
    "  delete <id>            delete it (executions it started go on)",
    "Schedules live in the stores the nodes share: REDIS_URL, or the default Deno KV file",
    "on one machine (the in-memory stores are refused).",
    "Exit code 1 when the schedule is not found, 2 for bad input (an invalid cron",
    "expression or time zone, an unknown agent).",
  ].join("\n"),
  args: [
    { name: "action", description: `One of ${ACTIONS.join(", ")}` },
    { name: "target", description: "The agent (create) or the schedule id", optional: true },
    { name: "cron", description: "The cron expression (create), quoted", optional: true },
  ],
  flags: [
    ...RUNTIME_FLAGS,
    { name: "id", type: "string", valueName: "id", description: "Schedule id (create)" },
    {
      name: "tz",
      type: "string",
      valueName: "zone",
      description: "IANA time zone of the expression (create; default UTC)",
    },
    { name: "task", type: "string", valueName: "json", description: "The task (create; JSON)" },
    {
      name: "overlap",
      type: "string",
      choices: OVERLAP_POLICIES,
      valueName: "policy",
      description: "A tick while the previous execution runs (create; default skip)",
    },
    {
      name: "catch-up",
      type: "string",
      choices: CATCH_UP_POLICIES,
      valueName: "policy",
      description: "Ticks missed while no node ran (create; default skip)",
    },
    {
      name: "catch-up-limit",
      type: "integer",
      min: 1,
      max: MAX_CATCH_UP_LIMIT,
      valueName: "n",
      description: "Most missed ticks run-all starts (create; default 10)",
    },
    { name: "paused", type: "boolean", description: "Create it paused (create)" },
    { name: "json", type: "boolean", description: "Print JSON" },
  ],
  defaultLogLevel: "WARN",
  env: RUNTIME_ENV,
  examples: [
    `schedule create researcher "0 3 * * *" --tz Europe/Berlin --task '{"topic":"actors"}'`,
    "schedule list",
    "schedule pause sched-1a2b3c",
    "schedule delete sched-1a2b3c",
  ],
  async run(ctx) {
    const [action, target, cron] = ctx.args as [string, string | undefined, string | undefined];
    if (!(ACTIONS as readonly string[]).includes(action)) {
      throw new UsageError(
        `Invalid argument <action> "${action}": expected one of ${
          ACTIONS.map((a) => `"${a}"`).join(", ")
        }`,
        "schedule",
      );
    }
    if (action === "create" && (!target || !cron)) {
      throw new UsageError("Missing arguments: create takes <agent> <cron>", "schedule");
    }
    if (action !== "create" && action !== "list" && !target) {
      throw new UsageError(`Missing argument <id>: the schedule to ${action}`, "schedule");
    }
    const spec = action === "create" ? _spec(ctx, target!, cron!) : undefined;
    const runtime = await createRuntime(ctx, {
      requireSharedStore: true,
      sharedStoreReason:
        "schedules must outlive this command: the nodes on the same stores start their executions",
      announce: false,
      loadAgents: action === "create",
    });
    const scheduler = new Scheduler({
      store: runtime.schedules,
      eventStore: runtime.eventStore,
      backend: {
        agents: () => runtime.agents.map((a) => a.name),
        submit: () => Promise.reject(new Error("this command starts no executions")),
      },
    });
    const json = ctx.boolean("json");
    const show = (s: Schedule) => {
      if (json) ctx.out(JSON.stringify(s));
      else ctx.out(_line(s, scheduler.nextTick(s)));
    };
    try {
      if (action === "create") {
        show(await scheduler.create(spec!));
      } else if (action === "list") {
        const schedules = await scheduler.list();
        if (json) ctx.out(JSON.stringify(schedules, null, 2));
        else if (schedules.length === 0) ctx.out("No schedules");
        else for (const s of schedules) ctx.out(_line(s, scheduler.nextTick(s)));
      } else if (action === "delete") {
        if (!(await scheduler.delete(target!))) throw new ScheduleNotFoundError(target!);
        ctx.out(`Deleted schedule ${target}`);
      } else {
        show(await scheduler[action as "pause" | "resume"](target!));
      }
      return EXIT_OK;
    } catch (error) {
      if (error instanceof ScheduleNotFoundError) {
        ctx.err(`error: ${error.message}`);
        return EXIT_FAILURE;
      }
      if (
        error instanceof TypeError || error instanceof RangeError ||
        error instanceof UnknownAgentError || error instanceof ScheduleExistsError
      ) throw new UsageError(error.message, "schedule");
      throw error;
    } finally {
      await scheduler.stop();
      await runtime.close();
    }
  },
};

function _spec(
  ctx: Parameters<Command["run"]>[0],
  agent: string,
  cron: string,
): ScheduleSpec {
  const spec: ScheduleSpec = { agent, cron };
  const id = ctx.string("id");
  if (id !== undefined) spec.id = id;
  const tz = ctx.string("tz");
  if (tz !== undefined) spec.timezone = tz;
  const task = ctx.string("task");
  if (task !== undefined) {
    try {
      spec.task = JSON.parse(task);
    } catch (error) {
      throw new UsageError(`Invalid --task: expected JSON (${(error as Error).message})`);
    }
  }
  const overlap = ctx.string("overlap");
  if (overlap !== undefined) spec.overlap = overlap as OverlapPolicy;
  const catchUp = ctx.string("catch-up");
  if (catchUp !== undefined) spec.catchUp = catchUp as CatchUpPolicy;
  const limit = ctx.integer("catch-up-limit");
  if (limit !== undefined) spec.catchUpLimit = limit;
  if (ctx.boolean("paused")) spec.paused = true;
  return spec;
}

function _line(s: Schedule, next: number | undefined): string {
  const when = s.paused
    ? "paused"
    : next === undefined
    ? "no next tick"
    : `next ${new Date(next).toISOString()}`;
  const last = s.lastExecutionId ? `  last ${s.lastExecutionId}` : "";
  const error = s.lastError ? `  error: ${s.lastError}` : "";
  return `${s.id}  "${s.cron}" ${s.timezone}  ${s.agent}  ${when}${last}${error}`;
}
