// Wire protocol between the host and actor workers, and between two actors
// on a link (a MessageChannel from a sender to a receiver). Internal.
import type { ErrorInfo } from "../oao_error.ts";
import type { PackedSpans, SpanData } from "../tracing/span_data.ts";
import type { ResolvedSpawnOptions } from "./spawn_options.ts";

/** Per-index exceptions of a batch: ask id, own trace context, gap marker. */
export interface BatchExtra {
  a?: number; // ask id
  tp?: string; // traceparent, when it differs from the batch's
  ts?: string; // tracestate ("": none, in a frame that has one)
  g?: 1; // gap: the sender could not send this seq (not cloneable); skip it
}

/** A batch of consecutive messages on a link, sender → receiver. */
export interface BatchFrame {
  k: "b";
  s: number; // seq of m[0]; m[i] has seq s + i
  m: unknown[];
  tp?: string; // traceparent shared by the batch
  ts?: string; // tracestate shared by the batch
  x?: Record<number, BatchExtra>;
  // Ask id of m[0] when that is its only exception (x holds none for it): a
  // single ask, the commonest frame, is two objects fewer to clone.
  a?: number;
  r?: 1; // retransmission after a relink
}

/**
 * The ask id of message `index` of a frame, if that message is an ask.
 *
 * @param frame The frame.
 * @param index The message's index in `frame.m`.
 * @returns The ask id, or `undefined`.
 */
export function askIdOf(frame: BatchFrame, index: number): number | undefined {
  const extra = frame.x?.[index];
  return extra ? extra.a : index === 0 ? frame.a : undefined;
}

/**
 * First message of a sender on a (new) link: a shared word where the
 * receiver also publishes its cumulative acknowledgement (low 32 bits), so
 * that a sender busy in a long synchronous handler can release acknowledged
 * frames without waiting for the acknowledgement messages.
 */
export interface LinkHello {
  k: "h";
  acks: SharedArrayBuffer;
}

/** Largest number of messages per posted frame. */
export const MAX_BATCH = 1000;

/** Sender → receiver frames on a link. */
export type LinkFrame = BatchFrame | LinkHello;

/** Receiver → sender frames on a link. */
export type LinkReply =
  | { k: "a"; upTo: number } // cumulative acknowledgement
  | { k: "r"; a: number; ok: true; v: unknown; upTo?: number } // ask reply (+ acknowledgement)
  | { k: "r"; a: number; ok: false; e: ErrorInfo; upTo?: number } // ask failure
  | { k: "x"; seqs: number[]; asks: number[]; e: ErrorInfo } // refused by a full mailbox
  | { k: "z"; e: ErrorInfo }; // stopped gracefully: every reply was sent before this

/** Durable part of a link's sender side: its sequence space, next seq and unacknowledged frames. */
export interface OutboxState {
  space: string; // identity of this link's sequence space
  nextSeq: number;
  acked: number;
  frames: BatchFrame[];
}

/** What an actor snapshot holds besides the behaviour's own data. */
export interface ActorSnapshotData {
  state: unknown;
  cursors: Record<string, number>;
  outbox: Record<string, OutboxState>;
  processed: number;
}

/** A message the host wants dead-lettered on its next delivery. */
export interface PoisonEntry {
  key: string;
  seq: number;
  attempts: number;
  error: ErrorInfo;
}

/** Shared-memory status words of a worker, read by the host's watchdog. */
export const SAB_BUSY = 0;
export const SAB_LINK = 1;
export const SAB_SEQ = 2;
export const SAB_STARTED = 3;
export const SAB_HEARTBEAT = 4;
export const SAB_TICK = 5; // never written: the worker waits on it to sleep without timers
// A failed incarnation's worker parks here: 0, then 1 while it waits, blocked,
// with no JavaScript running in it; the host's release stores 2 (and wakes
// it), after which the worker ends itself and never waits again. The host
// that gives an incarnation up stores 3 first: the worker parks at the next
// frame, control message, handled message or send, whichever comes first.
export const SAB_PARK = 6;
/** {@linkcode SAB_PARK}: the worker is blocked in its park. */
export const PARK_WAITING = 1;
/** {@linkcode SAB_PARK}: the host released the worker (or never lets it park). */
export const PARK_RELEASED = 2;
/** {@linkcode SAB_PARK}: the host gave the incarnation up; the worker is to park. */
export const PARK_REQUESTED = 3;
export const SAB_WORDS = 8;

