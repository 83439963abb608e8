/**
 * The command timeout of a store's own connection, with one timer per store
 * instead of one per command.
 *
 * ioredis's `commandTimeout` arms a timer for every command it sends; on a
 * lone append that timer costs more than the Redis work. A store therefore
 * connects without it and guards what it sends with a watchdog: an operation
 * still unanswered `timeoutMs` after it was sent is rejected with
 * `Command timed out` (a transient error, retried by `withRetry`), exactly as
 * ioredis would reject it — the connection is kept, so a retry queues behind
 * the timed-out command and a command is never overtaken by its own retry.
 * The watchdog checks every `timeoutMs / 2`, so an operation is rejected
 * between `timeoutMs` and `1.5 × timeoutMs` after it was sent. Its timer runs
 * only while operations are in flight (and at most one period longer).
 *
 * @module
 */
import type { Clock, TimerId } from "../clock.ts";

interface _Watch {
  start: number;
  expire(error: Error): void;
}

/** @internal Rejects operations that get no reply in time. */
export class _CommandWatchdog {
  #clock: Clock;
  #timeoutMs: number;
  #watches = new Set<_Watch>();
  #timer: TimerId | undefined;
  #busy = false;
  #closed = false;

  /**
   * @param clock The store's clock.
   * @param timeoutMs The command timeout (positive).
   */
  constructor(clock: Clock, timeoutMs: number) {
    this.#clock = clock;
    this.#timeoutMs = timeoutMs;
  }

  /**
   * Guards an operation: the returned promise settles like `operation`, or
   * rejects with `Command timed out` when `operation` takes too long.
   *
   * @param operation The operation, already sent.
   * @returns The guarded operation.
   */
  guard<T>(operation: Promise<T>): Promise<T> {
    if (this.#closed) return operation;
    return new Promise<T>((resolve, reject) => {
      const watch: _Watch = { start: this.#clock.now(), expire: reject };
      this.#watches.add(watch);
      this.#busy = true;
      if (this.#timer === undefined) this.#arm();
      operation.then(
        (value) => {
          this.#watches.delete(watch);
          resolve(value);
        },
        (error: unknown) => {
          this.#watches.delete(watch);
          reject(error);
        },
      );
    });
  }

  /** Stops the timer for good (pending operations are left to their connection). */
  close(): void {
    this.#closed = true;
    if (this.#timer !== undefined) this.#clock.clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#watches.clear();
  }

  #arm(): void {
    this.#timer = this.#clock.setTimeout(() => this.#check(), Math.max(1, this.#timeoutMs / 2));
  }

  #check(): void {
    this.#timer = undefined;
    const deadline = this.#clock.now() - this.#timeoutMs;
    for (const watch of this.#watches) {
      if (watch.start > deadline) break; // later ones started later
      this.#watches.delete(watch);
      watch.expire(new Error("Command timed out"));
    }
    // Keep ticking while busy; an idle period ends the timer.
    if (this.#watches.size > 0 || this.#busy) this.#arm();
    this.#busy = false;
  }
}
