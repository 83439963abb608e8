/**
 * The {@linkcode ScheduleStore} on Redis, shared by every node of a
 * deployment: their schedulers race for each tick with a compare-and-set
 * here, and exactly one wins.
 *
 * ## Keys (prefix `oao:` by default)
 * - `oao:{schedules}:data` — a hash: schedule id → the schedule as JSON;
 * - `oao:{schedules}:ver` — a hash: schedule id → its version.
 *
 * Both carry the hash tag `{schedules}` (one Redis Cluster slot), so create,
 * replace and delete are each one Lua script that checks the version and
 * writes both atomically. Schedules do not expire.
 *
 * @example
 * ```ts
 * import { RedisScheduleStore } from "./redis_schedule_store.ts";
 * import { newSchedule } from "../schedule/schedule.ts";
 * const store = new RedisScheduleStore({
 *   redisUrl: Deno.env.get("REDIS_URL"),
 *   keyPrefix: "oao-example:",
 * });
 * const stored = await store.create(newSchedule({ cron: "@daily", agent: "report" }, Date.now()));
 * await store.replace({ ...stored, paused: true });
 * await store.delete(stored.id);
 * await store.close();
 * ```
 *
 * @module
 */
import { CorruptDataError, StaleVersionError } from "../persistence/store_errors.ts";
import type { Schedule } from "../schedule/schedule.ts";
import {
  ScheduleExistsError,
  ScheduleNotFoundError,
  type ScheduleStore,
} from "../schedule/schedule_store.ts";
import { luaScript, type QueueScript, runQueueScript } from "./_queue_scripts.ts";
import { _StoreClient } from "./_store_client.ts";
import { withRetry } from "./retry.ts";
import type { RedisStoreOptions } from "./redis_store_options.ts";

/** Options of {@linkcode RedisScheduleStore}. */
export type RedisScheduleStoreOptions = RedisStoreOptions;

/** KEYS: data, ver. ARGV: id, JSON. Returns 1, or 0 when the id is taken. */
const CREATE = luaScript(
  "scheduleCreate",
  `
if redis.call('HEXISTS', KEYS[2], ARGV[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('HSET', KEYS[2], ARGV[1], 1)
return 1
`,
);

/**
 * KEYS: data, ver. ARGV: id, expected version, JSON (of the next version).
 * Returns {1, version}, {0, stored version}, or {-1, 0} when there is none.
 */
const REPLACE = luaScript(
  "scheduleReplace",
  `
local v = redis.call('HGET', KEYS[2], ARGV[1])
if not v then return {-1, 0} end
if v ~= ARGV[2] then return {0, tonumber(v)} end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
redis.call('HSET', KEYS[2], ARGV[1], tonumber(v) + 1)
return {1, tonumber(v) + 1}
`,
);

/** KEYS: data, ver. ARGV: id. Returns 1 when it existed. */
const DELETE = luaScript(
  "scheduleDelete",
  `
redis.call('HDEL', KEYS[1], ARGV[1])
return redis.call('HDEL', KEYS[2], ARGV[1])
`,
);

/** Schedules in two Redis hashes. Connects on first use. */
export class RedisScheduleStore implements ScheduleStore {
  #redis: _StoreClient;
  #data: string;
  #ver: string;

  /**
   * Creates the store; the connection is opened by the first operation.
   *
   * @param options URL (or client), key prefix, clock and retry budget.
   * @throws {TypeError} When `keyPrefix` is invalid.
   * @throws {RangeError} When `unavailableAfterMs` or a `retry` option is out of range.
   */
  constructor(options: RedisScheduleStoreOptions = {}) {
    this.#redis = new _StoreClient("RedisScheduleStore", options);
    this.#data = `${this.#redis.prefix}{schedules}:data`;
    this.#ver = `${this.#redis.prefix}{schedules}:ver`;
  }

  /**
   * Stores a new schedule as version 1.
   *
   * @param schedule The schedule.
   * @returns The stored schedule.
   * @throws {ScheduleExistsError} When its id is taken.
   * @throws {StoreUnavailableError} When Redis stays unreachable.
   */
  async create(schedule: Schedule): Promise<Schedule> {
    const stored: Schedule = { ...structuredClone(schedule), version: 1 };
    const reply = await this.#run("create", CREATE, [schedule.id, JSON.stringify(stored)]);
    if (Number(reply) !== 1) throw new ScheduleExistsError(schedule.id);
    return stored;
  }

  /**
   * Reads a schedule (one `HGET`).
   *
   * @param id Its id.
   * @returns The schedule, or `undefined`.
   * @throws {CorruptDataError} When the stored JSON is unusable.
   */
  async get(id: string): Promise<Schedule | undefined> {
    const json = await this.#redis.run(`get("${id}")`, (client) => client.hget(this.#data, id));
    return json === null || json === undefined ? undefined : this.#decode(id, json);
  }

  /**
   * Reads every schedule (one `HGETALL`).
   *
   * @returns The schedules, sorted by id.
   * @throws {CorruptDataError} When a stored JSON is unusable.
   */
  async list(): Promise<Schedule[]> {
    const all = await this.#redis.run("list", (client) => client.hgetall(this.#data));
    return Object.keys(all).sort().map((id) => this.#decode(id, all[id]!));
  }

  /**
   * Replaces a schedule if its stored version is `schedule.version`.
   *
   * @param schedule The new content with the version it was read at.
   * @returns The stored schedule.
   * @throws {StaleVersionError} When the version moved on.
   * @throws {ScheduleNotFoundError} When it was deleted.
   */
  async replace(schedule: Schedule): Promise<Schedule> {
    const stored: Schedule = { ...structuredClone(schedule), version: schedule.version + 1 };
    const [ok, version] = await this.#run("replace", REPLACE, [
      schedule.id,
      String(schedule.version),
      JSON.stringify(stored),
    ]) as [number, number];
    if (ok === -1) throw new ScheduleNotFoundError(schedule.id);
    if (ok !== 1) {
      throw new StaleVersionError(`schedule:${schedule.id}`, schedule.version, Number(version));
    }
    return stored;
  }

  /**
   * Deletes a schedule.
   *
   * @param id Its id.
   * @returns Whether it existed.
   */
  async delete(id: string): Promise<boolean> {
    return Number(await this.#run("delete", DELETE, [id])) === 1;
  }

  /** Closes an owned connection. Idempotent. */
  async close(): Promise<void> {
    await this.#redis.close();
  }

  async #run(operation: string, script: QueueScript, args: string[]): Promise<unknown> {
    const client = await this.#redis.get();
    return await withRetry(
      `${operation} of a schedule`,
      () => this.#redis.guard(runQueueScript(client, script, [this.#data, this.#ver], args)),
      this.#redis.retryOptions,
    );
  }

  #decode(id: string, json: string): Schedule {
    try {
      const schedule = JSON.parse(json) as Schedule;
      if (typeof schedule !== "object" || schedule?.id !== id) throw new Error("not a schedule");
      return schedule;
    } catch (cause) {
      throw new CorruptDataError(`${this.#data} ${id}`, "the schedule is not valid JSON", {
        cause,
      });
    }
  }
}
