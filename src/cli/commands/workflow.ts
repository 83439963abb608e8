/**
 * `oao workflow <action> <target>`: workflows (DAGs of tasks, each an
 * execution) — `run <spec.json>` in the foreground with live progress, then
 * the report; `status`, `events`, `resume` and `cancel` of a workflow by id
 * (from another process: through the shared stores, the Deno KV file or Redis).
 *
 * @module
 */
import { type Command, EXIT_FAILURE, EXIT_OK, UsageError } from "../_command.ts";
import { FINAL_EVENT_TYPES, timelineLine } from "../_format.ts";
import { notFoundMessage } from "../_not_found.ts";
import {
  createRuntime,
  QUERY_RUNTIME,
  type Runtime,
  RUNTIME_ENV,
  RUNTIME_FLAGS,
} from "../_runtime.ts";
import {
  findWorkflow,
  followWorkflow,
  printWorkflowStatus,
  workflowReportLines,
} from "../_workflow.ts";
import type { CommandContext } from "../_command.ts";
import { ExecutionBusyError, ExecutionNotFoundError, UnknownAgentError } from "../../errors.ts";
import type { StoredEvent } from "../../events/event_store.ts";
import type { Orchestrator } from "../../orchestrator/orchestrator.ts";
import {
  FAILURE_POLICIES,
  newWorkflowId,
  type StartedWorkflow,
  type WorkflowReport,
  type WorkflowSpec,
} from "../../orchestrator/workflow.ts";

const ACTIONS = ["run", "status", "events", "resume", "cancel"] as const;
type Action = typeof ACTIONS[number];

// Which action each flag belongs to (the runtime flags: run and resume).
const FLAG_ACTIONS: Record<string, readonly Action[]> = {
  id: ["run"],
  concurrency: ["run"],
  "on-failure": ["run"],
  quiet: ["run", "resume"],
  after: ["events"],
  follow: ["events"],
  reason: ["cancel"],
};

/**
 * The `workflow` command.
 *
 * @example
 * ```ts
 * import { workflowCommand } from "./workflow.ts";
 * import { renderCommandHelp } from "../_command.ts";
 * console.assert(renderCommandHelp(workflowCommand).includes("Usage: oao workflow"));
 * ```
 */
export const workflowCommand: Command = {
  name: "workflow",
  summary: "Run a workflow (a DAG of tasks) from a spec file; show, follow, resume or cancel one",
  description: [
    "Actions:",
    "  run <spec.json>  validate the spec (nothing is written when it is invalid), run the",
    "                   workflow in this process with live progress, then print the report",
    "  status <id>      the workflow's status and each task's state, execution id and output",
    "  events <id>      the workflow's timeline (--follow to stream it)",
    "  resume <id>      continue a workflow whose process died: completed tasks are not run",
    "                   again; a finished workflow is not run again (its report is printed)",
    "  cancel <id>      cancel a workflow, in this process or in the one running it: its",
    "                   running tasks are cancelled, pending ones never start",
    'The spec file: { "id"?, "tasks": [{ "name", "agent", "input"?, "dependsOn"?, "policy"? }],',
    '"concurrency"?, "onFailure"? }. Each agent gets its task\'s input as ctx.task and the',
    "outputs of the tasks it depends on as ctx.dependencies. Other processes find a workflow",
    "through the shared stores (the Deno KV file by default, or REDIS_URL); with",
    "OAO_STORE=memory the stores are this command's own and they find nothing.",
    "Exit code 0 on success, 1 when the workflow fails or is cancelled (run, resume) or is",
    "not found, 2 for bad input (an invalid spec included).",
  ].join("\n"),
  args: [
    { name: "action", description: `One of ${ACTIONS.join(", ")}` },
    { name: "target", description: "The spec file (run) or the workflow id" },
  ],
  flags: [
    ...RUNTIME_FLAGS,
    {
      name: "id",
      type: "string",
      valueName: "id",
      description: "Workflow id (run; default: the spec's, else a new one)",
    },
    {
      name: "concurrency",
      type: "integer",
      min: 1,
      valueName: "n",
      description: "Tasks running at once (run; default: the spec's, else 4)",
    },
    {
      name: "on-failure",
      type: "string",
      choices: FAILURE_POLICIES,
      valueName: "policy",
      description: "What a failed task does to the others (run; default: the spec's)",
    },
    {
      name: "after",
      type: "integer",
      min: 0,
      valueName: "seq",
      description: "Only events after this sequence number (events)",
    },
    {
      name: "follow",
      short: "f",
      type: "boolean",
      description: "Keep printing new events until the workflow ends (events)",
    },
    {
      name: "reason",
      type: "string",
      valueName: "text",
      description: "Recorded with the cancellation (cancel)",
    },
    { name: "json", type: "boolean", description: "Print JSON (the report, status or events)" },
    { name: "quiet", short: "q", type: "boolean", description: "No live progress (run, resume)" },
  ],
  defaultLogLevel: "WARN",
  env: RUNTIME_ENV,
  examples: [
    "workflow run research.workflow.json",
    "workflow run research.workflow.json --id nightly-1 --concurrency 2 --json",
    "workflow status nightly-1",
    "workflow events nightly-1 --follow",
    "workflow resume nightly-1",
    'workflow cancel nightly-1 --reason "not needed"',
  ],
  async run(ctx) {
    const [actionArg, target] = ctx.args as [string, string];
    if (!(ACTIONS as readonly string[]).includes(actionArg)) {
      throw new UsageError(
        `Invalid argument <action> "${actionArg}": expected one of ${
          ACTIONS.map((a) => `"${a}"`).join(", ")
        }`,
        "workflow",
      );
    }
    const action = actionArg as Action;
    _checkFlags(ctx, action);
    if (action === "run") return await _run(ctx, await _readSpec(ctx, target));
    const runtime = await createRuntime(
      ctx,
      action === "resume" ? {} : { ...QUERY_RUNTIME, readOnly: action !== "cancel" },
    );
    try {
      switch (action) {
        case "status":
          return await _status(ctx, runtime, target);
        case "events":
          return await _events(ctx, runtime, target);
        case "resume":
          return await _resume(ctx, runtime, target);
        case "cancel":
          return await _cancel(ctx, runtime, target);
      }
    } finally {
      await runtime.close();
    }
  },
};

