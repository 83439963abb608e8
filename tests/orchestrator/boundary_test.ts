// The checks of what an agent's worker sends the orchestrator, unit by unit.
import assert from "node:assert/strict";
import { ProtocolViolationError, ValueTooLargeError } from "../../src/errors.ts";
import { DEFAULT_LIMITS, resolveLimits } from "../../src/limits.ts";
import {
  assertJsonWithin,
  reportedTokens,
  validateStepResult,
  validateToolCallRequest,
} from "../../src/orchestrator/_boundary.ts";

const valid = {
  executionId: "exec-1",
  step: 3,
  run: "1:1",
  name: "search",
  args: { q: 1 },
  tokens: 5,
};
const small = resolveLimits({ maxValueBytes: 100, maxErrorChars: 20, maxStackChars: 30 });

Deno.test("a well-formed tool call is accepted as a fresh object with only its fields", () => {
  const request = validateToolCallRequest({ ...valid, extra: "dropped" }, DEFAULT_LIMITS);
  assert.deepEqual(request, valid);
  assert.deepEqual(
    validateToolCallRequest({ ...valid, args: undefined }, DEFAULT_LIMITS).args,
    undefined,
  );
});

Deno.test("a tool call whose tokens are negative, not finite or not a number is refused naming the field", () => {
  for (const tokens of [-1e6, -1, NaN, Infinity]) {
    assert.throws(
      () => validateToolCallRequest({ ...valid, tokens }, DEFAULT_LIMITS),
      (e: unknown) => e instanceof RangeError && /field "tokens"/.test(e.message),
      String(tokens),
    );
  }
  for (const tokens of ["abc", "5", null, undefined, { n: 1 }]) {
    assert.throws(
      () => validateToolCallRequest({ ...valid, tokens }, DEFAULT_LIMITS),
      (e: unknown) => e instanceof TypeError && /field "tokens" must be a number/.test(e.message),
      String(tokens),
    );
  }
});

Deno.test("a tool call with a bad name, step or run is refused naming the field", () => {
  const cases: [Record<string, unknown>, ErrorConstructor, RegExp][] = [
    [{ name: "" }, RangeError, /field "name" is an empty string/],
    [
      { name: "n".repeat(201) },
      RangeError,
      /field "name" is 201 characters, over the limit of 200/,
    ],
    [{ name: 7 }, TypeError, /field "name" must be a string, got number 7/],
    [{ step: 0 }, RangeError, /field "step" must be a positive integer, got 0/],
    [{ step: 1.5 }, RangeError, /field "step"/],
    [{ step: 2 ** 53 }, RangeError, /field "step"/],
    [{ step: "3" }, TypeError, /field "step" must be a number, got the string "3"/],
    [{ run: 1 }, TypeError, /field "run" must be a string/],
    [{ run: "r".repeat(101) }, RangeError, /field "run" is 101 characters/],
    [{ executionId: null }, TypeError, /field "executionId" must be a string, got null/],
  ];
  for (const [fields, type, message] of cases) {
    assert.throws(
      () => validateToolCallRequest({ ...valid, ...fields }, DEFAULT_LIMITS),
      (e: unknown) => e instanceof type && message.test((e as Error).message),
      JSON.stringify(fields),
    );
  }
  for (const raw of [null, "call", 42, [valid]]) {
    assert.throws(() => validateToolCallRequest(raw, DEFAULT_LIMITS), /expected an object/);
  }
});

Deno.test("tool call arguments must be JSON and within maxValueBytes", () => {
  const cyclic: Record<string, unknown> = {};
  cyclic.self = cyclic;
  assert.throws(
    () => validateToolCallRequest({ ...valid, args: cyclic }, DEFAULT_LIMITS),
    (e: unknown) =>
      e instanceof TypeError && /field "args" is not JSON-serializable/.test(e.message),
  );
  assert.throws(
    () => validateToolCallRequest({ ...valid, args: { n: 1n } }, DEFAULT_LIMITS),
    TypeError,
  );
  assert.throws(
    () => validateToolCallRequest({ ...valid, args: "x".repeat(200) }, small),
    (e: unknown) =>
      e instanceof ValueTooLargeError && e.size === 202 && e.limit === 100 &&
      e.message === 'The arguments of tool call "search" is 202 bytes, over the limit of 100 bytes',
  );
});

const context = { actor: "exec-1/agent", step: 4, limits: small };

