// GET /queue and POST /queue/dead/:jobId/requeue: the queue's counts and
// dead letters over HTTP, re-enqueueing a dead job, and the refusals.
import assert from "node:assert/strict";
import { InMemoryJobQueue } from "../../src/queue/in_memory_job_queue.ts";
import { startTestServer } from "./_server.ts";

async function deadJob(queue: InMemoryJobQueue, executionId: string): Promise<string> {
  const { jobId } = await queue.enqueue({ executionId, agent: "echo", task: {} }, {
    maxAttempts: 1,
  });
  const [lease] = await queue.reserve("worker-1");
  assert.ok(lease);
  assert.equal(await queue.fail(lease, "the tool timed out", { retry: false }), "dead");
  return jobId;
}

Deno.test("GET /queue shows depth, in flight, delayed and dead jobs with their last error", async () => {
  const queue = new InMemoryJobQueue();
  await using api = await startTestServer({ token: "a-token-of-16-chars!", queue });
  const jobId = await deadJob(queue, "exec-dead-1");
  await queue.enqueue({ executionId: "exec-waiting", agent: "echo", task: {} });
  await queue.enqueue({ executionId: "exec-later", agent: "echo", task: {} }, { delayMs: 60_000 });
  const auth = { authorization: "Bearer a-token-of-16-chars!" };
  const { status, body } = await api.call("GET", "/queue", { headers: auth });
  assert.equal(status, 200);
  assert.deepEqual(
    { waiting: body.waiting, delayed: body.delayed, inFlight: body.inFlight, dead: body.dead },
    { waiting: 1, delayed: 1, inFlight: 0, dead: 1 },
  );
  assert.equal(body.deadLetters.length, 1);
  assert.deepEqual(
    { ...body.deadLetters[0], deadAt: undefined },
    {
      jobId,
      executionId: "exec-dead-1",
      agent: "echo",
      attempts: 1,
      lastError: "the tool timed out",
      deadAt: undefined,
    },
  );
  assert.equal((await api.call("GET", "/queue")).status, 401);
  await queue.close();
});

Deno.test("POST /queue/dead/:jobId/requeue moves a dead job back to the queue, once", async () => {
  const queue = new InMemoryJobQueue();
  await using api = await startTestServer({ queue });
  const jobId = await deadJob(queue, "exec-dead-2");
  const requeued = await api.call("POST", `/queue/dead/${jobId}/requeue`);
  assert.equal(requeued.status, 202);
  assert.deepEqual(requeued.body, { jobId, requeued: true });
  assert.deepEqual(await queue.stats(), { waiting: 1, delayed: 0, inFlight: 0, dead: 0 });
  const again = await api.call("POST", `/queue/dead/${jobId}/requeue`);
  assert.equal(again.status, 404);
  assert.equal(again.body.error.code, "job_not_found");
  assert.match(again.body.error.message, new RegExp(jobId));
  await queue.close();
});

Deno.test("the queue routes name a bad limit or job id (400) and answer 501 without a queue", async () => {
  const queue = new InMemoryJobQueue();
  await using api = await startTestServer({ queue });
  const limit = await api.call("GET", "/queue?limit=0");
  assert.equal(limit.status, 400);
  assert.match(limit.body.error.message, /limit/);
  const bad = await api.call("POST", `/queue/dead/${encodeURIComponent("bad id!")}/requeue`);
  assert.equal(bad.status, 400);
  assert.match(bad.body.error.message, /jobId/);
  await queue.close();
  await using local = await startTestServer();
  const none = await local.call("GET", "/queue");
  assert.equal(none.status, 501);
  assert.equal(none.body.error.code, "not_supported");
  assert.equal((await local.call("POST", "/queue/dead/x/requeue")).status, 501);
});