async function _run(ctx: CommandContext, spec: WorkflowSpec): Promise<number> {
  const runtime = await createRuntime(ctx);
  try {
    const orchestrator = runtime.createOrchestrator();
    const id = ctx.string("id") ?? spec.id ?? newWorkflowId();
    const concurrency = ctx.integer("concurrency");
    const onFailure = ctx.string("on-failure") as WorkflowSpec["onFailure"];
    const full: WorkflowSpec = {
      ...spec,
      id,
      ...(concurrency === undefined ? {} : { concurrency }),
      ...(onFailure === undefined ? {} : { onFailure }),
    };
    const json = ctx.boolean("json");
    const tasks = Array.isArray(spec.tasks) ? spec.tasks.length : 0;
    if (!json) ctx.out(`Running workflow ${id} (${tasks} task${tasks === 1 ? "" : "s"})`);
    const report = await _live(ctx, orchestrator, id, async () => {
      try {
        return await orchestrator.startWorkflow(full);
      } catch (error) {
        if (
          error instanceof TypeError || error instanceof RangeError ||
          error instanceof UnknownAgentError
        ) {
          throw new UsageError(`Invalid workflow spec: ${error.message}`, "workflow");
        }
        throw error;
      }
    });
    return _printReport(ctx, report);
  } finally {
    await runtime.close();
  }
}

async function _resume(ctx: CommandContext, runtime: Runtime, id: string): Promise<number> {
  const orchestrator = runtime.createOrchestrator();
  const json = ctx.boolean("json");
  if (!json) ctx.out(`Resuming workflow ${id}`);
  let report: WorkflowReport;
  try {
    report = await _live(ctx, orchestrator, id, () => {
      const done = orchestrator.resumeWorkflow(id);
      return Promise.resolve({ workflowId: id, done });
    });
  } catch (error) {
    if (error instanceof ExecutionNotFoundError) {
      ctx.err(`error: ${notFoundMessage(id, runtime.storage, "workflow")}`);
      return EXIT_FAILURE;
    }
    if (error instanceof ExecutionBusyError) {
      ctx.err(
        `error: Workflow "${id}" is being run by ${error.holder}: wait for it to finish, or stop it and retry once its claim lapses`,
      );
      return EXIT_FAILURE;
    }
    throw error;
  }
  return _printReport(ctx, report);
}

async function _status(ctx: CommandContext, runtime: Runtime, id: string): Promise<number> {
  const found = await findWorkflow(runtime, id);
  if ("error" in found) {
    ctx.err(`error: ${found.error}`);
    return EXIT_FAILURE;
  }
  return await printWorkflowStatus(ctx, runtime, found.view);
}

