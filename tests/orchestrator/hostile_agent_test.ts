// Hostile agents (tests/fixtures/hostile/) against the orchestrator: forged
// tool calls and step results, oversized values, forged step messages and
// runaway steps are refused or contained.
import assert from "node:assert/strict";
import type { StoredEvent } from "../../src/events/event_store.ts";
import { defineTool } from "../../src/orchestrator/tool.ts";
import type { OrchestratorOptions } from "../../src/orchestrator/orchestrator.ts";
import type { Outcome } from "../fixtures/hostile/forged_tool_call.ts";
import { testOrchestrator } from "./_helpers.ts";

const HOSTILE = [
  { name: "forged-tool-call", module: "tests/fixtures/hostile/forged_tool_call.ts" },
  { name: "forged-step-result", module: "tests/fixtures/hostile/forged_step_result.ts" },
  {
    name: "forged-step-sender",
    module: "tests/fixtures/hostile/forged_step_sender.ts",
    peers: ["victim"],
  },
  { name: "victim", module: "tests/fixtures/test_agent.ts" },
  { name: "huge", module: "tests/fixtures/hostile/huge_agent.ts" },
  { name: "forged-busy-flag", module: "tests/fixtures/hostile/forged_busy_flag.ts" },
];

function hostileOrchestrator(options: OrchestratorOptions = {}) {
  return testOrchestrator({
    ...options,
    agents: HOSTILE,
    tools: [defineTool({ name: "big_result", run: () => "r".repeat(5_000) }) as never],
  });
}

function ofType(events: StoredEvent[], type: string): Record<string, unknown>[] {
  return events.filter((e) => e.type === type).map((e) => e.data as Record<string, unknown>);
}

function errorOf(data: Record<string, unknown>): { code?: string; message: string } {
  return data.error as { code?: string; message: string };
}

Deno.test("forged tool calls with bad tokens are refused naming the field and leave the totals untouched", async () => {
  await using orchestrator = hostileOrchestrator();
  const report = await orchestrator.run("forged-tool-call", {
    requests: [{ tokens: -1e6 }, { tokens: "abc" }, { tokens: null }, { tokens: 4 }],
  });
  assert.equal(report.status, "SUCCESS");
  const outcomes = (report.output as { outcomes: Outcome[] }).outcomes;
  assert.equal(outcomes.length, 4);
  assert.match(outcomes[0]!.message!, /field "tokens" must be a finite number >= 0, got -1000000/);
  assert.match(outcomes[1]!.message!, /field "tokens" must be a number, got the string "abc"/);
  assert.match(outcomes[2]!.message!, /field "tokens" must be a number, got null/);
  assert.deepEqual(outcomes.slice(0, 3).map((o) => o.ok), [false, false, false]);
  assert.equal(outcomes[3]!.ok, true, "a well-formed call still runs");
  assert.equal(report.tokens, 4);
  assert.equal(report.toolCalls, 1);
  assert.equal(orchestrator.effects.count(), 1);
  for (const event of await orchestrator.eventStore.readRange(report.executionId)) {
    if (event.totals) assert.equal(typeof event.totals.tokens, "number", event.type);
    if (event.totals) assert.ok(event.totals.tokens >= 0, event.type);
  }
});

Deno.test("forged tool calls with a bad name, step, run or shape are refused before anything runs", async () => {
  await using orchestrator = hostileOrchestrator();
  const report = await orchestrator.run("forged-tool-call", {
    requests: [
      { name: "" },
      { name: "x".repeat(201) },
      { step: -1 },
      { step: "3" },
      { run: "r".repeat(101) },
      { raw: "call effect" },
      { raw: null },
      { executionId: "someone-else" },
    ],
  });
  const outcomes = (report.output as { outcomes: Outcome[] }).outcomes;
  const messages = outcomes.map((o) => o.message ?? "");
  assert.deepEqual(outcomes.map((o) => o.ok), outcomes.map(() => false));
  assert.match(messages[0]!, /field "name" is an empty string/);
  assert.match(messages[1]!, /field "name" is 201 characters, over the limit of 200/);
  assert.match(messages[2]!, /field "step" must be a positive integer, got -1/);
  assert.match(messages[3]!, /field "step" must be a number/);
  assert.match(messages[4]!, /field "run" is 101 characters/);
  assert.match(messages[5]!, /expected an object, got the string "call effect"/);
  assert.match(messages[6]!, /expected an object, got null/);
  assert.match(messages[7]!, /is not an agent of execution "someone-else"/);
  assert.equal(orchestrator.effects.count(), 0);
  assert.equal(report.toolCalls, 0);
});

