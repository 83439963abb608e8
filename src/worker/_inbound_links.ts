// The receiving side of links, inside an actor worker: one InboundLink per
// sender, the frames it brings accepted into the inbox (retransmitted
// messages skipped, gaps and messages completed out of order accounted for,
// what a full inbox cannot take refused or dropped), the cursor of completed
// messages of every link, and what goes back on a link: replies and
// acknowledgements. Internal.
import {
  askIdOf,
  type BatchFrame,
  type LinkIn,
  type LinkReply,
  type WorkerToHost,
} from "../actor/_protocol.ts";
import { MailboxFullError, MessageNotCloneableError } from "../actor/actor_errors.ts";
import { type ErrorInfo, toErrorInfo } from "../oao_error.ts";
import type { Inbox } from "./_inbox.ts";

/** The receiving side of the link from one sender, in this incarnation. */
export interface InboundLink {
  key: string;
  from: string;
  linkId: number;
  port: MessagePort;
  done: number | undefined; // every seq <= done is complete
  ahead: Set<number>; // completed seqs above done
  received: number; // highest seq queued in this incarnation
  ackSent: number;
  acks: Int32Array | undefined; // shared acknowledgement word from the sender's hello
}

/** A message taken from the inbox to be handled. */
export interface Item {
  link: InboundLink;
  seq: number;
  body: unknown;
  tp: string;
  ts: string | undefined;
  ask: number | undefined;
  redelivered: boolean;
}

/** The message being handled, shared by the message loop and the context of its handler. */
export interface Handling {
  /** The message a handler runs for; `undefined` between messages. */
  current: Item | undefined;
  /** What the handler passed to `reply()`. */
  reply: unknown;
}

/** The links from senders to one actor, their cursors, and what they bring into its inbox. */
export class InboundLinks {
  #post: (message: WorkerToHost) => void;
  #path = "";
  #inbox!: Inbox<InboundLink>;
  #links = new Map<string, InboundLink>();
  #cursors = new Map<string, number>();

  /** @param post Sends a message to the host. */
  constructor(post: (message: WorkerToHost) => void) {
    this.#post = post;
  }

  /**
   * Starts accepting frames.
   *
   * @param path The actor's path, for the errors of a full inbox.
   * @param inbox Where accepted messages are queued.
   */
  start(path: string, inbox: Inbox<InboundLink>): void {
    this.#path = path;
    this.#inbox = inbox;
  }

  /** Takes the cursors of a restored snapshot (per link key, every seq up to it is complete). */
  restore(cursors: Record<string, number>): void {
    for (const [key, seq] of Object.entries(cursors)) this.#cursors.set(key, seq);
  }

  /**
   * Opens a link in place of an earlier one with its key, and forgets the
   * cursors of the sender's other links that are not open.
   *
   * @param linkIn The host's `link-in` message.
   * @returns The link, whose frames go to `accept`.
   */
  open(linkIn: LinkIn): InboundLink {
    const { key, from, linkId, port } = linkIn;
    const previous = this.#links.get(key);
    if (previous) {
      this.#saveCursor(previous);
      previous.port.close();
    }
    const link: InboundLink = {
      key,
      from,
      linkId,
      port,
      done: this.#cursors.get(key),
      ahead: new Set(),
      received: 0,
      ackSent: 0,
      acks: undefined,
    };
    link.ackSent = link.done ?? 0;
    this.#links.set(key, link);
    for (const other of this.#cursors.keys()) {
      if (other !== key && other.startsWith(`${from}#`) && !this.#links.has(other)) {
        this.#cursors.delete(other);
      }
    }
    return link;
  }

  /** Closes the link `key`, keeping its cursor. */
  close(key: string): void {
    const link = this.#links.get(key);
    if (!link) return;
    this.#saveCursor(link);
    link.port.close();
    this.#links.delete(key);
  }

  /** Whether `link` is open: not closed, nor replaced by a newer link with its key. */
  isOpen(link: InboundLink): boolean {
    return this.#links.get(link.key) === link;
  }

  /** The open links. */
  values(): Iterable<InboundLink> {
    return this.#links.values();
  }

  /** Queues the messages of a batch that were not seen before. */
  accept(link: InboundLink, frame: BatchFrame): void {
    if (link.done === undefined || (link.received === 0 && frame.s > link.done + 1)) {
      // Everything before the first seq we are sent was acknowledged earlier.
      link.done = Math.max(link.done ?? 0, frame.s - 1);
    }
    const count = frame.m.length;
    // Messages up to `done` and `received` were seen already (a retransmission).
    const from = Math.max(0, Math.max(link.done, link.received) + 1 - frame.s);
    if (from >= count) return;
    if (frame.x === undefined && link.ahead.size === 0) {
      link.received = frame.s + count - 1;
      this.#enqueue(link, frame, from, count);
      return;
    }
    // Gaps (messages the sender could not send) and messages completed out
    // of order split the frame into several runs.
    let start = from;
    for (let i = from; i < count; i++) {
      const seq = frame.s + i;
      const gap = frame.x?.[i]?.g === 1;
      if (!gap && !link.ahead.has(seq) && seq > link.done) continue;
      this.#enqueue(link, frame, start, i);
      start = i + 1;
      if (seq > link.received) link.received = seq;
      if (gap && seq > link.done) complete(link, seq);
    }
    link.received = Math.max(link.received, frame.s + count - 1);
    this.#enqueue(link, frame, start, count);
  }

