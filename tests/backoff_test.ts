import assert from "node:assert/strict";
import { backoffBounds, backoffDelay, DEFAULT_BACKOFF, resolveBackoff } from "../src/backoff.ts";

Deno.test("backoffDelay grows by factor per attempt up to maxMs", () => {
  const policy = { minMs: 100, factor: 3, maxMs: 2_000, jitter: 0 };
  assert.deepEqual([1, 2, 3, 4, 5].map((n) => backoffDelay(n, policy)), [
    100,
    300,
    900,
    2_000,
    2_000,
  ]);
  assert.equal(backoffDelay(10_000, policy), 2_000, "a huge attempt stays at the ceiling");
  const zero = { minMs: 0, factor: 2, maxMs: 0, jitter: 0.5 };
  assert.equal(backoffDelay(5_000, zero), 0, "a zero delay stays zero, never NaN");
});

Deno.test("backoffDelay draws from [base × (1 − jitter), base × (1 + jitter)] capped at maxMs", () => {
  const policy = { minMs: 1_000, factor: 2, maxMs: 60_000, jitter: 0.3 };
  assert.equal(backoffDelay(2, policy, () => 0), 1_400);
  assert.equal(backoffDelay(2, policy, () => 0.5), 2_000);
  assert.equal(backoffDelay(2, policy, () => 0.999_999), 2_600);
  assert.equal(backoffDelay(7, policy, () => 0.999_999), 60_000, "the cap applies after jitter");
  for (let attempt = 1; attempt <= 8; attempt++) {
    const { min, max } = backoffBounds(attempt, policy);
    for (let i = 0; i < 50; i++) {
      const delay = backoffDelay(attempt, policy);
      assert.ok(delay >= min && delay <= max, `attempt ${attempt}: ${delay}`);
    }
  }
});

Deno.test("backoffDelay clamps a random source outside [0, 1)", () => {
  const policy = { minMs: 100, factor: 2, maxMs: 1_000, jitter: 0.5 };
  assert.equal(backoffDelay(1, policy, () => -1), 50);
  assert.equal(backoffDelay(1, policy, () => 2), 150);
});

Deno.test("backoffDelay rejects an attempt that is not a positive integer", () => {
  assert.throws(() => backoffDelay(0, DEFAULT_BACKOFF), /attempt "0"/);
  assert.throws(() => backoffDelay(1.5, DEFAULT_BACKOFF), RangeError);
  assert.throws(() => backoffBounds(Number.NaN, DEFAULT_BACKOFF), RangeError);
});

Deno.test("resolveBackoff merges over the given defaults", () => {
  assert.deepEqual(resolveBackoff(undefined, "backoff"), DEFAULT_BACKOFF);
  const defaults = { minMs: 1_000, maxMs: 60_000, factor: 2, jitter: 0.5 };
  assert.deepEqual(resolveBackoff({ factor: 3 }, "backoff", defaults), { ...defaults, factor: 3 });
});

Deno.test("resolveBackoff rejects out-of-range options, naming the field and the value", () => {
  assert.throws(() => resolveBackoff({ factor: 0.5 }, "backoff"), /backoff\.factor 0\.5/);
  assert.throws(() => resolveBackoff({ jitter: -0.1 }, "backoff"), /backoff\.jitter -0\.1/);
  assert.throws(() => resolveBackoff({ minMs: Number.NaN }, "backoff"), /backoff\.minMs/);
  assert.throws(() => resolveBackoff({ maxMs: -1 }, "backoff"), /backoff\.maxMs -1/);
  assert.throws(() => resolveBackoff({ minMs: 10, maxMs: 5 }, "retry"), /retry\.maxMs 5/);
});
