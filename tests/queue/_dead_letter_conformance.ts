/**
 * The contract of `ReserveOptions.onDeadLettered`: a `reserve` that
 * dead-letters jobs whose lease expired after their last attempt tells its
 * caller which. Run against the implementations that report (in memory,
 * single Redis, Redis Cluster), with the harnesses of `_conformance.ts`.
 *
 * @module
 */
import assert from "node:assert/strict";
import type { DeadJob, JobSpec } from "../../src/queue/job_queue.ts";
import type { ConformanceCase, HarnessFactory, QueueHarness } from "./_conformance.ts";

const LEASE_MS = 300;

function spec(n: number | string): JobSpec {
  return { executionId: `exec-${n}`, agent: "echo", task: { n } };
}

/**
 * The cases, each building its own harness with `factory`.
 *
 * @param factory Builds an empty queue.
 * @returns The cases, to register as tests or steps.
 */
export function deadLetterReportCases(factory: HarnessFactory): ConformanceCase[] {
  const cases: ConformanceCase[] = [];
  const add = (name: string, body: (h: QueueHarness) => Promise<void>) => {
    cases.push({
      name,
      fn: async () => {
        const harness = await factory({
          leaseMs: LEASE_MS,
          maxAttempts: 3,
          backoff: { minMs: 400, factor: 2, maxMs: 10_000, jitter: 0.5 },
          random: () => 0.25,
        });
        try {
          await body(harness);
        } finally {
          await harness.close();
        }
      },
    });
  };

  add(
    "reserve reports the jobs it dead-letters after an expired last attempt, and only them",
    async (h) => {
      const failed = await h.queue.enqueue(spec("failed"));
      const one = await h.queue.enqueue(spec(1), { maxAttempts: 1 });
      const two = await h.queue.enqueue(spec(2), { maxAttempts: 1 });
      const three = await h.queue.enqueue(spec(3), { maxAttempts: 2 });
      const reported: DeadJob[][] = [];
      const onDeadLettered = (jobs: DeadJob[]) => void reported.push(jobs);
      const [first] = await h.queue.reserve("w1", { onDeadLettered });
      assert.equal(first?.jobId, failed.jobId);
      await h.queue.fail(first!, "fatal", { retry: false });
      assert.equal((await h.queue.reserve("w1", { count: 3, onDeadLettered })).length, 3);
      await h.advance(LEASE_MS + 100);
      const other = await h.peer();
      const leases = await other.reserve("w2", { count: 3, onDeadLettered });
      assert.deepEqual(leases.map((l) => [l.jobId, l.reason]), [[three.jobId, "reclaimed"]]);
      assert.equal(reported.length, 1, "one batch, without the job failed by fail()");
      const byExecution = (a: DeadJob, b: DeadJob) =>
        a.spec.executionId < b.spec.executionId ? -1 : 1;
      const batch = reported[0]!.toSorted(byExecution);
      assert.deepEqual(
        batch.map((d) => [d.jobId, d.spec, d.attempts, d.lastError]),
        [
          [one.jobId, spec(1), 1, 'Lease of consumer "w1" expired'],
          [two.jobId, spec(2), 1, 'Lease of consumer "w1" expired'],
        ],
      );
      const listed = await h.queue.deadLetters();
      assert.deepEqual(
        batch,
        listed.filter((d) => d.jobId !== failed.jobId).toSorted(byExecution),
        "as deadLetters lists them",
      );
      assert.ok(batch.every((d) => d.deadAt > 1_600_000_000_000), "deadAt is an epoch time");
      // Reported once; a reserve that buries nothing reports nothing (no empty batch).
      assert.deepEqual(await other.reserve("w2", { onDeadLettered }), []);
      assert.equal(reported.length, 1);
      await other.complete(leases[0]!);
    },
  );

  add("a blocked reserver reports a job it dead-letters while it waits", async (h) => {
    const { jobId } = await h.queue.enqueue(spec(1), { maxAttempts: 1 });
    await h.queue.reserve("w1");
    const other = await h.peer();
    const controller = new AbortController();
    const reported: string[] = [];
    const pending = other.reserve("w2", {
      blockMs: 10_000,
      signal: controller.signal,
      onDeadLettered: (jobs) => reported.push(...jobs.map((d) => d.jobId)),
    });
    await h.advance(LEASE_MS + 100);
    const deadline = Date.now() + 5_000;
    while (reported.length === 0 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    controller.abort();
    assert.deepEqual(await pending, []);
    assert.deepEqual(reported, [jobId]);
  });

  add(
    "a listener that throws changes nothing; one that is not a function is refused",
    async (h) => {
      await h.queue.enqueue(spec("dies"), { maxAttempts: 1 });
      await h.queue.reserve("w1");
      await h.advance(LEASE_MS + 100);
      const ready = await h.queue.enqueue(spec("ready"));
      const leases = await h.queue.reserve("w2", {
        onDeadLettered: () => {
          throw new Error("listener failed");
        },
      });
      assert.deepEqual(leases.map((l) => l.jobId), [ready.jobId]);
      assert.deepEqual((await h.queue.deadLetters()).map((d) => d.spec), [spec("dies")]);
      await assert.rejects(
        h.queue.reserve("w2", { onDeadLettered: "no" as never }),
        (error) => error instanceof TypeError && /"onDeadLettered"/.test(error.message),
      );
    },
  );

  return cases;
}

/**
 * Registers every case as a `Deno.test` named `"<label>: <case>"`.
 *
 * @param label Implementation name.
 * @param factory Builds an empty queue.
 */
export function testDeadLetterReports(label: string, factory: HarnessFactory): void {
  for (const { name, fn } of deadLetterReportCases(factory)) Deno.test(`${label}: ${name}`, fn);
}
