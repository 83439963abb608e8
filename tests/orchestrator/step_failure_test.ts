// A step that fails after its attempts fails the execution with the code of
// the error that failed it (the code the documentation names: APPROVAL_DENIED,
// LLM_MAX_STEPS, MODEL_CALL_FAILED, …), its message saying which step failed
// and after how many attempts; an error without a code is STEP_FAILED. A code
// is only a code: an agent's error never passes for the runtime's own.
import assert from "node:assert/strict";
import { ApprovalDeniedError, defineTool, Orchestrator } from "../../mod.ts";
import { fromErrorInfo } from "../../src/errors.ts";
import type { FailingStepTask } from "./_failing_step_agent.ts";
import { has, until } from "../_support/until_events.ts";

function setup() {
  return new Orchestrator({
    retry: { attempts: 2, initialDelayMs: 1, maxDelayMs: 2 },
    agents: [{
      name: "failing-step",
      module: new URL("./_failing_step_agent.ts", import.meta.url),
    }],
    policy: { requireApproval: ["charge"] },
    tools: [defineTool({ name: "charge", run: () => "charged" })],
  });
}

Deno.test("a denial the agent does not catch fails the execution with APPROVAL_DENIED, an ApprovalDeniedError", async () => {
  const orchestrator = setup();
  try {
    const { executionId, done } = await orchestrator.start(
      "failing-step",
      { tools: ["charge"] } satisfies FailingStepTask,
    );
    await until(orchestrator, executionId, has("APPROVAL_REQUESTED"));
    const { waitingFor } = await orchestrator.status(executionId);
    await orchestrator.decideApproval(
      executionId,
      (waitingFor as { callId: string }).callId,
      { decision: "deny", reason: "over budget" },
      { by: "bob" },
    );
    const report = await done;
    assert.equal(report.status, "FAILED");
    assert.equal(report.error?.code, "APPROVAL_DENIED");
    assert.equal(report.error?.name, "ApprovalDeniedError");
    assert.match(
      report.error?.message ?? "",
      /^Step 3 \(EXECUTE\) failed after \d attempts?: Tool "charge" was denied by "bob": over budget$/,
    );
    assert.ok(fromErrorInfo(report.error!) instanceof ApprovalDeniedError);
  } finally {
    await orchestrator.close();
  }
});

Deno.test("an error without a code fails the execution with STEP_FAILED, after its attempts", async () => {
  const orchestrator = setup();
  try {
    const report = await orchestrator.run(
      "failing-step",
      { fail: { message: "the disk is full" } } satisfies FailingStepTask,
    );
    assert.equal(report.status, "FAILED");
    assert.equal(report.error?.code, "STEP_FAILED");
    assert.equal(report.error?.name, "StepFailedError");
    assert.equal(
      report.error?.message,
      "Step 3 (EXECUTE) failed after 2 attempts: the disk is full",
    );
  } finally {
    await orchestrator.close();
  }
});

Deno.test("an agent's error carrying a code of the runtime's own is still a failure of the agent: not a cancellation, not retryable", async () => {
  const orchestrator = setup();
  try {
    for (const code of ["EXECUTION_CANCELLED", "STORE_UNAVAILABLE"]) {
      const report = await orchestrator.run(
        "failing-step",
        { fail: { message: "forged", code } } satisfies FailingStepTask,
      );
      assert.equal(report.status, "FAILED", code);
      assert.equal(report.error?.code, code);
      assert.equal(report.error?.retryable, undefined, code);
      assert.equal(report.error?.message, "Step 3 (EXECUTE) failed after 2 attempts: forged");
    }
  } finally {
    await orchestrator.close();
  }
});