async function _events(ctx: CommandContext, runtime: Runtime, id: string): Promise<number> {
  const found = await findWorkflow(runtime, id);
  if ("error" in found) {
    ctx.err(`error: ${found.error}`);
    return EXIT_FAILURE;
  }
  const json = ctx.boolean("json");
  const origin = found.events[0]!.time;
  const print = (event: StoredEvent) =>
    ctx.out(json ? JSON.stringify(event) : timelineLine(event, origin));
  const after = ctx.integer("after") ?? 0;
  const backlog = found.events.filter((e) => e.seq > after);
  backlog.forEach(print);
  if (!ctx.boolean("follow") || found.view.status !== "RUNNING") return EXIT_OK;
  const stop = new AbortController();
  const onAbort = () => stop.abort();
  ctx.signal.addEventListener("abort", onAbort, { once: true });
  try {
    const from = found.events.at(-1)!.seq;
    for await (
      const event of runtime.eventStore.subscribe(id, { afterSeq: from, signal: stop.signal })
    ) {
      print(event);
      if (FINAL_EVENT_TYPES.includes(event.type)) break;
    }
  } finally {
    ctx.signal.removeEventListener("abort", onAbort);
    stop.abort();
  }
  return EXIT_OK;
}

async function _cancel(ctx: CommandContext, runtime: Runtime, id: string): Promise<number> {
  const found = await findWorkflow(runtime, id);
  if ("error" in found) {
    ctx.err(`error: ${found.error}`);
    return EXIT_FAILURE;
  }
  const orchestrator = runtime.createOrchestrator();
  const reason = ctx.string("reason") ?? "cancelled from the command line";
  const requested = await orchestrator.cancelWorkflow(id, reason);
  if (ctx.boolean("json")) ctx.out(JSON.stringify({ workflowId: id, cancelRequested: requested }));
  if (!requested) {
    ctx.err(`error: Workflow "${id}" already finished with status ${found.view.status}`);
    return EXIT_FAILURE;
  }
  if (!ctx.boolean("json")) {
    ctx.out(
      `Cancellation of workflow ${id} requested: the process running it cancels its tasks (within a second); "oao workflow status ${id}" shows CANCELLED then`,
    );
  }
  return EXIT_OK;
}

// Starts (or resumes) a workflow and prints its task events until it ends;
// SIGINT/SIGTERM cancel it.
async function _live(
  ctx: CommandContext,
  orchestrator: Orchestrator,
  id: string,
  start: () => Promise<StartedWorkflow>,
): Promise<WorkflowReport> {
  const progress = !ctx.boolean("json") && !ctx.boolean("quiet");
  const stop = new AbortController();
  const afterSeq = await orchestrator.eventStore.count(id);
  const following = progress
    ? followWorkflow(orchestrator.eventStore, id, {
      out: (line) => ctx.out(line),
      signal: stop.signal,
      afterSeq,
    })
    : Promise.resolve();
  const onAbort = () => void orchestrator.cancelWorkflow(id, "interrupted by a signal");
  ctx.signal.addEventListener("abort", onAbort, { once: true });
  try {
    const started = await start();
    if (ctx.signal.aborted) onAbort();
    const report = await started.done;
    // The final event is in the log: the progress ends with it.
    await Promise.race([following, new Promise((r) => setTimeout(r, 1_000))]);
    return report;
  } finally {
    stop.abort();
    await following.catch(() => {});
    ctx.signal.removeEventListener("abort", onAbort);
  }
}

function _printReport(ctx: CommandContext, report: WorkflowReport): number {
  if (ctx.boolean("json")) ctx.out(JSON.stringify(report, null, 2));
  else workflowReportLines(report).forEach((line) => ctx.out(line));
  return report.status === "SUCCESS" ? EXIT_OK : EXIT_FAILURE;
}

function _checkFlags(ctx: CommandContext, action: Action): void {
  for (const [flag, actions] of Object.entries(FLAG_ACTIONS)) {
    if (actions.includes(action)) continue;
    const spec = ctx.command.flags.find((f) => f.name === flag)!;
    const given = spec.type === "boolean"
      ? ctx.boolean(flag)
      : spec.type === "string"
      ? ctx.string(flag) !== undefined
      : ctx.integer(flag) !== undefined;
    if (given) {
      throw new UsageError(
        `Flag "--${flag}" is for "workflow ${actions.join("|")}", not "workflow ${action}"`,
        "workflow",
      );
    }
  }
}

async function _readSpec(ctx: CommandContext, path: string): Promise<WorkflowSpec> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (error) {
    throw new UsageError(
      `Invalid argument <target> "${path}": cannot read the spec file (${
        (error as Error).message
      })`,
      ctx.command.name,
    );
  }
  let spec: unknown;
  try {
    spec = JSON.parse(text);
  } catch (error) {
    throw new UsageError(
      `Invalid argument <target> "${path}": the spec file is not JSON (${
        (error as Error).message
      })`,
      ctx.command.name,
    );
  }
  if (typeof spec !== "object" || spec === null || Array.isArray(spec)) {
    throw new UsageError(
      `Invalid argument <target> "${path}": the spec file holds ${
        Array.isArray(spec) ? "an array" : JSON.stringify(spec)
      }, not a workflow object { "tasks": [...] }`,
      ctx.command.name,
    );
  }
  return spec as WorkflowSpec;
}
