import assert from "node:assert/strict";
import { InProcessRateLimiter, type RateLimitPermit } from "../../src/model/rate_limits.ts";
import { ManualClock } from "../../src/testing/manual_clock.ts";

/** Starts acquiring and records, in order, which callers got their permit. */
function track(limiter: InProcessRateLimiter, key: string, tokens = 0, signal?: AbortSignal) {
  const state: { permit?: RateLimitPermit; error?: unknown } = {};
  const promise = limiter.acquire(key, { tokens, ...(signal ? { signal } : {}) })
    .then((p) => state.permit = p, (e) => state.error = e);
  return { state, promise };
}

const settle = () => new Promise((r) => setTimeout(r, 0));

Deno.test("no more than maxConcurrent requests run at once; waiting callers go first in, first out", async () => {
  const clock = new ManualClock();
  const limiter = new InProcessRateLimiter({ openai: { maxConcurrent: 2 } }, { clock });
  const calls = [0, 1, 2, 3, 4].map(() => track(limiter, "openai"));
  await settle();
  const granted = () => calls.map((c, i) => c.state.permit ? i : -1).filter((i) => i >= 0);
  assert.deepEqual(granted(), [0, 1]);
  assert.deepEqual(limiter.stats("openai"), {
    active: 2,
    queued: 3,
    requestsInWindow: 2,
    tokensInWindow: 0,
  });
  calls[1]!.state.permit!.release();
  calls[1]!.state.permit!.release(); // idempotent: frees one slot only
  await settle();
  assert.deepEqual(granted(), [0, 1, 2]);
  calls[0]!.state.permit!.release();
  await settle();
  assert.deepEqual(granted(), [0, 1, 2, 3]);
  assert.equal(clock.pending, 0, "waiting on concurrency needs no timer");
});

Deno.test("requestsPerMinute holds a request back until the oldest one is a minute old", async () => {
  const clock = new ManualClock(1_000);
  const limiter = new InProcessRateLimiter({ anthropic: { requestsPerMinute: 2 } }, { clock });
  (await limiter.acquire("anthropic")).release();
  await clock.advance(10_000);
  (await limiter.acquire("anthropic")).release();
  const third = track(limiter, "anthropic");
  await clock.advance(49_999);
  assert.equal(third.state.permit, undefined, "59.999 s after the first request");
  await clock.advance(1);
  assert.ok(third.state.permit, "a minute after the first request");
  assert.equal(limiter.stats("anthropic").requestsInWindow, 2);
});

Deno.test("tokensPerMinute counts the estimate, corrected by the tokens really used", async () => {
  const clock = new ManualClock();
  const limiter = new InProcessRateLimiter({ openai: { tokensPerMinute: 1_000 } }, { clock });
  const first = await limiter.acquire("openai", { tokens: 600 });
  const second = track(limiter, "openai", 600);
  await settle();
  assert.equal(second.state.permit, undefined, "600 + 600 is over 1000");
  first.release(300);
  await settle();
  assert.ok(second.state.permit, "300 + 600 fits");
  assert.equal(limiter.stats("openai").tokensInWindow, 900);
  const third = track(limiter, "openai", 200);
  await clock.advance(59_999);
  assert.equal(third.state.permit, undefined);
  await clock.advance(1);
  assert.ok(third.state.permit, "the window is empty again after a minute");
});

Deno.test("a request larger than tokensPerMinute passes alone once the window is empty", async () => {
  const clock = new ManualClock();
  const limiter = new InProcessRateLimiter({ openai: { tokensPerMinute: 100 } }, { clock });
  const small = await limiter.acquire("openai", { tokens: 10 });
  small.release();
  const big = track(limiter, "openai", 5_000);
  await clock.advance(30_000);
  assert.equal(big.state.permit, undefined);
  await clock.advance(30_000);
  assert.ok(big.state.permit);
});

Deno.test("a small request does not overtake a blocked one ahead of it", async () => {
  const clock = new ManualClock();
  const limiter = new InProcessRateLimiter({ openai: { tokensPerMinute: 1_000 } }, { clock });
  await limiter.acquire("openai", { tokens: 900 });
  const big = track(limiter, "openai", 500);
  const small = track(limiter, "openai", 50);
  await settle();
  assert.equal(big.state.permit, undefined);
  assert.equal(small.state.permit, undefined, "it would fit, but it waits its turn");
  await clock.advance(60_000);
  assert.ok(big.state.permit && small.state.permit);
});

Deno.test("an aborted waiter leaves the queue with the signal's reason and the next one moves up", async () => {
  const clock = new ManualClock();
  const limiter = new InProcessRateLimiter({ openai: { maxConcurrent: 1 } }, { clock });
  const holder = await limiter.acquire("openai");
  const controller = new AbortController();
  const aborted = track(limiter, "openai", 0, controller.signal);
  const next = track(limiter, "openai");
  await settle();
  controller.abort(new Error("caller gave up"));
  await aborted.promise;
  assert.match(String(aborted.state.error), /caller gave up/);
  assert.equal(limiter.stats("openai").queued, 1);
  holder.release();
  await settle();
  assert.ok(next.state.permit);
  await assert.rejects(
    limiter.acquire("openai", { signal: AbortSignal.abort(new Error("already")) }),
    /already/,
  );
});

Deno.test("providers without limits are not limited, and bad limits are refused naming the field", async () => {
  const limiter = new InProcessRateLimiter({ openai: { maxConcurrent: 1 } });
  await Promise.all([1, 2, 3].map(() => limiter.acquire("ollama")));
  assert.deepEqual(limiter.stats("ollama"), {
    active: 0,
    queued: 0,
    requestsInWindow: 0,
    tokensInWindow: 0,
  });
  assert.throws(
    () => new InProcessRateLimiter({ openai: { requestsPerMinute: 0 } }),
    /Invalid rateLimits\.openai\.requestsPerMinute 0: expected an integer >= 1/,
  );
  assert.throws(() => new InProcessRateLimiter({ anthropic: { maxConcurrent: 1.5 } }), RangeError);
  await assert.rejects(limiter.acquire("openai", { tokens: -1 }), RangeError);
});
