/**
 * The contract of {@linkcode JobQueue}, written once and run against every
 * implementation (in memory, single Redis, Redis Cluster).
 *
 * Time-dependent cases let queue time pass through `harness.advance`: a
 * manual clock for the in-memory queue, real sleeps where Redis keeps the
 * time. Durations are short (leases of 300–500 ms) and every "not yet"
 * check keeps a margin of at least 150 ms.
 *
 * @module
 */
import assert from "node:assert/strict";
import { LeaseLostError } from "../../src/errors.ts";
import type { BackoffOptions } from "../../src/backoff.ts";
import type { JobQueue, JobSpec, Lease } from "../../src/queue/job_queue.ts";

/** What a harness factory is asked for. */
export interface HarnessOptions {
  /** Default lease, in ms. */
  leaseMs: number;
  /** Default attempts. */
  maxAttempts: number;
  /** Retry delays. */
  backoff: BackoffOptions;
  /** Jitter source. */
  random: () => number;
  /** How long dead jobs are kept (the implementation's default when absent). */
  deadRetentionMs?: number;
}

/** A queue under test plus control over its time. */
export interface QueueHarness {
  /** The queue. */
  queue: JobQueue;
  /** Another handle on the same queue, as a second node would have (may be `queue`). */
  peer(): Promise<JobQueue>;
  /** Lets `ms` of queue time pass. */
  advance(ms: number): Promise<void>;
  /** Closes every handle and removes what the harness stored. */
  close(): Promise<void>;
}

/** Builds a fresh, empty queue. */
export type HarnessFactory = (options: HarnessOptions) => Promise<QueueHarness>;

/** One contract case. */
export interface ConformanceCase {
  /** Specification-style name. */
  name: string;
  /** Runs the case on a fresh harness. */
  fn: () => Promise<void>;
}

const LEASE_MS = 300;
/** minMs 400, jitter 0.5 at random 0.25 (base × 0.75): delays 300, 600, 1200 ms. */
const BACKOFF: BackoffOptions = { minMs: 400, factor: 2, maxMs: 10_000, jitter: 0.5 };

function spec(n: number | string, extra: Partial<JobSpec> = {}): JobSpec {
  return { executionId: `exec-${n}`, agent: "echo", task: { n }, ...extra };
}

function ids(leases: Lease[]): string[] {
  return leases.map((lease) => String((lease.spec.task as { n: unknown }).n));
}

async function enqueueAll(queue: JobQueue, specs: JobSpec[]): Promise<string[]> {
  const out: string[] = [];
  for (const s of specs) out.push((await queue.enqueue(s)).jobId);
  return out;
}

/**
 * The cases of the contract, each building its own harness with `factory`.
 *
 * @param factory Builds an empty queue.
 * @returns The cases, to register as tests or steps.
 */
