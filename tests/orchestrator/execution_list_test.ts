// Orchestrator.listExecutions: the index follows every status change of
// real executions (waits, completion, cancellation), and nothing but
// executions is listed.
import assert from "node:assert/strict";
import { Orchestrator } from "../../src/orchestrator/orchestrator.ts";
import { defineTool } from "../../src/orchestrator/tool.ts";
import type { ExecutionSummary } from "../../src/orchestrator/execution_list.ts";

const AGENT = new URL("../fixtures/wait_agent.ts", import.meta.url);

async function until(orchestrator: Orchestrator, ok: (list: ExecutionSummary[]) => boolean) {
  const deadline = Date.now() + 15_000;
  for (;;) {
    const { executions } = await orchestrator.listExecutions({ limit: 500 });
    if (ok(executions)) return executions;
    if (Date.now() > deadline) throw new Error(`timed out: ${JSON.stringify(executions)}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

const byId = (list: ExecutionSummary[], id: string) => list.find((e) => e.executionId === id);

Deno.test("listExecutions follows waits, completion and cancellation, newest first, with filters", async () => {
  const orchestrator = new Orchestrator({
    agents: [{ name: "waiter", module: AGENT }],
    tools: [defineTool({ name: "effect", run: () => ({}) }) as never],
  });
  try {
    const quick = await orchestrator.start("waiter", {});
    await quick.done;
    await new Promise((r) => setTimeout(r, 2));
    const signalled = await orchestrator.start("waiter", { signal: { name: "go" } });
    await new Promise((r) => setTimeout(r, 2));
    const sleeper = await orchestrator.start("waiter", { sleepMs: 60_000 });
    const list = await until(
      orchestrator,
      (l) =>
        byId(l, signalled.executionId)?.waitingFor === "signal" &&
        byId(l, sleeper.executionId)?.waitingFor === "timer",
    );
    assert.deepEqual(list.map((e) => e.executionId), [
      sleeper.executionId,
      signalled.executionId,
      quick.executionId,
    ], "newest first, and only executions");
    assert.equal(byId(list, quick.executionId)?.status, "SUCCESS");
    assert.equal(byId(list, quick.executionId)?.agent, "waiter");
    const ids = async (filter: Parameters<Orchestrator["listExecutions"]>[0]) =>
      (await orchestrator.listExecutions(filter)).executions.map((e) => e.executionId);
    assert.deepEqual(await ids({ status: "RUNNING" }), [
      sleeper.executionId,
      signalled.executionId,
    ]);
    assert.deepEqual(await ids({ waitingFor: "signal" }), [signalled.executionId]);
    assert.deepEqual(await ids({ waitingFor: ["timer", "approval"] }), [sleeper.executionId]);
    assert.deepEqual(await ids({ agent: "nobody" }), []);
    const created = byId(list, signalled.executionId)!.createdAt;
    assert.deepEqual(await ids({ createdAfter: new Date(created), createdBefore: created + 1 }), [
      signalled.executionId,
    ]);

    await orchestrator.signal(signalled.executionId, "go", 1);
    await signalled.done;
    assert.ok(orchestrator.cancel(sleeper.executionId, "enough"));
    await sleeper.done;
    const after = await until(
      orchestrator,
      (l) => byId(l, sleeper.executionId)?.status === "CANCELLED",
    );
    const done = byId(after, signalled.executionId)!;
    assert.equal(done.status, "SUCCESS");
    assert.equal(done.waitingFor, undefined);
    assert.equal(done.createdAt, created, "createdAt stays");
    assert.ok(done.updatedAt >= created);
    assert.deepEqual(await ids({ status: ["RUNNING", "QUEUED", "NEEDS_DECISION"] }), []);

    const first = await orchestrator.listExecutions({ limit: 2 });
    assert.equal(first.executions.length, 2);
    const second = await orchestrator.listExecutions({ limit: 2, cursor: first.nextCursor });
    assert.deepEqual(second.executions.map((e) => e.executionId), [quick.executionId]);
    assert.equal(second.nextCursor, undefined);

    await assert.rejects(
      orchestrator.listExecutions({ status: "DONE" as never }),
      /Invalid status "DONE": expected one of QUEUED, RUNNING/,
    );
    await assert.rejects(orchestrator.listExecutions({ waitingFor: "lunch" as never }), TypeError);
    await assert.rejects(orchestrator.listExecutions({ limit: 501 }), RangeError);
    await assert.rejects(orchestrator.listExecutions({ cursor: "garbage" }), /Invalid cursor/);
  } finally {
    await orchestrator.close();
  }
});