Deno.test("a well-formed step result is accepted as a fresh object with only its fields", () => {
  assert.deepEqual(
    validateStepResult(
      { ok: true, state: { a: 1 }, tokens: 2, hasOutput: true, output: "o", done: false, x: 1 },
      context,
    ),
    { ok: true, state: { a: 1 }, tokens: 2, hasOutput: true, output: "o", done: false },
  );
  // An output is taken only when hasOutput says so.
  assert.deepEqual(
    validateStepResult({ ok: true, state: null, tokens: 0, output: "ignored" }, context),
    { ok: true, state: null, tokens: 0, hasOutput: false },
  );
});

Deno.test("a malformed step result is a ProtocolViolationError naming the agent, the step and the field", () => {
  const cases: [unknown, RegExp][] = [
    [null, /the result of step 4 is null, expected an object/],
    ["done", /is the string "done", expected an object/],
    [{ state: {}, tokens: 0 }, /has "ok" undefined, expected a boolean/],
    [
      { ok: true, state: {}, tokens: -1e6 },
      /has "tokens" number -1000000, expected a finite number >= 0/,
    ],
    [{ ok: true, state: {}, tokens: "abc" }, /has "tokens" the string "abc"/],
    [{ ok: true, state: {}, tokens: NaN }, /has "tokens" number NaN/],
    [{ ok: true, state: {}, tokens: 0, done: "yes" }, /has "done" the string "yes"/],
    [{ ok: true, state: {}, tokens: 0, hasOutput: 1 }, /has "hasOutput" number 1/],
    [{ ok: true, state: { n: 1n }, tokens: 0 }, /has a "state" that is not JSON-serializable/],
    [
      { ok: false, tokens: 0 },
      /has "error" undefined, expected an object with string name and message/,
    ],
    [{ ok: false, tokens: 0, error: { name: "E", message: 5 } }, /has "error" an object/],
  ];
  for (const [reply, message] of cases) {
    assert.throws(
      () => validateStepResult(reply, context),
      (e: unknown) =>
        e instanceof ProtocolViolationError && e.code === "PROTOCOL_VIOLATION" &&
        e.message.startsWith(
          'Actor "exec-1/agent" broke the worker protocol: the result of step 4',
        ) &&
        message.test(e.message),
      JSON.stringify(reply, (_, v) => typeof v === "bigint" ? String(v) : v),
    );
  }
});

Deno.test("a step result's state and output must be within maxValueBytes", () => {
  assert.throws(
    () => validateStepResult({ ok: true, state: "s".repeat(200), tokens: 0 }, context),
    (e: unknown) =>
      e instanceof ValueTooLargeError &&
      e.message ===
        'The state of step 4 of "exec-1/agent" is 202 bytes, over the limit of 100 bytes',
  );
  assert.throws(
    () =>
      validateStepResult(
        { ok: true, state: {}, tokens: 0, hasOutput: true, output: "o".repeat(200) },
        context,
      ),
    /The output of step 4/,
  );
});

Deno.test("a failed step result's error is bounded: message and stack cut, a bad code dropped", () => {
  const result = validateStepResult({
    ok: false,
    tokens: 1,
    error: { name: "Error", message: "m".repeat(1_000), stack: "s".repeat(1_000), code: 7 },
  }, context);
  assert.equal(result.ok, false);
  if (result.ok) return;
  assert.equal(result.error.message, `${"m".repeat(20)}… (980 more characters)`);
  assert.equal(result.error.stack, `${"s".repeat(30)}… (970 more characters)`);
  assert.equal(result.error.code, undefined);
  assert.equal(result.tokens, 1);
});

Deno.test("the tokens of a refused step result count only when that field is valid", () => {
  assert.equal(reportedTokens({ ok: "yes", tokens: 7 }), 7);
  assert.equal(reportedTokens({ tokens: -1e6 }), 0);
  assert.equal(reportedTokens({ tokens: "abc" }), 0);
  assert.equal(reportedTokens("nothing"), 0);
});

Deno.test("assertJsonWithin refuses what is not JSON and what is too large", () => {
  assertJsonWithin({ a: 1 }, "The value", 7);
  assert.throws(() => assertJsonWithin({ a: 1 }, "The value", 6), /The value is 7 bytes/);
  assert.throws(
    () => assertJsonWithin(() => 1, "The value", 6),
    /The value is not JSON-serializable/,
  );
});
