/**
 * Cron expressions and time zones, on `croner`: parsing that names what is
 * wrong, and the ticks of a schedule between two instants.
 *
 * @module
 */
import { Cron } from "croner";

const NICKNAMES = new Set(["@yearly", "@annually", "@monthly", "@weekly", "@daily", "@hourly"]);

/** Longest cron expression accepted. */
const MAX_EXPRESSION = 200;

/**
 * Parses a 5-field cron expression (minute hour day-of-month month
 * day-of-week) or a nickname (`@daily`, …) in a time zone.
 *
 * @param expression The expression.
 * @param timezone An IANA time zone.
 * @returns The parsed pattern (never started: it runs nothing by itself).
 * @throws {TypeError} Naming the expression or the time zone and why it is invalid.
 */
export function _parseCron(expression: string, timezone: string): Cron {
  _checkTimezone(timezone);
  const shown = JSON.stringify(String(expression).slice(0, MAX_EXPRESSION));
  if (typeof expression !== "string" || expression.length > MAX_EXPRESSION) {
    throw new TypeError(
      `Invalid cron expression ${shown}: expected a string of at most ${MAX_EXPRESSION} characters`,
    );
  }
  const trimmed = expression.trim();
  const parts = trimmed.split(/\s+/);
  if (!NICKNAMES.has(trimmed.toLowerCase()) && parts.length !== 5) {
    throw new TypeError(
      `Invalid cron expression ${shown}: expected 5 fields (minute hour day-of-month month day-of-week) or @yearly, @monthly, @weekly, @daily, @hourly`,
    );
  }
  let cron: Cron;
  try {
    cron = new Cron(trimmed, { timezone, paused: true, mode: "5-part" });
  } catch (error) {
    const reason = (error as Error).message.replace(/^CronPattern:\s*/, "");
    throw new TypeError(`Invalid cron expression ${shown}: ${reason}`);
  }
  if (!cron.nextRun(new Date(0))) {
    throw new TypeError(`Invalid cron expression ${shown}: it never fires`);
  }
  return cron;
}

/**
 * Checks an IANA time zone name.
 *
 * @param timezone The name, e.g. `"Europe/Berlin"`.
 * @throws {TypeError} When the runtime does not know it.
 */
export function _checkTimezone(timezone: string): void {
  const shown = JSON.stringify(String(timezone).slice(0, 100));
  if (typeof timezone !== "string" || timezone.length === 0 || timezone.length > 100) {
    throw new TypeError(
      `Invalid time zone ${shown}: expected an IANA name such as "Europe/Berlin"`,
    );
  }
  try {
    new Intl.DateTimeFormat("en-US", { timeZone: timezone });
  } catch {
    throw new TypeError(
      `Invalid time zone ${shown}: not an IANA time zone name (e.g. "UTC", "Europe/Berlin")`,
    );
  }
}

/**
 * The first tick strictly after `after`.
 *
 * @param cron The pattern.
 * @param after Epoch ms.
 * @returns Epoch ms, or `undefined` when it never fires again.
 */
export function _nextTick(cron: Cron, after: number): number | undefined {
  return cron.nextRun(new Date(after))?.getTime();
}

/**
 * The latest ticks in `(after, upTo]`, oldest first, at most `n` of them.
 *
 * @param cron The pattern.
 * @param after Exclusive lower bound, epoch ms.
 * @param upTo Inclusive upper bound, epoch ms.
 * @param n Most ticks returned.
 * @returns The ticks.
 */
export function _latestTicks(cron: Cron, after: number, upTo: number, n: number): number[] {
  if (n <= 0 || upTo <= after) return [];
  const ticks = cron.previousRuns(n, new Date(upTo + 1)).map((d) => d.getTime())
    .filter((t) => t > after && t <= upTo);
  return ticks.reverse();
}

/**
 * Counts the ticks in `(after, upTo]`, stopping at `cap`.
 *
 * @param cron The pattern.
 * @param after Exclusive lower bound.
 * @param upTo Inclusive upper bound.
 * @param cap Largest count returned.
 * @returns The count (`cap` when there are at least that many).
 */
export function _countTicks(cron: Cron, after: number, upTo: number, cap: number): number {
  let count = 0;
  let at = after;
  while (count < cap) {
    const next = _nextTick(cron, at);
    if (next === undefined || next > upTo) break;
    count++;
    at = next;
  }
  return count;
}
