/**
 * The production {@linkcode PersistenceAdapter}: versioned snapshots in Redis.
 *
 * ## Keys (prefix `oao:` by default)
 * - `oao:{<scope>}:snap:<key>` — a hash per snapshot: `v` (version), `t`
 *   (savedAt), `d` (data as JSON), `f` (newest fencing token recorded for the
 *   key), `w` (fencing token of the writer of this version).
 * - `oao:{<scope>}:snapshots` — a sorted set of the scope's keys, for
 *   {@linkcode RedisPersistenceAdapter.list} and
 *   {@linkcode RedisPersistenceAdapter.expireScope}.
 * - `oao:{<scope>}:batch:<uuid>` — the reply of one batch of saves, kept 90 s
 *   (twice the retry budget plus 30 s).
 *
 * The hash tag `{<scope>}` keeps a scope in one Redis Cluster slot, so a save
 * (version and fencing checks, write, index, expiries) is atomic in one Lua
 * script. The index never expires before its members; entries of snapshots
 * that expired on their own are dropped when the scope is listed. A snapshot
 * saved without `ttlSeconds` does not expire: the orchestrator saves an
 * execution's state with the execution's retention and, once the execution
 * has ended, expires its whole scope with its event log
 * ({@linkcode RedisPersistenceAdapter.expireScope}).
 *
 * ## Group commit
 * The saves issued in one tick are sent together: on a standalone server one
 * script call carries them all (up to 512, any scopes); on a Redis Cluster
 * one call per scope carries its saves. Each save keeps its own checks and
 * outcome; the saves of a scope are applied in the order they were issued
 * (the call lists them in runs: consecutive saves of one scope sent with the
 * same kind of options, see `_persistence_scripts.ts`).
 *
 * With `writeConnections` above 1 (the default is 4), a batch that fills
 * while another is in flight leaves on another connection, opened on
 * demand (see `_write_lanes.ts`); saves of one key stay in order.
 *
 * ## What a save costs
 * A save reads its hash and writes it in the script (the version and
 * fencing checks need the stored values; Redis 7 has no write conditional on
 * a hash field). The script does little else for the saves the runtime
 * makes (no options; `version` and/or `fencingToken`); `_persistence_scripts.ts`
 * has the measurements behind that design.
 *
 * ## Retries
 * A batch is applied at most once: its script stores its reply under the
 * batch key, and a retry after an ambiguous failure (the connection dropped
 * after the batch was sent) gets that reply instead of saving again — so a
 * conditional save is not rejected by its own first attempt, and a save
 * without `version` does not store two versions.
 *
 * @module
 */
import { CorruptDataError, FencedError, StaleVersionError } from "../persistence/store_errors.ts";
import type {
  PersistenceAdapter,
  SaveOptions,
  Snapshot,
} from "../persistence/persistence_adapter.ts";
import {
  _checkScope,
  _checkTtl,
  _decodeData,
  _encodeData,
  type _SaveRules,
  _saveRules,
  _scopeOf,
} from "../persistence/_snapshot_codec.ts";
import type { RedisClient } from "./connection.ts";
import { type _Batch, _GroupCommit } from "./_group_commit.ts";
import { _replyError, _runBatchScript } from "./_batch_scripts.ts";
import { _SAVE_SCRIPT } from "./_persistence_scripts.ts";
import { _StoreClient } from "./_store_client.ts";
import type { RedisStoreOptions } from "./redis_store_options.ts";

/** Options of {@linkcode RedisPersistenceAdapter}. */
export interface RedisPersistenceAdapterOptions extends RedisStoreOptions {
  /**
   * Most connections a burst of saves is sent on at once (1 to 16): a
   * batch that fills while the one before it is in flight leaves on
   * another connection, opened on demand, so that Redis saves it while the
   * next is built. Saves of one key keep their order among themselves (a
   * `delete` or `load` issued before a save of the key has settled is not
   * ordered after it). With `client`, the other connections are copies of it
   * (`duplicate()`: its options, not what was changed on it by commands
   * such as `SELECT`), closed with the adapter. Ignored on a Redis Cluster.
   * @default {4, or 1 with `client`}
   */
  writeConnections?: number;
}

/** Most saves in one script call. */
const MAX_BATCH = 512;
/** Default of `writeConnections`: see `_write_lanes.ts` for the measurement. */
const WRITE_CONNECTIONS = 4;

/** One save waiting for its batch. */
interface _Save {
  key: string;
  data: unknown;
  tag: string;
  snapshot: string;
  index: string;
  json: string;
  savedAt: number;
  rules: _SaveRules;
}

/**
 * A {@linkcode PersistenceAdapter} on Redis hashes. Connects on first use.
 *
 * @example
 * ```ts
 * import { RedisPersistenceAdapter } from "./redis_persistence_adapter.ts";
 * const store = new RedisPersistenceAdapter({
 *   redisUrl: Deno.env.get("REDIS_URL"),
 *   keyPrefix: "oao-example:",
 * });
 * const saved = await store.save("exec-1/planner", { step: 3 });
 * await store.save("exec-1/planner", { step: 4 }, { expectedVersion: saved.version });
 * await store.expireScope("exec-1", 60); // the execution finished: keep its state 60 s
 * await store.close();
 * ```
 */
