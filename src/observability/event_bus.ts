/**
 * The event bus: one stream of typed {@linkcode OaoEvent}s with one durable
 * journal (the event store) and any number of listeners (logs, metrics,
 * tracing, the live progress of the command line).
 *
 * `publish` resolves only after the journal has stored the event, so the
 * runtime never proceeds past a state transition before its event is durable
 * (write-ahead). Listeners run after the journal, synchronously, and a
 * throwing listener is isolated from the publisher and from other listeners.
 *
 * @example
 * ```ts
 * import { EventBus } from "./event_bus.ts";
 * const bus = new EventBus();
 * const seen: string[] = [];
 * bus.subscribe((event) => seen.push(event.type));
 * await bus.publish({ type: "ACTOR_STARTED", time: Date.now(), data: {} });
 * console.assert(seen[0] === "ACTOR_STARTED");
 * ```
 *
 * @module
 */
import type { OaoEvent } from "./events.ts";
import type { ExecutionIndexEntry } from "../events/execution_index.ts";

/** Receives every published event, after it is journaled. */
export type EventListener = (event: OaoEvent) => void;

/** Options of a journal write. */
export interface PublishOptions {
  /** Fencing token of the writer (distributed workers). */
  fencingToken?: number;
  /** Retention of the execution's log in seconds. */
  expire?: number;
  /** The execution's entry in the executions index after this event (`AppendOptions.index`). */
  index?: ExecutionIndexEntry;
}

/** Stores an event durably and returns it with its sequence number. */
export type Journal = (event: OaoEvent, options: PublishOptions) => Promise<OaoEvent>;

/** Fan-out of typed events with a write-ahead journal. */
export class EventBus {
  #listeners = new Set<EventListener>();
  #journal: Journal | undefined;
  #onListenerError: (error: unknown, event: OaoEvent) => void;

  /**
   * @param options `journal` stores events before listeners see them;
   * `onListenerError` reports a listener that threw (default: ignored after a
   * `console.error`).
   */
  constructor(
    options: { journal?: Journal; onListenerError?: (error: unknown, event: OaoEvent) => void } =
      {},
  ) {
    this.#journal = options.journal;
    this.#onListenerError = options.onListenerError ??
      ((error, event) => console.error(`Event listener failed on "${event.type}":`, error));
  }

  /**
   * Sets or replaces the durable journal.
   *
   * @param journal The journal, or `undefined` for none.
   */
  setJournal(journal: Journal | undefined): void {
    this.#journal = journal;
  }

  /**
   * Adds a listener.
   *
   * @param listener Called with every event.
   * @returns A function that removes the listener.
   */
  subscribe(listener: EventListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /**
   * Journals an event, then hands it to every listener.
   *
   * @param event The event.
   * @param options Fencing token and retention for the journal.
   * @returns The event as stored (with `seq` when journaled).
   * @throws Whatever the journal throws (e.g. `FencedError`); listeners then do not run.
   */
  async publish(event: OaoEvent, options: PublishOptions = {}): Promise<OaoEvent> {
    const stored = this.#journal ? await this.#journal(event, options) : event;
    this.emitLocal(stored);
    return stored;
  }

  /**
   * Hands an event to the listeners without journaling it (high-frequency
   * telemetry that is not part of the audit log).
   *
   * @param event The event.
   */
  emitLocal(event: OaoEvent): void {
    for (const listener of this.#listeners) {
      try {
        listener(event);
      } catch (error) {
        this.#onListenerError(error, event);
      }
    }
  }
}
