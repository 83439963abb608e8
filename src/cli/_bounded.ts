/**
 * Sources that never keep a caller waiting long: `/metrics` reads the queue
 * depth (and, on an API node, the jobs in flight) from Redis at every
 * scrape, and a scrape must answer within Prometheus' timeout even when
 * Redis does not. {@linkcode bounded} wraps such a source: one read at a
 * time, each caller waits for it at most `timeoutMs`, then gets the last
 * value read (the metric then reports the last known counts).
 *
 * @example
 * ```ts
 * import { bounded } from "./_bounded.ts";
 * let calls = 0;
 * const depth = bounded(() => Promise.resolve(++calls), { timeoutMs: 250 });
 * console.assert((await depth()) === 1 && (await depth()) === 2);
 * ```
 *
 * @module
 */

/** Options of {@linkcode bounded}. */
export interface BoundedOptions {
  /** Longest wait of a caller for the source, in ms. @default {250} */
  timeoutMs?: number;
}

/**
 * Wraps an asynchronous source so that no call waits for it longer than
 * `timeoutMs`: a call starts a read unless one is still running (then it
 * waits for that one), and when the read takes longer it resolves with the
 * value of the last read that succeeded. A read that fails keeps that value.
 *
 * @param source Reads the value (e.g. the queue's counts from Redis).
 * @param options The longest wait.
 * @returns A function with the source's signature.
 * @throws {RangeError} When `timeoutMs` is not a non-negative number.
 *
 * @example
 * ```ts
 * import { bounded } from "./_bounded.ts";
 * let answer = true;
 * const source = bounded(
 *   () => answer ? Promise.resolve(7) : new Promise<number>(() => {}), // Redis stops answering
 *   { timeoutMs: 10 },
 * );
 * console.assert((await source()) === 7);
 * answer = false;
 * console.assert((await source()) === 7); // within 10 ms: the last value
 * ```
 */
export function bounded<T>(
  source: () => Promise<T>,
  options: BoundedOptions = {},
): () => Promise<T> {
  const timeoutMs = options.timeoutMs ?? 250;
  if (typeof timeoutMs !== "number" || !(timeoutMs >= 0)) {
    throw new RangeError(`Invalid timeoutMs ${String(timeoutMs)}: expected a non-negative number`);
  }
  let last: { value: T } | undefined;
  let reading: Promise<T> | undefined;
  return () => {
    if (!reading) {
      const read = source().then((value) => {
        last = { value };
        return value;
      });
      reading = read;
      read.then(() => {}, () => {}).finally(() => {
        if (reading === read) reading = undefined;
      });
    }
    const answer = reading.then((value) => value, (error: unknown) => {
      if (last) return last.value;
      throw error;
    });
    let timer: ReturnType<typeof setTimeout> | undefined;
    const late = new Promise<T>((resolve, reject) => {
      timer = setTimeout(() => {
        if (last) resolve(last.value);
        else reject(new Error(`No value within ${timeoutMs} ms`));
      }, timeoutMs);
    });
    return Promise.race([answer, late]).finally(() => clearTimeout(timer));
  };
}
