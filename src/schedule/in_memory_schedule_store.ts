/**
 * The {@linkcode ScheduleStore} of one process: schedules in a map, gone
 * with the process.
 *
 * @example
 * ```ts
 * import { InMemoryScheduleStore } from "./in_memory_schedule_store.ts";
 * import { newSchedule } from "./schedule.ts";
 * const store = new InMemoryScheduleStore();
 * await store.create(newSchedule({ id: "hourly", cron: "@hourly", agent: "a" }, 0));
 * console.assert((await store.list()).length === 1);
 * await store.close();
 * ```
 *
 * @module
 */
import { StaleVersionError } from "../persistence/store_errors.ts";
import type { Schedule } from "./schedule.ts";
import {
  ScheduleExistsError,
  ScheduleNotFoundError,
  type ScheduleStore,
} from "./schedule_store.ts";

/** Schedules in memory. */
export class InMemoryScheduleStore implements ScheduleStore {
  #schedules = new Map<string, Schedule>();

  /**
   * Stores a new schedule.
   *
   * @param schedule The schedule.
   * @returns The stored copy (version 1).
   * @throws {ScheduleExistsError} When its id is taken.
   */
  create(schedule: Schedule): Promise<Schedule> {
    if (this.#schedules.has(schedule.id)) {
      return Promise.reject(new ScheduleExistsError(schedule.id));
    }
    const stored = { ...structuredClone(schedule), version: 1 };
    this.#schedules.set(schedule.id, stored);
    return Promise.resolve(structuredClone(stored));
  }

  /**
   * Reads a schedule.
   *
   * @param id Its id.
   * @returns A copy, or `undefined`.
   */
  get(id: string): Promise<Schedule | undefined> {
    const found = this.#schedules.get(id);
    return Promise.resolve(found && structuredClone(found));
  }

  /**
   * Reads every schedule.
   *
   * @returns Copies, sorted by id.
   */
  list(): Promise<Schedule[]> {
    return Promise.resolve(
      [...this.#schedules.values()].sort((a, b) => a.id < b.id ? -1 : a.id > b.id ? 1 : 0)
        .map((s) => structuredClone(s)),
    );
  }

  /**
   * Replaces a schedule at its version.
   *
   * @param schedule New content with the version it was read at.
   * @returns The stored copy.
   * @throws {StaleVersionError} When the version moved on.
   * @throws {ScheduleNotFoundError} When it was deleted.
   */
  replace(schedule: Schedule): Promise<Schedule> {
    const current = this.#schedules.get(schedule.id);
    if (!current) return Promise.reject(new ScheduleNotFoundError(schedule.id));
    if (current.version !== schedule.version) {
      return Promise.reject(
        new StaleVersionError(`schedule:${schedule.id}`, schedule.version, current.version),
      );
    }
    const stored = { ...structuredClone(schedule), version: current.version + 1 };
    this.#schedules.set(schedule.id, stored);
    return Promise.resolve(structuredClone(stored));
  }

  /**
   * Deletes a schedule.
   *
   * @param id Its id.
   * @returns Whether it existed.
   */
  delete(id: string): Promise<boolean> {
    return Promise.resolve(this.#schedules.delete(id));
  }

  /**
   * Forgets every schedule.
   *
   * @returns Once done.
   */
  close(): Promise<void> {
    this.#schedules.clear();
    return Promise.resolve();
  }
}
