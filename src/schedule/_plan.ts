/**
 * The scheduler's decision for one schedule at one instant, as a pure
 * function of the schedule, the time and whether its latest execution
 * still runs: the next step (start a tick, skip ticks, hold a tick) and the
 * schedule as it must be stored for it. The scheduler stores it with a
 * compare-and-set: of the nodes that decide the same step, one stores it
 * and takes it.
 *
 * @module
 */
import type { Cron } from "croner";
import { _countTicks, _latestTicks, _nextTick } from "./_cron.ts";
import type { Schedule } from "./schedule.ts";

/** What a step does. */
export type _Step =
  | { kind: "fire"; tick: number; reason: "on-time" | "catch-up" | "buffered" | "retry" }
  | { kind: "skip"; tick: number; count: number; reason: "missed" | "overlap" }
  | { kind: "buffer"; tick: number; replaced: boolean };

/** Timing rules of the plan. */
export interface _PlanRules {
  /** A tick handled this long after it was due or later is a missed one. */
  missedAfterMs: number;
  /** A claimed tick whose start was not recorded after this long is started again. */
  firingLeaseMs: number;
  /** The node deciding. */
  node: string;
}

/** Most missed ticks counted for the metrics (a longer downtime counts this many). */
const COUNT_CAP = 100_000;

/**
 * The next step of a schedule, and the schedule to store for it.
 *
 * @param schedule The schedule as read.
 * @param cron Its parsed expression.
 * @param now The time.
 * @param rules Timing rules.
 * @param running Whether its latest execution still runs (asked only when it matters).
 * @returns The step and the next state, or `undefined` when nothing is due.
 */
export async function _plan(
  schedule: Schedule,
  cron: Cron,
  now: number,
  rules: _PlanRules,
  running: () => Promise<boolean>,
): Promise<{ step: _Step; next: Schedule } | undefined> {
  if (schedule.paused) return undefined;
  const next: Schedule = { ...schedule, updatedAt: now };
  const fire = (tick: number, reason: Extract<_Step, { kind: "fire" }>["reason"]) => {
    next.firing = { tick, since: now, node: rules.node };
    return { step: { kind: "fire" as const, tick, reason }, next };
  };
  if (schedule.firing) {
    if (now - schedule.firing.since < rules.firingLeaseMs) return undefined;
    return fire(schedule.firing.tick, "retry");
  }
  let checked: boolean | undefined;
  const busy = async () => checked ??= await running();
  if (schedule.buffered !== undefined && !(await busy())) {
    delete next.buffered;
    return fire(schedule.buffered, "buffered");
  }
  const first = _nextTick(cron, schedule.lastTick);
  if (first === undefined || first > now) return undefined;
  const lateBefore = now - rules.missedAfterMs;
  if (first <= lateBefore) {
    const keep = schedule.catchUp === "skip"
      ? 0
      : schedule.catchUp === "run-once"
      ? 1
      : schedule.catchUpLimit;
    const latest = _latestTicks(cron, schedule.lastTick, lateBefore, keep + 1);
    if (latest.length > keep) {
      // Every missed tick up to the (keep + 1)-th latest one is skipped.
      const skipTo = latest[0]!;
      next.lastTick = skipTo;
      const count = _countTicks(cron, schedule.lastTick, skipTo, COUNT_CAP);
      return { step: { kind: "skip", tick: skipTo, count, reason: "missed" }, next };
    }
  }
  next.lastTick = first;
  if (schedule.overlap !== "allow" && await busy()) {
    if (schedule.overlap === "skip") {
      return { step: { kind: "skip", tick: first, count: 1, reason: "overlap" }, next };
    }
    next.buffered = first;
    return {
      step: { kind: "buffer", tick: first, replaced: schedule.buffered !== undefined },
      next,
    };
  }
  return fire(first, first <= lateBefore ? "catch-up" : "on-time");
}
