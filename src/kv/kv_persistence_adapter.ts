/**
 * The embedded durable {@linkcode PersistenceAdapter}: snapshots in a Deno KV
 * file, with the same version, fencing, expiry and encoding rules as the
 * in-memory and Redis adapters.
 *
 * ## Keys (below the prefix `p`, `"oao"` by default)
 * - `[p, "s", <scope>, <key>]` — a snapshot: version, save time, the newest
 *   fencing token seen for the key, the writer's token, its expiry, and the
 *   data as UTF-8 JSON — or, for data larger than one Deno KV value (64 KiB),
 *   a reference to its parts;
 * - `[p, "sb", <scope>, <key>, <blobId>, <part>]` — those parts, written
 *   before the snapshot that refers to them and deleted with the commit that
 *   replaces or deletes it.
 *
 * Keys of one scope share a prefix, so a scope is listed (or expired) with one
 * range read.
 *
 * ## Saves
 * A save reads the snapshot, applies the rules (fencing token first, then
 * `expectedVersion`, then `version`) and commits with a check of the
 * snapshot's versionstamp, so two writers — two processes — never both win a
 * compare-and-set: the loser reads again and applies the rules to what the
 * winner stored. The saves (and deletes) of one key from one adapter run one
 * after another, in the order they were issued; versionstamps known from the
 * adapter's own commits spare the read. The saves of different keys share
 * commits: those submitted while a commit is in flight go together in the
 * next one (`_commit_batcher.ts`).
 *
 * ## Expiry
 * `ttlSeconds` and `expireScope` give a snapshot an expiry, compared with the
 * adapter's clock on every read; Deno KV deletes the entry itself later
 * (`expireIn`, best-effort). A save without `ttlSeconds` stores the snapshot
 * without expiry.
 *
 * @module
 */
import { CorruptDataError, FencedError, StaleVersionError } from "../persistence/store_errors.ts";
import {
  _checkScope,
  _checkTtl,
  _decodeData,
  _encodeData,
  _saveRules,
  _scopeOf,
} from "../persistence/_snapshot_codec.ts";
import type {
  PersistenceAdapter,
  SaveOptions,
  Snapshot,
} from "../persistence/persistence_adapter.ts";
import { _deleteParts, _readParts, _rewriteParts, _split, _writeParts } from "./_chunks.ts";
import { _keyText } from "./_event_log.ts";
import { _CommitBatcher } from "./_commit_batcher.ts";
import { _KvClient } from "./_kv_client.ts";
import { _checkIdSize, _keySize, MAX_VALUE_BYTES } from "./_limits.ts";
import { _Remembered } from "./_remembered.ts";
import type { KvStoreOptions } from "./kv_store_options.ts";

/** Options of {@linkcode KvPersistenceAdapter}. */
export type KvPersistenceAdapterOptions = KvStoreOptions;

/** A snapshot as stored. */
interface _Record {
  /** Version. */
  v: number;
  /** Save time. */
  t: number;
  /** Newest fencing token seen for the key. */
  f?: number;
  /** The writer's token. */
  w?: number;
  /** Expiry (store clock), when it has one. */
  x?: number;
  /** The data as UTF-8 JSON, unless stored in parts. */
  d?: Uint8Array;
  /** Its parts: id and count. */
  b?: string;
  n?: number;
  /** Until when Deno KV keeps the parts (none: for ever). */
  pk?: number;
}

interface _Known {
  record: _Record | null;
  versionstamp: string | null;
}

/** Data longer than this (UTF-8 bytes) is stored in parts. */
const INLINE_BYTES = MAX_VALUE_BYTES - 1_024;
/** Parts of a replaced snapshot deleted in the commit that replaces it (more: right after). */
const DELETE_WITH_COMMIT = 500;
const CACHE_LIMIT = 10_000;
const encoder = new TextEncoder();
const decoder = new TextDecoder();

