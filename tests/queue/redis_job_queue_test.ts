import assert from "node:assert/strict";
import { connectRedis } from "../../src/redis/connection.ts";
import { RedisJobQueue } from "../../src/redis/redis_job_queue.ts";
import { testJobQueueConformance } from "./_conformance.ts";
import { testDeadLetterReports } from "./_dead_letter_conformance.ts";
import { deleteKeys, REDIS_URL, redisHarnessFactory } from "./_redis_harness.ts";

testJobQueueConformance("RedisJobQueue", redisHarnessFactory(REDIS_URL));
testDeadLetterReports("RedisJobQueue", redisHarnessFactory(REDIS_URL));

Deno.test("RedisJobQueue keeps every key of a queue under one hash tag", async () => {
  const client = await connectRedis({ redisUrl: REDIS_URL, checkServer: false });
  const keyPrefix = `oao-test-${crypto.randomUUID()}:`;
  const queue = new RedisJobQueue({ client, name: "tagged", keyPrefix });
  try {
    assert.equal(queue.keyPrefix, `${keyPrefix}{queue:tagged}:`);
    await queue.enqueue({ executionId: "e", agent: "a", task: 1 }, { idempotencyKey: "k" });
    await queue.enqueue({ executionId: "f", agent: "a", task: 2 }, { delayMs: 60_000 });
    const [lease] = await queue.reserve("w1");
    await queue.fail(lease!, "x", { retry: false });
    const keys = await client.keys(`${keyPrefix}*`);
    assert.ok(keys.length >= 6, `keys: ${keys.join(", ")}`);
    for (const key of keys) assert.ok(key.startsWith(queue.keyPrefix), key);
  } finally {
    await queue.close();
    await deleteKeys(client, `${keyPrefix}*`);
    await client.quit();
  }
});

Deno.test("RedisJobQueue expires an idempotency key after idempotencyTtlMs", async () => {
  const client = await connectRedis({ redisUrl: REDIS_URL, checkServer: false });
  const keyPrefix = `oao-test-${crypto.randomUUID()}:`;
  const queue = new RedisJobQueue({ client, keyPrefix, idempotencyTtlMs: 200 });
  try {
    const job = { executionId: "exec-1", agent: "echo", task: null };
    const first = await queue.enqueue(job, { idempotencyKey: "k" });
    assert.equal((await queue.enqueue(job, { idempotencyKey: "k" })).jobId, first.jobId);
    await new Promise((resolve) => setTimeout(resolve, 300));
    const later = await queue.enqueue(job, { idempotencyKey: "k" });
    assert.notEqual(later.jobId, first.jobId);
  } finally {
    await queue.close();
    await deleteKeys(client, `${keyPrefix}*`);
    await client.quit();
  }
});

Deno.test("RedisJobQueue rejects a name or key prefix with braces and a tiny poll", () => {
  assert.throws(() => new RedisJobQueue({ name: "a{b}" }), /"name"/);
  assert.throws(() => new RedisJobQueue({ name: "" }), TypeError);
  assert.throws(() => new RedisJobQueue({ keyPrefix: "x{" }), TypeError);
  assert.throws(() => new RedisJobQueue({ pollIntervalMs: 5 }), RangeError);
  assert.throws(() => new RedisJobQueue({ leaseMs: -1 }), RangeError);
});

Deno.test("RedisJobQueue borrows a client passed in and leaves it open", async () => {
  const client = await connectRedis({ redisUrl: REDIS_URL, checkServer: false });
  const keyPrefix = `oao-test-${crypto.randomUUID()}:`;
  const queue = new RedisJobQueue({ client, keyPrefix });
  try {
    await queue.enqueue({ executionId: "e", agent: "a", task: 1 });
    await queue.reserve("w1", { blockMs: 50 });
    await queue.reserve("w1", { blockMs: 50 });
    await queue.close();
    assert.equal(await client.ping(), "PONG");
  } finally {
    await queue.close();
    await deleteKeys(client, `${keyPrefix}*`);
    await client.quit();
  }
});

Deno.test("RedisJobQueue: an idle blocking reserve polls once per pollIntervalMs", async () => {
  const client = await connectRedis({ redisUrl: REDIS_URL, checkServer: false });
  const keyPrefix = `oao-test-${crypto.randomUUID()}:`;
  const queue = new RedisJobQueue({ client, keyPrefix, pollIntervalMs: 300 });
  const evalsha = client.evalsha.bind(client) as (...args: unknown[]) => Promise<unknown>;
  let scripts = 0;
  (client as unknown as { evalsha: typeof evalsha }).evalsha = (...args) => {
    scripts++;
    return evalsha(...args);
  };
  try {
    assert.deepEqual(await queue.reserve("w1", { blockMs: 1_000 }), []);
    assert.ok(scripts >= 2 && scripts <= 6, `${scripts} reserve scripts in 1 s`);
  } finally {
    await queue.close();
    await deleteKeys(client, `${keyPrefix}*`);
    await client.quit();
  }
});

Deno.test("RedisJobQueue reclaims the job of a worker process killed with SIGKILL", async () => {
  const client = await connectRedis({ redisUrl: REDIS_URL, checkServer: false });
  const keyPrefix = `oao-test-${crypto.randomUUID()}:`;
  const queue = new RedisJobQueue({ client, keyPrefix });
  const worker = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--no-check", new URL("./_worker_fixture.ts", import.meta.url).pathname],
    env: { REDIS_URL, KEY_PREFIX: keyPrefix },
    stdin: "null",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  try {
    const { jobId } = await queue.enqueue({ executionId: "exec-1", agent: "echo", task: 1 });
    const reader = worker.stdout.pipeThrough(new TextDecoderStream()).getReader();
    let line = "";
    while (!line.includes("\n")) {
      const { value, done } = await reader.read();
      if (done) break;
      line += value;
    }
    const held = JSON.parse(line);
    assert.equal(held.jobId, jobId);
    worker.kill("SIGKILL");
    await reader.cancel();
    assert.equal((await worker.status).signal, "SIGKILL");
    const [lease] = await queue.reserve("survivor", { blockMs: 5_000 });
    assert.equal(lease?.jobId, jobId);
    assert.equal(lease?.reason, "reclaimed");
    assert.equal(lease?.previousConsumer, "doomed");
    assert.ok(lease!.token > held.token);
    await queue.complete(lease!);
  } finally {
    try {
      worker.kill("SIGKILL");
    } catch { /* already dead */ }
    await worker.status;
    await queue.close();
    await deleteKeys(client, `${keyPrefix}*`);
    await client.quit();
  }
});
