/**
 * An {@linkcode Orchestrator} for the tests of agents and tools: in-memory
 * stores and a {@linkcode ManualClock}, so that retries, timeouts and
 * passivation happen when the test advances the clock and never on their own.
 *
 * @module
 */
import type { StoredEvent } from "../events/event_store.ts";
import { InMemoryEventStore } from "../events/in_memory_event_store.ts";
import { Orchestrator, type OrchestratorOptions } from "../orchestrator/orchestrator.ts";
import { InMemoryPersistenceAdapter } from "../persistence/in_memory_persistence_adapter.ts";
import { ManualClock } from "./manual_clock.ts";

/** Options of a {@linkcode TestOrchestrator}: those of an orchestrator but its stores and clock. */
export interface TestOrchestratorOptions
  extends Omit<OrchestratorOptions, "clock" | "persistence" | "eventStore"> {
  /** Time of the manual clock at the start, in epoch milliseconds. @default {0} */
  startTime?: number;
}

/** Options of {@linkcode TestOrchestrator.waitForEvent}. */
export interface WaitForEventOptions {
  /** Stops waiting: the promise rejects with the signal's reason. */
  signal?: AbortSignal;
}

/**
 * An orchestrator on an {@linkcode InMemoryPersistenceAdapter}, an
 * {@linkcode InMemoryEventStore} and a {@linkcode ManualClock}. Agents run
 * in real workers as in production; only time is the test's. A failed step
 * is retried once the test advances {@linkcode TestOrchestrator.clock} by the
 * `delayMs` of its `RETRY_ATTEMPTED` event; step and tool timeouts fire only
 * when the clock passes them. `await using` closes it.
 *
 * @example Test an agent: its report, its events, a retry
 * ```ts
 * import { defineTool } from "@oao/runtime";
 * import { TestOrchestrator } from "@oao/runtime/testing";
 * import assert from "node:assert/strict";
 *
 * let calls = 0;
 * await using orchestrator = new TestOrchestrator({
 *   // A stub of the tool: fails the first time, so the EXECUTE step is retried.
 *   tools: [defineTool({ name: "process_item", run: (args: { item: number }) => {
 *     if (++calls === 1) throw new Error("flaky");
 *     return args.item + 1;
 *   } })],
 *   agents: [{ name: "bench", module: new URL("../../actors/bench_agent.ts", import.meta.url) }],
 * });
 * const { executionId, done } = await orchestrator.start("bench", { item: 1 });
 * const retry = await orchestrator.waitForEvent(executionId, "RETRY_ATTEMPTED");
 * await orchestrator.clock.advance((retry.data as { delayMs: number }).delayMs);
 * const report = await done;
 * assert.equal(report.status, "SUCCESS");
 * assert.equal(report.output, 2);
 * assert.ok((await orchestrator.eventTypes(executionId)).includes("STEP_FAILED"));
 * ```
 */
export class TestOrchestrator extends Orchestrator implements AsyncDisposable {
  /** The time of this orchestrator, its stores and its actor system: moves only when advanced. */
  readonly clock: ManualClock;
  /** Snapshots, in memory. */
  declare readonly persistence: InMemoryPersistenceAdapter;
  /** The audit log, in memory. */
  declare readonly eventStore: InMemoryEventStore;

  /**
   * Creates an orchestrator on new in-memory stores and a new manual clock.
   *
   * @param options Agents, tools, policy, retries and the other options of an
   * orchestrator; `startTime` of the manual clock.
   * @throws {TypeError | RangeError} Naming an invalid option.
   */
  constructor(options: TestOrchestratorOptions = {}) {
    const { startTime = 0, ...rest } = options;
    const clock = new ManualClock(startTime);
    super({
      ...rest,
      clock,
      persistence: new InMemoryPersistenceAdapter({ clock }),
      eventStore: new InMemoryEventStore({ clock }),
    });
    this.clock = clock;
  }

  /**
   * Waits for an event of an execution: the first of its log with this type,
   * recorded already or yet to come.
   *
   * @param executionId The execution.
   * @param type The event type, e.g. `"RETRY_ATTEMPTED"` or `"TOOL_CALL"`.
   * @param options A signal to stop waiting.
   * @returns The event as stored.
   * @throws The signal's reason when it aborts first; an `Error` when the
   * event store is closed first.
   */
  async waitForEvent(
    executionId: string,
    type: string,
    options: WaitForEventOptions = {},
  ): Promise<StoredEvent> {
    const stop = new AbortController();
    const signal = options.signal ? AbortSignal.any([options.signal, stop.signal]) : stop.signal;
    try {
      for await (const event of this.eventStore.subscribe(executionId, { signal })) {
        if (event.type === type) return event;
      }
      throw options.signal?.reason ??
        new Error(`Stopped waiting for "${type}" of execution "${executionId}"`);
    } finally {
      stop.abort();
    }
  }

  /**
   * The types of an execution's events, in order, without the actor
   * system's (`ACTOR_*`, `MESSAGE_*`).
   *
   * @param executionId The execution.
   * @returns Event types, e.g. `["EXECUTION_STARTED", "STATE_ENTER", …]`.
   */
  async eventTypes(executionId: string): Promise<string[]> {
    const events = await this.eventStore.readRange(executionId);
    return events.map((e) => e.type).filter((t) =>
      !t.startsWith("ACTOR_") && !t.startsWith("MESSAGE_")
    );
  }

  /** Closes the orchestrator (the same as {@linkcode Orchestrator.close}). */
  override async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}
