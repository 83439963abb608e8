/**
 * Deadlines of request bodies, checked by one timer for all of them: a body
 * still arriving at its deadline is failed within {@linkcode SWEEP_MS} after
 * it. Why not a timer per request: setting and clearing one was about 3 % of
 * the CPU of a duplicate submit (measured with `bench/http_bench.ts`), and a
 * deadline of seconds needs no millisecond precision.
 *
 * @module
 */

/** How often deadlines are checked, in ms. */
export const SWEEP_MS = 100;

interface _Deadline {
  at: number;
  late: () => void;
}

const pending = new Set<_Deadline>();
let sweeper: ReturnType<typeof setInterval> | undefined;

function sweep(): void {
  const now = performance.now();
  for (const deadline of pending) {
    if (deadline.at > now) continue;
    pending.delete(deadline);
    deadline.late();
  }
  if (pending.size === 0 && sweeper !== undefined) {
    clearInterval(sweeper);
    sweeper = undefined;
  }
}

/**
 * Calls `late` once `ms` have passed, unless the returned function is called
 * first. The timer does not keep the process alive.
 *
 * @internal
 */
export function _deadline(ms: number, late: () => void): () => void {
  const deadline = { at: performance.now() + ms, late };
  pending.add(deadline);
  if (sweeper === undefined) {
    sweeper = setInterval(sweep, Math.min(SWEEP_MS, Math.max(1, ms)));
    Deno.unrefTimer(sweeper);
  }
  return () => void pending.delete(deadline);
}
