// Shared helpers of the benchmark scripts: the JSON figure every script
// prints as its last lines, and the statistics behind it. Internal.

/** One benchmark figure, printed as a JSON line. */
export interface Figure {
  bench: string;
  value: number;
  unit: string;
  baseline: number;
  ratio: number;
}

/** A figure with value, baseline and their ratio rounded to 2 decimals (3 significant digits when small). */
export function figure(bench: string, value: number, unit: string, baseline: number): Figure {
  return {
    bench,
    value: round(value),
    unit,
    baseline: round(baseline),
    ratio: round(value / baseline),
  };
}

/** Median of a non-empty list. */
export function median(values: readonly number[]): number {
  return percentile(values, 0.5);
}

/** The `p` quantile (0..1) of a non-empty list, interpolated between neighbours. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) throw new RangeError("Cannot take a percentile of no values");
  const sorted = [...values].sort((a, b) => a - b);
  const at = (sorted.length - 1) * p;
  const low = Math.floor(at);
  const high = Math.ceil(at);
  return sorted[low]! + (sorted[high]! - sorted[low]!) * (at - low);
}

/**
 * Lets the threads of workers just ended finish tearing down. A `new Worker`
 * made while another worker's thread tears down its isolate took about 3 ms
 * longer (16.5 against 13.5 ms, raw workers both), so a sample that follows
 * an ended worker at once pays for it: each sample of a start starts settled
 * (2 ms was enough in most runs; 80 ms leaves a wide margin).
 *
 * @param afterMs When a worker is still to end, how long before it ends (a
 *   restarted actor's parked worker: see src/actor/_parked_worker.ts).
 * @returns After `afterMs` + 80 ms.
 */
export function settle(afterMs = 0): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, afterMs + 80));
}

/** Waits for the next `message` event of a worker or port and returns its data. */
export function nextMessage<T = unknown>(target: Worker | MessagePort): Promise<T> {
  return new Promise((resolve) => {
    target.onmessage = (event: MessageEvent<T>) => {
      target.onmessage = null;
      resolve(event.data);
    };
  });
}

function round(n: number): number {
  if (n !== 0 && Math.abs(n) < 1) return Number(n.toPrecision(3));
  return Math.round(n * 100) / 100;
}
