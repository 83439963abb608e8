// The JobLoop's dead-letter hook, on the in-memory queue: the handler hears
// of a job whose last attempt the loop failed and of one whose last lease
// expired under another consumer and that a reserve of the loop buried.
import assert from "node:assert/strict";
import { type JobHandler, JobLoop } from "../../src/distributed/job_loop.ts";
import type { DeadJob } from "../../src/queue/job_queue.ts";
import { InMemoryJobQueue } from "../../src/queue/in_memory_job_queue.ts";

Deno.test("a job loop tells its handler of the jobs dead-lettered under it: failed here, or found with an expired last lease", async () => {
  const queue = new InMemoryJobQueue({ maxAttempts: 1 });
  const orphan = await queue.enqueue({ executionId: "exec-orphan", agent: "a", task: null });
  const [held] = await queue.reserve("ghost", { leaseMs: 100 });
  assert.equal(held?.jobId, orphan.jobId);
  const failing = await queue.enqueue({ executionId: "exec-failing", agent: "a", task: null });
  const told: [string, string, number, string][] = [];
  const handler: JobHandler = {
    run: () => Promise.resolve({ type: "fail", error: "boom" }),
    dead: (job: DeadJob, cause) => {
      told.push([cause, job.jobId, job.attempts, job.lastError]);
      return Promise.reject(new Error("a handler's failure changes nothing"));
    },
  };
  const loop = new JobLoop({ queue, consumer: "w1", handler, leaseMs: 1_000, reserveBlockMs: 50 });
  loop.start();
  try {
    const deadline = Date.now() + 5_000;
    while (told.length < 2 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    assert.deepEqual(told.toSorted(), [
      ["expired", orphan.jobId, 1, 'Lease of consumer "ghost" expired'],
      ["failed", failing.jobId, 1, "boom"],
    ]);
    assert.equal((await queue.stats()).dead, 2);
  } finally {
    await loop.stop();
    await queue.close();
  }
});
