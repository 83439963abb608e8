/**
 * The port where schedules live: versioned records with a compare-and-set
 * replace, so that of the nodes that race to claim a tick exactly one wins.
 * Adapters: {@linkcode InMemoryScheduleStore} (this process only),
 * `RedisScheduleStore` (`@oao/runtime/redis`) and `KvScheduleStore`
 * (`@oao/runtime/kv`).
 *
 * @example
 * ```ts
 * import { InMemoryScheduleStore } from "./in_memory_schedule_store.ts";
 * import { newSchedule } from "./schedule.ts";
 * const store = new InMemoryScheduleStore();
 * const stored = await store.create(newSchedule({ id: "s", cron: "@daily", agent: "a" }, 0));
 * await store.replace({ ...stored, paused: true });
 * console.assert((await store.get("s"))?.version === 2);
 * await store.close();
 * ```
 *
 * @module
 */
import { OaoError } from "../oao_error.ts";
import type { Schedule } from "./schedule.ts";

/** A schedule with that id already exists. */
export class ScheduleExistsError extends OaoError {
  /** The id. */
  readonly scheduleId: string;
  /**
   * @param scheduleId The id that is taken.
   */
  constructor(scheduleId: string) {
    super(
      "SCHEDULE_EXISTS",
      `Cannot create schedule "${scheduleId}": a schedule with this id exists`,
    );
    this.scheduleId = scheduleId;
  }
}

/** No schedule has that id. */
export class ScheduleNotFoundError extends OaoError {
  /** The id. */
  readonly scheduleId: string;
  /**
   * @param scheduleId The id looked up.
   */
  constructor(scheduleId: string) {
    super("SCHEDULE_NOT_FOUND", `No schedule "${scheduleId}" exists`);
    this.scheduleId = scheduleId;
  }
}

/** Where schedules are stored. Every method returns copies. */
export interface ScheduleStore {
  /**
   * Stores a new schedule as version 1.
   *
   * @param schedule The schedule (its `version` is ignored).
   * @returns The stored schedule.
   * @throws {ScheduleExistsError} When its id is taken.
   * @throws {StoreUnavailableError} When the store cannot be reached.
   */
  create(schedule: Schedule): Promise<Schedule>;
  /**
   * Reads a schedule.
   *
   * @param id Its id.
   * @returns The schedule, or `undefined` when there is none.
   */
  get(id: string): Promise<Schedule | undefined>;
  /**
   * Reads every schedule, sorted by id.
   *
   * @returns The schedules.
   */
  list(): Promise<Schedule[]>;
  /**
   * Replaces a schedule if the stored version is still `schedule.version`.
   *
   * @param schedule The new content, carrying the version it was read at.
   * @returns The stored schedule (version raised by one).
   * @throws {StaleVersionError} When another write came first.
   * @throws {ScheduleNotFoundError} When it was deleted.
   */
  replace(schedule: Schedule): Promise<Schedule>;
  /**
   * Deletes a schedule.
   *
   * @param id Its id.
   * @returns Whether it existed.
   */
  delete(id: string): Promise<boolean>;
  /** Releases the store's resources. */
  close(): Promise<void>;
}
