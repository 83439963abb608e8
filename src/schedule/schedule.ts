/**
 * What a schedule is: a cron expression in a time zone that starts an
 * execution of an agent with a task at every tick, with an overlap policy
 * (what a tick does while the previous tick's execution still runs) and a
 * catch-up policy (what happens to the ticks missed while no node ran), and
 * the state the scheduler keeps with it. {@linkcode newSchedule} validates a
 * {@linkcode ScheduleSpec}, naming what is wrong.
 *
 * @example
 * ```ts
 * import { newSchedule } from "./schedule.ts";
 * const schedule = newSchedule(
 *   { id: "nightly", cron: "0 3 * * *", timezone: "Europe/Berlin", agent: "researcher", task: {} },
 *   Date.UTC(2025, 0, 1),
 * );
 * console.assert(schedule.overlap === "skip" && schedule.catchUp === "skip" && !schedule.paused);
 * ```
 *
 * @module
 */
import { _parseCron } from "./_cron.ts";
import { canonicalJson } from "../orchestrator/canonical_json.ts";
import { type PolicyLimits, StrictPolicy } from "../orchestrator/policy.ts";

/**
 * What a tick does while the previous tick's execution still runs: `skip`
 * it, hold it until that execution ends (`buffer-one`: at most one held, a
 * newer tick replaces it), or start it anyway (`allow`).
 */
export type OverlapPolicy = "skip" | "buffer-one" | "allow";

/**
 * What happens to ticks missed while no node ran (later than
 * `SchedulerOptions.missedAfterMs`): none run (`skip`), one execution runs
 * for them (`run-once`), or each runs, the latest `catchUpLimit` of them
 * (`run-all`).
 */
export type CatchUpPolicy = "skip" | "run-once" | "run-all";

/** The overlap policies. */
export const OVERLAP_POLICIES: readonly OverlapPolicy[] = ["skip", "buffer-one", "allow"];
/** The catch-up policies. */
export const CATCH_UP_POLICIES: readonly CatchUpPolicy[] = ["skip", "run-once", "run-all"];

/** Schedule ids: 1–64 letters, digits, `_`, `.` or `-`. */
export const SCHEDULE_ID: RegExp = /^[A-Za-z0-9_.-]{1,64}$/;
/** Default of {@linkcode ScheduleSpec.catchUpLimit}. */
export const DEFAULT_CATCH_UP_LIMIT = 10;
/** Largest {@linkcode ScheduleSpec.catchUpLimit}. */
export const MAX_CATCH_UP_LIMIT = 1_000;
/** Largest task of a schedule, as JSON (UTF-8 bytes): it is stored with the schedule. */
export const MAX_SCHEDULE_TASK_BYTES = 32_768;

/** What a schedule is made of (`POST /schedules`). */
export interface ScheduleSpec {
  /** Its id. @default {a new one: `sched-<random>`} */
  id?: string;
  /** 5-field cron expression (`"*\/15 * * * *"`) or `@daily`, `@hourly`, … */
  cron: string;
  /** IANA time zone the expression is read in. @default {"UTC"} */
  timezone?: string;
  /** The registered agent each tick starts. */
  agent: string;
  /** The task given to each execution (JSON). @default {null} */
  task?: unknown;
  /** Policy overrides of each execution. */
  policy?: Partial<PolicyLimits>;
  /** What a tick does while the previous execution runs. @default {"skip"} */
  overlap?: OverlapPolicy;
  /** What happens to ticks missed while no node ran. @default {"skip"} */
  catchUp?: CatchUpPolicy;
  /** Most missed ticks run by `run-all` (the latest ones). @default {DEFAULT_CATCH_UP_LIMIT} */
  catchUpLimit?: number;
  /** Created paused. @default {false} */
  paused?: boolean;
}

/** A tick being started: claimed by a node, its execution not yet recorded. */
export interface FiringTick {
  /** The tick, epoch ms. */
  tick: number;
  /** When the claim was made (a claim older than the firing lease is taken over). */
  since: number;
  /** The node that claimed it. */
  node: string;
}

/** A stored schedule: its spec with defaults applied, and the scheduler's state. */
export interface Schedule {
  /** Its id. */
  id: string;
  /** The cron expression. */
  cron: string;
  /** The time zone. */
  timezone: string;
  /** The agent. */
  agent: string;
  /** The task of each execution. */
  task: unknown;
  /** Policy overrides of each execution. */
  policy?: Partial<PolicyLimits>;
  /** The overlap policy. */
  overlap: OverlapPolicy;
  /** The catch-up policy. */
  catchUp: CatchUpPolicy;
  /** Most missed ticks `run-all` runs. */
  catchUpLimit: number;
  /** Paused: its ticks are skipped (not caught up on resume). */
  paused: boolean;
  /** Creation time, epoch ms. */
  createdAt: number;
  /** Last change, epoch ms. */
  updatedAt: number;
  /** Every tick up to this one (epoch ms) was handled: started, skipped or held. */
  lastTick: number;
  /** The tick that started the latest execution. */
  lastFiredTick?: number;
  /** The latest execution started. */
  lastExecutionId?: string;
  /** A tick held by `buffer-one` until the latest execution ends. */
  buffered?: number;
  /** A tick being started. */
  firing?: FiringTick;
  /** Why the latest start failed. */
  lastError?: string;
  /** Version in the store, raised by every write. */
  version: number;
}

