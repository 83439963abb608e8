// The mailbox of an actor worker. Messages arrive in frames of up to 1,000;
// the inbox queues runs of consecutive messages of a frame rather than one
// object per message, counts messages against the capacity, and applies the
// overflow policy message by message. Internal.
import type { BatchFrame } from "../actor/_protocol.ts";
import { Mailbox, type OverflowPolicy } from "../actor/mailbox.ts";

/** Consecutive queued messages of one frame: indexes `next` to `end - 1`. */
export interface InboxRun<L> {
  link: L;
  frame: BatchFrame;
  next: number;
  end: number;
}

/** A message pushed out of the inbox (drop-oldest) or refused by it (reject, drop-newest). */
export interface InboxSlot<L> {
  link: L;
  frame: BatchFrame;
  index: number;
}

/** FIFO of frame runs with a capacity in messages. */
export class Inbox<L> {
  readonly capacity: number;
  readonly overflow: OverflowPolicy;
  #runs = new Mailbox<InboxRun<L>>();
  #length = 0;

  constructor(options: { capacity: number; overflow: OverflowPolicy }) {
    this.capacity = options.capacity;
    this.overflow = options.overflow;
  }

  /** Queued messages. */
  get length(): number {
    return this.#length;
  }

  /**
   * Queues messages `from` to `to - 1` of `frame`. When that exceeds the
   * capacity, returns the messages the overflow policy removed, in order:
   * the oldest queued ones (drop-oldest) or the newest offered ones.
   */
  offer(link: L, frame: BatchFrame, from: number, to: number): InboxSlot<L>[] | undefined {
    const room = this.capacity - this.#length;
    if (to - from <= room) {
      this.#push(link, frame, from, to);
      return undefined;
    }
    const removed: InboxSlot<L>[] = [];
    if (this.overflow === "drop-oldest") {
      this.#push(link, frame, from, to);
      while (this.#length > this.capacity) {
        const run = this.#runs.peek()!;
        removed.push({ link: run.link, frame: run.frame, index: this.take(run) });
      }
      return removed;
    }
    if (room > 0) this.#push(link, frame, from, from + room);
    for (let index = from + Math.max(room, 0); index < to; index++) {
      removed.push({ link, frame, index });
    }
    return removed;
  }

  /** The run holding the oldest message, if any. */
  peek(): InboxRun<L> | undefined {
    return this.#runs.peek();
  }

  /** Removes the oldest message, which `run` (from `peek`) holds; returns its frame index. */
  take(run: InboxRun<L>): number {
    const index = run.next++;
    this.#length--;
    if (run.next === run.end) this.#runs.shift();
    return index;
  }

  #push(link: L, frame: BatchFrame, from: number, to: number): void {
    if (to <= from) return;
    this.#runs.offer({ link, frame, next: from, end: to });
    this.#length += to - from;
  }
}
