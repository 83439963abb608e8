/**
 * `KvEventStore.listExecutions`: the executions listing of a store is one
 * key per log, `[p, "ex", <time>, <executionId>]`, ordered by time. An append
 * moves its log's key only when its time is `LISTING_LAG_MS` (30 s) or more
 * past the key's (see `_append_committer.ts`), so that an execution appending
 * steadily costs one write per event, not three. A log's last append is
 * therefore less than `LISTING_LAG_MS` after its key, and its exact time is in
 * its last event's header: listing walks the keys from the newest, reads each
 * log's head (skipping dead logs), and stops once it holds `limit` logs that
 * no later key can outrank. Keys of dead logs, and second keys of one log
 * (left by two writers moving it at once), are deleted on the way (each with
 * a versionstamp check, so a key just rewritten stays).
 *
 * @module
 */
import { LISTING_LAG_MS } from "./_append_committer.ts";
import { type _LogKeys, _readLast } from "./_event_log.ts";
import { _alive } from "./_fence_record.ts";
import type { _KvClient } from "./_kv_client.ts";
import { MAX_CHECKS } from "./_limits.ts";

const PAGE = 64;

/**
 * Ids of executions with a live log, most recently appended first.
 *
 * @internal
 */
export async function _listExecutions(
  client: _KvClient,
  listing: { keys: _LogKeys; limit: number },
): Promise<string[]> {
  const { keys, limit } = listing;
  if (limit === 0) return [];
  const found: { id: string; t: number }[] = [];
  const seen = new Set<string>();
  const prune: Deno.KvEntry<unknown>[] = [];
  await client.run("listExecutions()", async (kv) => {
    found.length = 0;
    seen.clear();
    prune.length = 0;
    let page: Deno.KvEntry<unknown>[] = [];
    const settle = async () => {
      const fresh = page.filter((entry) => {
        const id = entry.key[3] as string;
        if (seen.has(id)) {
          prune.push(entry);
          return false;
        }
        seen.add(id);
        return true;
      });
      page = [];
      const heads = await Promise.all(
        fresh.map((entry) => _readLast(kv, { keys, executionId: entry.key[3] as string })),
      );
      const now = client.clock.now();
      fresh.forEach((entry, n) => {
        const head = heads[n]?.head;
        if (_alive(head, now)) found.push({ id: entry.key[3] as string, t: head.t });
        else prune.push(entry);
      });
      found.sort((a, b) => b.t - a.t || (a.id < b.id ? 1 : a.id > b.id ? -1 : 0));
    };
    for await (
      const entry of kv.list<unknown>({ prefix: keys.listings() }, {
        reverse: true,
        batchSize: PAGE,
      })
    ) {
      const time = entry.key[2];
      if (typeof time !== "number" || typeof entry.key[3] !== "string") continue;
      if (page.length >= PAGE) await settle();
      // No log behind this key (or any older one) was appended after time + lag.
      if (found.length >= limit && found[limit - 1]!.t >= time + LISTING_LAG_MS) break;
      page.push(entry);
    }
    await settle();
  });
  await _prune(client, prune);
  return found.slice(0, limit).map((entry) => entry.id);
}

/** Deletes listing keys that name dead logs or a log twice; failures are left for next time. */
async function _prune(client: _KvClient, entries: Deno.KvEntry<unknown>[]): Promise<void> {
  for (let at = 0; at < entries.length; at += MAX_CHECKS) {
    const chunk = entries.slice(at, at + MAX_CHECKS);
    try {
      await client.run("listExecutions(): prune", async (kv) => {
        const atomic = kv.atomic();
        for (const entry of chunk) {
          atomic.check({ key: entry.key, versionstamp: entry.versionstamp }).delete(entry.key);
        }
        await atomic.commit();
      });
    } catch { /* pruned next time */ }
  }
}
