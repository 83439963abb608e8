// The sending half of a link: assigns sequence numbers, batches messages per
// microtask (or per `maxBatch`), keeps every frame until the receiver
// acknowledges it, and retransmits the unacknowledged frames when the link is
// re-attached to a restarted receiver. Used by the host and by workers alike.
import type { ErrorInfo } from "../oao_error.ts";
import {
  askIdOf,
  type BatchExtra,
  type BatchFrame,
  type LinkHello,
  type LinkReply,
  MAX_BATCH,
  type OutboxState,
} from "./_protocol.ts";
import { newSpanId } from "../tracing/trace_context.ts";
import { invalidLinkReply } from "./_protocol_guard.ts";

/** Callbacks of an outbound link. */
export interface OutboundLinkHooks {
  /** An ask got its reply. */
  onReply(
    askId: number,
    reply: { ok: true; value: unknown } | { ok: false; error: ErrorInfo },
  ): void;
  /** The receiver's full mailbox refused messages. */
  onRefused(seqs: number[], asks: number[], error: ErrorInfo): void;
  /** A message could not be cloned at flush time (it was not caught by the early check). */
  onCloneFailure(seq: number, askId: number | undefined, error: unknown): void;
  /** An acknowledgement arrived. */
  onAck?(): void;
  /** The receiver stopped gracefully; every reply it will send has arrived. */
  onClosed?(error: ErrorInfo): void;
  /**
   * Set by a sender that does not trust its receiver (the host): every reply
   * is checked first, and one that breaks the protocol is handed here instead.
   */
  onViolation?(detail: string): void;
}

