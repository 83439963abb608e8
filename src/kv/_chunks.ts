/**
 * Values larger than one Deno KV value (64 KiB) stored in parts: the parts
 * live under keys of their own (`[...prefix, 0]`, `[...prefix, 1]`, …), named
 * after a random id, and are written before the entry that refers to them, in
 * commits that stay within the size of one atomic operation (800 KiB). Parts
 * are never changed once written, so they can be rewritten (with a new
 * expiry) or deleted without checks. Parts of an entry whose commit failed
 * are deleted, or expire with the expiry they were written with.
 *
 * @module
 */
import { CorruptDataError } from "../persistence/store_errors.ts";
import type { _KvClient } from "./_kv_client.ts";
import { _keySize, MAX_BATCH_BYTES, MAX_MUTATIONS, PART_BYTES } from "./_limits.ts";

/** @internal Splits bytes into parts of at most {@linkcode PART_BYTES}. */
export function _split(bytes: Uint8Array): Uint8Array[] {
  const parts: Uint8Array[] = [];
  for (let at = 0; at < bytes.length; at += PART_BYTES) {
    parts.push(bytes.subarray(at, at + PART_BYTES));
  }
  return parts;
}

/**
 * Writes parts under `[...prefix, i]`, as few commits as the limits allow.
 *
 * @internal
 */
export async function _writeParts(
  client: _KvClient,
  prefix: Deno.KvKey,
  options: { operation: string; parts: readonly Uint8Array[]; expireIn?: number | undefined },
): Promise<void> {
  const { operation, parts, expireIn } = options;
  const keyBytes = _keySize([...prefix, 0]);
  let at = 0;
  while (at < parts.length) {
    let bytes = 0;
    let end = at;
    while (
      end < parts.length && end - at < MAX_MUTATIONS &&
      bytes + parts[end]!.length + keyBytes <= MAX_BATCH_BYTES
    ) {
      bytes += parts[end]!.length + keyBytes;
      end++;
    }
    const from = at;
    await client.run(operation, async (kv) => {
      const atomic = kv.atomic();
      for (let i = from; i < end; i++) {
        atomic.set([...prefix, i], parts[i]!, expireIn === undefined ? undefined : { expireIn });
      }
      await atomic.commit();
    });
    at = end;
  }
}

/**
 * Reads the `count` parts under `prefix` and joins them.
 *
 * @throws {CorruptDataError} When a part is missing or not bytes (`where` names the entry).
 * @internal
 */
export async function _readParts(
  kv: Deno.Kv,
  prefix: Deno.KvKey,
  options: { count: number; where: string },
): Promise<Uint8Array> {
  const { count, where } = options;
  const parts: Uint8Array[] = [];
  for await (const entry of kv.list<unknown>({ prefix }, { batchSize: 16 })) {
    const index = entry.key[entry.key.length - 1];
    if (index !== parts.length || !(entry.value instanceof Uint8Array)) break;
    parts.push(entry.value);
    if (parts.length === count) break;
  }
  if (parts.length !== count) {
    throw new CorruptDataError(
      where,
      `its value is stored in ${count} parts and part ${parts.length} is missing or not bytes`,
    );
  }
  if (count === 1) return parts[0]!;
  const out = new Uint8Array(parts.reduce((sum, part) => sum + part.length, 0));
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

/**
 * Rewrites the parts under `prefix` with a new expiry.
 *
 * @internal
 */
export async function _rewriteParts(
  client: _KvClient,
  prefix: Deno.KvKey,
  options: { operation: string; expireIn: number },
): Promise<void> {
  const { operation, expireIn } = options;
  const parts = await client.run(operation, async (kv) => {
    const found: Uint8Array[] = [];
    for await (const entry of kv.list<unknown>({ prefix })) {
      if (entry.value instanceof Uint8Array) found.push(entry.value);
    }
    return found;
  });
  if (parts.length > 0) await _writeParts(client, prefix, { operation, parts, expireIn });
}

/**
 * Deletes the `count` parts under `prefix` (a cleanup: failures are ignored).
 *
 * @internal
 */
export async function _deleteParts(
  client: _KvClient,
  prefix: Deno.KvKey,
  parts: { count: number },
): Promise<void> {
  const { count } = parts;
  try {
    await client.run("delete parts", async (kv) => {
      for (let at = 0; at < count; at += MAX_MUTATIONS) {
        const atomic = kv.atomic();
        for (let i = at; i < Math.min(count, at + MAX_MUTATIONS); i++) {
          atomic.delete([...prefix, i]);
        }
        await atomic.commit();
      }
    });
  } catch { /* they expire, or stay as garbage of a failed write */ }
}
