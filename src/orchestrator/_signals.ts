// Sending a signal to an execution: one append to its log (SIGNAL_RECEIVED),
// durable the moment it returns, from any process that shares the stores —
// the API node of a distributed deployment included. The execution's run
// (in whichever process) takes it with `ctx.waitForSignal` (_wait_gate.ts),
// or takes it when it is resumed. Internal: `Orchestrator.signal` and the
// HTTP route call it.
import { ExecutionFinishedError, ValueTooLargeError } from "../errors.ts";
import type { EventStore } from "../events/event_store.ts";
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
 * @throws {ExecutionFinishedError} When it already finished.
 */
export async function sendSignal(
  store: EventStore,
  executionId: string,
  signal: {
    name: string;
    payload: unknown;
    retentionSeconds?: number | undefined;
    /**
     * Set when this process runs the execution (so it has not finished, and
     * no other process runs it): wakes its waits here, without reading its
     * log first or appending to the shared wake log.
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
  if (!wakeHere) {
    const view = projectExecution(executionId, await store.readRange(executionId));
    if (isFinal(view.status)) throw new ExecutionFinishedError(executionId, view.status);
  }
  const event = await store.appendEvent(
    executionId,
    { type: "SIGNAL_RECEIVED", data: { name, payload } },
    signal.retentionSeconds === undefined ? {} : { expire: signal.retentionSeconds },
  );
  if (wakeHere) wakeHere();
  else await wake(store, executionId, Date.now());
  return event.seq;
}
