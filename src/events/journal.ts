/**
 * The one write path of events: an {@linkcode EventBus} journal that appends
 * each published event to an {@linkcode EventStore} — an execution's events to
 * its log, runtime events of actors outside any execution to a system log —
 * before its listeners see it. The actor system and the execution runs both
 * publish through it.
 *
 * @example
 * ```ts
 * import { EventBus } from "../observability/event_bus.ts";
 * import { InMemoryEventStore } from "./in_memory_event_store.ts";
 * import { storeJournal } from "./journal.ts";
 * const store = new InMemoryEventStore();
 * const bus = new EventBus({ journal: storeJournal(store, "system-oao") });
 * const stored = await bus.publish({ type: "NOTE", time: Date.now(), executionId: "e1", data: {} });
 * console.assert(stored.seq === 1 && (await store.count("e1")) === 1);
 * ```
 *
 * @module
 */
import type { Journal } from "../observability/event_bus.ts";
import type { AppendOptions, EventInput, EventStore } from "./event_store.ts";

/**
 * A journal that appends events to `store`.
 *
 * @param store Where events go.
 * @param systemLogId The log of events that belong to no execution.
 * @returns The journal, for `new EventBus({ journal })` or `bus.setJournal`.
 */
export function storeJournal(store: EventStore, systemLogId: string): Journal {
  return async (event, publish) => {
    const input: EventInput = { type: event.type, data: event.data, time: event.time };
    if (event.step !== undefined) input.step = event.step;
    if (event.totals) input.totals = event.totals;
    if (event.traceId) input.traceId = event.traceId;
    if (event.spanId) input.spanId = event.spanId;
    if (event.key !== undefined) input.key = event.key;
    const options: AppendOptions = {};
    if (publish.expire !== undefined) options.expire = publish.expire;
    if (publish.fencingToken !== undefined) options.fencingToken = publish.fencingToken;
    // A system log (no execution) is never indexed.
    if (publish.index !== undefined && event.executionId !== undefined) {
      options.index = publish.index;
    }
    const stored = await store.appendEvent(event.executionId ?? systemLogId, input, options);
    return { ...event, seq: stored.seq };
  };
}
