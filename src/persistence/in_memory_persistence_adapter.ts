/**
 * The embedded {@linkcode PersistenceAdapter}: snapshots in process memory,
 * with the same version, fencing, expiry and encoding rules as
 * `RedisPersistenceAdapter`.
 *
 * @module
 */
import { type Clock, systemClock } from "../clock.ts";
import { FencedError, StaleVersionError, StoreUnavailableError } from "./store_errors.ts";
import {
  _checkScope,
  _checkTtl,
  _decodeData,
  _encodeData,
  _saveRules,
  _scopeOf,
} from "./_snapshot_codec.ts";
import type { PersistenceAdapter, SaveOptions, Snapshot } from "./persistence_adapter.ts";

/** Options of {@linkcode InMemoryPersistenceAdapter}. */
export interface InMemoryPersistenceAdapterOptions {
  /** Clock for `savedAt` and expiries. @default {systemClock} */
  clock?: Clock;
}

interface Entry {
  version: number;
  savedAt: number;
  json: string;
  /** Newest fencing token recorded for the key. */
  fence: number | undefined;
  /** Token of the writer of this version. */
  writer: number | undefined;
  expiresAt: number | undefined;
}

/**
 * A {@linkcode PersistenceAdapter} in process memory. Data is kept as JSON,
 * so a loaded snapshot is a fresh copy. Expired snapshots are dropped when
 * touched (no timers are kept).
 *
 * @example
 * ```ts
 * import { InMemoryPersistenceAdapter } from "./in_memory_persistence_adapter.ts";
 * const store = new InMemoryPersistenceAdapter();
 * await store.save("exec-1/planner", { step: 3 });
 * const snapshot = await store.load<{ step: number }>("exec-1/planner");
 * console.assert(snapshot?.version === 1 && snapshot.data.step === 3);
 * await store.close();
 * ```
 */
export class InMemoryPersistenceAdapter implements PersistenceAdapter {
  #clock: Clock;
  #entries = new Map<string, Entry>();
  #closed = false;
  #lastSweep = -Infinity;

  /**
   * Creates an empty adapter.
   *
   * @param options The clock.
   */
  constructor(options: InMemoryPersistenceAdapterOptions = {}) {
    this.#clock = options.clock ?? systemClock;
  }

  /**
   * Stores a snapshot.
   *
   * @param key `"<scope>/<name>"`.
   * @param data JSON-serializable state.
   * @param options Version, condition, fencing token and expiry.
   * @returns The stored snapshot.
   * @throws {TypeError} When the key is invalid.
   * @throws {RangeError} When an option is out of range.
   * @throws {StaleVersionError} When `version` or `expectedVersion` is stale.
   * @throws {FencedError} When `fencingToken` is older than the recorded one.
   * @throws {CorruptDataError} When `data` is not JSON-serializable.
   * @throws {StoreUnavailableError} When the adapter is closed.
   */
  save<T>(key: string, data: T, options?: SaveOptions): Promise<Snapshot<T>> {
    return this.#do("save", key, () => {
      _scopeOf(key);
      const rules = _saveRules(options);
      const json = _encodeData(key, data, `memory:${key}`);
      const now = this.#clock.now();
      this.#sweep(now);
      const current = this.#live(key, now);
      const stored = current?.version ?? 0;
      const token = rules.fencingToken;
      if (token !== undefined && current?.fence !== undefined && token < current.fence) {
        throw new FencedError(key, token, current.fence);
      }
      if (rules.expectedVersion !== undefined && rules.expectedVersion !== stored) {
        throw new StaleVersionError(key, rules.expectedVersion, stored);
      }
      const version = rules.version ?? stored + 1;
      if (version <= stored) throw new StaleVersionError(key, version, stored);
      this.#entries.set(key, {
        version,
        savedAt: now,
        json,
        fence: token ?? current?.fence,
        writer: token,
        expiresAt: rules.ttlMs === undefined ? undefined : now + rules.ttlMs,
      });
      const snapshot: Snapshot<T> = { key, version, data, savedAt: now };
      if (token !== undefined) snapshot.fencingToken = token;
      return snapshot;
    });
  }

  /**
   * Loads the latest snapshot of a key.
   *
   * @param key `"<scope>/<name>"`.
   * @returns The snapshot, or `undefined` when absent or expired.
   * @throws {TypeError} When the key is invalid.
   * @throws {CorruptDataError} When the stored entry cannot be decoded.
   */
  load<T>(key: string): Promise<Snapshot<T> | undefined> {
    return this.#do("load", key, () => {
      _scopeOf(key);
      const entry = this.#live(key, this.#clock.now());
      if (!entry) return undefined;
      const snapshot: Snapshot<T> = {
        key,
        version: entry.version,
        data: _decodeData(key, entry.json, `memory:${key}`) as T,
        savedAt: entry.savedAt,
      };
      if (entry.writer !== undefined) snapshot.fencingToken = entry.writer;
      return snapshot;
    });
  }

  /**
   * Lists the live keys of one scope, sorted.
   *
   * @param scope The scope (no `/`).
   * @returns The keys.
   * @throws {TypeError} When the scope is invalid.
   */
  list(scope: string): Promise<string[]> {
    return this.#do("list", scope, () => {
      _checkScope(scope);
      const now = this.#clock.now();
      return [...this.#entries.keys()]
        .filter((key) => _scopeOf(key) === scope && this.#live(key, now))
        .sort();
    });
  }

  /**
   * Deletes a snapshot.
   *
   * @param key `"<scope>/<name>"`.
   * @returns `true` if a live snapshot existed.
   * @throws {TypeError} When the key is invalid.
   */
  delete(key: string): Promise<boolean> {
    return this.#do("delete", key, () => {
      _scopeOf(key);
      const existed = this.#live(key, this.#clock.now()) !== undefined;
      this.#entries.delete(key);
      return existed;
    });
  }

  /**
   * Makes every snapshot of a scope expire after `ttlSeconds`.
   *
   * @param scope The scope (no `/`).
   * @param ttlSeconds Time to live, in seconds.
   * @returns Once set.
   * @throws {TypeError} When the scope is invalid.
   * @throws {RangeError} When `ttlSeconds` is not a positive number.
   */
  expireScope(scope: string, ttlSeconds: number): Promise<void> {
    return this.#do("expireScope", scope, () => {
      _checkScope(scope);
      _checkTtl(ttlSeconds, "ttlSeconds");
      const now = this.#clock.now();
      for (const [key, entry] of this.#entries) {
        if (_scopeOf(key) === scope && this.#live(key, now)) {
          entry.expiresAt = now + Math.ceil(ttlSeconds * 1000);
        }
      }
    });
  }

  /**
   * Refuses further calls. Idempotent.
   *
   * @returns Once closed.
   */
  close(): Promise<void> {
    this.#closed = true;
    return Promise.resolve();
  }

  #do<T>(operation: string, target: string, fn: () => T): Promise<T> {
    try {
      if (this.#closed) {
        throw new StoreUnavailableError(`${operation}("${target}")`, {
          cause: new Error("the adapter is closed"),
        });
      }
      return Promise.resolve(fn());
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /** Drops expired snapshots nobody touches, at most once a minute. */
  #sweep(now: number): void {
    if (now - this.#lastSweep < 60_000) return;
    this.#lastSweep = now;
    for (const key of [...this.#entries.keys()]) this.#live(key, now);
  }

  #live(key: string, now: number): Entry | undefined {
    const entry = this.#entries.get(key);
    if (entry?.expiresAt !== undefined && now >= entry.expiresAt) {
      this.#entries.delete(key);
      return undefined;
    }
    return entry;
  }
}
