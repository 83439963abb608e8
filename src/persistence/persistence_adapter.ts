/**
 * The port for durable state snapshots: actor state, agent state and workflow
 * state. Implementations: {@linkcode InMemoryPersistenceAdapter} (embedded
 * default) and `RedisPersistenceAdapter` (production).
 *
 * ## Keys and scopes
 * A snapshot key is `"<scope>/<name>"`. The scope (everything before the
 * first `/`) groups the snapshots of one execution or one actor system; in
 * Redis all keys of one scope share a hash tag (`oao:{<scope>}:…`) so that they
 * live in one Redis Cluster slot, and a whole scope can be listed or expired
 * at once. A key without `/` is its own scope.
 *
 * ## Versions and fencing
 * Every snapshot has a version, a positive integer that only grows. A save
 * without `version` stores `current + 1`; a save with `version` must be
 * greater than the stored version. `expectedVersion` makes a save conditional
 * (compare-and-set; `0` means "must not exist yet"). `fencingToken` rejects a
 * writer whose token is older than the newest token seen for that key, so a
 * replaced actor incarnation cannot overwrite its successor's state.
 *
 * @module
 */

/** A stored snapshot. */
export interface Snapshot<T = unknown> {
  /** The key, `"<scope>/<name>"`. */
  key: string;
  /** Version, strictly increasing per key. */
  version: number;
  /** The state. Must be JSON-serializable. */
  data: T;
  /** Epoch milliseconds of the save. */
  savedAt: number;
  /** The fencing token of the writer, when one was given. */
  fencingToken?: number;
}

/** Options of {@linkcode PersistenceAdapter.save}. */
export interface SaveOptions {
  /**
   * Version to store; must be greater than the stored version.
   * @default {stored version + 1}
   */
  version?: number;
  /**
   * Save only if the stored version equals this (`0`: only if absent);
   * otherwise reject with `StaleVersionError`.
   */
  expectedVersion?: number;
  /**
   * Writer's fencing token; rejected with `FencedError` if older than the
   * newest token recorded for the key.
   */
  fencingToken?: number;
  /** Expire the snapshot after this many seconds. No expiry when absent. */
  ttlSeconds?: number;
}

/** Durable, versioned snapshots. */
export interface PersistenceAdapter {
  /**
   * Stores a snapshot.
   *
   * @returns The stored snapshot with its version.
   * @throws {StaleVersionError} When `version` or `expectedVersion` is stale.
   * @throws {FencedError} When `fencingToken` is older than the recorded one.
   * @throws {CorruptDataError} When `data` is not JSON-serializable.
   */
  save<T>(key: string, data: T, options?: SaveOptions): Promise<Snapshot<T>>;
  /**
   * Loads the latest snapshot of a key.
   *
   * @throws {CorruptDataError} When the stored entry cannot be decoded.
   */
  load<T>(key: string): Promise<Snapshot<T> | undefined>;
  /** Lists the keys of one scope, sorted. */
  list(scope: string): Promise<string[]>;
  /** Deletes a snapshot; resolves `true` if it existed. */
  delete(key: string): Promise<boolean>;
  /** Makes every snapshot of a scope expire after `ttlSeconds` (finished executions). */
  expireScope(scope: string, ttlSeconds: number): Promise<void>;
  /** Releases connections. Idempotent. */
  close(): Promise<void>;
}

/**
 * Splits a snapshot key into scope and name.
 *
 * @param key `"<scope>/<name>"` or a bare scope.
 * @returns The scope and the name (empty for a bare scope).
 * @throws {TypeError} When the key or its scope is empty.
 *
 * @example
 * ```ts
 * import { splitKey } from "./persistence_adapter.ts";
 * const { scope, name } = splitKey("exec-1/agent");
 * console.assert(scope === "exec-1" && name === "agent");
 * ```
 */
export function splitKey(key: string): { scope: string; name: string } {
  if (typeof key !== "string" || key.length === 0) {
    throw new TypeError(`Invalid snapshot key ${JSON.stringify(key)}: expected a non-empty string`);
  }
  const slash = key.indexOf("/");
  const scope = slash < 0 ? key : key.slice(0, slash);
  if (!scope) throw new TypeError(`Invalid snapshot key "${key}": the scope before "/" is empty`);
  return { scope, name: slash < 0 ? "" : key.slice(slash + 1) };
}