export class RedisPersistenceAdapter implements PersistenceAdapter {
  #redis: _StoreClient;
  #saves: _GroupCommit<_Save, Snapshot>;

  /**
   * Creates an adapter; the connection is opened by the first operation.
   *
   * @param options URL (or client), key prefix, clock, retry budget and write connections.
   * @throws {TypeError} When `keyPrefix` is invalid.
   * @throws {RangeError} When `writeConnections`, `unavailableAfterMs` or a `retry` option is out of range.
   */
  constructor(options: RedisPersistenceAdapterOptions = {}) {
    const lanes = options.writeConnections ?? (options.client ? 1 : WRITE_CONNECTIONS);
    if (!Number.isInteger(lanes) || lanes < 1 || lanes > 16) {
      throw new RangeError(
        `Invalid writeConnections ${lanes}: expected an integer from 1 to 16`,
      );
    }
    this.#redis = new _StoreClient("RedisPersistenceAdapter", options, { watchdog: true });
    this.#saves = new _GroupCommit(this.#redis, { maxBatch: MAX_BATCH, lanes, send: _sendSaves });
  }

  /**
   * Stores a snapshot (atomically, in a script call shared by the saves of
   * the tick).
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
   * @throws {StoreUnavailableError} When Redis stays unreachable.
   */
  save<T>(key: string, data: T, options?: SaveOptions): Promise<Snapshot<T>> {
    let save: _Save;
    try {
      const tag = this.#tag(_scopeOf(key));
      const snapshot = `${tag}:snap:${key}`;
      const rules = _saveRules(options);
      const json = _encodeData(key, data, snapshot);
      save = {
        key,
        data,
        tag,
        snapshot,
        index: `${tag}:snapshots`,
        json,
        savedAt: this.#redis.clock.now(),
        rules,
      };
    } catch (error) {
      return Promise.reject(error);
    }
    return this.#saves.add(save.index, `save("${key}")`, save, key) as Promise<
      Snapshot<T>
    >;
  }

  /**
   * Loads the latest snapshot of a key (one `HMGET`).
   *
   * @param key `"<scope>/<name>"`.
   * @returns The snapshot, or `undefined` when absent or expired.
   * @throws {TypeError} When the key is invalid.
   * @throws {CorruptDataError} When the stored entry cannot be decoded.
   * @throws {StoreUnavailableError} When Redis stays unreachable.
   */
  async load<T>(key: string): Promise<Snapshot<T> | undefined> {
    const { snapshot: hash } = this.#keys(key);
    const [v, t, d, w] = await this.#redis.send(
      `load("${key}")`,
      (target) => target.hmget(hash, "v", "t", "d", "w"),
    );
    if (v === null || v === undefined) {
      if (d === null || d === undefined) return undefined;
      throw new CorruptDataError(hash, `snapshot "${key}" has data but no version`);
    }
    const version = Number(v);
    const savedAt = Number(t);
    if (!Number.isSafeInteger(version) || version < 1 || !Number.isFinite(savedAt)) {
      throw new CorruptDataError(
        hash,
        `snapshot "${key}" has an invalid version "${v}" or time "${t}"`,
      );
    }
    const snapshot: Snapshot<T> = {
      key,
      version,
      data: _decodeData(key, d, hash) as T,
      savedAt,
    };
    if (w !== null && w !== undefined) snapshot.fencingToken = Number(w);
    return snapshot;
  }

  /**
   * Lists the live keys of one scope, sorted (one script over the scope index).
   *
   * @param scope The scope (no `/`).
   * @returns The keys.
   * @throws {TypeError} When the scope is invalid.
   * @throws {StoreUnavailableError} When Redis stays unreachable.
   */
  async list(scope: string): Promise<string[]> {
    _checkScope(scope);
    const tag = this.#tag(scope);
    const keys = await this.#redis.run(
      `list("${scope}")`,
      (_, scripts) => scripts.oaoList(`${tag}:snapshots`, `${tag}:snap:`),
    );
    return keys.sort();
  }

  /**
   * Deletes a snapshot and its index entry.
   *
   * @param key `"<scope>/<name>"`.
   * @returns `true` if it existed.
   * @throws {TypeError} When the key is invalid.
   * @throws {StoreUnavailableError} When Redis stays unreachable.
   */
  async delete(key: string): Promise<boolean> {
    const keys = this.#keys(key);
    const n = await this.#redis.send(
      `delete("${key}")`,
      (target) => target.oaoDelete(keys.snapshot, keys.index, key),
    );
    return n > 0;
  }

  /**
   * Makes every snapshot of a scope (and its index) expire after `ttlSeconds`.
   *
   * @param scope The scope (no `/`).
   * @param ttlSeconds Time to live, in seconds.
   * @returns Once set.
   * @throws {TypeError} When the scope is invalid.
   * @throws {RangeError} When `ttlSeconds` is not a positive number.
   * @throws {StoreUnavailableError} When Redis stays unreachable.
   */
  async expireScope(scope: string, ttlSeconds: number): Promise<void> {
    _checkScope(scope);
    _checkTtl(ttlSeconds, "ttlSeconds");
    const tag = this.#tag(scope);
    const ttlMs = Math.ceil(ttlSeconds * 1000);
    await this.#redis.run(
      `expireScope("${scope}")`,
      (_, scripts) => scripts.oaoExpireScope(`${tag}:snapshots`, `${tag}:snap:`, ttlMs),
    );
  }

  /**
   * Closes the connection (unless it was passed in as `client`). Idempotent.
   *
   * @returns Once closed.
   */
  async close(): Promise<void> {
    await this.#redis.close();
  }

  #tag(scope: string): string {
    return `${this.#redis.prefix}{${scope}}`;
  }

  #keys(key: string): { tag: string; snapshot: string; index: string } {
    const tag = this.#tag(_scopeOf(key));
    return { tag, snapshot: `${tag}:snap:${key}`, index: `${tag}:snapshots` };
  }
}

