/**
 * Write lanes: the connections a store's group commit sends its batches on
 * (`_group_commit.ts`), so that Redis runs one batch while the caller builds
 * the next.
 *
 * ## Why more than one connection
 * Deno's socket holds a write while the one before it is in flight, until
 * the event loop turns. A caller that issues a burst of writes in one
 * synchronous run (actors passivating, a bench round of 2,000 saves) fills
 * a 512-write batch, sends it, and fills the next: on one connection that
 * next batch waits for the end of the burst, and Redis, done with the first,
 * sits idle meanwhile. On a second connection it leaves at once. Measured on
 * the snapshot save path (2,000 saves a round, 20 interleaved rounds of each
 * in one process, ratio to pipelined raw `SET`s, three runs): one lane
 * 0.70-0.80, four 0.89-0.99.
 *
 * ## Order
 * A write names an order key (a snapshot's key). While a batch holding that
 * key is in flight on a lane, every later write of the key joins a batch on
 * the same lane, so the writes of one key apply in the order they were
 * issued, as on one connection; after a batch that gave up (a timeout: an
 * attempt may still be queued on its connection), until a `PING` sent after
 * it is answered. Writes of different keys have no order between them, nor
 * a write and a read or delete of its key sent on another lane before the
 * write settled: a caller that needs an order awaits the first.
 *
 * ## Connections
 * Lane 0 is the store's connection. The others are opened on demand, the
 * first time every open lane has a batch in flight when another is ready,
 * and kept until the store closes (`_StoreClient.openLane`; copies of the
 * client when the store borrows one). A lane that is not ready takes no new
 * batch; one that has a pinned key still takes that key's writes, which wait
 * for it to reconnect or fail like any write on a lost connection.
 *
 * @module
 */
import type { RedisClient } from "./connection.ts";
import type { _StoreClient } from "./_store_client.ts";

/** How long after a failed attempt no other lane is opened, in ms. */
const RETRY_OPEN_MS = 5_000;

/** @internal Chooses the connection of each batch. */
export class _WriteLanes {
  #redis: _StoreClient;
  #max: number;
  #extra: RedisClient[] = [];
  #opening = false;
  #retryAt = 0;
  #inFlight: number[] = [0];
  #pins = new Map<string, { lane: number; writes: number }>();

  /**
   * @param redis The store's client (opens the extra lanes).
   * @param max Most lanes, the store's connection included (≥ 1).
   */
  constructor(redis: _StoreClient, max: number) {
    this.#redis = redis;
    this.#max = max;
  }

  /** The number of lanes open, the store's connection included. */
  get open(): number {
    return 1 + this.#extra.length;
  }

  /**
   * The lane a write of `order` must join: the lane where a write of it is
   * in flight or queued, else `undefined`.
   */
  pinned(order: string): number | undefined {
    return this.#pins.get(order)?.lane;
  }

  /**
   * The ready lane with the fewest batches in flight (the store's own on a
   * tie). When every open lane is busy and fewer than the most are open,
   * one more is opened for the batches to come.
   */
  free(): number {
    let best = 0;
    for (let lane = 1; lane <= this.#extra.length; lane++) {
      if (this.#extra[lane - 1]!.status !== "ready") continue;
      if (this.#inFlight[lane]! < this.#inFlight[best]!) best = lane;
    }
    if (this.#inFlight[best]! > 0) this.#grow();
    return best;
  }

  /**
   * The client of a lane.
   *
   * @param lane The lane.
   * @param main The store's connected client (lane 0).
   */
  client(lane: number, main: RedisClient): RedisClient {
    return lane === 0 ? main : this.#extra[lane - 1]!;
  }

  /** Records that a write of `order` joined a batch of `lane`. */
  pin(order: string, lane: number): void {
    const pin = this.#pins.get(order);
    if (pin) pin.writes++;
    else this.#pins.set(order, { lane, writes: 1 });
  }

  /** Records that a batch left on `lane`. */
  sent(lane: number): void {
    this.#inFlight[lane]!++;
  }

  /** Records that a batch of `lane` settled. */
  settled(lane: number): void {
    this.#inFlight[lane]!--;
  }

  /** Records that a write of `order` settled. */
  unpin(order: string): void {
    const pin = this.#pins.get(order);
    if (pin && --pin.writes === 0) this.#pins.delete(order);
  }

  #grow(): void {
    if (this.#opening || this.open >= this.#max || this.#redis.clock.now() < this.#retryAt) return;
    const opening = this.#redis.openLane();
    if (!opening) return;
    this.#opening = true;
    opening.then(
      (client) => {
        this.#opening = false;
        this.#extra.push(client);
        this.#inFlight.push(0);
      },
      () => {
        // Not opened (the store closed, or Redis is unreachable): the open
        // lanes carry on, and a busy moment after the pause tries again.
        this.#opening = false;
        this.#retryAt = this.#redis.clock.now() + RETRY_OPEN_MS;
      },
    );
  }
}
