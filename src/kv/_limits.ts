/**
 * The limits of one Deno KV atomic operation (Deno 2.9.6, measured: each
 * one past its limit fails the commit with the message quoted), the budget
 * the stores keep below them, and size estimates.
 *
 * @module
 */

/** "Too many mutations (max 1000)". */
export const MAX_MUTATIONS = 1_000;
/** "Too many checks (max 100)". */
export const MAX_CHECKS = 100;
/** "Total key size too large (max 81920 bytes)", checks and mutations together; 2 KiB kept free. */
export const MAX_KEY_BYTES = 81_920 - 2_048;
/** "Total mutation size too large (max 819200 bytes)", keys and values; 8 KiB kept free. */
export const MAX_BATCH_BYTES = 819_200 - 8_192;
/** "Value too large (max 65536 bytes)". */
export const MAX_VALUE_BYTES = 65_536;
/** Bytes of one part of a value stored in parts (`_chunks.ts`). */
export const PART_BYTES = 64_000;
/**
 * Longest id (execution, snapshot key, queue name…) kept in a key, in UTF-8
 * bytes: a key holds at most 2,048 ("Key too large for write").
 */
const MAX_ID_BYTES = 1_024;

/**
 * The UTF-8 length of a string.
 *
 * @internal
 */
export function _utf8Length(text: string): number {
  let bytes = text.length;
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code < 0x80) continue;
    if (code < 0x800) bytes += 1;
    else if (code >= 0xd800 && code <= 0xdbff) {
      bytes += 2; // a surrogate pair: 4 bytes for 2 units
      i++;
    } else bytes += 2;
  }
  return bytes;
}

/**
 * An upper bound of the encoded size of a key (each part: a type byte, its
 * bytes and a terminator; numbers 9 bytes).
 *
 * @internal
 */
export function _keySize(key: Deno.KvKey): number {
  let bytes = 0;
  for (const part of key) {
    if (typeof part === "string") bytes += _utf8Length(part) + 2;
    else if (part instanceof Uint8Array) bytes += part.length * 2 + 2;
    else bytes += 10;
  }
  return bytes;
}

/**
 * Throws a RangeError unless `id` fits in a key.
 *
 * @internal
 */
export function _checkIdSize(id: string, what: string): void {
  const bytes = _utf8Length(id);
  if (bytes > MAX_ID_BYTES) {
    throw new RangeError(
      `Invalid ${what} "${
        id.slice(0, 40)
      }…": it is ${bytes} bytes long, over the ${MAX_ID_BYTES} bytes a Deno KV key can hold`,
    );
  }
}
