/**
 * How the appends of the Redis event store keep the executions indexes up to
 * date: `oao:executions` (ids by their last append, for `listExecutions`) and
 * the status index of `queryExecutions` (see `_index_scripts.ts`).
 *
 * The append script updates `oao:executions` itself (`ZADD GT`) on a
 * standalone server, and writes the status index entry of an indexed append
 * atomically with its event. Direct appends update `oao:executions` with one
 * `ZADD GT` for the tick, written before they resolve (so this store's later
 * commands follow it) and only when the score grows
 * ({@linkcode _IndexWrites.touchDirect}). On a Redis Cluster both indexes
 * live in another slot than the logs: `oao:executions` is updated by a
 * `ZADD GT` sent right after the scripts, one for the appends of a tick
 * ({@linkcode _IndexWrites.touchCluster}), and the status index entries by a
 * second script before the appends resolve
 * ({@linkcode _IndexWrites.putStatus}).
 *
 * At most once a minute, an append trims `oao:executions`
 * ({@linkcode _IndexWrites.trimIfDue}). None of these writes ever rejects:
 * a failure is logged, never reported as a failed append.
 *
 * @module
 */
import { getLogger } from "@logtape/logtape";
import type { ExecutionIndexEntry } from "../events/execution_index.ts";
import type { RedisClient } from "./connection.ts";
import type { _AppendHeads } from "./_append_heads.ts";
import { _sendIndex } from "./_fast_appends.ts";
import { _INDEX_SCRIPTS, _runIndexScript } from "./_index_scripts.ts";
import type { _StoreClient, _Target } from "./_store_client.ts";
import { _executionsKey, _statusIndexBase, _statusIndexKeys } from "./_event_keys.ts";

const logger = getLogger(["oao", "redis"]);
/** How often the executions index is trimmed, and how much older than the retention an id must be. */
const TRIM_EVERY_MS = 60_000;

/** What the index writes read of an append. */
export interface _IndexedAppend {
  /** The execution. */
  executionId: string;
  /** The status index entry the append writes, if any. */
  index: ExecutionIndexEntry | undefined;
  /** When the append was made (store clock, ms). */
  time: number;
  /** Retention in ms. */
  ttlMs: number;
}

/**
 * The fields of an append's status index entry, as the scripts take them.
 *
 * @param item An append with an `index` entry.
 * @returns Created, expires, updated, status, waiting for, agent, initial.
 */
export function _indexFields(
  item: _IndexedAppend,
): [number, number, number, string, string, string, number] {
  const index = item.index!;
  return [
    index.createdAt,
    item.time + item.ttlMs,
    item.time,
    index.status,
    index.waitingFor ?? "-",
    index.agent,
    index.initial ? 1 : 0,
  ];
}

/** @internal The index writes of one event store, and those still in flight. */
export class _IndexWrites {
  #redis: _StoreClient;
  #heads: _AppendHeads;
  #trimmedAt = -Infinity;
  #pending = new Map<string, number>();
  #flush: Promise<void> | undefined;
  #inflight = new Set<Promise<void>>();

  /**
   * @param redis The store's client.
   * @param heads The store's heads (a failed update clears their `indexed`).
   */
  constructor(redis: _StoreClient, heads: _AppendHeads) {
    this.#redis = redis;
    this.#heads = heads;
  }