Deno.test("tool call arguments over maxValueBytes are refused with VALUE_TOO_LARGE; results over it fail the call", async () => {
  await using orchestrator = hostileOrchestrator({ limits: { maxValueBytes: 1_000 } });
  const args = await orchestrator.run("huge", { argsChars: 2_000 });
  assert.equal(args.status, "FAILED");
  assert.match(
    args.error!.message,
    /The arguments of tool call "effect" is 2011 bytes, over the limit of 1000 bytes/,
  );
  assert.equal(orchestrator.effects.count(), 0);

  const result = await orchestrator.run("huge", { bigResult: true });
  assert.equal(result.status, "FAILED");
  const events = await orchestrator.eventStore.readRange(result.executionId);
  const failed = ofType(events, "TOOL_CALL_FAILED");
  assert.equal(failed.length, 3, "one per attempt");
  assert.equal(errorOf(failed[0]!).code, "VALUE_TOO_LARGE");
  assert.match(errorOf(failed[0]!).message, /The result of tool "big_result" is 5002 bytes/);
});

Deno.test("a step result with bad tokens is a PROTOCOL_VIOLATION, retried, and never reaches the totals", async () => {
  for (const tokens of [-1e6, "abc"]) {
    await using orchestrator = hostileOrchestrator();
    const report = await orchestrator.run("forged-step-result", {
      reply: { ok: true, state: {}, tokens, hasOutput: false },
    });
    assert.equal(report.status, "FAILED", String(tokens));
    assert.equal(report.tokens, 2, "INIT and PLAN counted 1 each; the forged count is ignored");
    assert.match(report.error!.message, /Step 3 \(EXECUTE\) failed after 3 attempts/);
    assert.match(
      report.error!.message,
      /broke the worker protocol: the result of step 3 has "tokens"/,
    );
    const events = await orchestrator.eventStore.readRange(report.executionId);
    const failed = ofType(events, "STEP_FAILED");
    assert.equal(failed.length, 3);
    for (const data of failed) assert.equal(errorOf(data).code, "PROTOCOL_VIOLATION");
    assert.equal(ofType(events, "RETRY_ATTEMPTED").length, 2);
    for (const event of events) {
      if (event.totals) assert.equal(typeof event.totals.tokens, "number", event.type);
    }
    const status = await orchestrator.status(report.executionId);
    assert.equal(status.totals.tokens, 2);
  }
});

Deno.test("a malformed step result fails only its attempt: the retry succeeds", async () => {
  await using orchestrator = hostileOrchestrator();
  for (const reply of [null, "done", { ok: "yes", tokens: 0 }, { ok: false, tokens: 0 }]) {
    const report = await orchestrator.run("forged-step-result", { reply, validFromAttempt: 2 });
    assert.equal(report.status, "SUCCESS", JSON.stringify(reply));
    const events = await orchestrator.eventStore.readRange(report.executionId);
    const failed = ofType(events, "STEP_FAILED");
    assert.equal(failed.length, 1);
    assert.equal(errorOf(failed[0]!).code, "PROTOCOL_VIOLATION");
    assert.match(errorOf(failed[0]!).message, /the result of step 3/);
  }
});

Deno.test("a 50 MB error message is bounded in events, the report and the status", async () => {
  await using orchestrator = hostileOrchestrator({ retry: { attempts: 2, initialDelayMs: 1 } });
  const report = await orchestrator.run("huge", { errorChars: 50_000_000 });
  assert.equal(report.status, "FAILED");
  assert.ok(report.error!.message.length < 9_000, `${report.error!.message.length} characters`);
  assert.match(report.error!.message, /more characters\)$/);
  assert.ok((report.error!.stack ?? "").length < 9_000);
  const events = await orchestrator.eventStore.readRange(report.executionId);
  for (const type of ["STEP_FAILED", "RETRY_ATTEMPTED", "EXECUTION_FAILED"]) {
    const data = ofType(events, type);
    assert.ok(data.length > 0, type);
    for (const d of data) {
      assert.ok(errorOf(d).message.length < 9_000, type);
      // Cut to maxErrorChars (8192), with a note of how much was left out.
      assert.match(errorOf(d).message, /^(Step 3 \(EXECUTE\) failed after 2 attempts: )?e{8000}/);
      assert.match(errorOf(d).message, /… \(\d+ more characters\)$/);
    }
  }
  const all = JSON.stringify(events).length;
  assert.ok(all < 1_000_000, `all events are ${all} characters`);
  const status = JSON.stringify(await orchestrator.status(report.executionId));
  assert.ok(status.length < 100_000, `the status is ${status.length} characters`);
});

Deno.test("a state or output over maxValueBytes fails the step with VALUE_TOO_LARGE", async () => {
  await using orchestrator = hostileOrchestrator({ limits: { maxValueBytes: 1_000 } });
  const state = await orchestrator.run("huge", { stateChars: 2_000 });
  assert.equal(state.status, "FAILED");
  assert.match(
    state.error!.message,
    /Step 3 \(EXECUTE\) failed after 3 attempts: The state of step 3 of "[^"]+\/huge" is \d+ bytes, over the limit of 1000 bytes/,
  );
  const output = await orchestrator.run("huge", { outputChars: 2_000 });
  assert.equal(output.status, "FAILED");
  assert.match(output.error!.message, /The output of step 4/);
});

