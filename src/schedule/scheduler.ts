/**
 * The scheduler of a node: keeps schedules in a {@linkcode ScheduleStore}
 * and, driven by the injected {@linkcode Clock}, starts an execution for
 * every due tick through the node's {@linkcode ExecutionBackend} — the
 * path `POST /executions` takes — with the idempotency key
 * `schedule:<id>:<tick>`.
 *
 * Every node on the same store runs one; they agree through the store.
 * Each step (start a tick, skip ticks, hold a tick) is stored with a
 * compare-and-set before it is taken, so exactly one node takes it. A
 * node that dies between claiming a tick and recording its execution
 * leaves the claim (`firing`); after `firingLeaseMs` any node starts the
 * tick again with the same idempotency key, which finds the execution if
 * the first start got through.
 *
 * Overlap: a tick due while the latest execution of its schedule still
 * runs is skipped, held (`buffer-one`) or started anyway (`allow`). Missed
 * ticks (handled `missedAfterMs` or more after they were due: no node ran)
 * follow the catch-up policy. Pausing skips ticks; resuming does not catch
 * up on them.
 *
 * Every step is reported as a `SCHEDULE_TICK` event to `onEvent` (the
 * metrics count them).
 *
 * @example
 * ```ts
 * import { Scheduler } from "./scheduler.ts";
 * import { InMemoryScheduleStore } from "./in_memory_schedule_store.ts";
 * import { InMemoryEventStore } from "../events/in_memory_event_store.ts";
 * import { ManualClock } from "../testing/manual_clock.ts";
 *
 * const clock = new ManualClock(Date.UTC(2025, 0, 1));
 * const started: string[] = [];
 * const scheduler = new Scheduler({
 *   store: new InMemoryScheduleStore(),
 *   eventStore: new InMemoryEventStore(),
 *   clock,
 *   backend: {
 *     agents: () => ["report"],
 *     submit: (request) => {
 *       started.push(request.idempotencyKey!);
 *       return Promise.resolve({ executionId: `exec-${started.length}`, duplicate: false });
 *     },
 *   },
 * });
 * await scheduler.create({ id: "hourly", cron: "0 * * * *", agent: "report" });
 * await clock.advance(3_600_000);
 * await scheduler.runDue();
 * console.assert(started[0] === "schedule:hourly:2025-01-01T01:00:00.000Z");
 * await scheduler.stop();
 * ```
 *
 * @module
 */
import type { Cron } from "croner";
import { type Clock, systemClock, type TimerId } from "../clock.ts";
import { UnknownAgentError } from "../orchestrator/execution_errors.ts";
import { StrictPolicy } from "../orchestrator/policy.ts";
import { StaleVersionError } from "../persistence/store_errors.ts";
import type { EventStore } from "../events/event_store.ts";
import { getOaoLogger } from "../logging/logger.ts";
import type { OaoEvent } from "../observability/events.ts";
import {
  type ExecutionBackend,
  IdempotencyKeyReusedError,
} from "../orchestrator/execution_backend.ts";
import { _nextTick, _parseCron } from "./_cron.ts";
import { _plan, type _Step } from "./_plan.ts";
import { newSchedule, type Schedule, type ScheduleSpec, tickIdempotencyKey } from "./schedule.ts";
import { ScheduleNotFoundError, type ScheduleStore } from "./schedule_store.ts";

/** Options of {@linkcode Scheduler}. */
export interface SchedulerOptions {
  /** Where schedules live (shared by the nodes that schedule together). */
  store: ScheduleStore;
  /** Starts the executions (`submit`) and names the agents a schedule may start. */
  backend: Pick<ExecutionBackend, "submit" | "agents" | "tools">;
  /** Where the status of a schedule's latest execution is read (overlap policy). */
  eventStore: Pick<EventStore, "latest" | "readRange">;
  /** Time and timers. @default {systemClock} */
  clock?: Clock;
  /** This node's name, recorded with the ticks it claims. @default {a random one} */
  node?: string;
  /** Longest wait between two passes (picks up schedules made elsewhere), in ms. @default {1000} */
  pollMs?: number;
  /** A tick handled this long after it was due or later is missed (catch-up policy), in ms. @default {60000} */
  missedAfterMs?: number;
  /** A claimed tick whose execution is not recorded after this long is started again, in ms. @default {30000} */
  firingLeaseMs?: number;
  /** Most schedules the store may hold; {@linkcode Scheduler.create} refuses more. @default {1000} */
  maxSchedules?: number;
  /** Receives a `SCHEDULE_TICK` event for every step taken by this node. */
  onEvent?: (event: OaoEvent) => void;
}

