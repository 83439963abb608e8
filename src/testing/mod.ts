/**
 * Test helpers of OAO: a {@linkcode ManualClock} to inject where the runtime
 * takes a `Clock` (actor systems, supervisors, stores, queues, orchestrators),
 * so that restart windows, backoff, leases and timeouts run deterministically.
 *
 * @example
 * ```ts
 * import { ManualClock } from "./mod.ts";
 * const clock = new ManualClock(0);
 * const woke = clock.sleep(1_000);
 * await clock.advance(1_000);
 * await woke;
 * console.assert(clock.now() === 1_000);
 * ```
 *
 * @module
 */
export { ManualClock } from "./manual_clock.ts";