/**
 * A {@linkcode PersistenceAdapter} in a Deno KV file. Opens the file on first
 * use (see {@linkcode KvStoreOptions.path}); needs `--unstable-kv`.
 *
 * @example
 * ```ts
 * import { KvPersistenceAdapter } from "./kv_persistence_adapter.ts";
 * const dir = await Deno.makeTempDir();
 * const store = new KvPersistenceAdapter({ path: `${dir}/oao.kv` });
 * await store.save("exec-1/planner", { step: 3 });
 * const snapshot = await store.load<{ step: number }>("exec-1/planner");
 * console.assert(snapshot?.version === 1 && snapshot.data.step === 3);
 * await store.close();
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export class KvPersistenceAdapter implements PersistenceAdapter {
  #client: _KvClient;
  #batcher: _CommitBatcher;
  #queues = new Map<string, Promise<unknown>>();
  #known = new _Remembered<_Known>(CACHE_LIMIT);

  /**
   * Creates an adapter; the file is opened by the first operation.
   *
   * @param options File (or `Deno.Kv`), key prefix, clock.
   * @throws {TypeError} When `keyPrefix` is not a non-empty string.
   * @throws {RangeError} When `unavailableAfterMs` is out of range.
   */
  constructor(options: KvPersistenceAdapterOptions = {}) {
    this.#client = new _KvClient("KvPersistenceAdapter", options);
    this.#batcher = new _CommitBatcher(this.#client);
  }

  /**
   * Stores a snapshot (compare-and-set on the stored version).
   *
   * @param key `"<scope>/<name>"`.
   * @param data JSON-serializable state.
   * @param options Version, condition, fencing token and expiry.
   * @returns The stored snapshot.
   * @throws {TypeError} When the key is invalid.
   * @throws {RangeError} When an option is out of range or the key is longer than 1,024 bytes.
   * @throws {StaleVersionError} When `version` or `expectedVersion` is stale.
   * @throws {FencedError} When `fencingToken` is older than the recorded one.
   * @throws {CorruptDataError} When `data` is not JSON-serializable.
   * @throws {StoreUnavailableError} When the adapter is closed or the file fails.
   */
  async save<T>(key: string, data: T, options?: SaveOptions): Promise<Snapshot<T>> {
    const scope = _scopeOf(key);
    _checkIdSize(key, "snapshot key");
    const rules = _saveRules(options);
    const json = _encodeData(key, data, this.#where(scope, key));
    if (this.#client.closed) throw this.#client.closedError(`save("${key}")`);
    return await this.#serial(key, async () => {
      const bytes = encoder.encode(json);
      const parts = bytes.length > INLINE_BYTES ? _split(bytes) : undefined;
      const blob = parts ? crypto.randomUUID() : undefined;
      const ttlMs = rules.ttlMs;
      if (parts) {
        await _writeParts(this.#client, this.#partsPrefix(key, blob!), {
          operation: `save("${key}")`,
          parts,
          expireIn: ttlMs,
        });
      }
      try {
        return await this.#commit({ operation: `save("${key}")`, key }, (current, now) => {
          const token = rules.fencingToken;
          const stored = current?.v ?? 0;
          if (token !== undefined && current?.f !== undefined && token < current.f) {
            throw new FencedError(key, token, current.f);
          }
          if (rules.expectedVersion !== undefined && rules.expectedVersion !== stored) {
            throw new StaleVersionError(key, rules.expectedVersion, stored);
          }
          const version = rules.version ?? stored + 1;
          if (version <= stored) throw new StaleVersionError(key, version, stored);
          const record: _Record = { v: version, t: now };
          const fence = token ?? current?.f;
          if (fence !== undefined) record.f = fence;
          if (token !== undefined) record.w = token;
          if (ttlMs !== undefined) record.x = now + ttlMs;
          if (parts) {
            record.b = blob!;
            record.n = parts.length;
            if (ttlMs !== undefined) record.pk = now + ttlMs;
          } else record.d = bytes;
          const snapshot: Snapshot<T> = { key, version, data, savedAt: now };
          if (token !== undefined) snapshot.fencingToken = token;
          return { record, expireIn: ttlMs, result: snapshot };
        });
      } catch (error) {
        if (parts) {
          await _deleteParts(this.#client, this.#partsPrefix(key, blob!), { count: parts.length });
        }
        throw error;
      }
    });
  }

  /**
   * Loads the latest snapshot of a key.
   *
   * @param key `"<scope>/<name>"`.
   * @returns The snapshot, or `undefined` when absent or expired.
   * @throws {TypeError} When the key is invalid.
   * @throws {CorruptDataError} When the stored entry cannot be decoded.
   * @throws {StoreUnavailableError} When the adapter is closed or the file fails.
   */
  async load<T>(key: string): Promise<Snapshot<T> | undefined> {
    const scope = _scopeOf(key);
    return await this.#client.run(`load("${key}")`, async (kv) => {
      const entry = await kv.get<unknown>(this.#key(scope, key));
      const where = this.#where(scope, key);
      const record = this.#live(_checkRecord(entry.value, where), this.#client.clock.now());
      if (!record) return undefined;
      const bytes = record.d ?? await _readParts(kv, this.#partsPrefix(key, record.b!), {
        count: record.n!,
        where,
      });
      const snapshot: Snapshot<T> = {
        key,
        version: record.v,
        data: _decodeData(key, decoder.decode(bytes), where) as T,
        savedAt: record.t,
      };
      if (record.w !== undefined) snapshot.fencingToken = record.w;
      return snapshot;
    });
  }

  /**
   * Lists the live keys of one scope, sorted.
   *
   * @param scope The scope (no `/`).
   * @returns The keys.
   * @throws {TypeError} When the scope is invalid.
   * @throws {StoreUnavailableError} When the adapter is closed or the file fails.
   */
  async list(scope: string): Promise<string[]> {
    _checkScope(scope);
    const entries = await this.#entries(`list("${scope}")`, scope);
    const now = this.#client.clock.now();
    return entries
      .filter((entry) => this.#live(entry.record, now) !== undefined)
      .map((entry) => entry.key)
      .sort();
  }

  /**
   * Deletes a snapshot.
   *
   * @param key `"<scope>/<name>"`.
   * @returns `true` if a live snapshot existed.
   * @throws {TypeError} When the key is invalid.
   * @throws {StoreUnavailableError} When the adapter is closed or the file fails.
   */
  async delete(key: string): Promise<boolean> {
    _scopeOf(key);
    if (this.#client.closed) throw this.#client.closedError(`delete("${key}")`);
    return await this.#serial(
      key,
      () =>
        this.#commit({ operation: `delete("${key}")`, key }, (current) => ({
          record: null,
          expireIn: undefined,
          result: current !== undefined,
        })),
    );
  }

  /**
   * Makes every snapshot of a scope expire after `ttlSeconds`.
   *
   * @param scope The scope (no `/`).
   * @param ttlSeconds Time to live, in seconds.
   * @returns Once set.
   * @throws {TypeError} When the scope is invalid.
   * @throws {RangeError} When `ttlSeconds` is not a positive number.
   * @throws {StoreUnavailableError} When the adapter is closed or the file fails.
   */
  async expireScope(scope: string, ttlSeconds: number): Promise<void> {
    _checkScope(scope);
    _checkTtl(ttlSeconds, "ttlSeconds");
    const ttlMs = Math.ceil(ttlSeconds * 1000);
    const operation = `expireScope("${scope}")`;
    const entries = await this.#entries(operation, scope);
    const now = this.#client.clock.now();
    const live = entries.filter((entry) => this.#live(entry.record, now));
    await Promise.all(
      live.map(({ key }) =>
        this.#serial(key, () =>
          this.#commit({ operation, key }, (current, at) => {
            if (!current) return { record: undefined, expireIn: undefined, result: undefined };
            const record: _Record = { ...current, x: at + ttlMs };
            return { record, expireIn: ttlMs, result: undefined, parts: current.b !== undefined };
          }))
      ),
    );
  }

  /**
   * Refuses further calls, lets the saves in flight finish and releases the
   * file (unless the `Deno.Kv` was given as option `kv`). Idempotent.
   *
   * @returns Once closed.
   */
  async close(): Promise<void> {
    await this.#client.close(async () => {
      while (this.#queues.size > 0) await Promise.allSettled([...this.#queues.values()]);
    });
  }

  /**
   * Reads a snapshot (or takes the versionstamp known from this adapter's last
   * commit), applies `change` and commits what it returns with a versionstamp
   * check; again on conflict. `change` returns the record to store (`null`:
   * delete, `undefined`: nothing to do) and the result, or throws to refuse.
   */
  async #commit<R>(
    target: { operation: string; key: string },
    change: (
      current: _Record | undefined,
      now: number,
    ) => {
      record: _Record | null | undefined;
      expireIn: number | undefined;
      result: R;
      parts?: boolean;
    },
  ): Promise<R> {
    const { operation, key } = target;
    const scope = _scopeOf(key);
    const kvKey = this.#key(scope, key);
    const where = this.#where(scope, key);
    for (;;) {
      let known = this.#known.get(key);
      if (!known) {
        const entry = await this.#client.run(operation, (kv) => kv.get<unknown>(kvKey));
        known = { record: _checkRecord(entry.value, where), versionstamp: entry.versionstamp };
      }
      const now = this.#client.clock.now();
      const old = known.record;
      const current = this.#live(old, now);
      const { record, expireIn, result, parts } = change(current, now);
      if (record === undefined) return result;
      if (
        parts && record?.b !== undefined && record.x !== undefined &&
        (record.pk === undefined || record.x > record.pk)
      ) {
        // The parts expire with the snapshot that refers to them.
        await _rewriteParts(this.#client, this.#partsPrefix(key, record.b), {
          operation,
          expireIn: Math.max(1, record.x - now),
        });
        record.pk = record.x;
      }
      const replaced = old?.b !== undefined && old.b !== record?.b ? old : undefined;
      const withCommit = replaced && replaced.n! <= DELETE_WITH_COMMIT ? replaced.n! : 0;
      const keyBytes = _keySize(kvKey) * (1 + withCommit) + 48 * withCommit;
      const commit = await this.#batcher.commit({
        operation,
        checks: [{ key: kvKey, versionstamp: known.versionstamp }],
        mutate: (atomic) => {
          if (record === null) atomic.delete(kvKey);
          else atomic.set(kvKey, record, expireIn === undefined ? undefined : { expireIn });
          for (let i = 0; i < withCommit; i++) {
            atomic.delete([...this.#partsPrefix(key, replaced!.b!), i]);
          }
        },
        keys: [kvKey],
        mutations: 1 + withCommit,
        keyBytes,
        bytes: keyBytes + (record?.d?.length ?? 0) + 256,
      });
      if (!commit.ok) {
        this.#known.delete(key);
        continue;
      }
      if (replaced && replaced.n! > DELETE_WITH_COMMIT) {
        await _deleteParts(this.#client, this.#partsPrefix(key, replaced.b!), {
          count: replaced.n!,
        });
      }
      this.#known.remember(key, { record, versionstamp: commit.versionstamp });
      return result;
    }
  }

  /** The snapshots of a scope as stored. */
  async #entries(
    operation: string,
    scope: string,
  ): Promise<{ key: string; record: _Record | null }[]> {
    return await this.#client.run(operation, async (kv) => {
      const out: { key: string; record: _Record | null }[] = [];
      for await (const entry of kv.list<unknown>({ prefix: [this.#client.prefix, "s", scope] })) {
        const key = entry.key[3];
        if (typeof key !== "string") continue;
        out.push({ key, record: _checkRecord(entry.value, this.#where(scope, key)) });
      }
      return out;
    });
  }

  /** Runs the operations of one key one after another, in the order they were issued. */
  #serial<R>(key: string, fn: () => Promise<R>): Promise<R> {
    const previous = this.#queues.get(key) ?? Promise.resolve();
    const run = previous.then(fn, fn);
    const tail = run.then(() => {}, () => {});
    this.#queues.set(key, tail);
    tail.then(() => {
      if (this.#queues.get(key) === tail) this.#queues.delete(key);
    });
    return run;
  }

  #live(record: _Record | null, now: number): _Record | undefined {
    if (!record || (record.x !== undefined && now >= record.x)) return undefined;
    return record;
  }

  #key(scope: string, key: string): Deno.KvKey {
    return [this.#client.prefix, "s", scope, key];
  }

  #partsPrefix(key: string, blob: string): Deno.KvKey {
    return [this.#client.prefix, "sb", _scopeOf(key), key, blob];
  }

  #where(scope: string, key: string): string {
    return `Deno KV "${this.#client.where}" ${_keyText(this.#key(scope, key))}`;
  }
}

function _checkRecord(value: unknown, where: string): _Record | null {
  if (value === null) return null;
  const r = value as Partial<_Record>;
  if (
    typeof r !== "object" || typeof r.v !== "number" || typeof r.t !== "number" ||
    !(r.d instanceof Uint8Array || (typeof r.b === "string" && typeof r.n === "number"))
  ) {
    throw new CorruptDataError(where, "the entry is not a snapshot of a Deno KV store");
  }
  return r as _Record;
}
