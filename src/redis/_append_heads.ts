/**
 * What a `RedisEventStore` remembers about the logs it appends to: the last
 * sequence number it knows, when it last set the expiry, and whether appends
 * are in flight. This is what lets an append skip the script (see
 * `_fast_appends.ts`): the store proposes the next sequence number itself and
 * Redis accepts it only if it is still free.
 *
 * A head is trusted for a direct append only when
 * - it was learned in the current connection generation (no reconnection or
 *   transient failure since: Redis may have restarted or failed over and lost
 *   the latest writes),
 * - it was learned less than {@linkcode TRUST_MS} ago, and
 * - by what the store itself set, the log cannot have expired yet.
 *
 * A stale head is harmless in most cases: another writer's append makes the
 * proposed id collide, a vanished log makes `XADD NOMKSTREAM` refuse, and
 * either sends the append down the script path. The one case it cannot see is
 * a log that expired and was started again with fewer events in between; the
 * bounds above exclude it unless another writer appends with an `expire`
 * shorter than the time since this store's last append (at most
 * `TRUST_MS`).
 *
 * @module
 */

/** How long a learned sequence number is trusted for a direct append (ms). */
export const TRUST_MS = 5_000;
/** A log must be known to live at least this much longer for a direct append (ms). */
const MARGIN_MS = 100;
/** Most heads remembered; the oldest idle ones are forgotten first. */
const MAX_HEADS = 10_000;

/** What a store knows about one log. */
export interface _Head<P = unknown> {
  /** The execution. */
  executionId: string;
  /** Its events stream key. */
  events: string;
  /** Its meta hash key. */
  meta: string;
  /** Appends issued in the current tick, not routed yet. */
  tick: P[] | undefined;
  /** The last sequence number known; 0 when unknown. */
  seq: number;
  /** The connection generation in which `seq` was learned. */
  generation: number;
  /** When the operation that learned `seq` was sent (store clock, ms). */
  knownAt: number;
  /** When the operation that last set the expiry was sent (store clock, ms). */
  renewedAt: number;
  /** The retention that operation set (ms); 0 when unknown. */
  ttlMs: number;
  /** True when set by `PEXPIRE` (exact), false when by the script (within tolerance). */
  exact: boolean;
  /** Appends of this store in flight for the log. */
  busy: number;
  /** Set once the store saw a fencing token or registered a fence for the log. */
  fenced: boolean;
  /** The last executions-index score this store sent for the log. */
  indexed: number;
}

/**
 * The renewal tolerance of a retention: an expiry within it of the target
 * is left alone (1 % or 1 s, whichever is less).
 *
 * @param ttlMs The retention in ms.
 * @returns The tolerance in ms.
 */
export function _tolerance(ttlMs: number): number {
  return Math.min(1000, ttlMs / 100);
}

/** @internal The heads of the logs a store touched, bounded. */
export class _AppendHeads<P = unknown> {
  #heads = new Map<string, _Head<P>>();
  #tag: (executionId: string) => string;

  /**
   * @param tag The hash-tagged key prefix of an execution, `<prefix>{<id>}`.
   */
  constructor(tag: (executionId: string) => string) {
    this.#tag = tag;
  }

  /**
   * The head of a log, created empty on first use.
   *
   * @param executionId The execution.
   * @returns Its head.
   */
  get(executionId: string): _Head<P> {
    let head = this.#heads.get(executionId);
    if (head) return head;
    const tag = this.#tag(executionId);
    head = {
      executionId,
      events: `${tag}:events`,
      meta: `${tag}:meta`,
      tick: undefined,
      seq: 0,
      generation: -1,
      knownAt: 0,
      renewedAt: 0,
      ttlMs: 0,
      exact: false,
      busy: 0,
      fenced: false,
      indexed: 0,
    };
    this.#heads.set(executionId, head);
    if (this.#heads.size > MAX_HEADS) this.#evict();
    return head;
  }

  /**
   * Whether an append may propose `head.seq + 1` directly.
   *
   * @param head The head.
   * @param now The store clock.
   * @param generation The current connection generation.
   * @returns True when trusted.
   */
  trusted(head: _Head<P>, now: number, generation: number): boolean {
    if (head.seq === 0 || head.generation !== generation || head.ttlMs === 0) return false;
    if (now - head.knownAt >= TRUST_MS) return false;
    const floor = head.renewedAt + head.ttlMs - (head.exact ? 0 : _tolerance(head.ttlMs));
    return now + MARGIN_MS < floor;
  }

  /**
   * Whether an append with retention `ttlMs` must set the expiry: unless this
   * store set exactly that retention less than half the tolerance ago.
   *
   * @param head The head.
   * @param now The store clock.
   * @param ttlMs The append's retention.
   * @returns True when the expiry must be set.
   */
  mustRenew(head: _Head<P>, now: number, ttlMs: number): boolean {
    return !(head.exact && head.ttlMs === ttlMs && now - head.renewedAt < _tolerance(ttlMs) / 2);
  }

  /**
   * Records a sequence number learned from Redis.
   *
   * @param head The head.
   * @param seq The sequence number of an event now stored.
   * @param generation The generation in which the operation was sent.
   * @param sentAt When it was sent.
   */
  learn(head: _Head<P>, seq: number, generation: number, sentAt: number): void {
    if (head.generation === generation && seq <= head.seq) return;
    head.seq = seq;
    head.generation = generation;
    head.knownAt = sentAt;
  }

  /**
   * Records an expiry set (or checked) by an operation sent at `sentAt`.
   *
   * @param head The head.
   * @param ttlMs The retention.
   * @param sentAt When the operation was sent.
   * @param exact True for `PEXPIRE`, false for the script (within tolerance).
   */
  renewed(head: _Head<P>, ttlMs: number, sentAt: number, exact: boolean): void {
    head.renewedAt = sentAt;
    head.ttlMs = ttlMs;
    head.exact = exact;
  }

  /** Forgets every head (close). */
  clear(): void {
    this.#heads.clear();
  }

  #evict(): void {
    for (const [executionId, head] of this.#heads) {
      if (head.busy > 0 || head.tick) continue;
      this.#heads.delete(executionId);
      return;
    }
  }
}
