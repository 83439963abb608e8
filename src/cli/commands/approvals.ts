/**
 * Approvals from the command line: `oao approvals` lists the tool calls that
 * wait for a person's approval, across executions; `oao approve <id>
 * <callId>` and `oao deny <id> <callId>` decide one — one append to the
 * execution's log, taken by whichever process runs it (or when it is
 * resumed). Who decided (`--by`, default `$USER`) and why (`--reason`) are
 * in the audit log.
 *
 * @module
 */
import {
  type Command,
  type CommandContext,
  EXIT_FAILURE,
  EXIT_OK,
  UsageError,
} from "../_command.ts";
import { brief } from "../_format.ts";
import { createRuntime, OBSERVABILITY_ENV, QUERY_RUNTIME, STORE_ENV } from "../_runtime.ts";
import { notFoundMessage } from "../_not_found.ts";
import { ExecutionFinishedError, ExecutionNotFoundError } from "../../errors.ts";
import {
  ApprovalAlreadyDecidedError,
  ApprovalNotFoundError,
} from "../../orchestrator/approvals.ts";
import {
  approvalCandidates,
  decideApproval,
  listPendingApprovals,
} from "../../orchestrator/_approvals.ts";

/**
 * The `approvals` command.
 *
 * @example
 * ```ts
 * import { approvalsCommand } from "./approvals.ts";
 * import { renderCommandHelp } from "../_command.ts";
 * console.assert(renderCommandHelp(approvalsCommand).includes("--json"));
 * ```
 */
export const approvalsCommand: Command = {
  name: "approvals",
  summary: "List the tool calls that wait for a person's approval",
  description: [
    "Finds the executions that wait for approval in the executions index and lists their",
    "calls that wait (the policy's requireApproval, or a tool defined with requireApproval),",
    "oldest first, with their arguments. Decide with `oao approve|deny <id> <callId>`. Needs",
    "the executions' stores (the Deno KV file, or REDIS_URL). Exit code 0.",
  ].join("\n"),
  args: [],
  flags: [
    {
      name: "limit",
      type: "integer",
      min: 1,
      max: 10_000,
      valueName: "n",
      default: 1_000,
      description: "How many waiting executions to look in, newest first",
    },
    { name: "json", type: "boolean", description: "Print JSON" },
  ],
  env: [...STORE_ENV, ...OBSERVABILITY_ENV],
  examples: ["approvals", "approvals --json"],
  async run(ctx) {
    const runtime = await createRuntime(ctx, QUERY_RUNTIME);
    try {
      const store = runtime.eventStore;
      const pending = await listPendingApprovals(
        store,
        await approvalCandidates(store, ctx.integer("limit")!),
      );
      if (ctx.boolean("json")) {
        ctx.out(JSON.stringify({ approvals: pending }, null, 2));
        return EXIT_OK;
      }
      if (!pending.length) {
        ctx.out("No tool call waits for approval");
        return EXIT_OK;
      }
      for (const p of pending) {
        ctx.out(
          `${p.executionId}  call ${p.callId.slice(0, 12)}  tool "${p.tool}"  args ${
            brief(p.args, 80)
          }`,
        );
        ctx.out(
          `  waits since ${new Date(p.requestedAt).toISOString()}${
            p.deadline === null ? "" : `, fails at ${new Date(p.deadline).toISOString()}`
          }: oao approve|deny ${p.executionId} ${p.callId.slice(0, 12)} --reason "<why>"`,
        );
      }
      return EXIT_OK;
    } finally {
      await runtime.close();
    }
  },
};

function decideCommand(decision: "approve" | "deny"): Command {
  return {
    name: decision,
    summary: decision === "approve"
      ? "Approve a tool call that waits for a person's approval: the tool runs"
      : "Deny a tool call that waits for a person's approval: the agent's call fails",
    description: [
      `Appends APPROVAL_DECIDED (${decision}, who, why) to the execution's event log; the run`,
      decision === "approve"
        ? "then runs the tool, in whichever process runs the execution (or when it is resumed)."
        : "then fails the agent's call with APPROVAL_DENIED, which the agent may handle.",
      "The first decision on a call counts. Needs the execution's stores (REDIS_URL). Exit code",
      "0 when recorded, 1 when the execution or the call is unknown, the call was decided",
      "already or the execution finished, 2 for bad input.",
    ].join("\n"),
    args: [
      { name: "id", description: "Execution id" },
      {
        name: "callId",
        description: "The call's id (see oao approvals), or its first 8+ characters",
      },
    ],
    flags: [
      { name: "reason", type: "string", valueName: "text", description: "Why (in the audit log)" },
      { name: "by", type: "string", valueName: "name", description: "Who decides (default $USER)" },
    ],
    env: [...STORE_ENV, ...OBSERVABILITY_ENV],
    examples: [`${decision} exec-mwz08qmm-e67d12d24b 3f9a1c2e7b4d --reason "within budget"`],
    run: (ctx) => decide(ctx, decision),
  };
}

async function decide(ctx: CommandContext, decision: "approve" | "deny"): Promise<number> {
  const [id, callId] = ctx.args as [string, string];
  const reason = ctx.string("reason");
  const by = ctx.string("by") ?? ctx.env("USER") ?? "an operator";
  if (callId.length < 8) {
    throw new UsageError(
      `Invalid callId ${
        JSON.stringify(callId)
      }: expected the call's id or its first 8+ characters (see oao approvals)`,
      decision,
    );
  }
  if (by.trim() === "") throw new UsageError(`Invalid --by "": expected who decides`, decision);
  const runtime = await createRuntime(ctx, QUERY_RUNTIME);
  try {
    const recorded = await decideApproval(runtime.eventStore, id, callId, {
      decision: reason === undefined ? { decision } : { decision, reason },
      by: `${by} (oao ${decision})`,
    });
    ctx.out(
      `${decision === "approve" ? "Approved" : "Denied"} call ${
        recorded.callId.slice(0, 12)
      } of tool "${recorded.tool}" in ${id} (event ${recorded.seq})`,
    );
    return EXIT_OK;
  } catch (error) {
    if (error instanceof ExecutionNotFoundError) {
      ctx.err(`error: ${notFoundMessage(id, runtime.storage)}`);
      return EXIT_FAILURE;
    }
    if (
      error instanceof ApprovalNotFoundError || error instanceof ApprovalAlreadyDecidedError ||
      error instanceof ExecutionFinishedError
    ) {
      ctx.err(`error: ${error.message}`);
      return EXIT_FAILURE;
    }
    if (error instanceof TypeError) throw new UsageError(error.message, decision);
    throw error;
  } finally {
    await runtime.close();
  }
}

/** The `approve` command. */
export const approveCommand: Command = decideCommand("approve");

/** The `deny` command. */
export const denyCommand: Command = decideCommand("deny");