export function jobQueueCases(factory: HarnessFactory): ConformanceCase[] {
  const cases: ConformanceCase[] = [];
  const add = (
    name: string,
    body: (h: QueueHarness) => Promise<void>,
    extra: Partial<HarnessOptions> = {},
  ) => {
    cases.push({
      name,
      fn: async () => {
        const harness = await factory({
          leaseMs: LEASE_MS,
          maxAttempts: 3,
          backoff: BACKOFF,
          random: () => 0.25,
          ...extra,
        });
        try {
          await body(harness);
        } finally {
          await harness.close();
        }
      },
    });
  };

  add("delivers jobs of one priority in FIFO order", async ({ queue }) => {
    await enqueueAll(queue, [1, 2, 3, 4, 5].map((n) => spec(n)));
    assert.deepEqual(ids(await queue.reserve("w1", { count: 2 })), ["1", "2"]);
    assert.deepEqual(ids(await queue.reserve("w1")), ["3"]);
    assert.deepEqual(ids(await queue.reserve("w1", { count: 10 })), ["4", "5"]);
    assert.deepEqual(await queue.reserve("w1"), []);
  });

  add("delivers higher priorities first and FIFO within a priority", async ({ queue }) => {
    const jobs: [string, number][] = [["a", 0], ["b", 5], ["c", 0], ["d", 9], ["e", 5], ["f", 1]];
    for (const [n, priority] of jobs) await queue.enqueue(spec(n), { priority });
    assert.deepEqual(ids(await queue.reserve("w1", { count: 10 })), ["d", "b", "e", "f", "a", "c"]);
  });

  add("gives the first delivery attempt 1, token 1 and reason new", async ({ queue }) => {
    const { jobId, executionId, duplicate } = await queue.enqueue(spec(1));
    assert.equal(executionId, "exec-1");
    assert.equal(duplicate, false);
    const [lease] = await queue.reserve("w1", { leaseMs: 5_000 });
    assert.ok(lease);
    assert.equal(lease.jobId, jobId);
    assert.equal(lease.attempt, 1);
    assert.equal(lease.token, 1);
    assert.equal(lease.consumer, "w1");
    assert.equal(lease.reason, "new");
    assert.equal(lease.previousConsumer, undefined);
    assert.ok(lease.expiresAt > 1_600_000_000_000, "expiresAt is an epoch time");
  });

  add("carries the job, its trace context and options faithfully", async ({ queue }) => {
    const job: JobSpec = {
      executionId: "exec-trace",
      agent: "planner",
      task: { text: "héllo ✓", list: [1, 2.5, null, true], nested: { deep: ["x"] } },
      options: { maxSteps: 7, label: "a\nb" },
      traceparent: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
      tracestate: "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE",
    };
    await queue.enqueue(job);
    const [lease] = await queue.reserve("w1");
    assert.deepEqual(lease?.spec, job);
  });

  add("does not deliver a delayed job before its delay", async ({ queue, advance }) => {
    await queue.enqueue(spec("later"), { delayMs: 400 });
    await queue.enqueue(spec("now"));
    const now = await queue.reserve("w1", { count: 5 });
    assert.deepEqual(ids(now), ["now"]);
    await queue.complete(now[0]!);
    assert.equal((await queue.stats()).delayed, 1);
    await advance(150);
    assert.deepEqual(await queue.reserve("w1"), []);
    await advance(350);
    const [lease] = await queue.reserve("w1");
    assert.deepEqual(ids(lease ? [lease] : []), ["later"]);
    assert.equal(lease?.reason, "new");
  });

  add("a blocking reserve wakes up when a job is enqueued", async ({ queue }) => {
    const pending = queue.reserve("w1", { blockMs: 10_000 });
    await new Promise((resolve) => setTimeout(resolve, 20));
    await queue.enqueue(spec(1));
    assert.deepEqual(ids(await pending), ["1"]);
  });

  add("a blocking reserve takes a delayed job once it is due", async ({ queue, advance }) => {
    await queue.enqueue(spec("due"), { delayMs: 300 });
    const pending = queue.reserve("w1", { blockMs: 5_000 });
    await advance(350);
    assert.deepEqual(ids(await pending), ["due"]);
  });

  add("a blocking reserve gives up after blockMs with no jobs", async ({ queue, advance }) => {
    const pending = queue.reserve("w1", { blockMs: 200 });
    await advance(250);
    assert.deepEqual(await pending, []);
  });

  add("aborting the signal ends a blocking reserve at once, losing no job", async (h) => {
    const controller = new AbortController();
    const pending = h.queue.reserve("w1", { blockMs: 60_000, signal: controller.signal });
    await new Promise((resolve) => setTimeout(resolve, 20));
    controller.abort();
    assert.deepEqual(await pending, []);
    assert.deepEqual(await h.queue.reserve("w1", { signal: AbortSignal.abort() }), []);
    await h.queue.enqueue(spec(1));
    const other = await h.peer();
    assert.deepEqual(ids(await other.reserve("w2", { blockMs: 2_000 })), ["1"]);
  });

  add("reclaims an expired lease with a higher token and the previous consumer", async (h) => {
    const { queue, advance } = h;
    await queue.enqueue(spec(1));
    const [first] = await queue.reserve("w1");
    assert.ok(first);
    const other = await h.peer();
    assert.deepEqual(await other.reserve("w2"), [], "a live lease is not reclaimed");
    await advance(LEASE_MS + 100);
    const [second] = await other.reserve("w2");
    assert.ok(second);
    assert.equal(second.jobId, first.jobId);
    assert.ok(second.token > first.token);
    assert.equal(second.reason, "reclaimed");
    assert.equal(second.previousConsumer, "w1");
    assert.equal(second.attempt, 2);
    assert.equal(second.consumer, "w2");
    await other.complete(second);
    assert.deepEqual(await queue.stats(), { waiting: 0, delayed: 0, inFlight: 0, dead: 0 });
  });

  add("a blocked reserver reclaims an expired lease without a new enqueue", async (h) => {
    await h.queue.enqueue(spec(1));
    const [first] = await h.queue.reserve("w1");
    const other = await h.peer();
    const pending = other.reserve("w2", { blockMs: 5_000 });
    await h.advance(LEASE_MS + 100);
    const [second] = await pending;
    assert.equal(second?.jobId, first?.jobId);
    assert.equal(second?.reason, "reclaimed");
  });

  add("a stale holder's heartbeat is false and complete, fail, release throw", async (h) => {
    await h.queue.enqueue(spec(1));
    const [stale] = await h.queue.reserve("w1");
    assert.ok(stale);
    await h.advance(LEASE_MS + 100);
    const [fresh] = await h.queue.reserve("w2");
    assert.ok(fresh);
    assert.equal(await h.queue.heartbeat(stale), false);
    const isLost = (error: unknown) => {
      assert.ok(error instanceof LeaseLostError);
      assert.equal(error.code, "LEASE_LOST");
      assert.equal(error.jobId, stale.jobId);
      assert.match(error.message, /fencing token 1 is older than the current 2/);
      return true;
    };
    await assert.rejects(h.queue.complete(stale), isLost);
    await assert.rejects(h.queue.fail(stale, "late"), isLost);
    await assert.rejects(h.queue.release(stale), isLost);
    assert.equal(await h.queue.heartbeat(fresh), true);
    await h.queue.complete(fresh);
    await assert.rejects(h.queue.complete(stale), LeaseLostError);
  });

  add("heartbeats keep a lease alive past its duration", async ({ queue, advance, peer }) => {
    await queue.enqueue(spec(1));
    const [lease] = await queue.reserve("w1", { leaseMs: 500 });
    assert.ok(lease);
    const other = await peer();
    let expiresAt = lease.expiresAt;
    for (let i = 0; i < 4; i++) {
      await advance(150);
      assert.equal(await queue.heartbeat(lease), true);
      assert.ok(lease.expiresAt > expiresAt, "heartbeat moves expiresAt forward");
      expiresAt = lease.expiresAt;
      assert.deepEqual(await other.reserve("w2"), []);
    }
    await queue.complete(lease);
  });

  add("a lease that expired but was not reclaimed can still be renewed", async (h) => {
    await h.queue.enqueue(spec(1));
    const [lease] = await h.queue.reserve("w1");
    assert.ok(lease);
    await h.advance(LEASE_MS + 100);
    assert.equal(await h.queue.heartbeat(lease, 5_000), true);
    assert.deepEqual(await h.queue.reserve("w2"), []);
    await h.queue.complete(lease);
  });

  add("retries a failed job after growing, jittered delays", async ({ queue, advance }) => {
    await queue.enqueue(spec(1));
    const [first] = await queue.reserve("w1");
    assert.ok(first);
    assert.equal(await queue.fail(first, "boom 1"), "retry");
    assert.deepEqual(await queue.stats(), { waiting: 0, delayed: 1, inFlight: 0, dead: 0 });
    assert.deepEqual(await queue.reserve("w1"), []);
    await advance(150); // first delay: 400 ms × (1 − 0.5 + 2 × 0.5 × 0.25) = 300 ms
    assert.deepEqual(await queue.reserve("w1"), [], "not before the first delay");
    await advance(200);
    const [second] = await queue.reserve("w1");
    assert.ok(second);
    assert.equal(second.reason, "retry");
    assert.equal(second.attempt, 2);
    assert.equal(second.token, 2);
    assert.equal(await queue.fail(second, "boom 2"), "retry");
    await advance(350); // second delay: 800 ms × 0.75 = 600 ms
    assert.deepEqual(await queue.reserve("w1"), [], "the second delay is longer");
    await advance(300);
    const [third] = await queue.reserve("w1");
    assert.equal(third?.attempt, 3);
    assert.equal(third?.reason, "retry");
  });

  add("dead-letters after maxAttempts, keeping attempts and the last error", async (h) => {
    const { jobId } = await h.queue.enqueue(spec(1), { maxAttempts: 2 });
    const [first] = await h.queue.reserve("w1");
    assert.equal(await h.queue.fail(first!, "boom 1"), "retry");
    await h.advance(350);
    const [second] = await h.queue.reserve("w1");
    assert.equal(second?.attempt, 2);
    assert.equal(await h.queue.fail(second!, "boom 2"), "dead");
    assert.deepEqual(await h.queue.reserve("w1"), []);
    const [dead, ...rest] = await h.queue.deadLetters();
    assert.equal(rest.length, 0);
    assert.ok(dead);
    assert.equal(dead.jobId, jobId);
    assert.deepEqual(dead.spec, spec(1));
    assert.equal(dead.attempts, 2);
    assert.equal(dead.lastError, "boom 2");
    assert.ok(dead.deadAt > 0);
    assert.deepEqual(await h.queue.stats(), { waiting: 0, delayed: 0, inFlight: 0, dead: 1 });
  });

  add("fail with retry false dead-letters at once", async ({ queue }) => {
    await queue.enqueue(spec(1));
    const [lease] = await queue.reserve("w1");
    assert.equal(await queue.fail(lease!, "fatal", { retry: false }), "dead");
    const dead = await queue.deadLetters();
    assert.deepEqual(dead.map((d) => [d.attempts, d.lastError]), [[1, "fatal"]]);
  });

  add("dead-letters a job whose lease expires after its last attempt", async (h) => {
    await h.queue.enqueue(spec(1), { maxAttempts: 1 });
    await h.queue.reserve("w1");
    await h.advance(LEASE_MS + 100);
    assert.deepEqual(await h.queue.reserve("w2"), []);
    const dead = await h.queue.deadLetters();
    assert.deepEqual(dead.map((d) => [d.attempts, d.lastError]), [
      [1, 'Lease of consumer "w1" expired'],
    ]);
  });

  add("lists dead jobs oldest first, up to a limit", async (h) => {
    for (const n of [1, 2, 3]) {
      await h.queue.enqueue(spec(n));
      const [lease] = await h.queue.reserve("w1");
      await h.queue.fail(lease!, `e${n}`, { retry: false });
      await h.advance(5);
    }
    assert.deepEqual((await h.queue.deadLetters()).map((d) => d.lastError), ["e1", "e2", "e3"]);
    assert.deepEqual((await h.queue.deadLetters(2)).map((d) => d.lastError), ["e1", "e2"]);
  });

  add("forgets a dead job deadRetentionMs after it died", async (h) => {
    const old = await h.queue.enqueue(spec(1));
    const [first] = await h.queue.reserve("w1");
    await h.queue.fail(first!, "old", { retry: false });
    await h.advance(500);
    await h.queue.enqueue(spec(2));
    const [second] = await h.queue.reserve("w1");
    await h.queue.fail(second!, "recent", { retry: false });
    await h.advance(700); // the first died 1200 ms ago, the second 700 ms ago
    assert.deepEqual((await h.queue.deadLetters()).map((d) => d.lastError), ["recent"]);
    assert.equal((await h.queue.stats()).dead, 1);
    assert.equal(await h.queue.requeueDead(old.jobId), false);
  }, { deadRetentionMs: 1_000 });

  add("requeueDead re-enqueues a dead job with fresh attempts", async ({ queue }) => {
    const { jobId } = await queue.enqueue(spec(1));
    const [lease] = await queue.reserve("w1");
    await queue.fail(lease!, "fatal", { retry: false });
    assert.equal(await queue.requeueDead("no-such-job"), false);
    assert.equal(await queue.requeueDead(jobId), true);
    assert.equal(await queue.requeueDead(jobId), false, "it is no longer dead");
    assert.deepEqual(await queue.deadLetters(), []);
    const [again] = await queue.reserve("w1");
    assert.ok(again);
    assert.equal(again.jobId, jobId);
    assert.equal(again.reason, "requeued");
    assert.equal(again.attempt, 1);
    assert.ok(again.token > lease!.token);
    await assert.rejects(queue.fail(lease!, "stale"), LeaseLostError);
  });

  add("release hands a job back to the front without counting an attempt", async (h) => {
    await enqueueAll(h.queue, [spec("a"), spec("b")]);
    const [a] = await h.queue.reserve("w1");
    assert.deepEqual(ids([a!]), ["a"]);
    await h.queue.release(a!);
    await h.queue.release(a!); // repeated: no-op
    assert.equal(await h.queue.heartbeat(a!), false);
    const [again] = await h.queue.reserve("w2");
    assert.deepEqual(ids([again!]), ["a"]);
    assert.equal(again!.attempt, 1);
    assert.equal(again!.reason, "requeued");
    assert.equal(again!.token, 2);
    await assert.rejects(h.queue.complete(a!), LeaseLostError);
  });

  add("a repeated complete or fail with the same lease answers as the first", async (h) => {
    await enqueueAll(h.queue, [spec(1), spec(2)]);
    const [one, two] = await h.queue.reserve("w1", { count: 2 });
    await h.queue.complete(one!);
    await h.queue.complete(one!);
    assert.equal(await h.queue.fail(two!, "boom"), "retry");
    assert.equal(await h.queue.fail(two!, "boom"), "retry");
    await assert.rejects(h.queue.complete(two!), LeaseLostError);
  });

  add("an idempotency key makes a repeated enqueue return the first job", async ({ queue }) => {
    const first = await queue.enqueue(spec(1), { idempotencyKey: "submit-1" });
    const again = await queue.enqueue(spec(2), { idempotencyKey: "submit-1" });
    assert.deepEqual(again, { jobId: first.jobId, executionId: "exec-1", duplicate: true });
    const other = await queue.enqueue(spec(3), { idempotencyKey: "submit-2" });
    assert.notEqual(other.jobId, first.jobId);
    assert.equal((await queue.stats()).waiting, 2);
    const [lease] = await queue.reserve("w1");
    await queue.complete(lease!);
    const afterDone = await queue.enqueue(spec(4), { idempotencyKey: "submit-1" });
    assert.equal(afterDone.executionId, "exec-1", "the key outlives the job");
    assert.equal(afterDone.duplicate, true);
  });

  add("concurrent enqueues with one idempotency key create one job", async (h) => {
    const handles = [h.queue, ...await Promise.all([1, 2, 3].map(() => h.peer()))];
    const results = await Promise.all(
      Array.from(
        { length: 20 },
        (_, i) => handles[i % handles.length]!.enqueue(spec(i), { idempotencyKey: "same" }),
      ),
    );
    assert.equal(new Set(results.map((r) => r.jobId)).size, 1);
    assert.equal(results.filter((r) => !r.duplicate).length, 1);
    assert.equal(new Set(results.map((r) => r.executionId)).size, 1);
    assert.equal((await h.queue.stats()).waiting, 1);
  });

  add("stats counts waiting, delayed, in-flight and dead jobs", async ({ queue, advance }) => {
    assert.deepEqual(await queue.stats(), { waiting: 0, delayed: 0, inFlight: 0, dead: 0 });
    await enqueueAll(queue, [1, 2, 3, 4].map((n) => spec(n)));
    await queue.enqueue(spec(5), { delayMs: 300 });
    const [a, b] = await queue.reserve("w1", { count: 2, leaseMs: 5_000 });
    await queue.fail(b!, "fatal", { retry: false });
    assert.deepEqual(await queue.stats(), { waiting: 2, delayed: 1, inFlight: 1, dead: 1 });
    await advance(350);
    assert.deepEqual(await queue.stats(), { waiting: 3, delayed: 0, inFlight: 1, dead: 1 });
    await queue.complete(a!);
    assert.equal((await queue.stats()).inFlight, 0);
  });

  add("concurrent reservers never get the same job twice", async (h) => {
    const total = 500;
    await Promise.all(Array.from({ length: total }, (_, n) => h.queue.enqueue(spec(n))));
    const consumers = [h.queue, ...await Promise.all([1, 2, 3, 4].map(() => h.peer()))];
    const delivered: string[] = [];
    await Promise.all(consumers.map(async (queue, c) => {
      while (true) {
        const leases = await queue.reserve(`w${c}`, { count: 1 + (c % 3) * 3, leaseMs: 30_000 });
        if (leases.length === 0) return;
        for (const lease of leases) {
          delivered.push(lease.jobId);
          await queue.complete(lease);
        }
      }
    }));
    assert.equal(delivered.length, total);
    assert.equal(new Set(delivered).size, total);
    assert.deepEqual(await h.queue.stats(), { waiting: 0, delayed: 0, inFlight: 0, dead: 0 });
  });

  add("rejects malformed jobs and out-of-range options", async ({ queue }) => {
    const bad = { executionId: "", agent: "a", task: 1 } as JobSpec;
    await assert.rejects(queue.enqueue(bad), TypeError);
    await assert.rejects(queue.enqueue({ ...spec(1), task: 1n }), TypeError);
    await assert.rejects(queue.enqueue(spec(1), { priority: 10 }), RangeError);
    await assert.rejects(queue.enqueue(spec(1), { priority: 1.5 }), RangeError);
    await assert.rejects(queue.enqueue(spec(1), { delayMs: -1 }), RangeError);
    await assert.rejects(queue.enqueue(spec(1), { maxAttempts: 0 }), RangeError);
    await assert.rejects(queue.reserve(""), TypeError);
    await assert.rejects(queue.reserve("w1", { count: 0 }), RangeError);
    await assert.rejects(queue.reserve("w1", { leaseMs: 0 }), RangeError);
    await assert.rejects(queue.deadLetters(0), RangeError);
    assert.deepEqual(await queue.stats(), { waiting: 0, delayed: 0, inFlight: 0, dead: 0 });
  });

  add("close ends a blocking reserve and later calls reject", async ({ queue }) => {
    const pending = queue.reserve("w1", { blockMs: 60_000 });
    await new Promise((resolve) => setTimeout(resolve, 20));
    await queue.close();
    await queue.close();
    assert.deepEqual(await pending, []);
    await assert.rejects(queue.enqueue(spec(1)), /closed/);
    await assert.rejects(queue.stats(), /closed/);
  });

  return cases;
}

/**
 * Registers every case as a `Deno.test` named `"<label>: <case>"`.
 *
 * @param label Implementation name.
 * @param factory Builds an empty queue.
 */
export function testJobQueueConformance(label: string, factory: HarnessFactory): void {
  for (const { name, fn } of jobQueueCases(factory)) Deno.test(`${label}: ${name}`, fn);
}
