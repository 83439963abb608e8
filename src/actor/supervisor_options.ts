/**
 * Supervisor options in OTP terms — strategy, restart intensity and period —
 * plus restart backoff. Defaults are merged first, then every field is
 * validated with an error that names it.
 *
 * Defaults: `one_for_one`, intensity 3 restarts per period 5,000 ms, backoff
 * from 100 ms doubling to at most 30,000 ms with ±20 % jitter, reset after a
 * child has stayed up for 10,000 ms.
 *
 * @example
 * ```ts
 * import { resolveSupervisorOptions } from "./supervisor_options.ts";
 * const o = resolveSupervisorOptions({ id: "app", strategy: "rest_for_one" });
 * console.assert(o.intensity === 3 && o.periodMs === 5_000);
 * ```
 *
 * @module
 */
import { type BackoffOptions, resolveBackoff } from "../backoff.ts";

/** OTP restart strategies. */
export type Strategy = "one_for_one" | "one_for_all" | "rest_for_one";

/** Options of a supervisor. */
export interface SupervisorOptions {
  /** Name, unique among siblings. */
  id: string;
  /** Which children restart when one fails. @default {"one_for_one"} */
  strategy?: Strategy;
  /** Restarts allowed within `periodMs` before the supervisor gives up. @default {3} */
  intensity?: number;
  /** Window of the intensity count, in ms. @default {5000} */
  periodMs?: number;
  /** Delay between restarts. @default {{ minMs: 100, maxMs: 30000, factor: 2, jitter: 0.2 }} */
  backoff?: Partial<BackoffOptions>;
  /** A child up this long has its backoff reset, in ms. @default {10000} */
  resetBackoffAfterMs?: number;
}

/** Options after defaults and validation. */
export interface ResolvedSupervisorOptions {
  id: string;
  strategy: Strategy;
  intensity: number;
  periodMs: number;
  backoff: BackoffOptions;
  resetBackoffAfterMs: number;
}

const STRATEGIES: readonly Strategy[] = ["one_for_one", "one_for_all", "rest_for_one"];

/**
 * Merges defaults and validates supervisor options.
 *
 * @param options User options.
 * @returns Complete options.
 * @throws {TypeError | RangeError} Naming the field and the value.
 *
 * @example
 * ```ts
 * import { resolveSupervisorOptions } from "./supervisor_options.ts";
 * try {
 *   resolveSupervisorOptions({ id: "x", intensity: -1 });
 * } catch (e) {
 *   console.assert((e as Error).message.includes("intensity"));
 * }
 * ```
 */
export function resolveSupervisorOptions(options: SupervisorOptions): ResolvedSupervisorOptions {
  if (typeof options !== "object" || options === null) {
    throw new TypeError(
      `Invalid supervisor options ${JSON.stringify(options)}: expected an object`,
    );
  }
  const id = options.id;
  if (typeof id !== "string" || !/^[A-Za-z0-9_.:@-]+$/.test(id)) {
    throw new TypeError(
      `Invalid supervisor id ${
        JSON.stringify(id)
      }: expected letters, digits, "_", ".", ":", "@" or "-"`,
    );
  }
  const strategy = options.strategy ?? "one_for_one";
  if (!STRATEGIES.includes(strategy)) {
    throw new TypeError(
      `Invalid strategy ${JSON.stringify(strategy)} of supervisor "${id}": expected ${
        STRATEGIES.map((s) => `"${s}"`).join(", ")
      }`,
    );
  }
  const intensity = options.intensity ?? 3;
  if (!Number.isInteger(intensity) || intensity < 0) {
    throw new RangeError(
      `Invalid intensity ${
        JSON.stringify(intensity)
      } of supervisor "${id}": expected an integer >= 0`,
    );
  }
  const periodMs = options.periodMs ?? 5_000;
  if (!Number.isFinite(periodMs) || periodMs <= 0) {
    throw new RangeError(
      `Invalid periodMs ${
        JSON.stringify(periodMs)
      } of supervisor "${id}": expected a positive number`,
    );
  }
  const reset = options.resetBackoffAfterMs ?? 10_000;
  if (!Number.isFinite(reset) || reset <= 0) {
    throw new RangeError(
      `Invalid resetBackoffAfterMs ${
        JSON.stringify(reset)
      } of supervisor "${id}": expected a positive number`,
    );
  }
  return {
    id,
    strategy,
    intensity,
    periodMs,
    backoff: resolveBackoff(options.backoff, `backoff of supervisor "${id}"`),
    resetBackoffAfterMs: reset,
  };
}
