// Sending a signal to an execution: one append to its log (SIGNAL_RECEIVED),
// durable the moment it returns, from any process that shares the stores —
// the API node of a distributed deployment included. The execution's run
// (in whichever process) takes it with `ctx.waitForSignal` (_wait_gate.ts),
// or takes it when it is resumed. Internal: `Orchestrator.signal` and the
// HTTP route call it.
import {
  ExecutionFinishedError,
  StaleVersionError,
  StoreUnavailableError,
  TooManySignalsError,
  ValueTooLargeError,
} from "../errors.ts";
import type { EventStore, StoredEvent } from "../events/event_store.ts";
import { jsonBytes } from "../limits.ts";
import { isFinal } from "./execution_report.ts";
import { projectExecution } from "./execution_view.ts";
import { wake } from "./_wake_bus.ts";

/** Largest signal payload, in bytes of JSON. */
export const MAX_SIGNAL_BYTES = 64 * 1024;

const NAME = /^[A-Za-z0-9_.:-]{1,100}$/;

/**
 * Appends a signal to an execution's log.
 *
 * @returns The sequence number of its SIGNAL_RECEIVED event.
 * @throws {TypeError} When the name is not 1–100 letters, digits, `_`, `.`, `:` or `-`, or the payload is not JSON.
 * @throws {ValueTooLargeError} When the payload is over {@linkcode MAX_SIGNAL_BYTES}.
 * @throws {ExecutionNotFoundError} When there is no such execution.
 * @throws {ExecutionFinishedError} When it already finished (checked atomically with the append).
 * @throws {TooManySignalsError} When it holds {@linkcode MAX_PENDING_SIGNALS} signals it has not taken.
 * @throws {StoreUnavailableError} When its log grew between every read and append, 100 times.
 */
export async function sendSignal(
  store: EventStore,
  executionId: string,
  signal: {
    name: string;
    payload: unknown;
    retentionSeconds?: number | undefined;
    /**
     * Set when this process runs the execution (no other process runs it):
     * wakes its waits here, without appending to the shared wake log.
     */
    wakeHere?: (() => void) | undefined;
  },
): Promise<number> {
  const { name } = signal;
  if (typeof name !== "string" || !NAME.test(name)) {
    throw new TypeError(
      `Invalid signal name ${
        JSON.stringify(String(name).slice(0, 120))
      }: expected 1–100 letters, digits, "_", ".", ":" or "-"`,
    );
  }
  const payload = signal.payload === undefined ? null : signal.payload;
  const size = jsonBytes(payload);
  if (size === undefined) throw new TypeError(`Invalid payload of signal "${name}": not JSON`);
  if (size > MAX_SIGNAL_BYTES) {
    throw new ValueTooLargeError(`The payload of signal "${name}"`, size, MAX_SIGNAL_BYTES);
  }
  const { wakeHere } = signal;
  // The append is conditional on the log's last seq (`expectedSeq`): when
  // anything was appended since it was read, the new events are read and
  // checked, so a signal never lands after the event that finished the
  // execution (it is refused instead, with nothing left in the log).
  // An execution holds at most MAX_PENDING_SIGNALS signals it has not taken
  // (a client holding a token could otherwise grow its log, and its runner's
  // memory, without bound), counted in the whole log. A process that runs
  // the execution reads its latest event only, and the whole log only when
  // it could be finished (an EXECUTION_* event) or hold that many (as many
  // events): the signal's latency is mostly this read.
  let events: StoredEvent[] | undefined;
  let newer: StoredEvent[];
  if (wakeHere) {
    const latest = await store.latest(executionId);
    newer = latest ? [latest] : [];
  } else {
    events = await store.readRange(executionId);
    newer = events;
    finished(executionId, events);
  }
  for (let attempt = 1;; attempt++) {
    if (
      !events &&
      (newer.some((e) => ENDS.has(e.type)) || (newer.at(-1)?.seq ?? 0) >= MAX_PENDING_SIGNALS)
    ) {
      events = await store.readRange(executionId);
      newer = events;
      finished(executionId, events);
    }
    const last = newer.at(-1)?.seq ?? 0;
    if (events && _pending(events) >= MAX_PENDING_SIGNALS) {
      throw new TooManySignalsError(executionId, MAX_PENDING_SIGNALS);
    }
    let event: StoredEvent;
    try {
      event = await store.appendEvent(
        executionId,
        { type: "SIGNAL_RECEIVED", data: { name, payload } },
        signal.retentionSeconds === undefined
          ? { expectedSeq: last }
          : { expectedSeq: last, expire: signal.retentionSeconds },
      );
    } catch (error) {
      if (!(error instanceof StaleVersionError)) throw error;
      if (attempt >= MAX_ATTEMPTS) {
        throw new StoreUnavailableError(`signal("${executionId}", "${name}")`, { cause: error });
      }
      const more = await store.readAfter(executionId, last);
      newer = more.length > 0 ? more : newer;
      if (events) {
        events.push(...more);
        finished(executionId, events);
      }
      continue;
    }
    if (wakeHere) wakeHere();
    else await wake(store, executionId, Date.now());
    return event.seq;
  }
}

/** Event types that may finish an execution (its status is then read from its whole log). */
const ENDS = new Set(["EXECUTION_COMPLETED", "EXECUTION_FAILED", "EXECUTION_CANCELLED"]);

/** The most signals an execution holds that it has not taken. */
export const MAX_PENDING_SIGNALS = 1_000;

/** Signals received and not taken yet, in a log. */
function _pending(events: StoredEvent[]): number {
  let received = 0;
  let taken = 0;
  for (const event of events) {
    if (event.type === "SIGNAL_RECEIVED") received++;
    else if (event.type === "SIGNAL_CONSUMED") taken++;
  }
  return received - taken;
}

/** Appends a signal tries before it gives up on a log that keeps growing. */
const MAX_ATTEMPTS = 100;

/**
 * @throws {ExecutionNotFoundError} When `events` hold no execution.
 * @throws {ExecutionFinishedError} When they finished it.
 */
function finished(executionId: string, events: StoredEvent[]): void {
  const view = projectExecution(executionId, events);
  if (isFinal(view.status)) throw new ExecutionFinishedError(executionId, view.status);
}
