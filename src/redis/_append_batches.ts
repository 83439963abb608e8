/**
 * The script path of the Redis event store's appends: one batch of the
 * group commit (`_group_commit.ts`) is one call of the `append` script of
 * `_batch_scripts.ts`. This module builds the call (keys and ARGV) and reads
 * its reply, one line per append: the seq it was stored at, `F<fence>` when
 * its fencing token was older than the registered one, `C<seq>` when the
 * log's last seq was not its `expectedSeq`, or `E<error>`.
 *
 * On a standalone server a batch may hold the appends of any executions, and
 * the script updates the executions indexes itself; on a Cluster a batch is
 * one execution, and the indexes (in another slot) are written apart (see
 * `_index_writes.ts`).
 *
 * @module
 */
import { getLogger } from "@logtape/logtape";
import type { StoredEvent } from "../events/event_store.ts";
import type { RedisClient } from "./connection.ts";
import type { _Batch } from "./_group_commit.ts";
import { _BATCH_SCRIPTS, _replyError, _runBatchScript } from "./_batch_scripts.ts";
import type { _StoreClient } from "./_store_client.ts";
import type { _AppendHeads, _Head } from "./_append_heads.ts";
import type { _FastAppend } from "./_fast_appends.ts";
import { type _IndexedAppend, _indexFields, type _IndexWrites } from "./_index_writes.ts";
import { _executionTag } from "./_event_keys.ts";

const logger = getLogger(["oao", "redis"]);

/**
 * One append, from the call to its outcome: routed at the end of its tick,
 * then sent directly (see `_fast_appends.ts`, which reads its `_FastAppend`
 * fields) or through the group-commit script.
 */
export interface _Append extends _FastAppend, _IndexedAppend {
  fencingToken: number | undefined;
  /** Stored only when the log's last seq is this one (`AppendOptions.expectedSeq`). */
  expectedSeq: number | undefined;
  key: string | undefined;
  head: _Head<_Append>;
  /** The stored event, completed with its seq when the append succeeds. */
  record: StoredEvent;
  resolve(stored: StoredEvent): void;
  reject(error: unknown): void;
}

/**
 * What the script answered for one append: status (1 appended, -1 fenced,
 * -2 the log's last seq was not the expected one) and seq, fence or last seq.
 */
export type _AppendReply = [number, number];

/** What {@linkcode _AppendBatches} works with, beyond the store's client. */
export interface _AppendBatchesOptions {
  /** The store's heads, learned from the replies. */
  heads: _AppendHeads<_Append>;
  /** The store's index writes: their keys, and the writes themselves on a Cluster. */
  indexWrites: _IndexWrites;
  /** The store's retention (ms): appends with another carry theirs. */
  ttlMs: number;
}

/** @internal Sends the event store's script batches. */
export class _AppendBatches {
  #redis: _StoreClient;
  #options: _AppendBatchesOptions;

  /**
   * @param redis The store's client.
   * @param options Heads, index writes and retention.
   */
  constructor(redis: _StoreClient, options: _AppendBatchesOptions) {
    this.#redis = redis;
    this.#options = options;
  }

  /**
   * Sends one batch of appends as one script call. On a Cluster (a batch is
   * one execution) the executions index is updated apart, in another slot.
   *
   * @param client The connected client.
   * @param items The appends.
   * @param batch The batch's identity across attempts.
   * @returns One outcome per append, in order.
   */
  async send(
    client: RedisClient,
    items: _Append[],
    batch: _Batch,
  ): Promise<(_AppendReply | Error)[]> {
    const byExecution = new Map<string, number[]>();
    let score = 0;
    items.forEach((item, i) => {
      const positions = byExecution.get(item.executionId);
      if (positions) positions.push(i);
      else byExecution.set(item.executionId, [i]);
      if (item.time > score) score = item.time;
    });
    const { indexWrites, ttlMs } = this.#options;
    const withIndex = !client.isCluster;
    const tag = _executionTag(this.#redis.prefix, items[0]!.executionId);
    const keys = [`${tag}:batch:${batch.id}`];
    if (withIndex) keys.push(indexWrites.key);
    let indexed = 0;
    for (const item of items) if (item.index) indexed++;
    const args: (string | number)[] = [
      batch.recordMs,
      batch.lookup ? 1 : 0,
      withIndex ? 1 : 0,
      score,
      ttlMs,
      withIndex ? indexed : 0,
      indexWrites.base,
    ];
    const order: number[] = [];
    for (const [executionId, positions] of byExecution) {
      const { events, meta } = items[positions[0]!]!;
      keys.push(events, meta);
      args.push(executionId, positions.length);
      for (const i of positions) {
        const item = items[i]!;
        const plain = item.ttlMs === ttlMs && item.fencingToken === undefined &&
          item.expectedSeq === undefined && item.key === undefined;
        args.push(
          item.json,
          plain
            ? ""
            : `${item.ttlMs === ttlMs ? "" : item.ttlMs},${item.fencingToken ?? ""},${
              item.expectedSeq ?? ""
            },${item.key ?? ""}`,
        );
        order.push(i);
      }
    }
    if (withIndex && indexed > 0) {
      order.forEach((i, n) => {
        const item = items[i]!;
        if (item.index) args.push(n + 1, item.executionId, ..._indexFields(item));
      });
    }
    const touched = withIndex ? undefined : indexWrites.touchCluster(byExecution.keys(), score);
    const reply = await _runBatchScript(client, _BATCH_SCRIPTS.append, keys, args);
    await touched;
    if (reply[0]) {
      logger.warn("Cannot update the executions index for {ids}: {error}", {
        ids: [...byExecution.keys()],
        error: String(reply[0]),
      });
    }
    const outcomes: (_AppendReply | Error)[] = new Array(items.length);
    order.forEach((i, n) => {
      const line = reply[1 + n] ?? "";
      const kind = line.charCodeAt(0);
      outcomes[i] = kind === 70 // "F"
        ? [-1, Number(line.slice(1))]
        : kind === 67 // "C"
        ? [-2, Number(line.slice(1))]
        : kind === 69 // "E"
        ? _replyError(line.slice(1))
        : [1, Number(line)];
    });
    this.#learn(items, byExecution, outcomes, batch, withIndex ? score : 0);
    if (!withIndex && indexed > 0) await indexWrites.putStatus(items, outcomes, score);
    return outcomes;
  }

  /**
   * Updates the heads from a script's reply: the last event stored per
   * execution gives its seq, and the expiry is within tolerance of its
   * retention as of the first attempt.
   */
  #learn(
    items: _Append[],
    byExecution: Map<string, number[]>,
    outcomes: (_AppendReply | Error)[],
    batch: _Batch,
    score: number,
  ): void {
    const { heads } = this.#options;
    for (const positions of byExecution.values()) {
      const { head } = items[positions[0]!]!;
      let last: number | undefined;
      for (const i of positions) {
        const outcome = outcomes[i]!;
        if (outcome instanceof Error) {
          last = undefined;
          break;
        }
        if (outcome[0] === 1) last = i;
      }
      if (last === undefined) {
        head.seq = 0;
        continue;
      }
      heads.learn(head, (outcomes[last] as _AppendReply)[1], batch.generation, batch.sentAt);
      heads.renewed(head, items[last]!.ttlMs, batch.sentAt, false);
      if (score > head.indexed) head.indexed = score;
    }
  }
}
