// An execution parked in NEEDS_DECISION on a test server, as a crash leaves
// one: a run of the test agent calls `charge` (not idempotent, it hangs until
// cancelled); its log up to the call's intent is copied under a new id and
// resumed, which stops at the call whose outcome is unknown (as in
// tests/orchestrator/orchestrator_test.ts).
import assert from "node:assert/strict";
import { defineTool } from "../../src/orchestrator/tool.ts";
import type { TestServer } from "./_server.ts";

/** `charge`: not idempotent; hangs until its call is aborted. Give it to the server's `tools`. */
export const CHARGE = defineTool({
  name: "charge",
  run: (_args: { amount: number }, ctx) =>
    new Promise((_, reject) =>
      ctx.signal.addEventListener("abort", () => reject(ctx.signal.reason))
    ),
});

/**
 * Parks an execution in NEEDS_DECISION on the `charge` call.
 *
 * @param api A test server whose tools include {@linkcode CHARGE}.
 * @param submit Submits the test agent's task; the execution id.
 * @returns The id of the parked execution.
 */
export async function parkOnDecision(
  api: TestServer,
  submit: (task: unknown) => Promise<string>,
): Promise<string> {
  const { orchestrator } = api;
  const id = await submit({ calls: [{ tool: "charge", args: { amount: 5 } }] });
  const deadline = Date.now() + 10_000;
  while (!(await orchestrator.eventStore.readRange(id)).some((e) => e.type === "TOOL_CALL")) {
    if (Date.now() > deadline) throw new Error("no tool call");
    await new Promise((r) => setTimeout(r, 5));
  }
  orchestrator.cancel(id);
  await api.waitFor(id, (s) => s.status === "CANCELLED");
  const events = await orchestrator.eventStore.readRange(id);
  const cut = events.findIndex((e) => e.type === "TOOL_CALL");
  const crashed = `${id}-crashed`;
  for (const { executionId: _e, seq: _s, id: _i, ...event } of events.slice(0, cut + 1)) {
    await orchestrator.eventStore.appendEvent(crashed, event);
  }
  assert.equal((await orchestrator.resume(crashed)).status, "NEEDS_DECISION");
  return crashed;
}
