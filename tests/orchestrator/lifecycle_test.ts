import assert from "node:assert/strict";
import { canTransition, LIFECYCLE_STATES, nextState } from "../../src/orchestrator/lifecycle.ts";

Deno.test("the lifecycle runs INIT → PLAN → EXECUTE → REVIEW → TERMINATE, REVIEW may loop to PLAN", () => {
  assert.equal(nextState("INIT", {}), "PLAN");
  assert.equal(nextState("PLAN", {}), "EXECUTE");
  assert.equal(nextState("EXECUTE", {}), "REVIEW");
  assert.equal(nextState("REVIEW", { done: false }), "PLAN");
  assert.equal(nextState("REVIEW", { done: true }), "TERMINATE");
  assert.equal(nextState("REVIEW", {}), "TERMINATE");
  assert.equal(nextState("TERMINATE", {}), undefined);
  assert.throws(() => nextState("FAILED", {}), /FAILED is terminal/);
});

Deno.test("FAILED is reachable from every non-terminal state and nothing leaves a terminal one", () => {
  for (const state of LIFECYCLE_STATES) {
    if (state === "TERMINATE" || state === "FAILED") {
      assert.ok(!canTransition(state, "FAILED"));
      continue;
    }
    assert.ok(canTransition(state, "FAILED"), state);
  }
  assert.ok(!canTransition("PLAN", "REVIEW"));
});
