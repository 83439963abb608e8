// The text deltas of streamed model calls (`ctx.streamText`), on their way
// to whoever watches the execution live: `oao run` in the process that runs
// it, and `GET /executions/:id/stream` in any process on the same stores.
//
// Deltas are not events of the execution: its log records the completed
// answer only (MODEL_CALL_COMPLETED), so that resume and replay read one
// event per call. They go to a side log of their own, `<id>:text` (a colon
// is never part of an execution id, so no execution can own it), coalesced
// into one append per turn of the relay (at most every RELAY_MS or
// RELAY_CHARS characters) and kept for an hour after its last append. A
// frame names its call's MODEL_CALL_STARTED event (`start`): a call made
// again after a crash starts again at offset 0 under a new start, and a
// client that reconnects gets the deltas of the calls still in progress
// from their start (`deltasInProgress`). Internal.
import type { Clock, TimerId } from "../clock.ts";
import type { EventStore, StoredEvent } from "../events/event_store.ts";

/** One piece of the answer of a streamed model call, as watchers get it. */
export interface TextDelta {
  /** The execution making the call. */
  executionId: string;
  /** The step that makes it. */
  step: number;
  /** The call's key (as in its MODEL_CALL_STARTED / _COMPLETED events). */
  key: string;
  /** The seq of the MODEL_CALL_STARTED event of this making of the call. */
  start: number;
  /** The model, e.g. `"openai:gpt-4o-mini"`. */
  model: string;
  /** Where `text` starts in the call's answer, in UTF-16 code units. */
  offset: number;
  /** The text. */
  text: string;
}

/** Type of the side log's events. */
export const TEXT_DELTA = "MODEL_TEXT_DELTA";
/** Coalescing window of the relay, in ms. */
export const RELAY_MS = 25;
/** A relay appends at once when this many characters wait. */
export const RELAY_CHARS = 4_096;
/** Side logs expire this long after their last append, in seconds. */
export const TEXT_DELTA_RETENTION_SECONDS = 3_600;

/** The id of the side log of `executionId`'s text deltas. */
export function textDeltaLogId(executionId: string): string {
  return `${executionId}:text`;
}

/** What a relay needs to know about its call. */
export interface RelayCall {
  executionId: string;
  step: number;
  key: string;
  start: number;
  model: string;
}

/**
 * Passes the deltas of one streamed call on: each at once to `emit` (the
 * watchers in this process), and coalesced to the side log, in order. Text
 * beyond `maxChars` is not relayed (the call's result would be refused as
 * too large anyway). A failed append stops the relaying to the log, never
 * the call: deltas are a view, the completed answer is the record.
 */
export class TextDeltaRelay {
  readonly #store: EventStore;
  readonly #clock: Clock;
  readonly #call: RelayCall;
  readonly #emit: (delta: TextDelta) => void;
  readonly #maxChars: number;
  #offset = 0;
  #pending = "";
  #pendingAt = 0;
  #timer: TimerId | undefined;
  #writes: Promise<void> = Promise.resolve();
  #broken = false;

  constructor(
    store: EventStore,
    clock: Clock,
    options: { call: RelayCall; emit: (delta: TextDelta) => void; maxChars: number },
  ) {
    this.#store = store;
    this.#clock = clock;
    this.#call = options.call;
    this.#emit = options.emit;
    this.#maxChars = options.maxChars;
  }

  /** Passes one delta on. */
  push(text: string): void {
    if (text === "" || this.#offset >= this.#maxChars) return;
    const piece = text.slice(0, this.#maxChars - this.#offset);
    const delta: TextDelta = { ...this.#call, offset: this.#offset, text: piece };
    this.#offset += piece.length;
    this.#emit(delta);
    if (this.#pending === "") this.#pendingAt = delta.offset;
    this.#pending += piece;
    if (this.#pending.length >= RELAY_CHARS) this.#flush();
    else this.#timer ??= this.#clock.setTimeout(() => this.#flush(), RELAY_MS);
  }

  /** Appends what waits and resolves when every append is done (or given up). */
  async close(): Promise<void> {
    this.#flush();
    await this.#writes;
  }

  #flush(): void {
    if (this.#timer !== undefined) this.#clock.clearTimeout(this.#timer);
    this.#timer = undefined;
    if (this.#pending === "") return;
    const { executionId, step, key, start, model } = this.#call;
    const data = { key, start, model, offset: this.#pendingAt, text: this.#pending };
    this.#pending = "";
    this.#writes = this.#writes.then(async () => {
      if (this.#broken) return;
      try {
        await this.#store.appendEvent(
          textDeltaLogId(executionId),
          { type: TEXT_DELTA, time: this.#clock.now(), step, data },
          { expire: TEXT_DELTA_RETENTION_SECONDS },
        );
      } catch {
        this.#broken = true;
      }
    });
  }
}

/**
 * Reads a side log event as a delta of `executionId`; `undefined` for
 * anything else (the side log is store data: it is checked, not trusted).
 *
 * @param executionId The execution the side log belongs to.
 * @param event An event of its side log.
 * @returns The delta, or `undefined`.
 */
export function toTextDelta(executionId: string, event: StoredEvent): TextDelta | undefined {
  if (event.type !== TEXT_DELTA) return undefined;
  const d = event.data as Record<string, unknown> | null | undefined;
  if (typeof d !== "object" || d === null) return undefined;
  const { key, start, model, offset, text } = d;
  if (
    typeof key !== "string" || typeof model !== "string" || typeof text !== "string" ||
    !Number.isSafeInteger(start) || !Number.isSafeInteger(offset) ||
    !Number.isSafeInteger(event.step) || (start as number) < 1 || (offset as number) < 0
  ) return undefined;
  return {
    executionId,
    step: event.step as number,
    key,
    start: start as number,
    model,
    offset: offset as number,
    text,
  };
}

/**
 * The deltas so far of the calls `log` shows in progress (started, no
 * outcome yet), from their start, and the side log's last seq, after
 * which live deltas follow.
 *
 * @param store The event store.
 * @param executionId The execution.
 * @param log Its events, as read by the caller.
 * @returns The deltas in order, and the seq to follow the side log after.
 */
export async function deltasInProgress(
  store: EventStore,
  executionId: string,
  log: readonly StoredEvent[],
): Promise<{ deltas: TextDelta[]; afterSeq: number }> {
  const starts = new Map<string, number>();
  for (const event of log) {
    const key = event.key;
    if (key === undefined) continue;
    if (event.type === "MODEL_CALL_STARTED" && key.startsWith("intent:")) {
      starts.set(key.slice(7), event.seq);
    } else if (key.startsWith("outcome:")) starts.delete(key.slice(8));
  }
  const side = await store.readRange(textDeltaLogId(executionId));
  const afterSeq = side.at(-1)?.seq ?? 0;
  // Calls started after the log was read are in progress too.
  const read = log.at(-1)?.seq ?? 0;
  const open = new Set(starts.values());
  const deltas: TextDelta[] = [];
  for (const event of side) {
    const delta = toTextDelta(executionId, event);
    if (delta && (open.has(delta.start) || delta.start > read)) deltas.push(delta);
  }
  return { deltas, afterSeq };
}
