import assert from "node:assert/strict";
import { KvJobQueue } from "../../src/kv/kv_job_queue.ts";
import { openKv } from "../../src/kv/open_kv.ts";
import { ManualClock } from "../../src/testing/manual_clock.ts";
import { type HarnessFactory, testJobQueueConformance } from "../queue/_conformance.ts";
import { testDeadLetterReports } from "../queue/_dead_letter_conformance.ts";
import { tempKv } from "./_kv_harness.ts";

const kvHarness: HarnessFactory = async (options) => {
  const temp = await tempKv();
  const clock = new ManualClock(Date.now());
  const queues: KvJobQueue[] = [];
  const open = () => {
    const queue = new KvJobQueue({ ...options, path: temp.path, clock });
    queues.push(queue);
    return queue;
  };
  const queue = open();
  return {
    queue,
    peer: () => Promise.resolve(open()),
    advance: (ms) => clock.advance(ms),
    close: async () => {
      await Promise.all(queues.map((q) => q.close()));
      await temp.remove();
    },
  };
};
testJobQueueConformance("KvJobQueue", kvHarness);
testDeadLetterReports("KvJobQueue", kvHarness);

Deno.test("KvJobQueue carries a large job spec in parts and forgets them with the job", async () => {
  const temp = await tempKv();
  const queue = new KvJobQueue({ path: temp.path });
  try {
    const task = { text: "ä".repeat(100_000) };
    await queue.enqueue({ executionId: "exec-1", agent: "echo", task });
    const [lease] = await queue.reserve("w1");
    assert.deepEqual(lease?.spec.task, task);
    await queue.complete(lease!);
    const shared = await openKv(temp.path);
    const left: Deno.KvKey[] = [];
    for await (const entry of shared.kv.list({ prefix: ["oao", "q", "default"] })) {
      left.push(entry.key);
    }
    shared.release();
    assert.deepEqual(left.map((key) => key[3]), ["done"], "only the completion tombstone");
  } finally {
    await queue.close();
    await temp.remove();
  }
});

Deno.test("KvJobQueue: queues of different names on one file are independent", async () => {
  const temp = await tempKv();
  const a = new KvJobQueue({ path: temp.path, name: "a" });
  const b = new KvJobQueue({ path: temp.path, name: "b" });
  try {
    await a.enqueue({ executionId: "exec-1", agent: "echo", task: 1 });
    assert.deepEqual(await b.reserve("w1"), []);
    assert.equal((await a.reserve("w1")).length, 1);
    assert.throws(() => new KvJobQueue({ name: "" }), TypeError);
    assert.throws(() => new KvJobQueue({ pollIntervalMs: 5 }), RangeError);
  } finally {
    await a.close();
    await b.close();
    await temp.remove();
  }
});

Deno.test("KvJobQueue: concurrent calls on one lease apply once, each answered as if alone", async () => {
  const temp = await tempKv();
  const clock = new ManualClock(Date.now());
  const queue = new KvJobQueue({
    path: temp.path,
    clock,
    backoff: { minMs: 100, maxMs: 100, factor: 1, jitter: 0 },
  });
  try {
    await queue.enqueue({ executionId: "exec-1", agent: "echo", task: 1 });
    const [lease] = await queue.reserve("w1");
    const outcomes = await Promise.all([queue.fail(lease!, "a"), queue.fail(lease!, "b")]);
    assert.deepEqual(outcomes, ["retry", "retry"]);
    assert.deepEqual(await queue.stats(), { waiting: 0, delayed: 1, inFlight: 0, dead: 0 });
    await clock.advance(100);
    const [again] = await queue.reserve("w1");
    assert.equal(again?.attempt, 2, "one failed attempt, not two");
    const [renewed] = await Promise.all([
      queue.heartbeat(again!, 5_000),
      queue.complete(again!),
      queue.complete(again!),
    ]);
    assert.equal(renewed, true);
    assert.deepEqual(await queue.stats(), { waiting: 0, delayed: 0, inFlight: 0, dead: 0 });
  } finally {
    await queue.close();
    await temp.remove();
  }
});
