// Internal: fast random 32-bit words for trace and span ids — xorshift128
// seeded from the platform CSPRNG. Ids must be unique, not secret, and this
// keeps id generation off the per-message hot path's critical cost.
// Dependency-free: it also runs inside actor workers.

// The state lives in a typed array: 32-bit words in plain variables would be
// boxed as heap numbers on every step (they exceed the small-integer range).
const state = new Uint32Array(4);
crypto.getRandomValues(state);
state[0] = state[0]! | 1;
state[3] = state[3]! | 1;

/**
 * The next random unsigned 32-bit word.
 *
 * @returns An integer in [0, 2^32).
 */
export function randomU32(): number {
  const s = state;
  const t = s[0]! ^ (s[0]! << 11);
  s[0] = s[1]!;
  s[1] = s[2]!;
  s[2] = s[3]!;
  const s3 = s[3]!;
  s[3] = s3 ^ (s3 >>> 19) ^ (t ^ (t >>> 8));
  return s[3]!;
}

/**
 * Eight lowercase hex characters of a 32-bit word, most significant first.
 *
 * @param word An integer in [0, 2^32).
 * @returns The word in hex, zero-padded.
 */
export function hex8(word: number): string {
  return (word >>> 0).toString(16).padStart(8, "0");
}
