import assert from "node:assert/strict";
import { InMemoryJobQueue } from "../../src/queue/in_memory_job_queue.ts";
import { ManualClock } from "../../src/testing/manual_clock.ts";
import { type HarnessFactory, testJobQueueConformance } from "./_conformance.ts";
import { testDeadLetterReports } from "./_dead_letter_conformance.ts";

const factory: HarnessFactory = (options) => {
  const clock = new ManualClock(Date.now());
  const queue = new InMemoryJobQueue({ ...options, clock });
  return Promise.resolve({
    queue,
    peer: () => Promise.resolve(queue),
    advance: (ms) => clock.advance(ms),
    close: () => queue.close(),
  });
};
testJobQueueConformance("InMemoryJobQueue", factory);
testDeadLetterReports("InMemoryJobQueue", factory);

Deno.test("InMemoryJobQueue forgets an idempotency key after idempotencyTtlMs", async () => {
  const clock = new ManualClock(0);
  const queue = new InMemoryJobQueue({ clock, idempotencyTtlMs: 1_000 });
  const job = { executionId: "exec-1", agent: "echo", task: null };
  const first = await queue.enqueue(job, { idempotencyKey: "k" });
  await clock.advance(999);
  assert.equal((await queue.enqueue(job, { idempotencyKey: "k" })).jobId, first.jobId);
  await clock.advance(1);
  const later = await queue.enqueue(job, { idempotencyKey: "k" });
  assert.notEqual(later.jobId, first.jobId);
  assert.equal(later.duplicate, false);
  await queue.close();
});

Deno.test("InMemoryJobQueue caps retry delays at backoff.maxMs", async () => {
  const clock = new ManualClock(0);
  const queue = new InMemoryJobQueue({
    clock,
    maxAttempts: 10,
    backoff: { minMs: 100, factor: 10, maxMs: 250, jitter: 0 },
  });
  await queue.enqueue({ executionId: "exec-1", agent: "echo", task: null });
  for (let attempt = 1; attempt <= 3; attempt++) {
    const [lease] = await queue.reserve("w1");
    assert.equal(lease?.attempt, attempt);
    await queue.fail(lease!, "boom");
    await clock.advance(attempt === 1 ? 99 : 249);
    assert.deepEqual(await queue.reserve("w1"), [], `attempt ${attempt}: too early`);
    await clock.advance(1);
  }
  assert.equal((await queue.reserve("w1"))[0]?.attempt, 4);
  await queue.close();
});

Deno.test("InMemoryJobQueue rejects out-of-range options", () => {
  assert.throws(() => new InMemoryJobQueue({ leaseMs: 0 }), RangeError);
  assert.throws(() => new InMemoryJobQueue({ maxAttempts: 1.5 }), RangeError);
  assert.throws(() => new InMemoryJobQueue({ backoff: { jitter: 2 } }), /backoff\.jitter 2/);
});
