import assert from "node:assert/strict";
import { backoffDelay, DEFAULT_BACKOFF, resolveBackoff } from "../../src/queue/backoff_delay.ts";

Deno.test("backoffDelay grows by factor per attempt up to maxMs", () => {
  const policy = { initialMs: 100, factor: 3, maxMs: 2_000, jitter: 0 };
  assert.deepEqual([1, 2, 3, 4, 5].map((n) => backoffDelay(n, policy)), [
    100,
    300,
    900,
    2_000,
    2_000,
  ]);
  assert.equal(backoffDelay(10_000, policy), 2_000, "a huge attempt stays at the ceiling");
});

Deno.test("backoffDelay draws from [base × (1 − jitter), base]", () => {
  const policy = { initialMs: 1_000, factor: 2, maxMs: 60_000, jitter: 0.3 };
  assert.equal(backoffDelay(2, policy, () => 0), 2_000);
  assert.equal(backoffDelay(2, policy, () => 0.5), 1_700);
  assert.equal(backoffDelay(2, policy, () => 0.999_999), 1_400);
  for (let attempt = 1; attempt <= 8; attempt++) {
    const base = Math.min(60_000, 1_000 * 2 ** (attempt - 1));
    for (let i = 0; i < 50; i++) {
      const delay = backoffDelay(attempt, policy);
      assert.ok(delay >= base * 0.7 && delay <= base, `attempt ${attempt}: ${delay}`);
    }
  }
});

Deno.test("backoffDelay with full jitter never exceeds the base", () => {
  const policy = { initialMs: 500, jitter: 1 };
  assert.equal(backoffDelay(1, policy, () => 0.999_999), 0);
  assert.equal(backoffDelay(1, policy, () => 0), 500);
});

Deno.test("backoffDelay uses the defaults for omitted options", () => {
  assert.equal(backoffDelay(1, {}, () => 0), DEFAULT_BACKOFF.initialMs);
  assert.equal(backoffDelay(2, { jitter: 0 }), DEFAULT_BACKOFF.initialMs * DEFAULT_BACKOFF.factor);
});

Deno.test("backoffDelay rejects a bad attempt and out-of-range options, naming the field", () => {
  assert.throws(() => backoffDelay(0), RangeError);
  assert.throws(() => backoffDelay(1.5), RangeError);
  assert.throws(() => resolveBackoff({ factor: 0.5 }), /"factor"/);
  assert.throws(() => resolveBackoff({ jitter: -0.1 }), /"jitter"/);
  assert.throws(() => resolveBackoff({ initialMs: Number.NaN }), /"initialMs"/);
  assert.throws(() => resolveBackoff({ maxMs: -1 }), /"maxMs"/);
});
