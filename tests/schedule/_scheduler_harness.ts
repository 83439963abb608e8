/**
 * A scheduler on a manual clock with a backend that records what it is
 * asked to start, and an event store where a test marks executions finished.
 *
 * @module
 */
import { InMemoryEventStore } from "../../src/events/in_memory_event_store.ts";
import type { SubmitRequest, SubmitResult } from "../../src/orchestrator/execution_backend.ts";
import type { OaoEvent } from "../../src/observability/events.ts";
import { Scheduler, type SchedulerOptions } from "../../src/schedule/scheduler.ts";
import type { ScheduleStore } from "../../src/schedule/schedule_store.ts";
import { ManualClock } from "../../src/testing/manual_clock.ts";

/** A recording backend: one execution per idempotency key, like the real ones. */
export class RecordingBackend {
  /** Every submit, in order. */
  readonly submits: SubmitRequest[] = [];
  readonly #byKey = new Map<string, string>();
  /** When set, submit fails with it. */
  failWith: Error | undefined;
  /** The event store where started executions get EXECUTION_STARTED. */
  readonly events: InMemoryEventStore;

  constructor(events: InMemoryEventStore) {
    this.events = events;
  }

  agents(): string[] {
    return ["report"];
  }

  tools(): { name: string }[] {
    return [{ name: "send_mail" }];
  }

  async submit(request: SubmitRequest): Promise<SubmitResult> {
    this.submits.push(request);
    if (this.failWith) throw this.failWith;
    const known = this.#byKey.get(request.idempotencyKey ?? "");
    if (known) return { executionId: known, duplicate: true };
    const executionId = `exec-${this.#byKey.size + 1}`;
    this.#byKey.set(request.idempotencyKey ?? executionId, executionId);
    await this.events.appendEvent(executionId, { type: "EXECUTION_STARTED" });
    return { executionId, duplicate: false };
  }

  /** Ticks started, as the ISO times in their idempotency keys. */
  get ticks(): string[] {
    return this.submits.map((s) => s.idempotencyKey!.split(":").slice(2).join(":"));
  }

  /** Marks an execution finished (runtime events follow the final one, as they do). */
  async finish(executionId: string): Promise<void> {
    await this.events.appendEvent(executionId, { type: "EXECUTION_COMPLETED" });
    await this.events.appendEvent(executionId, { type: "ACTOR_STOPPED" });
  }
}

/** What a test drives. */
export interface SchedulerHarness {
  clock: ManualClock;
  scheduler: Scheduler;
  backend: RecordingBackend;
  events: OaoEvent[];
  /** Moves the clock and runs a pass. */
  advance(ms: number): Promise<void>;
}

/**
 * Builds a scheduler at 2025-01-01T00:00:00Z (a Wednesday).
 *
 * @param store Its store.
 * @param options Further options.
 * @returns The harness.
 */
export function schedulerHarness(
  store: ScheduleStore,
  options: Partial<SchedulerOptions> & { clock?: ManualClock } = {},
): SchedulerHarness {
  const clock = options.clock ?? new ManualClock(Date.UTC(2025, 0, 1));
  const eventStore = new InMemoryEventStore({ clock });
  const backend = new RecordingBackend(eventStore);
  const events: OaoEvent[] = [];
  const scheduler = new Scheduler({
    store,
    backend,
    eventStore,
    clock,
    onEvent: (e) => events.push(e),
    ...options,
  });
  return {
    clock,
    scheduler,
    backend,
    events,
    advance: async (ms) => {
      await clock.advance(ms);
      await scheduler.runDue();
    },
  };
}

/** One minute, in ms. */
export const MINUTE = 60_000;
