/**
 * The executions index of `KvEventStore` (see `execution_index.ts`): one
 * entry per execution, `[p, "xi", <createdAt>, <executionId>]` → its status,
 * agent, waitingFor, expiry, update time and seq, written by the commit that
 * appends its event (`_append_committer.ts`); and `[p, "xr", <executionId>]`
 * → its `createdAt` and expiry, so that a later status change rewrites the
 * same entry. Both carry an `expireIn` past the entry's expiry; Deno KV's
 * deletion is best-effort, so queries compare the expiry with the clock.
 *
 * A query is one reverse listing of the entries from the cursor (or the
 * `createdBefore` bound) down to `createdAfter`, filtered as it goes,
 * examining at most `_SCAN_BUDGET` entries.
 *
 * @module
 */
import type { ExecutionPage, IndexedExecution } from "../events/execution_index.ts";
import { _encodeCursor, _matches, type _Query, _SCAN_BUDGET } from "../events/_index_codec.ts";
import type { _LogKeys } from "./_event_log.ts";
import type { _KvClient } from "./_kv_client.ts";

/** The value of an entry. */
export interface _StatusValue {
  /** Status. */
  s: string;
  /** Agent. */
  a: string;
  /** What it waits for. */
  w?: string;
  /** Expiry, epoch ms. */
  x: number;
  /** Update time, epoch ms. */
  u: number;
  /** Seq of the event that wrote it. */
  q: number;
}

/** The value of an execution's reference to its entry. */
export interface _StatusRef {
  /** Its `createdAt`. */
  c: number;
  /** Its expiry, epoch ms. */
  x: number;
}

/**
 * Whether a reference read from the file is one (and alive at `now`).
 *
 * @internal
 */
export function _liveRef(value: unknown, now: number): _StatusRef | undefined {
  if (typeof value !== "object" || value === null) return undefined;
  const { c, x } = value as Partial<_StatusRef>;
  return typeof c === "number" && typeof x === "number" && x > now ? { c, x } : undefined;
}

/**
 * A page of the executions index.
 *
 * @internal
 */
export async function _queryStatusIndex(
  client: _KvClient,
  request: { keys: _LogKeys; query: _Query },
): Promise<ExecutionPage> {
  const { keys, query } = request;
  const prefix = keys.statusEntries();
  if (query.after >= query.before || (query.cursor && query.cursor.c < query.after)) {
    return { executions: [] };
  }
  return await client.run("queryExecutions()", async (kv) => {
    const now = client.clock.now();
    // Entries before the cursor (exclusive) or createdBefore, from createdAfter on.
    const end = query.cursor && query.cursor.c < query.before
      ? keys.statusEntry(query.cursor.c, query.cursor.id)
      : query.before === Infinity
      ? undefined
      : [...prefix, query.before];
    const start = query.after === -Infinity ? undefined : [...prefix, query.after];
    const selector: Deno.KvListSelector = start && end
      ? { start, end }
      : start
      ? { prefix, start }
      : end
      ? { prefix, end }
      : { prefix };
    const executions: IndexedExecution[] = [];
    let examined = 0;
    let last: { c: number; id: string } | undefined;
    for await (
      const item of kv.list<_StatusValue>(selector, {
        reverse: true,
        batchSize: Math.min(500, query.limit * 2 + 10),
      })
    ) {
      const [, , c, id] = item.key;
      if (typeof c !== "number" || typeof id !== "string") continue;
      if (executions.length >= query.limit || examined >= _SCAN_BUDGET) {
        return { executions, nextCursor: _encodeCursor(last!) };
      }
      examined++;
      last = { c, id };
      const value = item.value;
      if (typeof value !== "object" || value === null || !(value.x > now)) continue;
      const entry: IndexedExecution = {
        executionId: id,
        status: value.s,
        agent: value.a,
        createdAt: c,
        updatedAt: value.u,
      };
      if (value.w !== undefined) entry.waitingFor = value.w;
      if (_matches(entry, query)) executions.push(entry);
    }
    return { executions };
  });
}