Deno.test("an event over maxEventBytes is not written: the execution fails with VALUE_TOO_LARGE", async () => {
  await using orchestrator = hostileOrchestrator({
    limits: { maxValueBytes: 1_000, maxEventBytes: 1_500 },
  });
  // The state and the output are each within maxValueBytes; STEP_COMPLETED holds both.
  const report = await orchestrator.run("huge", { stateChars: 700, outputChars: 700 });
  assert.equal(report.status, "FAILED");
  assert.equal(report.error!.code, "VALUE_TOO_LARGE");
  assert.match(
    report.error!.message,
    /^The data of event STEP_COMPLETED \(step 4\) is \d+ bytes, over the limit of 1500 bytes$/,
  );
  const events = await orchestrator.eventStore.readRange(report.executionId);
  assert.equal(ofType(events, "STEP_COMPLETED").length, 3, "INIT, PLAN and EXECUTE only");
  assert.equal(ofType(events, "EXECUTION_FAILED").length, 1);
  for (const event of events) {
    assert.ok(JSON.stringify(event.data).length <= 1_500, event.type);
  }
});

Deno.test("a task over maxValueBytes is refused before the execution starts", async () => {
  await using orchestrator = hostileOrchestrator({ limits: { maxValueBytes: 100 } });
  await assert.rejects(
    () => orchestrator.run("huge", { pad: "p".repeat(200) }),
    /The task is \d+ bytes, over the limit of 100 bytes/,
  );
  assert.throws(
    () => hostileOrchestrator({ limits: { maxValueBytes: -1 } }),
    /Invalid limit "maxValueBytes"/,
  );
});

Deno.test("a step message from another actor is refused by the agent naming the sender, and never run", async () => {
  await using orchestrator = hostileOrchestrator();
  const report = await orchestrator.run("forged-step-sender", {});
  assert.equal(report.status, "SUCCESS");
  const { answer } = report.output as {
    answer: { ok: boolean; error: { code: string; message: string } };
  };
  assert.equal(answer.ok, false);
  assert.equal(answer.error.code, "ACCESS_DENIED");
  assert.equal(
    answer.error.message,
    `Actor "${report.executionId}/forged-step-sender" may not send a step message to ` +
      `"${report.executionId}/victim": only the host ("$host") sends step messages`,
  );
  assert.equal(orchestrator.effects.count(), 0, "the victim did not run the forged step");
});

// The runaway tests run their agents in sandbox processes: a thread that
// never yields cannot be stopped, and would spin for the rest of the run.
Deno.test("a runaway step under a policy without timeout is stopped by stepTimeoutMs, retried, then fails", async () => {
  await using orchestrator = hostileOrchestrator({ sandbox: "process" });
  const started = Date.now();
  const report = await orchestrator.run("victim", { busy: true }, {
    policy: { timeoutMs: Infinity, stepTimeoutMs: 300 },
  });
  const elapsed = Date.now() - started;
  assert.equal(report.status, "FAILED");
  assert.equal(
    report.error!.message,
    "Step 3 (EXECUTE) failed after 3 attempts: " +
      "The step ran longer than the policy's stepTimeoutMs (300 ms): its worker was stopped",
  );
  assert.ok(elapsed < 10_000, `took ${elapsed} ms`);
  const events = await orchestrator.eventStore.readRange(report.executionId);
  const failed = ofType(events, "STEP_FAILED");
  assert.deepEqual(failed.map((d) => errorOf(d).code), [
    "STEP_TIMEOUT",
    "STEP_TIMEOUT",
    "STEP_TIMEOUT",
  ]);
  assert.ok(
    ofType(events, "ACTOR_FAILED").some((d) => d.reason === "timeout"),
    "the agent's actor failed with reason timeout",
  );
});

Deno.test("a runaway step that hides from the worker watchdog is still stopped by the host at stepTimeoutMs", async () => {
  await using orchestrator = hostileOrchestrator({
    sandbox: "process",
    retry: { attempts: 2, initialDelayMs: 1 },
  });
  const started = Date.now();
  const report = await orchestrator.run("forged-busy-flag", {}, {
    policy: { timeoutMs: Infinity, stepTimeoutMs: 300 },
  });
  const elapsed = Date.now() - started;
  assert.equal(report.status, "FAILED");
  assert.equal(
    report.error!.message,
    "Step 3 (EXECUTE) failed after 2 attempts: " +
      "The step ran longer than the policy's stepTimeoutMs (300 ms): its worker was stopped",
  );
  assert.ok(elapsed < 15_000, `took ${elapsed} ms`);
});