/** Byte lengths of snapshot key prefixes (the script cuts them off to get the key). */
const prefixBytes = new Map<string, number>();
const encoder = new TextEncoder();
/** First characters of the reply lines of a save that was not applied. */
const FENCED = 70, STALE = 83, FAILED = 69;

/**
 * The argument layout of a save (see `_persistence_scripts.ts`): `p` (plain:
 * no options), `v` (`version` and/or `fencingToken` only: what actors and
 * executions send) or `g` (any options).
 */
function _mode(save: _Save, savedAt: number): "p" | "v" | "g" {
  const { version, expectedVersion, fencingToken, ttlMs } = save.rules;
  if (save.savedAt !== savedAt || expectedVersion !== undefined || ttlMs !== undefined) return "g";
  return version === undefined && fencingToken === undefined ? "p" : "v";
}

/**
 * Sends one batch of saves as one script call: consecutive saves of one
 * scope and one argument layout form a run (the group commit hands the saves
 * of a scope over together, in the order they were issued).
 */
async function _sendSaves(
  client: RedisClient,
  saves: _Save[],
  batch: _Batch,
): Promise<(Snapshot | Error)[]> {
  const savedAt = saves[0]!.savedAt;
  const keys = [`${saves[0]!.tag}:batch:${batch.id}`];
  const args: (string | number)[] = [batch.recordMs, batch.lookup ? 1 : 0, savedAt];
  let index = "";
  let mode = "";
  let count = 0;
  for (const save of saves) {
    const saveMode = _mode(save, savedAt);
    if (save.index !== index || saveMode !== mode) {
      const prefix = `${save.tag}:snap:`;
      let skip = prefixBytes.get(prefix);
      if (skip === undefined) {
        skip = encoder.encode(prefix).length;
        if (prefixBytes.size >= 10_000) prefixBytes.clear();
        prefixBytes.set(prefix, skip);
      }
      index = save.index;
      mode = saveMode;
      keys.push(index);
      count = args.push(mode, 0, skip) - 2;
    }
    (args[count] as number)++;
    keys.push(save.snapshot);
    const { version, expectedVersion, fencingToken, ttlMs } = save.rules;
    if (mode === "p") args.push(save.json);
    else if (mode === "v") args.push(save.json, version ?? "", fencingToken ?? "");
    else {
      args.push(
        save.json,
        `${save.savedAt === savedAt ? "" : save.savedAt},${version ?? ""},${
          expectedVersion ?? ""
        },${fencingToken ?? ""},${ttlMs ?? ""}`,
      );
    }
  }
  const reply = await _runBatchScript(client, _SAVE_SCRIPT, keys, args);
  return saves.map((save, i) => _outcome(save, reply[i] ?? "E"));
}

/** The snapshot a reply line reports saved, or the error it reports. */
function _outcome(save: _Save, line: string): Snapshot | Error {
  const { key, rules } = save;
  switch (line.charCodeAt(0)) {
    case FENCED:
      return new FencedError(key, rules.fencingToken!, Number(line.slice(1)));
    case STALE: {
      const stored = Number(line.slice(1));
      const { expectedVersion: expected, version } = rules;
      return new StaleVersionError(
        key,
        expected !== undefined && expected !== stored ? expected : version!,
        stored,
      );
    }
    case FAILED:
      return _replyError(line.slice(1));
  }
  const snapshot: Snapshot = { key, version: Number(line), data: save.data, savedAt: save.savedAt };
  if (rules.fencingToken !== undefined) snapshot.fencingToken = rules.fencingToken;
  return snapshot;
}
