// The audit events of an execution, written ahead of every transition: each
// is checked against the size limit, stamped (time, totals, trace) and
// published on the bus, whose journal appends it to the execution's log. An
// event is either recorded and awaited (`record`, a barrier) or recorded
// ahead (`recordAhead`) so that the step runs while the store commits.
// Internal: each ExecutionRun has one.
import { FencedError, ValueTooLargeError } from "../errors.ts";
import type { Totals } from "../events/event_store.ts";
import { jsonBytes } from "../limits.ts";
import type { PublishOptions } from "../observability/event_bus.ts";
import type { OaoEvent } from "../observability/events.ts";
import type { Span } from "../tracing/tracer.ts";
import type { RunHost, RunInit } from "./_run_host.ts";
import { indexEntry } from "./_index_entries.ts";

/** What the recorder needs from its execution's run. */
export interface RecorderRun {
  readonly executionId: string;
  readonly host: RunHost;
  readonly init: RunInit;
  /** The run's totals, copied into every event. */
  readonly totals: Totals;
  readonly rootSpan: Span | undefined;
  readonly stepSpan: Span | undefined;
  /** The store refused an event for a newer owner: the run stops at once. */
  fenced(error: FencedError): void;
}

export class EventRecorder {
  readonly #run: RecorderRun;
  #unsettled: Promise<void> | undefined; // events recorded ahead, not yet known durable

  constructor(run: RecorderRun) {
    this.#run = run;
  }

  /**
   * Records an event and waits until it is durable, with every event
   * recorded ahead of it ({@linkcode EventRecorder.recordAhead}): an awaited
   * record is a barrier, so the effects that follow one (a tool call, a
   * report) come after all the execution's earlier events are stored.
   *
   * @param type The event's type.
   * @param data Its data.
   * @param extra The step it belongs to and its key, if any.
   * @returns The event as stored.
   * @throws {ValueTooLargeError | TypeError} The data is too large or not JSON.
   * @throws {FencedError | StoreUnavailableError} This event or an earlier one was not stored.
   */
  async record(
    type: string,
    data: Record<string, unknown>,
    extra: { step?: number; key?: string } = {},
  ): Promise<OaoEvent> {
    const written = this.#publish(type, data, extra).written;
    written.catch(() => {}); // awaited below, unless an earlier event failed
    await this.settled();
    return await written;
  }

  /**
   * Records an event without waiting for it: for the events nothing acts on
   * before the next barrier (a state entered, a step completed), so that the
   * step runs while the store commits. The stores keep an execution's
   * appends in the order issued. The next {@linkcode EventRecorder.record} or
   * {@linkcode EventRecorder.settled} waits for it and reports its failure.
   *
   * @param type The event's type.
   * @param data Its data.
   * @param extra The step it belongs to and its key, if any.
   * @returns The event as sent.
   * @throws {ValueTooLargeError | TypeError} The data is too large or not JSON.
   */
  recordAhead(
    type: string,
    data: Record<string, unknown>,
    extra: { step?: number; key?: string } = {},
  ): OaoEvent {
    const { event, written } = this.#publish(type, data, extra);
    const before = this.#unsettled;
    const all = (before ? Promise.all([before, written]) : written).then(() => {});
    all.catch(() => {}); // reported by the next barrier
    this.#unsettled = all;
    return event;
  }

  /**
   * Waits for the events recorded ahead; throws the first failure among them.
   *
   * @throws {FencedError | StoreUnavailableError} An event recorded ahead was not stored.
   */
  async settled(): Promise<void> {
    const unsettled = this.#unsettled;
    if (!unsettled) return;
    try {
      await unsettled;
    } finally {
      if (this.#unsettled === unsettled) this.#unsettled = undefined;
    }
  }

  /** Validates and publishes an event: the event as sent, and its journaling. */
  #publish(
    type: string,
    data: Record<string, unknown>,
    extra: { step?: number; key?: string },
  ): { event: OaoEvent; written: Promise<OaoEvent> } {
    const run = this.#run;
    const host = run.host;
    // Events are the execution's source of truth (resume, replay, idempotent
    // tool answers): one that is too large is refused whole, never altered.
    const size = jsonBytes(data);
    if (size === undefined || size > host.limits.maxEventBytes) {
      if (size === undefined) {
        throw new TypeError(`Cannot record event ${type}: its data is not JSON-serializable`);
      }
      throw new ValueTooLargeError(
        `The data of event ${type}${extra.step === undefined ? "" : ` (step ${extra.step})`}`,
        size,
        host.limits.maxEventBytes,
      );
    }
    const span = run.stepSpan ?? run.rootSpan;
    const event: OaoEvent = {
      type,
      time: host.clock.now(),
      executionId: run.executionId,
      data,
      totals: { ...run.totals },
    };
    if (extra.step !== undefined) event.step = extra.step;
    if (extra.key !== undefined) event.key = extra.key;
    if (span?.context) {
      event.traceId = span.context.traceId;
      event.spanId = span.context.spanId;
    }
    const options: PublishOptions = {};
    if (host.retentionSeconds !== undefined) options.expire = host.retentionSeconds;
    if (run.init.fencingToken !== undefined) options.fencingToken = run.init.fencingToken;
    // Status changes update the executions index in the same write (stores keep the first createdAt).
    const index = indexEntry(type, {
      agent: run.init.agent.name,
      createdAt: run.init.view?.startedAt ?? event.time,
    });
    if (index) options.index = index;
    // The bus's journal (src/events/journal.ts) appends it to the log, then its listeners see it.
    const written = host.bus.publish(event, options).catch((error: unknown) => {
      if (error instanceof FencedError) run.fenced(error);
      throw error;
    });
    return { event, written };
  }
}
