/**
 * The typed events of OAO: the single observability stream. The runtime and
 * the orchestrator publish them on an {@linkcode EventBus}; the event store,
 * logs, metrics and tracing subscribe.
 *
 * @module
 */
import type { ErrorInfo } from "../oao_error.ts";
import type { Totals } from "../events/event_store.ts";

/** Why an actor failed. */
export type FailureReason =
  | "exception" // the handler threw or its promise rejected
  | "unhandled_rejection" // a promise it created rejected unhandled
  | "worker_error" // the worker raised an uncaught error outside a handler
  | "worker_died" // the worker stopped answering heartbeats (exited, crashed)
  | "load_failed" // the module failed to load or restore
  | "timeout" // a message exceeded its time limit (hang or busy loop)
  | "killed" // terminated on request
  | "snapshot_failed" // its snapshot could not be stored
  | "shutdown_timeout" // did not stop within its shutdown timeout
  | "protocol_violation" // its worker sent a message that breaks the host protocol
  | "worker_exited"; // its code ended the worker (`Deno.exit`, `self.close()`)

/** Payloads of the runtime events, by type. */
export interface RuntimeEventData {
  /** A worker started and restored its state. */
  ACTOR_STARTED: { actor: string; incarnation: number; module: string; restoredSeq: number };
  /** An actor failed. */
  ACTOR_FAILED: {
    actor: string;
    incarnation: number;
    reason: FailureReason;
    error: ErrorInfo;
    message?: { from: string; seq: number };
  };
  /** A restart is scheduled (supervisor) or a step is retried (orchestrator). */
  RETRY_ATTEMPTED: {
    actor?: string;
    attempt: number;
    delayMs: number;
    reason: string;
    snapshotSeq?: number;
    error?: ErrorInfo;
  };
  /** The new incarnation is running. */
  ACTOR_RESTARTED: { actor: string; incarnation: number; restoredSeq: number };
  /** A supervisor exceeded its restart intensity and gave up. */
  SUPERVISOR_ESCALATED: { supervisor: string; restarts: number; periodMs: number; reason: string };
  /** A message that failed on every delivery was set aside. */
  MESSAGE_DEAD_LETTERED: {
    actor: string;
    from: string;
    seq: number;
    attempts: number;
    error: ErrorInfo;
    message: unknown;
  };
  /** A bounded mailbox dropped or rejected a message. */
  MESSAGE_DROPPED: { actor: string; from: string; seq: number; policy: string };
  /** A message could not be delivered (unknown actor, not cloneable, actor stopped). */
  MESSAGE_UNDELIVERABLE: { actor: string; from: string; error: ErrorInfo };
  /** An actor stopped. */
  ACTOR_STOPPED: { actor: string; incarnation: number; reason: string };
  /** The actor system stopped (clean shutdown or root supervisor failure). */
  SYSTEM_STOPPED: { reason: string; error?: ErrorInfo };
  /** A worker asked for something outside its capabilities; the request was refused. */
  ACCESS_DENIED: { actor: string; op: string; target?: string; reason: string };
}

/** Every runtime event type. */
export type RuntimeEventType = keyof RuntimeEventData;

/** A published event. */
export interface OaoEvent<T extends string = string> {
  /** Event type. */
  type: T;
  /** Epoch milliseconds. */
  time: number;
  /** The execution this event belongs to; runtime events of free actors have none. */
  executionId?: string;
  /** Step number, for execution events. */
  step?: number;
  /** Payload. */
  data: Record<string, unknown>;
  /** Running totals, for execution events. */
  totals?: Totals;
  /** Trace id of the active span. */
  traceId?: string;
  /** Span id of the active span. */
  spanId?: string;
  /** Sequence number in the event store, once stored. */
  seq?: number;
  /** Index key in its log (`EventInput.key`): idempotent tool calls find their events by it. */
  key?: string;
}

/** A runtime event with its typed payload. */
export type RuntimeEvent<T extends RuntimeEventType = RuntimeEventType> = OaoEvent<T> & {
  data: RuntimeEventData[T];
};

/** Log level at which each runtime event is logged. */
export const RUNTIME_EVENT_LEVELS: Record<
  RuntimeEventType,
  "debug" | "info" | "warning" | "error"
> = {
  ACTOR_STARTED: "debug",
  ACTOR_FAILED: "error",
  RETRY_ATTEMPTED: "warning",
  ACTOR_RESTARTED: "info",
  SUPERVISOR_ESCALATED: "error",
  MESSAGE_DEAD_LETTERED: "error",
  MESSAGE_DROPPED: "warning",
  MESSAGE_UNDELIVERABLE: "warning",
  ACTOR_STOPPED: "debug",
  SYSTEM_STOPPED: "info",
  ACCESS_DENIED: "warning",
};
