// The idempotency keys the runtime enqueues jobs under itself. A job queue
// has one namespace of keys, shared with the keys of clients' submits
// (QueueBackend.submit passes them as they are): a client key equal to one
// of the runtime's would be answered with the runtime's job (and its
// execution) as a duplicate, or would make the runtime take its own job for
// one enqueued already. Submits refuse keys under these prefixes, on every
// backend alike. (A schedule's `schedule:<id>:<tick>` is not among them: the
// scheduler submits through the same path as a client.) Internal.

/** The prefix of the key of a job that continues an execution (`_continuation.ts`). */
export const CONTINUE_KEY_PREFIX = "oao-continue:";

/** The prefix of the key of a job moved by `oao migrate` (`_migrate.ts`). */
export const MIGRATED_KEY_PREFIX = "migrated:";

// The prefixes of the runtime's own keys, refused in clients' submits.
const RESERVED_KEY_PREFIXES: readonly string[] = [CONTINUE_KEY_PREFIX, MIGRATED_KEY_PREFIX];

/**
 * Why a client may not submit with `key`.
 *
 * @param key The client's idempotency key.
 * @returns The reason, naming the reserved prefix; `undefined` when the key is the client's to use.
 */
export function reservedKeyProblem(key: string): string | undefined {
  const prefix = RESERVED_KEY_PREFIXES.find((p) => key.startsWith(p));
  if (prefix === undefined) return undefined;
  return `the prefix "${prefix}" is reserved for the runtime's own jobs; use another key`;
}

/**
 * Refuses a client's idempotency key under a reserved prefix.
 *
 * @param key The submit's idempotency key (absent: nothing to check).
 * @throws {TypeError} When the key starts with a reserved prefix.
 */
export function assertClientIdempotencyKey(key: string | undefined): void {
  if (typeof key !== "string") return;
  const problem = reservedKeyProblem(key);
  if (problem) {
    throw new TypeError(`Cannot submit with idempotency key ${JSON.stringify(key)}: ${problem}`);
  }
}