  /** The key of `oao:executions`. */
  get key(): string {
    return _executionsKey(this.#redis.prefix);
  }

  /** The key base of the status index. */
  get base(): string {
    return _statusIndexBase(this.#redis.prefix);
  }

  /**
   * Removes from the executions index the ids whose last append is older
   * than the longest retention in use (their logs have expired), unless the
   * last trim was less than a minute ago. Never rejects: a failure is
   * logged, and the next trim catches up.
   *
   * @param now The store clock.
   * @param longestTtlMs The longest retention of the store's appends (ms).
   */
  trimIfDue(now: number, longestTtlMs: number): void {
    if (now - this.#trimmedAt < TRIM_EVERY_MS) return;
    this.#trimmedAt = now;
    const before = now - longestTtlMs - TRIM_EVERY_MS;
    this.#track(
      this.#redis.send(
        "executions index trim",
        (target) => target.zremrangebyscore(this.key, "-inf", `(${before}`),
      ),
      (error) => {
        logger.debug("Cannot trim the executions index: {error}", { error: _message(error) });
      },
    );
  }

  /**
   * Updates the executions index for direct appends (see `_sendIndex`).
   * Never rejects: a failure is logged (the events are stored; only the
   * listing may lag), and those executions are indexed again next time.
   *
   * @param client The connected standalone client.
   * @param members Score, execution id, score, execution id….
   */
  touchDirect(client: RedisClient, members: (string | number)[]): void {
    this.#track(_sendIndex(this.#redis, client, this.key, members), (error) => {
      const ids: string[] = [];
      for (let i = 1; i < members.length; i += 2) {
        const id = String(members[i]);
        ids.push(id);
        this.#heads.get(id).indexed = 0;
      }
      logger.warn("Cannot update the executions index for {ids}: {error}", {
        ids,
        error: _message(error),
      });
    });
  }

  /**
   * Records appends in the executions index of a Cluster (another slot than
   * the logs): the batches of one tick share one `ZADD GT`, issued right
   * after their scripts. Never rejects: a failure is logged (the events are
   * stored; only the listing may lag).
   *
   * @param executionIds The executions of a batch.
   * @param score The time of its last append.
   * @returns Once the update is answered (or failed).
   */
  touchCluster(executionIds: Iterable<string>, score: number): Promise<void> {
    for (const executionId of executionIds) {
      const previous = this.#pending.get(executionId);
      if (previous === undefined || score > previous) this.#pending.set(executionId, score);
    }
    if (this.#flush) return this.#flush;
    const batch = this.#pending;
    // Called when the command is issued: later appends of the tick are included.
    const issue = (target: _Target) => {
      if (this.#pending === batch) {
        this.#pending = new Map();
        this.#flush = undefined;
      }
      const args: (string | number)[] = [];
      for (const [id, s] of batch) args.push(s, id);
      return target.zadd(this.key, "GT", ...args);
    };
    const operation = "listExecutions index update";
    const sent = Promise.resolve().then(() => this.#redis.send(operation, issue));
    const flush = this.#track(sent, (error) => {
      logger.warn("Cannot update the executions index for {ids}: {error}", {
        ids: [...batch.keys()],
        error: _message(error),
      });
    }, () => {
      if (this.#pending === batch) { // never issued (no connection): start afresh
        this.#pending = new Map();
        this.#flush = undefined;
      }
    });
    this.#flush = flush;
    return flush;
  }

  /**
   * Writes the status index entries of stored appends on a Cluster (the
   * index is in another slot than the logs), before the appends resolve.
   * Never rejects: a failure is logged (the events are stored; the entry
   * keeps its previous state until the execution's next indexed append).
   *
   * @param items The appends of a batch.
   * @param outcomes Their outcomes: status (1 appended) and seq, or an error.
   * @param now The time of the batch's last append.
   * @returns Once written (or failed).
   */
  async putStatus(
    items: readonly _IndexedAppend[],
    outcomes: readonly (readonly [number, number] | Error)[],
    now: number,
  ): Promise<void> {
    const base = this.base;
    const args: (string | number)[] = [base, now];
    const ids: string[] = [];
    items.forEach((item, i) => {
      const outcome = outcomes[i]!;
      if (!item.index || outcome instanceof Error || outcome[0] !== 1) return;
      const [c, x, u, s, w, agent, initial] = _indexFields(item);
      args.push(item.executionId, c, x, u, outcome[1], s, w, agent, initial);
      ids.push(item.executionId);
    });
    if (ids.length === 0) return;
    try {
      await this.#redis.run(
        "executions index update",
        (target) =>
          _runIndexScript(
            target,
            _INDEX_SCRIPTS.put,
            _statusIndexKeys(base),
            args,
          ),
      );
    } catch (error) {
      logger.warn("Cannot update the status index for {ids}: {error}", {
        ids,
        error: _message(error),
      });
    }
  }

  /**
   * Waits for the index writes in flight (close).
   *
   * @returns Once they are all answered or failed.
   */
  async settle(): Promise<void> {
    await Promise.allSettled([...this.#inflight]);
  }

  /** Keeps `sent` in flight until it settles; `failed` logs its error. */
  #track(
    sent: Promise<unknown>,
    failed: (error: unknown) => void,
    settled?: () => void,
  ): Promise<void> {
    const done: Promise<void> = sent.then(() => {}, failed).finally(() => {
      this.#inflight.delete(done);
      settled?.();
    });
    this.#inflight.add(done);
    return done;
  }
}

function _message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
