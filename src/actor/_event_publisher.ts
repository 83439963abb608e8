// How the actor system publishes its runtime events: on its event bus, with
// the fencing token of the execution they belong to (so that a replaced
// owner's late events are rejected like its other writes), to local
// listeners alone when the journal cannot take them; and how it logs them.
// Internal: the system, its cells and its supervisors emit through it.
import type { Logger } from "@logtape/logtape";
import type { Clock } from "../clock.ts";
import { toErrorInfo } from "../oao_error.ts";
import type { EventBus } from "../observability/event_bus.ts";
import {
  type OaoEvent,
  RUNTIME_EVENT_LEVELS,
  type RuntimeEventData,
  type RuntimeEventType,
} from "../observability/events.ts";

/** What an {@linkcode EventPublisher} needs besides its bus. */
export interface EventPublisherOptions {
  /** Stamps the events. */
  readonly clock: Clock;
  /** Where failures to record an event, and the events themselves, are logged. */
  readonly log: Logger;
}

/** Publishes and logs the runtime events of one actor system. */
export class EventPublisher {
  readonly #bus: EventBus;
  readonly #clock: Clock;
  readonly #log: Logger;
  readonly #fences = new Map<string, number>();

  /**
   * @param bus The bus events are published on.
   * @param options Clock and logger.
   */
  constructor(bus: EventBus, options: EventPublisherOptions) {
    this.#bus = bus;
    this.#clock = options.clock;
    this.#log = options.log;
  }

  /**
   * Makes the events of an execution carry its owner's fencing token.
   *
   * @param executionId The execution.
   * @param token The owner's fencing token, or `undefined` to forget it.
   */
  setFencingToken(executionId: string, token: number | undefined): void {
    if (token === undefined) this.#fences.delete(executionId);
    else this.#fences.set(executionId, token);
  }

  /**
   * Publishes a runtime event; when the journal refuses it, logs why and
   * delivers it to local listeners only.
   *
   * @param type The event's type.
   * @param data Its data.
   * @param executionId The execution it belongs to, if any.
   * @returns A promise that settles once the event is published (it never rejects).
   */
  async emit<T extends RuntimeEventType>(
    type: T,
    data: RuntimeEventData[T],
    executionId?: string,
  ): Promise<void> {
    const event: OaoEvent = {
      type,
      time: this.#clock.now(),
      data: data as unknown as Record<string, unknown>,
    };
    if (executionId) event.executionId = executionId;
    const fencingToken = executionId === undefined ? undefined : this.#fences.get(executionId);
    try {
      await this.#bus.publish(event, fencingToken === undefined ? {} : { fencingToken });
    } catch (error) {
      this.#log.error("Cannot record runtime event {type}: {error}", {
        type,
        error: toErrorInfo(error).message,
      });
      this.#bus.emitLocal(event);
    }
  }

  /**
   * Logs a runtime event at its level; an execution's own events (they carry
   * totals) and events of other kinds are left to their publisher.
   *
   * @param event An event from the bus.
   */
  log(event: OaoEvent): void {
    let level = RUNTIME_EVENT_LEVELS[event.type as RuntimeEventType];
    // An execution's own events (they carry totals) are logged by its orchestrator.
    if (!level || event.totals) return;
    if (event.type === "SYSTEM_STOPPED" && event.data.error) level = "error";
    const props: Record<string, unknown> = { ...event.data, event: event.type };
    if (event.executionId) props.executionId = event.executionId;
    // The details are the record's properties (text logs print them as key=value).
    this.#log[level === "warning" ? "warn" : level](event.type, props);
  }
}
