/**
 * Test helpers of OAO. {@linkcode TestOrchestrator}: an orchestrator on the
 * in-memory stores and a {@linkcode ManualClock}, to run agents (in real
 * workers) against stub tools and check their reports and events, with
 * retries and timeouts that wait for the test to advance the clock. The
 * {@linkcode ManualClock} alone, to inject where the runtime takes a `Clock`
 * (actor systems, supervisors, stores, queues, orchestrators), so that
 * restart windows, backoff, leases and timeouts run deterministically. And
 * the in-memory adapters of the ports, to hand to code under test.
 *
 * @example Test an agent module with a stub of its tool
 * ```ts
 * import { defineTool } from "@oao/runtime";
 * import { TestOrchestrator } from "@oao/runtime/testing";
 * import assert from "node:assert/strict";
 *
 * await using orchestrator = new TestOrchestrator({
 *   tools: [defineTool({ name: "process_item", run: (args: { item: number }) => args.item * 10 })],
 *   agents: [{ name: "bench", module: new URL("../../actors/bench_agent.ts", import.meta.url) }],
 * });
 * const report = await orchestrator.run("bench", { item: 4 });
 * assert.equal(report.status, "SUCCESS");
 * assert.equal(report.output, 40);
 * assert.equal(report.durationMs, 0); // the manual clock did not move
 * ```
 *
 * @module
 */
export { ManualClock } from "./manual_clock.ts";
export {
  TestOrchestrator,
  type TestOrchestratorOptions,
  type WaitForEventOptions,
} from "./test_orchestrator.ts";
export { InMemoryPersistenceAdapter } from "../persistence/in_memory_persistence_adapter.ts";
export { InMemoryEventStore } from "../events/in_memory_event_store.ts";
export { InMemoryJobQueue } from "../queue/in_memory_job_queue.ts";
