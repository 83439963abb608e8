// Waits in tests for an execution's log to reach a condition.
import type { Orchestrator } from "../../src/orchestrator/orchestrator.ts";
import type { StoredEvent } from "../../src/events/event_store.ts";

/** Polls the execution's log until `ok` holds; throws after 15 s, naming the last event types. */
export async function until(
  orchestrator: Orchestrator,
  executionId: string,
  ok: (events: StoredEvent[]) => boolean,
): Promise<StoredEvent[]> {
  const deadline = Date.now() + 15_000;
  for (;;) {
    const events = await orchestrator.eventStore.readRange(executionId);
    if (ok(events)) return events;
    if (Date.now() > deadline) {
      throw new Error(
        `timed out waiting on the log of ${executionId}: ${events.map((e) => e.type).join(", ")}`,
      );
    }
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** A condition: at least `n` events of this type. */
export const has = (type: string, n = 1) => (events: StoredEvent[]): boolean =>
  events.filter((e) => e.type === type).length >= n;
