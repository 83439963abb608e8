// The contract of the RateLimiter port, run against the in-process limiter
// and the Redis one alike: limits hold over every node of a deployment (for
// the in-process limiter, its one node), callers of one node are served
// first in, first out, a token estimate is corrected at release, and a
// caller that gives up leaves the queue. Real time; no per-minute window
// has to pass (the in-process limiter's are tested on a manual clock).
import assert from "node:assert/strict";
import type { RateLimiter, RateLimitPermit, RateLimits } from "../../src/model/rate_limits.ts";

/** Limiters sharing one set of limits: `node()` is another node's limiter. */
export interface LimiterNodes {
  node(): RateLimiter;
  close(): Promise<void>;
}

/** Makes limiters sharing `limits`. */
export type LimiterFactory = (limits: Record<string, RateLimits>) => LimiterNodes;

function track(limiter: RateLimiter, key: string, tokens = 0, signal?: AbortSignal) {
  const state: { permit?: RateLimitPermit; error?: unknown } = {};
  const promise = limiter.acquire(key, { tokens, ...(signal ? { signal } : {}) })
    .then((p) => state.permit = p, (e) => state.error = e);
  return { state, promise };
}

async function until(what: string, condition: () => boolean, ms = 3_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting until ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Registers the conformance tests of a limiter.
 *
 * @param name The implementation, in the test names.
 * @param factory Makes the limiters of one test.
 */
export function rateLimiterConformance(name: string, factory: LimiterFactory): void {
  Deno.test(`${name}: no more than maxConcurrent requests run at once over all nodes, each node's callers first in, first out`, async () => {
    const nodes = factory({ openai: { maxConcurrent: 2 } });
    try {
      const a = nodes.node();
      const b = nodes.node();
      const calls = [a, a, a, b, a].map((node) => track(node, "openai"));
      const held = () => calls.filter((c) => c.state.permit).length;
      await until("two are granted", () => held() === 2);
      await pause(100);
      assert.equal(held(), 2, "a third caller waits, on either node");
      const order: number[] = [];
      for (let released = 0; released < calls.length; released++) {
        await until(
          "a permit is held",
          () => calls.some((c, i) => c.state.permit && !order.includes(i)),
        );
        const next = calls.findIndex((c, i) => c.state.permit && !order.includes(i));
        order.push(next);
        assert.ok(
          calls.filter((c, i) => c.state.permit && !order.includes(i)).length <= 1,
          "never more than two at once",
        );
        calls[next]!.state.permit!.release();
        calls[next]!.state.permit!.release(); // idempotent: frees one slot only
      }
      await Promise.all(calls.map((c) => c.promise));
      const ofA = order.filter((i) => i !== 3);
      assert.deepEqual(ofA, [...ofA].sort((x, y) => x - y), "node a's callers in their order");
    } finally {
      await nodes.close();
    }
  });

  Deno.test(`${name}: tokensPerMinute counts the estimate, corrected at release by the tokens really used`, async () => {
    const nodes = factory({ anthropic: { tokensPerMinute: 1_000 } });
    try {
      const limiter = nodes.node();
      const first = await limiter.acquire("anthropic", { tokens: 600 });
      const second = track(nodes.node(), "anthropic", 600);
      await pause(100);
      assert.equal(second.state.permit, undefined, "600 + 600 exceeds 1000");
      first.release(300);
      await until("the second is granted", () => second.state.permit !== undefined);
      second.state.permit!.release();
    } finally {
      await nodes.close();
    }
  });

  Deno.test(`${name}: a caller that gives up leaves the queue with its signal's reason, and the next one moves up`, async () => {
    const nodes = factory({ openai: { maxConcurrent: 1 } });
    try {
      const limiter = nodes.node();
      const holder = await limiter.acquire("openai");
      const giveUp = new AbortController();
      const quitter = track(limiter, "openai", 0, giveUp.signal);
      const next = track(limiter, "openai");
      await pause(50);
      giveUp.abort(new Error("the step ended"));
      await quitter.promise;
      assert.equal((quitter.state.error as Error).message, "the step ended");
      assert.equal(next.state.permit, undefined);
      holder.release();
      await until("the next one is granted", () => next.state.permit !== undefined);
      next.state.permit!.release();
      const aborted = new AbortController();
      aborted.abort(new Error("gone before asking"));
      await assert.rejects(limiter.acquire("openai", { signal: aborted.signal }), /gone before/);
    } finally {
      await nodes.close();
    }
  });

  Deno.test(`${name}: providers without limits are not limited, and a bad estimate is refused naming it`, async () => {
    const nodes = factory({ openai: { maxConcurrent: 1 } });
    try {
      const limiter = nodes.node();
      const permits = await Promise.all([1, 2, 3].map(() => limiter.acquire("ollama")));
      permits.forEach((p) => p.release());
      await assert.rejects(
        limiter.acquire("openai", { tokens: -1 }),
        /tokens "-1": expected a number >= 0/,
      );
      await assert.rejects(limiter.acquire("openai", { tokens: NaN }), RangeError);
    } finally {
      await nodes.close();
    }
  });
}
