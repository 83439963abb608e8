/**
 * The {@linkcode ScheduleStore} in a Deno KV file: the schedulers of the
 * processes on one machine that share the file race for each tick with a
 * compare-and-set on the schedule's versionstamp, and exactly one wins.
 *
 * ## Keys (below the prefix `p`, `"oao"` by default)
 * - `[p, "sched", <id>]` — a schedule (a task is at most 32 KiB of JSON, so
 *   a schedule fits one Deno KV value).
 *
 * @example
 * ```ts
 * import { KvScheduleStore } from "./kv_schedule_store.ts";
 * import { newSchedule } from "../schedule/schedule.ts";
 * const dir = await Deno.makeTempDir();
 * const store = new KvScheduleStore({ path: `${dir}/oao.kv` });
 * const stored = await store.create(newSchedule({ cron: "@hourly", agent: "report" }, 0));
 * await store.replace({ ...stored, paused: true });
 * console.assert((await store.get(stored.id))?.paused === true);
 * await store.close();
 * await Deno.remove(dir, { recursive: true });
 * ```
 *
 * @module
 */
import { StaleVersionError } from "../persistence/store_errors.ts";
import type { Schedule } from "../schedule/schedule.ts";
import {
  ScheduleExistsError,
  ScheduleNotFoundError,
  type ScheduleStore,
} from "../schedule/schedule_store.ts";
import { _KvClient } from "./_kv_client.ts";
import type { KvStoreOptions } from "./kv_store_options.ts";

/** Options of {@linkcode KvScheduleStore}. */
export type KvScheduleStoreOptions = KvStoreOptions;

/** Schedules in a Deno KV file. Opens the file on first use; needs `--unstable-kv`. */
export class KvScheduleStore implements ScheduleStore {
  #client: _KvClient;

  /**
   * Creates the store; the file is opened by the first operation.
   *
   * @param options File (or `Deno.Kv`), key prefix.
   * @throws {TypeError} When `keyPrefix` is not a non-empty string.
   * @throws {RangeError} When `unavailableAfterMs` is out of range.
   */
  constructor(options: KvScheduleStoreOptions = {}) {
    this.#client = new _KvClient("KvScheduleStore", options);
  }

  /**
   * Stores a new schedule as version 1.
   *
   * @param schedule The schedule.
   * @returns The stored schedule.
   * @throws {ScheduleExistsError} When its id is taken.
   * @throws {StoreUnavailableError} When the file cannot be used.
   */
  async create(schedule: Schedule): Promise<Schedule> {
    const stored: Schedule = { ...structuredClone(schedule), version: 1 };
    const key = this.#key(schedule.id);
    const result = await this.#client.run(
      `create of schedule "${schedule.id}"`,
      (kv) => kv.atomic().check({ key, versionstamp: null }).set(key, stored).commit(),
    );
    if (!result.ok) throw new ScheduleExistsError(schedule.id);
    return structuredClone(stored);
  }

  /**
   * Reads a schedule.
   *
   * @param id Its id.
   * @returns The schedule, or `undefined`.
   */
  async get(id: string): Promise<Schedule | undefined> {
    const entry = await this.#client.run(
      `read of schedule "${id}"`,
      (kv) => kv.get<Schedule>(this.#key(id)),
    );
    return entry.value ?? undefined;
  }

  /**
   * Reads every schedule (one range read).
   *
   * @returns The schedules, sorted by id.
   */
  list(): Promise<Schedule[]> {
    return this.#client.run("list of schedules", async (kv) => {
      const schedules: Schedule[] = [];
      const prefix = [this.#client.prefix, "sched"];
      for await (const entry of kv.list<Schedule>({ prefix })) schedules.push(entry.value);
      return schedules.sort((a, b) => a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
    });
  }

  /**
   * Replaces a schedule if its stored version is `schedule.version`.
   *
   * @param schedule The new content with the version it was read at.
   * @returns The stored schedule.
   * @throws {StaleVersionError} When the version moved on.
   * @throws {ScheduleNotFoundError} When it was deleted.
   */
  replace(schedule: Schedule): Promise<Schedule> {
    const key = this.#key(schedule.id);
    const stored: Schedule = { ...structuredClone(schedule), version: schedule.version + 1 };
    return this.#client.run(`replace of schedule "${schedule.id}"`, async (kv) => {
      for (;;) {
        const entry = await kv.get<Schedule>(key);
        if (!entry.value) throw new ScheduleNotFoundError(schedule.id);
        if (entry.value.version !== schedule.version) {
          throw new StaleVersionError(
            `schedule:${schedule.id}`,
            schedule.version,
            entry.value.version,
          );
        }
        const result = await kv.atomic().check(entry).set(key, stored).commit();
        if (result.ok) return structuredClone(stored);
        // Another writer came between the read and the commit: read again.
      }
    });
  }

  /**
   * Deletes a schedule.
   *
   * @param id Its id.
   * @returns Whether it existed.
   */
  delete(id: string): Promise<boolean> {
    const key = this.#key(id);
    return this.#client.run(`delete of schedule "${id}"`, async (kv) => {
      for (;;) {
        const entry = await kv.get(key);
        if (entry.versionstamp === null) return false;
        const result = await kv.atomic().check(entry).delete(key).commit();
        if (result.ok) return true;
      }
    });
  }

  /** Releases the file. Idempotent. */
  async close(): Promise<void> {
    await this.#client.close();
  }

  #key(id: string): Deno.KvKey {
    return [this.#client.prefix, "sched", id];
  }
}