  #enqueue(link: InboundLink, frame: BatchFrame, from: number, to: number): void {
    if (to <= from) return;
    const removed = this.#inbox.offer(link, frame, from, to);
    if (!removed) return;
    const inbox = this.#inbox;
    const error = toErrorInfo(new MailboxFullError(this.#path, inbox.capacity), { stack: false });
    if (inbox.overflow === "reject") {
      const seqs: number[] = [];
      const asks: number[] = [];
      for (const { index } of removed) {
        const seq = frame.s + index;
        complete(link, seq);
        seqs.push(seq);
        const ask = askIdOf(frame, index);
        if (ask !== undefined) asks.push(ask);
      }
      link.port.postMessage({ k: "x", seqs, asks, e: error } satisfies LinkReply);
      this.#post({
        k: "dropped",
        key: link.key,
        from: link.from,
        seq: seqs[0]!,
        policy: `reject:${seqs.length}`,
      });
      return;
    }
    for (const slot of removed) {
      const seq = slot.frame.s + slot.index;
      complete(slot.link, seq);
      this.#post({
        k: "dropped",
        key: slot.link.key,
        from: slot.link.from,
        seq,
        policy: inbox.overflow,
      });
      const ask = askIdOf(slot.frame, slot.index);
      if (ask !== undefined) sendReply(slot.link, ask, false, error);
    }
  }

  /**
   * The cursor of every link (open ones saved first): what a snapshot covers.
   *
   * @returns The cursors by link key, live: copy them to keep them.
   */
  cursors(): ReadonlyMap<string, number> {
    for (const link of this.#links.values()) this.#saveCursor(link);
    return this.#cursors;
  }

  // A link's `done` is its live cursor; `#cursors` catches up on demand.
  #saveCursor(link: InboundLink): void {
    if (link.done !== undefined) this.#cursors.set(link.key, link.done);
  }

  /** Acknowledges on every open link what is complete and not yet acknowledged. */
  ackCompleted(): void {
    for (const link of this.#links.values()) {
      if (link.done !== undefined && link.done > link.ackSent) acknowledge(link, link.done);
    }
  }

  /** Acknowledges on every open link what `cursors` (those of a stored snapshot) cover. */
  ackCovered(cursors: ReadonlyMap<string, number>): void {
    for (const [key, upTo] of cursors) {
      const link = this.#links.get(key);
      if (link && upTo > link.ackSent) acknowledge(link, upTo);
    }
  }

  /**
   * Whether every message sent before a stop (as the host saw it) arrived.
   *
   * @param expect Per link key, the last seq sent before the stop.
   */
  arrived(expect: Record<string, number>): boolean {
    for (const [key, seq] of Object.entries(expect)) {
      const link = this.#links.get(key);
      if (link && link.received < seq && (link.done ?? 0) < seq) return false;
    }
    return true;
  }

  /** Closes every link (the runtime is discarded). */
  dispose(): void {
    for (const link of this.#links.values()) link.port.close();
    this.#links.clear();
  }
}

/** Marks `seq` of `link` complete, moving its cursor over what is complete. */
export function complete(link: InboundLink, seq: number): void {
  if (link.done === undefined) link.done = seq - 1;
  if (seq === link.done + 1) {
    link.done = seq;
    if (link.ahead.size > 0) { while (link.ahead.delete(link.done + 1)) link.done++; }
  } else if (seq > link.done) {
    link.ahead.add(seq);
  }
}

/** Records an acknowledgement and publishes it in the link's shared word. */
export function recordAck(link: InboundLink, upTo: number): void {
  link.ackSent = upTo;
  if (link.acks) Atomics.store(link.acks, 0, upTo | 0);
}

function acknowledge(link: InboundLink, upTo: number): void {
  recordAck(link, upTo);
  link.port.postMessage({ k: "a", upTo } satisfies LinkReply);
}

/**
 * Answers ask `ask` on `link`: with `value` when `ok`, else with the
 * `ErrorInfo` `value`; a value that cannot be cloned fails the ask instead.
 * `upTo` acknowledges with the reply (one message back, not two).
 */
export function sendReply(
  link: InboundLink,
  ask: number,
  ok: boolean,
  value: unknown,
  upTo?: number,
): void {
  const reply: LinkReply = ok
    ? { k: "r", a: ask, ok: true, v: value }
    : { k: "r", a: ask, ok: false, e: value as ErrorInfo };
  if (upTo !== undefined && upTo > link.ackSent) reply.upTo = upTo;
  try {
    link.port.postMessage(reply);
  } catch (error) {
    const info = toErrorInfo(new MessageNotCloneableError(link.from, { cause: error }));
    const failure: LinkReply = { k: "r", a: ask, ok: false, e: info };
    if (reply.upTo !== undefined) failure.upTo = reply.upTo;
    link.port.postMessage(failure);
  }
}