/** Too many schedules exist; {@linkcode Scheduler.create} refuses another. */
export class ScheduleLimitError extends RangeError {
  /**
   * @param limit The largest number of schedules.
   */
  constructor(limit: number) {
    super(`Cannot create a schedule: ${limit} schedules exist, the most this node allows`);
    this.name = "ScheduleLimitError";
  }
}

const FINAL = new Set(["EXECUTION_COMPLETED", "EXECUTION_FAILED", "EXECUTION_CANCELLED"]);
/** Events read back from the latest one to find the final event (only runtime events follow it). */
const TAIL_EVENTS = 20;
/** Most steps one schedule takes in one pass (a catch-up of `MAX_CATCH_UP_LIMIT` ticks, and some). */
const MAX_STEPS_PER_PASS = 1_100;
const CAS_ATTEMPTS = 20;

/** Schedules and the loop that starts their ticks. */
export class Scheduler {
  readonly #store: ScheduleStore;
  readonly #backend: Pick<ExecutionBackend, "submit" | "agents" | "tools">;
  readonly #events: Pick<EventStore, "latest" | "readRange">;
  readonly #clock: Clock;
  readonly #node: string;
  readonly #pollMs: number;
  readonly #missedAfterMs: number;
  readonly #firingLeaseMs: number;
  readonly #maxSchedules: number;
  readonly #onEvent: ((event: OaoEvent) => void) | undefined;
  readonly #crons = new Map<string, { key: string; cron: Cron }>();
  readonly #log = getOaoLogger("scheduler");
  #timer: TimerId | undefined;
  #pass: Promise<void> | undefined;
  #started = false;
  #stopped = false;

  /**
   * Creates a scheduler; {@linkcode Scheduler.start} starts its loop.
   *
   * @param options Store, backend, event store, clock, timing.
   * @throws {RangeError} When a timing option is not a positive number.
   */
  constructor(options: SchedulerOptions) {
    this.#store = options.store;
    this.#backend = options.backend;
    this.#events = options.eventStore;
    this.#clock = options.clock ?? systemClock;
    this.#node = options.node ?? `node-${crypto.randomUUID().slice(0, 8)}`;
    this.#pollMs = _positive(options.pollMs ?? 1_000, "pollMs");
    this.#missedAfterMs = _positive(options.missedAfterMs ?? 60_000, "missedAfterMs");
    this.#firingLeaseMs = _positive(options.firingLeaseMs ?? 30_000, "firingLeaseMs");
    this.#maxSchedules = _positive(options.maxSchedules ?? 1_000, "maxSchedules");
    this.#onEvent = options.onEvent;
  }