/** A link to the actor, from the sender `from`: its frames come on `port`. */
export type LinkIn = { k: "link-in"; key: string; from: string; linkId: number; port: MessagePort };

/** Host → worker control messages. */
export type HostToWorker =
  | {
    k: "init";
    path: string;
    module: string;
    incarnation: number;
    args: unknown;
    snapshot?: { version: number; data: ActorSnapshotData } | undefined;
    options: Pick<ResolvedSpawnOptions, "mailbox" | "snapshot" | "maxDeliveries">;
    tracing: boolean;
    sab: SharedArrayBuffer;
    heartbeatMs: number;
    poison: PoisonEntry[];
    // The links open to the actor as it starts, carried by the init (their
    // ports in its transfer list): the worker starts them with its state,
    // in the same task, rather than one message later each.
    links: LinkIn[];
  }
  | LinkIn
  | { k: "link-out"; target: string; port: MessagePort }
  | { k: "link-error"; target: string; error: ErrorInfo; drained?: true }
  | { k: "link-close"; key: string }
  | { k: "snapshot-ack"; version: number }
  | { k: "reply"; id: number; ok: true; value: unknown }
  | { k: "reply"; id: number; ok: false; error: ErrorInfo }
  // expect: per link key, the last seq sent before the stop, to handle first
  | { k: "stop"; mode: "graceful"; reason: string; expect: Record<string, number> }
  // The host gave this incarnation up (killed, or its snapshot was lost): the
  // worker parks at once (SAB_PARK) and runs nothing more.
  | { k: "park" };

/** Requests a worker makes to the host. */
export type WorkerRequest =
  | { op: "spawn"; module: string; options: Record<string, unknown> }
  | { op: "stop"; target: string; mode: "graceful" | "immediate" }
  | { op: "call"; service: string; payload: unknown };

/** A log record forwarded from a worker. */
export interface WorkerLogRecord {
  level: "debug" | "info" | "warning" | "error";
  message: string;
  properties: Record<string, unknown>;
}

/** Worker → host control messages. */
export type WorkerToHost =
  | { k: "ready"; restoredSeq: number }
  | { k: "init-failed"; error: ErrorInfo }
  | { k: "connect"; target: string; space: string }
  | { k: "request"; id: number; request: WorkerRequest }
  | { k: "snapshot"; incarnation: number; version: number; data: ActorSnapshotData }
  | {
    k: "failed";
    reason: "exception" | "unhandled_rejection" | "worker_error" | "worker_exited";
    error: ErrorInfo;
    key?: string;
    seq?: number;
  }
  | {
    k: "dead-letter";
    key: string;
    from: string;
    seq: number;
    body: unknown;
    error: ErrorInfo;
    attempts: number;
  }
  | { k: "dropped"; key: string; from: string; seq: number; policy: string }
  | { k: "undeliverable"; target: string; error: ErrorInfo }
  | { k: "spans"; spans: SpanData[]; packed?: PackedSpans[] }
  | { k: "logs"; records: WorkerLogRecord[] }
  | { k: "stopped" };

/**
 * Host → pooled worker (a worker that hosts many actors of one module and
 * permissions): a control message for the actor in slot `s`, or the end of
 * that actor's place in the worker (`drop`).
 */
export type HostToPool =
  | { s: number; m: HostToWorker }
  | { s: number; drop: 1 }
  | { ping: number }; // answered with a pong at once, if the worker's thread is free

/**
 * Pooled worker → host: a message of the actor in slot `s`, or `retire`: an
 * error no slot can be blamed for escaped, and the worker takes no more
 * actors; `failures` are its actors' last words (each one's failure), which
 * the host hands them once it has marked the worker ending.
 */
export type PoolToHost =
  | { s: number; m: WorkerToHost }
  | { k: "retire"; error: ErrorInfo; failures: { s: number; m: WorkerToHost }[] }
  | { pong: number };
