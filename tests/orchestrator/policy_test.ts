import assert from "node:assert/strict";
import { DEFAULT_POLICY, StrictPolicy, toPolicy } from "../../src/orchestrator/policy.ts";

const totals = (steps: number, tokens: number, toolCalls: number) => ({ steps, tokens, toolCalls });

Deno.test("StrictPolicy merges defaults and rejects bad limits naming them", () => {
  assert.deepEqual(new StrictPolicy().limits, DEFAULT_POLICY);
  assert.equal(new StrictPolicy({ maxSteps: 3 }).limits.maxSteps, 3);
  assert.throws(() => new StrictPolicy({ maxSteps: 0 }), /maxSteps 0/);
  assert.throws(() => new StrictPolicy({ maxTokens: 1.5 }), /maxTokens 1.5/);
  assert.throws(() => new StrictPolicy({ timeoutMs: -1 }), /timeoutMs -1/);
  assert.throws(
    () => new StrictPolicy({ maxSpeed: 1 } as never),
    /Invalid policy field "maxSpeed"/,
  );
  assert.throws(() => toPolicy("strict" as never), /expected an object of limits/);
});

Deno.test("a step may start only while the next one stays within maxSteps, tokens and time", () => {
  const policy = new StrictPolicy({ maxSteps: 5, maxTokens: 100, timeoutMs: 1_000 });
  assert.equal(policy.checkStep(totals(4, 0, 0), 0), undefined);
  assert.deepEqual(policy.checkStep(totals(5, 0, 0), 0), { limit: "maxSteps", value: 6, max: 5 });
  assert.deepEqual(policy.checkStep(totals(1, 101, 0), 0), {
    limit: "maxTokens",
    value: 101,
    max: 100,
  });
  assert.deepEqual(policy.checkStep(totals(1, 0, 0), 1_001), {
    limit: "timeoutMs",
    value: 1_001,
    max: 1_000,
  });
});

Deno.test("a tool call may run only while the next one stays within maxToolCalls", () => {
  const policy = new StrictPolicy({ maxToolCalls: 2 });
  assert.equal(policy.checkToolCall(totals(3, 0, 1), 0), undefined);
  assert.deepEqual(policy.checkToolCall(totals(3, 0, 2), 0), {
    limit: "maxToolCalls",
    value: 3,
    max: 2,
  });
  assert.equal(policy.with({ maxToolCalls: 5 }).checkToolCall(totals(3, 0, 2), 0), undefined);
});

Deno.test("stepTimeoutMs defaults to 300000 ms and is validated like the other time limits", () => {
  assert.equal(DEFAULT_POLICY.stepTimeoutMs, 300_000);
  assert.equal(new StrictPolicy().limits.stepTimeoutMs, 300_000);
  assert.equal(new StrictPolicy({ stepTimeoutMs: 1.5 }).limits.stepTimeoutMs, 1.5);
  assert.equal(new StrictPolicy({ stepTimeoutMs: Infinity }).limits.stepTimeoutMs, Infinity);
  for (const bad of [0, -1, NaN, "5"]) {
    assert.throws(
      () => new StrictPolicy({ stepTimeoutMs: bad as number }),
      (e: unknown) =>
        e instanceof RangeError &&
        e.message.startsWith(`Invalid policy stepTimeoutMs ${JSON.stringify(bad)}`),
      String(bad),
    );
  }
  assert.equal(toPolicy({ stepTimeoutMs: 10 }).with({ maxSteps: 2 }).limits.stepTimeoutMs, 10);
});

Deno.test("maxCostUsd is any positive number, Infinity by default, and bounds the cost at every check", () => {
  assert.equal(DEFAULT_POLICY.maxCostUsd, Infinity);
  assert.equal(new StrictPolicy({ maxCostUsd: 0.25 }).limits.maxCostUsd, 0.25);
  for (const bad of [0, -1, NaN, "1"]) {
    assert.throws(
      () => new StrictPolicy({ maxCostUsd: bad as number }),
      (e: unknown) =>
        e instanceof RangeError &&
        e.message.startsWith(
          `Invalid policy maxCostUsd ${JSON.stringify(bad)}: expected a positive number`,
        ),
      String(bad),
    );
  }
  const policy = new StrictPolicy({ maxCostUsd: 0.5 });
  assert.equal(policy.checkStep({ ...totals(1, 0, 0), costUsd: 0.5 }, 0), undefined);
  assert.deepEqual(policy.checkToolCall({ ...totals(1, 0, 0), costUsd: 0.51 }, 0), {
    limit: "maxCostUsd",
    value: 0.51,
    max: 0.5,
  });
});

Deno.test("a model call may be made only while its maxOutputTokens keeps tokens and cost within the budgets", () => {
  const policy = new StrictPolicy({ maxTokens: 1_000, maxCostUsd: 0.01 });
  const spent = { ...totals(2, 600, 0), costUsd: 0.006 };
  assert.equal(policy.checkModelCall(spent, 0, { maxOutputTokens: 400 }), undefined);
  assert.deepEqual(policy.checkModelCall(spent, 0, { maxOutputTokens: 401 }), {
    limit: "maxTokens",
    value: 1_001,
    max: 1_000,
  });
  // 400 tokens at 10 USD per million: 0.004, on top of 0.006 is exactly the budget.
  assert.equal(
    policy.checkModelCall(spent, 0, { maxOutputTokens: 400, outputPerMTokUsd: 10 }),
    undefined,
  );
  assert.deepEqual(
    policy.checkModelCall(spent, 0, { maxOutputTokens: 400, outputPerMTokUsd: 11 }),
    {
      limit: "maxCostUsd",
      value: 0.0104,
      max: 0.01,
    },
  );
  // Without maxOutputTokens, only what was spent is checked.
  assert.equal(policy.checkModelCall(spent, 0, { outputPerMTokUsd: 1_000 }), undefined);
  assert.equal(policy.checkModelCall({ ...spent, tokens: 1_001 }, 0, {})?.limit, "maxTokens");
});