/**
 * Validates a spec and makes the schedule it describes (version 0: not yet stored).
 *
 * @param spec The spec.
 * @param now Creation time (epoch ms): ticks after it fire.
 * @returns The schedule.
 * @throws {TypeError} Naming an invalid field: an invalid cron expression or
 *   time zone, a task that is not JSON, an unknown policy.
 * @throws {RangeError} Naming a field out of range: `catchUpLimit`, a task
 *   over {@linkcode MAX_SCHEDULE_TASK_BYTES}, a policy limit.
 *
 * @example
 * ```ts
 * import { newSchedule } from "./schedule.ts";
 * try {
 *   newSchedule({ cron: "61 * * * *", agent: "a" }, 0);
 * } catch (error) {
 *   console.assert((error as Error).message.startsWith('Invalid cron expression "61 * * * *"'));
 * }
 * ```
 */
export function newSchedule(spec: ScheduleSpec, now: number): Schedule {
  if (typeof spec !== "object" || spec === null) {
    throw new TypeError("Invalid schedule: expected an object with cron and agent");
  }
  const id = spec.id ?? `sched-${crypto.randomUUID().replaceAll("-", "").slice(0, 16)}`;
  if (typeof id !== "string" || !SCHEDULE_ID.test(id)) {
    throw new TypeError(
      `Invalid schedule id ${
        JSON.stringify(String(id).slice(0, 100))
      }: expected 1–64 letters, digits, "_", "." or "-"`,
    );
  }
  const timezone = spec.timezone ?? "UTC";
  _parseCron(spec.cron, timezone);
  if (typeof spec.agent !== "string" || spec.agent.length === 0 || spec.agent.length > 200) {
    throw new TypeError(`Invalid schedule agent: expected the name of a registered agent`);
  }
  const overlap = spec.overlap ?? "skip";
  if (!OVERLAP_POLICIES.includes(overlap)) {
    throw new TypeError(
      `Invalid overlap policy ${JSON.stringify(String(overlap).slice(0, 50))}: expected ${
        OVERLAP_POLICIES.map((p) => `"${p}"`).join(", ")
      }`,
    );
  }
  const catchUp = spec.catchUp ?? "skip";
  if (!CATCH_UP_POLICIES.includes(catchUp)) {
    throw new TypeError(
      `Invalid catch-up policy ${JSON.stringify(String(catchUp).slice(0, 50))}: expected ${
        CATCH_UP_POLICIES.map((p) => `"${p}"`).join(", ")
      }`,
    );
  }
  const catchUpLimit = spec.catchUpLimit ?? DEFAULT_CATCH_UP_LIMIT;
  if (!Number.isInteger(catchUpLimit) || catchUpLimit < 1 || catchUpLimit > MAX_CATCH_UP_LIMIT) {
    throw new RangeError(
      `Invalid catchUpLimit ${
        JSON.stringify(catchUpLimit)
      }: expected an integer 1–${MAX_CATCH_UP_LIMIT}`,
    );
  }
  const task = spec.task ?? null;
  let json: string;
  try {
    json = canonicalJson(task);
  } catch (error) {
    throw new TypeError(`Invalid schedule task: ${(error as Error).message}`);
  }
  const bytes = new TextEncoder().encode(json).length;
  if (bytes > MAX_SCHEDULE_TASK_BYTES) {
    throw new RangeError(
      `Invalid schedule task: ${bytes} bytes of JSON, more than the ${MAX_SCHEDULE_TASK_BYTES} a schedule may hold`,
    );
  }
  if (!Number.isFinite(now)) throw new RangeError(`Invalid time ${now}: expected epoch ms`);
  const schedule: Schedule = {
    id,
    cron: spec.cron.trim(),
    timezone,
    agent: spec.agent,
    task: JSON.parse(json),
    overlap,
    catchUp,
    catchUpLimit,
    paused: spec.paused === true,
    createdAt: now,
    updatedAt: now,
    lastTick: now,
    version: 0,
  };
  if (spec.policy !== undefined) {
    if (typeof spec.policy !== "object" || spec.policy === null) {
      throw new TypeError("Invalid schedule policy: expected an object of limits");
    }
    new StrictPolicy(spec.policy);
    schedule.policy = { ...spec.policy };
  }
  return schedule;
}

/**
 * The idempotency key of a tick's execution: a retried start of the same
 * tick (by any node) finds the execution of the first.
 *
 * @param scheduleId The schedule.
 * @param tick The tick, epoch ms.
 * @returns `schedule:<id>:<tick as ISO 8601>`.
 *
 * @example
 * ```ts
 * import { tickIdempotencyKey } from "./schedule.ts";
 * console.assert(tickIdempotencyKey("nightly", 0) === "schedule:nightly:1970-01-01T00:00:00.000Z");
 * ```
 */
export function tickIdempotencyKey(scheduleId: string, tick: number): string {
  return `schedule:${scheduleId}:${new Date(tick).toISOString()}`;
}