  /**
   * Validates and stores a schedule. Its first tick is the first after now.
   *
   * @param spec The schedule.
   * @returns The stored schedule.
   * @throws {TypeError | RangeError} Naming an invalid field (cron expression, time zone…,
   *   a policy whose `requireApproval` names a tool the backend's agents may not call).
   * @throws {UnknownAgentError} When the agent is not one the backend accepts.
   * @throws {ScheduleExistsError} When the id is taken.
   * @throws {ScheduleLimitError} When `maxSchedules` exist.
   */
  async create(spec: ScheduleSpec): Promise<Schedule> {
    const schedule = newSchedule(spec, this.#clock.now());
    const agents = this.#backend.agents();
    if (!agents.includes(schedule.agent)) throw new UnknownAgentError(schedule.agent, agents);
    const { tools } = this.#backend;
    if (schedule.policy && tools) {
      new StrictPolicy(schedule.policy).checkTools(tools.call(this.#backend).map((t) => t.name));
    }
    if ((await this.#store.list()).length >= this.#maxSchedules) {
      throw new ScheduleLimitError(this.#maxSchedules);
    }
    const stored = await this.#store.create(schedule);
    this.#wake();
    return stored;
  }

  /**
   * Reads a schedule.
   *
   * @param id Its id.
   * @returns The schedule, or `undefined`.
   */
  get(id: string): Promise<Schedule | undefined> {
    return this.#store.get(id);
  }

  /**
   * Reads every schedule.
   *
   * @returns The schedules, sorted by id.
   */
  list(): Promise<Schedule[]> {
    return this.#store.list();
  }

  /**
   * Pauses a schedule: its ticks are skipped until it is resumed. A held
   * (`buffer-one`) tick is dropped.
   *
   * @param id Its id.
   * @returns The schedule.
   * @throws {ScheduleNotFoundError} When there is none.
   */
  pause(id: string): Promise<Schedule> {
    return this.#update(id, (s) => {
      const next = { ...s, paused: true, updatedAt: this.#clock.now() };
      delete next.buffered;
      return next;
    });
  }

  /**
   * Resumes a schedule: ticks after now fire; those of the pause do not.
   *
   * @param id Its id.
   * @returns The schedule.
   * @throws {ScheduleNotFoundError} When there is none.
   */
  async resume(id: string): Promise<Schedule> {
    const now = this.#clock.now();
    const resumed = await this.#update(
      id,
      (s) =>
        s.paused ? { ...s, paused: false, lastTick: Math.max(s.lastTick, now), updatedAt: now } : s,
    );
    this.#wake();
    return resumed;
  }

  /**
   * Deletes a schedule; executions it started go on.
   *
   * @param id Its id.
   * @returns Whether it existed.
   */
  async delete(id: string): Promise<boolean> {
    this.#crons.delete(id);
    return await this.#store.delete(id);
  }

  /**
   * The first tick after now of a schedule (for display).
   *
   * @param schedule The schedule.
   * @returns Epoch ms, or `undefined` when paused or never again.
   */
  nextTick(schedule: Schedule): number | undefined {
    if (schedule.paused) return undefined;
    return _nextTick(this.#cron(schedule), Math.max(schedule.lastTick, this.#clock.now()));
  }

  /** Starts the loop: a pass now (catching up on missed ticks), then at every tick. */
  start(): void {
    if (this.#started || this.#stopped) return;
    this.#started = true;
    this.#arm(0);
  }

  /**
   * Handles every due tick of every schedule once (the loop calls it; tests
   * call it after moving a manual clock). A call while a pass runs waits for it.
   *
   * @returns Once done; failures are logged, never thrown.
   */
  runDue(): Promise<void> {
    this.#pass ??= this.#runDue().finally(() => this.#pass = undefined);
    return this.#pass;
  }

  /** Stops the loop and waits for a pass in flight. Idempotent. */
  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#timer !== undefined) this.#clock.clearTimeout(this.#timer);
    this.#timer = undefined;
    await this.#pass;
  }

  #wake(): void {
    if (this.#started && !this.#stopped) this.#arm(0);
  }

  #arm(ms: number): void {
    if (this.#timer !== undefined) this.#clock.clearTimeout(this.#timer);
    this.#timer = this.#clock.setTimeout(async () => {
      this.#timer = undefined;
      const wait = await this.runDue().then(() => this.#untilNext(), () => this.#pollMs);
      if (!this.#stopped && this.#timer === undefined) this.#arm(wait);
    }, ms);
  }

  async #untilNext(): Promise<number> {
    let wait = this.#pollMs;
    try {
      const now = this.#clock.now();
      for (const schedule of await this.#store.list()) {
        const next = this.nextTick(schedule);
        if (next !== undefined) wait = Math.min(wait, Math.max(0, next - now));
      }
    } catch {
      // the store is down: poll
    }
    return wait;
  }

  async #runDue(): Promise<void> {
    let schedules: Schedule[];
    try {
      schedules = await this.#store.list();
    } catch (error) {
      this.#log.warn("Cannot read the schedules: {error}", { error });
      return;
    }
    const ids = new Set(schedules.map((s) => s.id));
    for (const id of this.#crons.keys()) if (!ids.has(id)) this.#crons.delete(id);
    for (const schedule of schedules) {
      if (this.#stopped) return;
      try {
        await this.#runSchedule(schedule);
      } catch (error) {
        this.#log.warn("Schedule {id}: a pass failed: {error}", { id: schedule.id, error });
      }
    }
  }

  async #runSchedule(read: Schedule): Promise<void> {
    let schedule: Schedule | undefined = read;
    for (let steps = 0; schedule && steps < MAX_STEPS_PER_PASS && !this.#stopped; steps++) {
      const current: Schedule = schedule;
      const planned = await _plan(
        current,
        this.#cron(current),
        this.#clock.now(),
        {
          missedAfterMs: this.#missedAfterMs,
          firingLeaseMs: this.#firingLeaseMs,
          node: this.#node,
        },
        () => this.#running(current.lastExecutionId),
      );
      if (!planned) return;
      let stored: Schedule;
      try {
        stored = await this.#store.replace(planned.next);
      } catch (error) {
        if (!(error instanceof StaleVersionError)) {
          if (error instanceof ScheduleNotFoundError) return;
          throw error;
        }
        schedule = await this.#store.get(current.id); // another node took this step
        continue;
      }
      schedule = planned.step.kind === "fire" ? await this.#fire(stored, planned.step) : stored;
      if (planned.step.kind !== "fire") this.#report(current.id, planned.step);
    }
  }

  async #fire(schedule: Schedule, step: Extract<_Step, { kind: "fire" }>): Promise<Schedule> {
    const tick = step.tick;
    try {
      const request: Parameters<ExecutionBackend["submit"]>[0] = {
        agent: schedule.agent,
        task: schedule.task,
        idempotencyKey: tickIdempotencyKey(schedule.id, tick),
      };
      if (schedule.policy) request.policy = schedule.policy;
      const result = await this.#backend.submit(request);
      this.#report(schedule.id, step, { executionId: result.executionId });
      return await this.#update(schedule.id, (s) => {
        if (s.firing?.tick !== tick) return s; // taken over: the other node records it
        const next = { ...s, lastExecutionId: result.executionId, lastFiredTick: tick };
        delete next.firing;
        delete next.lastError;
        return next;
      });
    } catch (error) {
      const permanent = error instanceof UnknownAgentError || error instanceof TypeError ||
        error instanceof RangeError || error instanceof IdempotencyKeyReusedError;
      const message = error instanceof Error ? error.message : String(error);
      this.#log.warn("Schedule {id}: cannot start the tick {tick}: {error}", {
        id: schedule.id,
        tick: new Date(tick).toISOString(),
        error,
      });
      this.#report(schedule.id, step, { error: message, failed: true });
      // A permanent failure gives the tick up; another one leaves the claim,
      // which any node takes over after the firing lease.
      return await this.#update(schedule.id, (s) => {
        if (s.firing?.tick !== tick) return s;
        const next = { ...s, lastError: message.slice(0, 1_000) };
        if (permanent) delete next.firing;
        return next;
      });
    }
  }

  async #running(executionId: string | undefined): Promise<boolean> {
    if (executionId === undefined) return false;
    const latest = await this.#events.latest(executionId);
    if (latest === undefined) return false; // unknown, or its log expired
    if (FINAL.has(latest.type)) return false;
    // The final event is followed by the last few runtime events (ACTOR_STOPPED…).
    const from = Math.max(1, latest.seq - TAIL_EVENTS);
    const tail = await this.#events.readRange(executionId, { from });
    return !tail.some((event) => FINAL.has(event.type));
  }

  #report(
    scheduleId: string,
    step: _Step,
    extra: { executionId?: string; error?: string; failed?: boolean } = {},
  ): void {
    const outcome = extra.failed
      ? "failed"
      : step.kind === "fire"
      ? "fired"
      : step.kind === "skip"
      ? "skipped"
      : "buffered";
    const data: Record<string, unknown> = {
      scheduleId,
      tick: step.tick,
      outcome,
      reason: step.kind === "buffer" ? (step.replaced ? "replaced" : "overlap") : step.reason,
      count: step.kind === "skip" ? step.count : 1,
    };
    if (extra.executionId) data.executionId = extra.executionId;
    if (extra.error) data.error = extra.error;
    try {
      this.#onEvent?.({ type: "SCHEDULE_TICK", time: this.#clock.now(), data });
    } catch (error) {
      this.#log.warn("A SCHEDULE_TICK listener failed: {error}", { error });
    }
  }

  async #update(id: string, change: (s: Schedule) => Schedule): Promise<Schedule> {
    for (let attempt = 1;; attempt++) {
      const current = await this.#store.get(id);
      if (!current) throw new ScheduleNotFoundError(id);
      const next = change(current);
      if (next === current) return current;
      try {
        return await this.#store.replace(next);
      } catch (error) {
        if (!(error instanceof StaleVersionError) || attempt >= CAS_ATTEMPTS) throw error;
      }
    }
  }

  #cron(schedule: Schedule): Cron {
    const key = `${schedule.cron}\n${schedule.timezone}`;
    const known = this.#crons.get(schedule.id);
    if (known?.key === key) return known.cron;
    const cron = _parseCron(schedule.cron, schedule.timezone);
    this.#crons.set(schedule.id, { key, cron });
    return cron;
  }
}

function _positive(value: number, name: string): number {
  if (!Number.isFinite(value) || value <= 0) {
    throw new RangeError(`Invalid ${name} ${JSON.stringify(value)}: expected a positive number`);
  }
  return value;
}
