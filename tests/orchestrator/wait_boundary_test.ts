// What a hostile agent's worker can send the wait service (`ctx.waitForSignal`,
// `ctx.sleep`): every malformed or forged request is refused with a clear
// error, and nothing of it is recorded.
import assert from "node:assert/strict";
import { Orchestrator } from "../../src/orchestrator/orchestrator.ts";
import type { Outcome } from "../fixtures/hostile/forged_tool_call.ts";

Deno.test("hostile waits from a worker are refused naming the field; only the well-formed one is recorded", async () => {
  const orchestrator = new Orchestrator({
    agents: [{ name: "forged-wait", module: "tests/fixtures/hostile/forged_wait.ts" }],
  });
  try {
    const year = 365 * 24 * 3_600_000;
    const report = await orchestrator.run("forged-wait", {
      forged: [
        { raw: "sleep" },
        { raw: null },
        { call: { executionId: "someone-else" } },
        { call: { step: 99 } },
        { call: { wait: { kind: "forever" } } },
        { call: { wait: { kind: "timer", ms: -1 } } },
        { call: { wait: { kind: "timer", ms: 2 ** 31 } } },
        { call: { wait: { kind: "timer", ms: 1, until: 5 } } },
        { call: { wait: { kind: "timer", until: Date.now() + 11 * year } } },
        { call: { wait: { kind: "timer", until: "tomorrow" } } },
        { call: { wait: { kind: "timer", until: 1e300 } } },
        { call: { wait: { kind: "signal", name: "a b" } } },
        { call: { wait: { kind: "signal", name: "x".repeat(101) } } },
        { call: { wait: { kind: "signal", name: "ok", timeoutMs: 1.5 } } },
        { call: { run: "r".repeat(1_000) } },
        {},
      ],
    });
    assert.equal(report.status, "SUCCESS", JSON.stringify(report.error));
    const outcomes = (report.output as { outcomes: Outcome[] }).outcomes;
    const messages = outcomes.map((o) => o.message ?? "");
    assert.deepEqual(outcomes.map((o) => o.ok), [...Array(15).fill(false), true]);
    assert.match(messages[0]!, /Wait refused: expected an object/);
    assert.match(messages[1]!, /Wait refused: expected an object/);
    assert.match(messages[2]!, /is not an agent of execution "someone-else"/);
    assert.match(messages[3]!, /Wait from step 99 refused: the execution is at step 3/);
    assert.match(messages[4]!, /"wait.kind" must be "signal" or "timer"/);
    assert.match(messages[5]!, /Invalid ms -1: expected an integer from 0 to 2147483647 ms/);
    assert.match(messages[6]!, /Invalid ms 2147483648/);
    assert.match(messages[7]!, /exactly one of "ms" and "until"/);
    assert.match(messages[8]!, /more than ten years ahead/);
    assert.match(messages[9]!, /Invalid sleepUntil time tomorrow/);
    assert.match(messages.splice(10, 1)[0]!, /Invalid sleepUntil time 1e\+300: more than ten/);
    assert.match(messages[10]!, /Invalid signal name "a b"/);
    assert.match(messages[11]!, /Invalid signal name/);
    assert.match(messages[12]!, /Invalid timeoutMs 1.5/);
    assert.match(messages[13]!, /field "run" must be a string of at most 100 characters/);
    const events = await orchestrator.eventStore.readRange(report.executionId);
    assert.equal(events.filter((e) => e.type === "TIMER_STARTED").length, 1);
    assert.ok(!events.some((e) => e.type === "WAITING_FOR_SIGNAL"));
  } finally {
    await orchestrator.close();
  }
});

Deno.test("sleepUntil with an invalid Date fails in the agent, naming it", async () => {
  const orchestrator = new Orchestrator({
    agents: [{ name: "waiter", module: "tests/fixtures/wait_agent.ts" }],
  });
  try {
    const report = await orchestrator.run("waiter", { sleepUntil: "not a date" as never });
    assert.equal(report.status, "FAILED");
    assert.match(
      report.error?.message ?? "",
      /Invalid sleepUntil time \(an invalid Date\): expected epoch ms or a valid Date/,
    );
  } finally {
    await orchestrator.close();
  }
});
