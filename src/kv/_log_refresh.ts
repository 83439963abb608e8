/**
 * Keeps a log's entries in Deno KV for longer. Every entry of a generation is
 * written with an expiry (`expireIn`) no earlier than `k`, the time its last
 * event's header carries, and a log may only expire (`x`) a margin before
 * `k`. An append that would push `x` past that is preceded by this rewrite:
 * every event (with `k` updated in its header), its parts, its index keys,
 * the listing key and the fence record get the later expiry. Entries are
 * written with twice the retention, so a log is rewritten at most once per
 * retention of continued appends (never, for logs that stop appending within
 * their retention, the usual case).
 *
 * @module
 */
import { _rewriteParts } from "./_chunks.ts";
import {
  _HEADER_BYTES,
  _LITTLE_ENDIAN,
  type _LogHead,
  type _LogKeys,
  _partsOf,
} from "./_event_log.ts";
import { _checkRecord } from "./_fence_record.ts";
import type { _KvClient } from "./_kv_client.ts";
import { _keySize, MAX_BATCH_BYTES, MAX_KEY_BYTES, MAX_MUTATIONS } from "./_limits.ts";

/**
 * Rewrites the entries of generation `gen` of a log so that Deno KV keeps
 * them until `until` (store clock) at least.
 *
 * @internal
 */
export async function _refreshLog(
  client: _KvClient,
  keys: _LogKeys,
  target: { executionId: string; gen: number; head: _LogHead | undefined; until: number },
): Promise<void> {
  const { executionId, gen, head, until } = target;
  const operation = `appendEvent("${executionId}"): keep the log longer`;
  const expireIn = () => Math.max(1, Math.ceil(until - client.clock.now()));
  const view = (value: Uint8Array) =>
    new DataView(value.buffer, value.byteOffset, value.byteLength);
  // Events (with their parts) and index keys: written once, so rewritten without checks.
  for (const prefix of [[...keys.events(executionId), gen], keys.indexKeys(executionId, gen)]) {
    const entries = await client.run(operation, async (kv) => {
      const out: Deno.KvEntry<unknown>[] = [];
      for await (const entry of kv.list<unknown>({ prefix })) out.push(entry);
      return out;
    });
    let at = 0;
    while (at < entries.length) {
      let mutations = 0, keyBytes = 0, bytes = 0, end = at;
      for (; end < entries.length && mutations < MAX_MUTATIONS; end++) {
        const entry = entries[end]!;
        const size = _keySize(entry.key);
        const length = entry.value instanceof Uint8Array ? entry.value.length : 16;
        if (keyBytes + size > MAX_KEY_BYTES || bytes + size + length > MAX_BATCH_BYTES) break;
        mutations++;
        keyBytes += size;
        bytes += size + length;
      }
      const chunk = entries.slice(at, end);
      for (const entry of chunk) {
        const parts = entry.value instanceof Uint8Array ? _partsOf(entry.value) : undefined;
        if (parts) {
          await _rewriteParts(client, keys.parts(executionId, parts.b), {
            operation,
            expireIn: expireIn(),
          });
        }
      }
      await client.run(operation, async (kv) => {
        const atomic = kv.atomic();
        for (const entry of chunk) {
          let value = entry.value;
          if (value instanceof Uint8Array && value.length >= _HEADER_BYTES) {
            value = value.slice();
            view(value as Uint8Array).setFloat64(10, until, _LITTLE_ENDIAN);
          }
          atomic.set(entry.key, value, { expireIn: expireIn() });
        }
        await atomic.commit();
      });
      at = end;
    }
  }
  if (head && head.i > 0) {
    await client.run(
      operation,
      (kv) => kv.set(keys.listing(head.i, executionId), null, { expireIn: expireIn() }),
    );
  }
  // The fence record may change meanwhile (a claim renewed): checked.
  const where = `Deno KV "${client.where}" fence of "${executionId}"`;
  for (;;) {
    const done = await client.run(operation, async (kv) => {
      const entry = await kv.get<unknown>(keys.fence(executionId));
      const record = _checkRecord(entry.value, where);
      if (!record || record.g !== gen || record.k >= until) return true;
      const result = await kv.atomic()
        .check(entry)
        .set(keys.fence(executionId), { ...record, k: until }, { expireIn: expireIn() })
        .commit();
      return result.ok;
    });
    if (done) return;
  }
}