/** Sending half of a sender → receiver link. */
export class OutboundLink {
  readonly target: string;
  /** Identity of this link's sequence space; the receiver keys its cursor by it. */
  readonly space: string;
  #hooks: OutboundLinkHooks;
  #port: MessagePort | undefined;
  #acks: Int32Array | undefined; // the receiver's shared acknowledgement word (low 32 bits)
  #nextSeq: number;
  #acked: number;
  #frames: BatchFrame[];
  #open: BatchFrame | undefined;
  #scheduled = false;
  #receiverClosed = false;
  #flushTask = () => {
    this.#scheduled = false;
    this.flush();
  };

  constructor(target: string, hooks: OutboundLinkHooks, restored?: OutboxState) {
    this.target = target;
    this.space = restored?.space ?? newSpanId();
    this.#hooks = hooks;
    this.#nextSeq = restored?.nextSeq ?? 1;
    this.#acked = restored?.acked ?? 0;
    this.#frames = restored ? restored.frames.map((f) => ({ ...f, r: 1 as const })) : [];
  }

  /** Whether the receiver said its last word: it stopped gracefully, every reply has arrived. */
  get receiverClosed(): boolean {
    return this.#receiverClosed;
  }

  /** Whether a port is attached. */
  get attached(): boolean {
    return this.#port !== undefined;
  }

  /** Sequence number of the last message sent (0 for none). */
  get lastSeq(): number {
    return this.#nextSeq - 1;
  }

  /** Messages sent and not yet acknowledged. */
  get unacked(): number {
    let n = this.#open?.m.length ?? 0;
    for (const f of this.#frames) n += f.s + f.m.length - 1 - Math.max(this.#acked, f.s - 1);
    return n;
  }

  /** Queues one message; returns its sequence number. */
  send(body: unknown, traceparent: string, tracestate: string | undefined, askId?: number): number {
    const seq = this.#nextSeq++;
    let frame = this.#open;
    if (!frame) {
      frame = this.#open = { k: "b", s: seq, m: [], tp: traceparent };
      if (tracestate) frame.ts = tracestate;
      if (!this.#scheduled) {
        this.#scheduled = true;
        queueMicrotask(this.#flushTask);
      }
    }
    const index = frame.m.length;
    frame.m.push(body);
    if (index === 0 && askId !== undefined && traceparent === frame.tp && tracestate === frame.ts) {
      frame.a = askId;
    } else if (askId !== undefined || traceparent !== frame.tp || tracestate !== frame.ts) {
      const extra: BatchExtra = {};
      if (askId !== undefined) extra.a = askId;
      if (traceparent !== frame.tp) extra.tp = traceparent;
      // "" says "no tracestate" for a message of a frame that has one.
      if (tracestate !== frame.ts) extra.ts = tracestate ?? "";
      (frame.x ??= {})[index] = extra;
    }
    if (frame.m.length >= MAX_BATCH) this.flush();
    return seq;
  }

  /** Posts the open batch now. */
  flush(): void {
    const frame = this.#open;
    if (!frame) return;
    this.#open = undefined;
    if (this.#acks) this.#readSharedAck(this.#acks);
    this.#frames.push(frame);
    if (this.#port) this.#post(frame, this.#frames.length - 1);
  }

  /** Attaches a (new) port and retransmits every unacknowledged frame on it. */
  attach(port: MessagePort): void {
    this.#port?.close();
    this.#port = port;
    this.#receiverClosed = false;
    port.onmessage = this.#hooks.onViolation
      ? (event: MessageEvent<unknown>) => this.#onUntrustedReply(event.data)
      : (event: MessageEvent<LinkReply>) => this.#onReply(event.data);
    this.#acks = new Int32Array(new SharedArrayBuffer(4));
    this.#acks[0] = this.#acked | 0;
    port.postMessage({ k: "h", acks: this.#acks.buffer as SharedArrayBuffer } satisfies LinkHello);
    for (let i = 0; i < this.#frames.length; i++) {
      const frame = this.#frames[i]!;
      if (frame.s + frame.m.length - 1 <= this.#acked) continue;
      frame.r = 1;
      i += this.#post(frame, i) - 1;
    }
  }

  /** Detaches the port (receiver restarting); frames are kept for retransmission. */
  detach(): void {
    this.#port?.close();
    this.#port = undefined;
    this.#acks = undefined;
  }

  /** Closes the link for good. */
  close(): void {
    this.detach();
    this.#frames = [];
    this.#open = undefined;
  }

  /** Durable state for the sender's snapshot. */
  state(): OutboxState {
    this.flush();
    return {
      space: this.space,
      nextSeq: this.#nextSeq,
      acked: this.#acked,
      frames: this.#frames.map((f) => ({ ...f })),
    };
  }

  #onUntrustedReply(reply: unknown): void {
    const bad = invalidLinkReply(reply, this.#nextSeq - 1);
    if (bad) return this.#hooks.onViolation!(bad);
    this.#onReply(reply as LinkReply);
  }

  #onReply(reply: LinkReply): void {
    switch (reply.k) {
      case "a":
        this.#ack(reply.upTo);
        this.#hooks.onAck?.();
        break;
      case "r":
        if (reply.upTo !== undefined) this.#ack(reply.upTo);
        this.#hooks.onReply(
          reply.a,
          reply.ok ? { ok: true, value: reply.v } : { ok: false, error: reply.e },
        );
        if (reply.upTo !== undefined) this.#hooks.onAck?.();
        break;
      case "x":
        this.#gapOut(reply.seqs);
        this.#hooks.onRefused(reply.seqs, reply.asks, reply.e);
        break;
      case "z":
        this.#receiverClosed = true;
        this.#hooks.onClosed?.(reply.e);
        break;
    }
  }

  // Acknowledgements published in shared memory: the low 32 bits of the
  // receiver's cursor, widened against what is outstanding.
  #readSharedAck(acks: Int32Array): void {
    const delta = (Atomics.load(acks, 0) - (this.#acked | 0)) >>> 0;
    if (delta > 0 && delta < this.#nextSeq - this.#acked) this.#ack(this.#acked + delta);
  }

  #ack(upTo: number): void {
    if (upTo <= this.#acked) return;
    this.#acked = upTo;
    let drop = 0;
    while (drop < this.#frames.length) {
      const f = this.#frames[drop]!;
      if (f.s + f.m.length - 1 > upTo) break;
      drop++;
    }
    if (drop > 0) this.#frames.splice(0, drop);
  }

  // Replaces refused messages by gaps so that a retransmission cannot deliver them later.
  #gapOut(seqs: number[]): void {
    for (const seq of seqs) {
      const frame = this.#frames.find((f) => seq >= f.s && seq < f.s + f.m.length);
      if (!frame) continue;
      const index = seq - frame.s;
      frame.m[index] = null;
      (frame.x ??= {})[index] = { g: 1 };
      if (index === 0) delete frame.a;
    }
  }

  // Posts a frame; on a clone failure, posts its messages one by one and
  // replaces the ones that cannot be cloned by gaps. Returns how many frames
  // now stand at `index` in place of the original.
  #post(frame: BatchFrame, index: number): number {
    try {
      this.#port!.postMessage(frame);
      return 1;
    } catch (error) {
      if (!(error instanceof DOMException) || error.name !== "DataCloneError") throw error;
      const singles: BatchFrame[] = frame.m.map((body, i) => {
        const extra = frame.x?.[i];
        const single: BatchFrame = { k: "b", s: frame.s + i, m: [body] };
        const tp = extra?.tp ?? frame.tp;
        if (tp) single.tp = tp;
        const ts = extra?.ts ?? frame.ts;
        if (ts) single.ts = ts;
        if (extra) single.x = { 0: { ...extra } };
        else if (i === 0 && frame.a !== undefined) single.a = frame.a;
        if (frame.r) single.r = 1;
        return single;
      });
      for (const single of singles) {
        try {
          this.#port!.postMessage(single);
        } catch (cloneError) {
          const askId = askIdOf(single, 0);
          single.m = [null];
          single.x = { 0: { g: 1 } };
          delete single.a;
          this.#port!.postMessage(single);
          this.#hooks.onCloneFailure(single.s, askId, cloneError);
        }
      }
      this.#frames.splice(index, 1, ...singles);
      return singles.length;
    }
  }
}
