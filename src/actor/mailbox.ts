/**
 * An actor's mailbox: a FIFO ring buffer, optionally bounded, with a defined
 * overflow behaviour.
 *
 * @example
 * ```ts
 * import { Mailbox } from "./mailbox.ts";
 * const box = new Mailbox<number>({ capacity: 2, overflow: "drop-oldest" });
 * box.offer(1); box.offer(2);
 * const result = box.offer(3);
 * console.assert(result.accepted && result.dropped === 1 && box.shift() === 2);
 * ```
 *
 * @module
 */

/** What a full mailbox does with one more message. */
export type OverflowPolicy = "reject" | "drop-newest" | "drop-oldest";

/** Mailbox options. */
export interface MailboxOptions {
  /** Maximum queued messages. @default {Infinity} */
  capacity?: number;
  /** Behaviour when full. @default {"reject"} */
  overflow?: OverflowPolicy;
}

/** Outcome of {@linkcode Mailbox.offer}. */
export interface OfferResult<T> {
  /** Whether the offered item is now queued. */
  accepted: boolean;
  /** The item that was pushed out (`drop-oldest`) or refused. */
  dropped?: T;
}

/** FIFO queue with an overflow policy. */
export class Mailbox<T> {
  #items: (T | undefined)[] = new Array(16);
  #head = 0;
  #size = 0;
  readonly capacity: number;
  readonly overflow: OverflowPolicy;

  /**
   * @param options Capacity and overflow policy.
   * @throws {RangeError} When `capacity` is not a positive integer or Infinity.
   */
  constructor(options: MailboxOptions = {}) {
    const capacity = options.capacity ?? Infinity;
    if (capacity !== Infinity && (!Number.isInteger(capacity) || capacity < 1)) {
      throw new RangeError(`Invalid mailbox capacity ${capacity}: expected a positive integer`);
    }
    this.capacity = capacity;
    this.overflow = options.overflow ?? "reject";
  }

  /** Queued messages. */
  get length(): number {
    return this.#size;
  }

  /**
   * Queues an item, applying the overflow policy when full.
   *
   * @param item The item.
   * @returns Whether it was accepted and what was dropped.
   */
  offer(item: T): OfferResult<T> {
    if (this.#size >= this.capacity) {
      if (this.overflow === "drop-oldest") {
        const dropped = this.shift() as T;
        this.#push(item);
        return { accepted: true, dropped };
      }
      return { accepted: false, dropped: item };
    }
    this.#push(item);
    return { accepted: true };
  }

  /** Removes and returns the oldest item. */
  shift(): T | undefined {
    if (this.#size === 0) return undefined;
    const item = this.#items[this.#head];
    this.#items[this.#head] = undefined;
    this.#head = (this.#head + 1) & (this.#items.length - 1);
    this.#size--;
    return item;
  }

  /** Returns the oldest item without removing it. */
  peek(): T | undefined {
    return this.#size === 0 ? undefined : this.#items[this.#head];
  }

  /** Removes every item and returns them in order. */
  drain(): T[] {
    const out: T[] = [];
    while (this.#size > 0) out.push(this.shift() as T);
    return out;
  }

  #push(item: T): void {
    if (this.#size === this.#items.length) this.#grow();
    this.#items[(this.#head + this.#size) & (this.#items.length - 1)] = item;
    this.#size++;
  }

  #grow(): void {
    const next: (T | undefined)[] = new Array(this.#items.length * 2);
    for (let i = 0; i < this.#size; i++) {
      next[i] = this.#items[(this.#head + i) & (this.#items.length - 1)];
    }
    this.#items = next;
    this.#head = 0;
  }
}
