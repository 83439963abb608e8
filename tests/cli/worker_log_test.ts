// The line a worker node (`oao worker`) writes when it takes over a job
// whose lease expired: each value quoted once, as every text log line
// quotes its string values — `("reclaimed" from "ghost")`.
import assert from "node:assert/strict";
import type { LogRecord } from "@logtape/logtape";
import { QueueBackend } from "../../src/distributed/queue_backend.ts";
import { WorkerNode } from "../../src/distributed/worker_node.ts";
import { InMemoryEventStore } from "../../src/events/in_memory_event_store.ts";
import {
  configureLogging,
  createLogFormatter,
  resetLogging,
} from "../../src/logging/configure_logging.ts";
import { projectExecution } from "../../src/orchestrator/execution_view.ts";
import { Orchestrator } from "../../src/orchestrator/orchestrator.ts";
import { defineTool } from "../../src/orchestrator/tool.ts";
import { InMemoryJobQueue } from "../../src/queue/in_memory_job_queue.ts";

Deno.test("a worker node that reclaims a job logs RETRY_ATTEMPTED with the reason and the previous holder, each quoted once", async () => {
  const records: LogRecord[] = [];
  await configureLogging({ level: "WARN", sink: (record) => records.push(record) });
  const queue = new InMemoryJobQueue();
  const eventStore = new InMemoryEventStore();
  const backend = new QueueBackend({ queue, eventStore, agents: ["bench"] });
  const orchestrator = new Orchestrator({
    eventStore,
    agents: [{ name: "bench", module: new URL("../../actors/bench_agent.ts", import.meta.url) }],
    tools: [defineTool({ name: "process_item", run: (args: { item: number }) => args.item * 2 })],
  });
  const node = new WorkerNode({
    queue,
    orchestrator,
    nodeId: "node-2",
    leaseMs: 1_000,
    heartbeatMs: 100,
    reserveBlockMs: 100,
  });
  try {
    const { executionId } = await backend.submit({ agent: "bench", task: { item: 21 } });
    // A holder that took the job and died: its lease runs out.
    assert.equal((await queue.reserve("ghost", { leaseMs: 50 })).length, 1);
    await new Promise((resolve) => setTimeout(resolve, 100));
    node.start();
    const format = createLogFormatter("text");
    const deadline = Date.now() + 10_000;
    while (
      projectExecution(executionId, await eventStore.readRange(executionId)).status !== "SUCCESS"
    ) {
      if (Date.now() > deadline) {
        throw new Error(`The reclaimed execution did not succeed: ${records.map(format).join("")}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    const lines = records.map(format).filter((l) => l.includes("RETRY_ATTEMPTED"));
    assert.equal(lines.length, 1, lines.join("\n"));
    assert.ok(
      lines[0]!.includes(
        `RETRY_ATTEMPTED execution "${executionId}" attempt 2 ("reclaimed" from "ghost") on "node-2"`,
      ),
      lines[0]!,
    );
  } finally {
    await node.stop();
    await orchestrator.close();
    await backend.close();
    await queue.close();
    await eventStore.close();
    await resetLogging();
  }
});
