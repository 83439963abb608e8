// Property-based fuzz of the worker → host control protocol: agents post
// thousands of seeded, mutated `WorkerToHost` messages (wrong types, huge
// and non-finite numbers, huge strings, deep nesting, prototype keys,
// missing fields), aimed in part at a concurrent execution. Whatever they
// post: the host survives, every fuzzed execution ends (never stuck
// RUNNING), its totals stay finite and >= 0, nothing reaches
// Object.prototype, and the concurrent normal execution succeeds untouched.
//
// The seed is random per run and shown in the test step's name; run one
// again with OAO_FUZZ_SEED=<seed>.
import assert from "node:assert/strict";
import type { LogRecord } from "@logtape/logtape";
import { configureLogging, resetLogging } from "../../src/logging/mod.ts";
import { Orchestrator } from "../../src/orchestrator/orchestrator.ts";
import type { ExecutionReport } from "../../src/orchestrator/execution_report.ts";
import { BATCH_MARKER, type FuzzTask } from "../fixtures/hostile/fuzz_agent.ts";
import { mixSeed } from "../fixtures/hostile/_fuzz_messages.ts";
import { echo, gate } from "../fixtures/hostile/gate_tools.ts";
import {
  assertSaneTotals,
  assertVictimUntouched,
  eventually,
  Gate,
  ofType,
  within,
} from "./_hostile_harness.ts";

const EXECUTIONS = 12;
const MESSAGES_PER_STEP = 300;
const AT_LEAST_POSTED = 2_000;

const seed = Number(Deno.env.get("OAO_FUZZ_SEED") ?? crypto.getRandomValues(new Uint32Array(1))[0]);

Deno.test("the host survives thousands of fuzzed control messages; every fuzzed execution ends and a concurrent one succeeds", async (t) => {
  await t.step(`seed ${seed} (run again with OAO_FUZZ_SEED=${seed})`, async () => {
    try {
      await fuzz(seed);
    } catch (error) {
      throw new Error(
        `The protocol fuzz failed with seed ${seed}: run again with OAO_FUZZ_SEED=${seed}`,
        { cause: error },
      );
    }
  });
});

async function fuzz(seed: number): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "oao-fuzz-" });
  let posted = 0;
  let batches = 0;
  await configureLogging({
    level: "DEBUG",
    sink: (record: LogRecord) => {
      if (record.rawMessage === BATCH_MARKER && typeof record.properties.fuzzCount === "number") {
        posted += record.properties.fuzzCount;
        batches++;
      }
    },
  });
  const orchestrator = new Orchestrator({
    retry: { attempts: 2, initialDelayMs: 5, maxDelayMs: 20 },
    agents: [
      // Raw posts test the guard of each actor: the fuzz agent has workers of its own.
      {
        name: "fuzz",
        module: new URL("../fixtures/hostile/fuzz_agent.ts", import.meta.url),
        isolation: "execution",
      },
      { name: "victim", module: new URL("../fixtures/hostile/victim_agent.ts", import.meta.url) },
    ],
    tools: [gate as never, echo as never],
  });
  try {
    const victimGate = new Gate(dir);
    const victim = await orchestrator.start("victim", { gate: victimGate.path });
    await eventually(
      async () => {
        const events = await orchestrator.eventStore.readRange(victim.executionId);
        return events.some((e) => e.type === "TOOL_CALL") ? true : undefined;
      },
      20_000,
      "the victim reaching its gate",
    );

    const fuzzed = await Promise.all(
      Array.from({ length: EXECUTIONS }, (_, i) => {
        const task: FuzzTask = {
          seed: mixSeed(seed, i),
          messages: MESSAGES_PER_STEP,
          targets: [`${victim.executionId}/victim`],
        };
        // A step the host never answers (a swallowed request) ends at the step time limit.
        return orchestrator.start("fuzz", task, { policy: { stepTimeoutMs: 5_000 } });
      }),
    );
    const reports: ExecutionReport[] = await Promise.all(
      fuzzed.map((f) => within(f.done, 25_000, `fuzzed execution ${f.executionId} ending`)),
    );
    for (const report of reports) assert.notEqual(report.status, "RUNNING");

    assert.equal(
      (await orchestrator.status(victim.executionId)).status,
      "RUNNING",
      "the victim was running during the whole fuzz",
    );
    await victimGate.open();
    const victimReport = await within(victim.done, 20_000, "the victim completing");
    assertVictimUntouched({
      id: victim.executionId,
      report: victimReport,
      events: await orchestrator.eventStore.readRange(victim.executionId),
    }, fuzzed.map((f) => f.executionId));

    let violations = 0;
    for (const [i, f] of fuzzed.entries()) {
      const events = await orchestrator.eventStore.readRange(f.executionId);
      assertSaneTotals(events, reports[i]!);
      violations += ofType(events, "ACTOR_FAILED").filter((e) =>
        e.reason === "protocol_violation"
      ).length;
    }
    assert.ok(
      posted >= AT_LEAST_POSTED,
      `${posted} messages posted in ${batches} batches, expected at least ${AT_LEAST_POSTED}`,
    );
    assert.ok(violations > 0, "the fuzz produced messages the host refused");
    assert.equal(({} as Record<string, unknown>).polluted, undefined);
    assert.ok(!Object.hasOwn(Object.prototype, "polluted"));

    // The host still runs a plain execution from start to end.
    const again = new Gate(dir);
    await again.open();
    const after = await within(
      orchestrator.run("victim", { gate: again.path }),
      20_000,
      "an execution after the fuzz",
    );
    assert.equal(after.status, "SUCCESS");
  } finally {
    await orchestrator.close();
    await resetLogging();
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}
