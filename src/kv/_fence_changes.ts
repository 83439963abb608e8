/**
 * Changes of fence records in `KvEventStore` (`fence`, `claim`, `renewClaim`,
 * `releaseClaim`), committed together: the changes queued while a commit runs
 * are read, decided and written in one atomic operation — one record per
 * execution, each written with a check of the versionstamp it was decided on —
 * between two commits of appends (`_AppendCommitter.exclusive`), so that the
 * log clock's bookkeeping stays exact.
 *
 * Why: every execution claims and releases its log, so with one commit per
 * change 100 concurrent executions made 200 commits for 40 commits of their
 * appends (measured: `bench/orchestrator_bench.ts`, Deno KV on disk).
 *
 * A record that cannot be decoded fails its change alone. When a batch's
 * commit fails a check (another writer changed a record or the log clock) or
 * the database fails, its changes are run again one at a time, so that only
 * the stale one retries and each caller gets its own error.
 *
 * @module
 */
import { CorruptDataError } from "../persistence/store_errors.ts";
import { type _LogKeys, _readLast } from "./_event_log.ts";
import type { _AppendCommitter } from "./_append_committer.ts";
import {
  _alive,
  _checkRecord,
  _current,
  type _FenceContext,
  type _FenceRecord,
  _nextGen,
} from "./_fence_record.ts";
import type { _KvClient } from "./_kv_client.ts";
import { MAX_CHECKS } from "./_limits.ts";

/** @internal One change: how to decide the new record, and the caller's promise. */
export interface _FenceChange<T = unknown> {
  executionId: string;
  /** For messages, e.g. `claim("exec-1")`. */
  operation: string;
  /** The record to write (`undefined`: nothing changes) and what the caller gets. */
  change: (ctx: _FenceContext) => { record: _FenceRecord | undefined; result: T };
}

interface _Queued {
  request: _FenceChange;
  resolve(result: unknown): void;
  reject(error: unknown): void;
}

/** What one change decided, read at one versionstamp (or why it cannot be decided). */
interface _Decision {
  queued: _Queued;
  result?: unknown;
  write?: { record: _FenceRecord; versionstamp: string | null; expireIn: number };
  /** The record cannot be decoded: this change fails, the others go on. */
  corrupt?: CorruptDataError;
}

/** @internal What the changes need from their store. */
export interface _FenceHost {
  client: _KvClient;
  keys: _LogKeys;
  committer: _AppendCommitter;
  /** The store's retention, ms. */
  ttlMs: number;
  /** The store, for messages (`Deno KV "<path>"`). */
  where(): string;
}

/** @internal Queues fence changes and commits them in batches. */
export class _FenceChanges {
  #host: _FenceHost;
  #queue: _Queued[] = [];
  #scheduled = false;

  constructor(host: _FenceHost) {
    this.#host = host;
  }

  /** Applies a change with the others queued meanwhile; resolves with its result. */
  change<T>(request: _FenceChange<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.#queue.push({ request, resolve: resolve as (result: unknown) => void, reject });
      this.#schedule();
    });
  }

  #schedule(): void {
    if (this.#scheduled) return;
    this.#scheduled = true;
    this.#host.committer.exclusive(() => this.#round()).catch(() => {});
  }

  /** One batch: the first queued change of each execution, within one commit's checks. */
  async #round(): Promise<void> {
    this.#scheduled = false;
    const batch: _Queued[] = [];
    const later: _Queued[] = [];
    const seen = new Set<string>();
    for (const queued of this.#queue) {
      const id = queued.request.executionId;
      // One check is the log clock's.
      if (seen.has(id) || batch.length >= MAX_CHECKS - 1) later.push(queued);
      else {
        seen.add(id);
        batch.push(queued);
      }
    }
    this.#queue = later;
    try {
      if (batch.length === 1 || !(await this.#attempt(batch).catch(() => false))) {
        for (const queued of batch) {
          try {
            while (!(await this.#attempt([queued])));
          } catch (error) {
            queued.reject(error);
          }
        }
      }
    } finally {
      if (this.#queue.length > 0) this.#schedule();
    }
  }

  /**
   * Reads, decides and commits the changes of `batch`. Settles them all and
   * returns `true` when committed; returns `false` (settling none) when a
   * check failed.
   */
  async #attempt(batch: _Queued[]): Promise<boolean> {
    const { client, keys, committer } = this.#host;
    const operation = batch.length === 1
      ? batch[0]!.request.operation
      : `${batch[0]!.request.operation} and ${batch.length - 1} more fence changes`;
    const outcome = await client.run(operation, async (kv) => {
      const decisions = await Promise.all(
        batch.map((queued) =>
          this.#decide(kv, queued).catch((error: unknown): _Decision => {
            if (error instanceof CorruptDataError) return { queued, corrupt: error };
            throw error;
          })
        ),
      );
      const writes = decisions.filter((d) => d.write !== undefined);
      if (writes.length === 0) return { decisions, versionstamp: undefined };
      const atomic = kv.atomic();
      for (const { queued: { request }, write } of writes) {
        const key = keys.fence(request.executionId);
        atomic.check({ key, versionstamp: write!.versionstamp });
        atomic.set(key, write!.record, { expireIn: write!.expireIn });
      }
      const stamp = committer.clock.stamp(atomic);
      const commit = await atomic.commit();
      committer.clock.settle(stamp, commit);
      return commit.ok ? { decisions, versionstamp: commit.versionstamp } : undefined;
    });
    if (!outcome) {
      for (const { request } of batch) committer.forget(request.executionId);
      return false;
    }
    for (const { queued, result, write, corrupt } of outcome.decisions) {
      if (corrupt) {
        queued.reject(corrupt);
        continue;
      }
      if (write) {
        committer.fenceWritten(queued.request.executionId, {
          value: write.record,
          versionstamp: outcome.versionstamp!,
        });
      }
      queued.resolve(result);
    }
    return true;
  }

  /** Reads an execution's head and record and decides its change. */
  async #decide(kv: Deno.Kv, queued: _Queued): Promise<_Decision> {
    const { client, keys, ttlMs, where } = this.#host;
    const { executionId } = queued.request;
    const [last, entry] = await Promise.all([
      _readLast(kv, { keys, executionId }),
      kv.get<unknown>(keys.fence(executionId)),
    ]);
    const now = client.clock.now();
    const stored = _checkRecord(entry.value, `${where()} fence of "${executionId}"`);
    const head = last?.head;
    const alive = _alive(head, now);
    const ctx: _FenceContext = {
      current: _current(stored, { head, now }),
      gen: alive ? head.g : _nextGen(head, { record: stored, now }),
      now,
      x: now + ttlMs,
    };
    const { record, result } = queued.request.change(ctx);
    if (!record) return { queued, result };
    // Kept as long as the log's entries will be: for a generation not started yet, as
    // long as its first append keeps them (`_AppendCommitter`: twice the retention),
    // so that the first append has no reason to rewrite the log.
    const logKeeps = alive && record.g === head.g ? head.k : now + 2 * ttlMs;
    record.k = Math.max(record.k, record.x, logKeeps);
    return {
      queued,
      result,
      write: {
        record,
        versionstamp: entry.versionstamp,
        expireIn: Math.max(1, Math.ceil(record.k - now)),
      },
    };
  }
}
