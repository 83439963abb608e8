// An event store that lets a test make something happen at one exact point
// of a caller's work: between the read it decides from and the append it
// makes (a finish, a cancel, another decision landing in that window).
import type { EventInput, EventStore, StoredEvent } from "../../src/events/event_store.ts";

/** Where the injected work runs. */
export type RacePoint =
  /** After the first `readRange` of the execution returns, before the caller gets its result. */
  | { after: "readRange" }
  /** Before the first `appendEvent` of an event of this type is passed on. */
  | { before: "appendEvent"; type: string };

/**
 * Wraps `store`: `inject` runs once, at `point`, for `executionId`; every
 * call is otherwise passed on unchanged.
 *
 * @param store The real store.
 * @param race The execution, the point and the work to run there.
 * @returns The wrapping store.
 */
export function racingStore(
  store: EventStore,
  race: { executionId: () => string; point: RacePoint; inject: () => Promise<void> },
): EventStore {
  let fired = false;
  const fire = (executionId: string) => {
    if (fired || executionId !== race.executionId()) return false;
    fired = true;
    return true;
  };
  const { point } = race;
  return new Proxy(store, {
    get(target, property) {
      const value = Reflect.get(target, property, target);
      if (typeof value !== "function") return value;
      if ("after" in point && property === "readRange") {
        return async (executionId: string, ...rest: unknown[]) => {
          const events: StoredEvent[] = await value.call(target, executionId, ...rest);
          if (fire(executionId)) await race.inject();
          return events;
        };
      }
      if ("before" in point && property === "appendEvent") {
        return async (executionId: string, event: EventInput, ...rest: unknown[]) => {
          if (event.type === point.type && fire(executionId)) await race.inject();
          return await value.call(target, executionId, event, ...rest);
        };
      }
      return value.bind(target);
    },
  });
}

/** Polls `store` until the execution's log holds an event of `type`; throws after 15 s. */
export async function untilLogged(
  store: EventStore,
  executionId: string,
  type: string,
  count = 1,
): Promise<StoredEvent[]> {
  const deadline = Date.now() + 15_000;
  for (;;) {
    const events = await store.readRange(executionId);
    if (events.filter((e) => e.type === type).length >= count) return events;
    if (Date.now() > deadline) {
      throw new Error(`timed out waiting for ${type} in ${events.map((e) => e.type).join(", ")}`);
    }
    await new Promise((r) => setTimeout(r, 5));
  }
}
