/**
 * The loop of a worker node around a {@linkcode JobQueue}: reserve up to
 * `concurrency` jobs, renew their leases by heartbeat, hand each to a
 * {@linkcode JobHandler}, then complete or fail it — and stop gracefully.
 * `WorkerNode` runs executions with it; any other job handler can use it too.
 *
 * ## Leases
 * Every `heartbeatMs` the leases of all running jobs are renewed (one
 * heartbeat per job, issued together). When the queue answers that a lease
 * is lost (it expired and was reclaimed, e.g. after the process was frozen),
 * the job is stopped: the handler's `stop` hook runs first (an execution
 * fences its event log there, so that nothing more is recorded), then the
 * job's `signal` aborts, and whatever the handler returns is not reported.
 * Failed heartbeats (Redis unreachable) are retried at the next tick; the
 * lease is only given up when the queue says so.
 *
 * ## Dead letters
 * The handler's `dead` hook hears of every job the queue dead-letters under
 * this loop: one whose last attempt it failed (`fail` answered `"dead"`),
 * and one whose lease expired after its last attempt, which a `reserve` of
 * this loop found and buried (`ReserveOptions.onDeadLettered`; no handler
 * ran for it, its holder is gone). The second kind runs in the background
 * (after stopping this loop's own run of the job, if it still has one), and
 * {@linkcode JobLoop.stop} waits for it.
 *
 * ## Outages
 * A failed `reserve` is retried with a backoff (100 ms doubling to 5 s), so
 * a Redis restart or failover pauses the loop without stopping it.
 *
 * ## Graceful stop
 * {@linkcode JobLoop.stop} stops reserving, waits up to `graceMs` for the
 * running jobs, then hands back the others: `stop` hook, abort, and
 * `release` — the job goes back to the front of the queue without counting
 * an attempt.
 *
 * @example A loop with a handler that completes every job
 * ```ts
 * import { JobLoop } from "./job_loop.ts";
 * import { InMemoryJobQueue } from "../queue/in_memory_job_queue.ts";
 *
 * const queue = new InMemoryJobQueue();
 * await queue.enqueue({ executionId: "exec-1", agent: "noop", task: null });
 * const loop = new JobLoop({
 *   queue,
 *   consumer: "worker-1",
 *   handler: { run: () => Promise.resolve({ type: "complete" }) },
 * });
 * loop.start();
 * while ((await queue.stats()).waiting + (await queue.stats()).inFlight > 0) {
 *   await new Promise((resolve) => setTimeout(resolve, 5));
 * }
 * await loop.stop();
 * await queue.close();
 * ```
 *
 * @module
 */
import { backoffDelay } from "../backoff.ts";
import { type Clock, systemClock, type TimerId } from "../clock.ts";
import { LeaseLostError } from "../errors.ts";
import type { DeadJob, JobQueue, Lease } from "../queue/job_queue.ts";

/** A job being run: its lease and the signal that stops it. */
export interface ActiveJob {
  /** The lease (its `expiresAt` follows the heartbeats). */
  readonly lease: Lease;
  /** Aborts when the lease is lost or the job is handed back at shutdown. */
  readonly signal: AbortSignal;
  /** `running`, `lost` (stopped: another worker owns the job) or `handing-back` (shutdown). */
  readonly state: "running" | "lost" | "handing-back";
}

/**
 * What to do with a job once its handler is done: `complete` it, `fail` it
 * (retried after a backoff unless `retry` is false, dead-lettered after the
 * last attempt), or nothing — `lost` (another worker owns it now) or
 * `abandon` (let the lease expire, e.g. when the outcome cannot be
 * recorded now; the job is then reclaimed).
 */
export type JobOutcome =
  | { type: "complete"; detail?: unknown }
  | { type: "fail"; error: string; retry?: boolean }
  | { type: "lost"; error?: string }
  | { type: "abandon"; error: string };

/** Runs jobs for a {@linkcode JobLoop}. */
export interface JobHandler {
  /**
   * Runs one job. A rejection counts as `{ type: "fail", retry: true }`.
   *
   * @param job The lease and the stop signal.
   * @returns What to do with the job.
   */
  run(job: ActiveJob): Promise<JobOutcome>;
  /**
   * Called when the job must stop (its lease was lost, or it is handed back
   * at shutdown) before `job.signal` aborts.
   *
   * @param job The job.
   * @param why `"lost"` or `"shutdown"`.
   * @returns `false` to leave the job running rather than abort it (it
   * stops by itself, e.g. at its next fenced write).
   */
  stop?(job: ActiveJob, why: "lost" | "shutdown"): Promise<boolean>;
  /**
   * Told that the queue dead-lettered a job: `failed` when this loop failed
   * its last attempt (after the `failed` event), `expired` when its lease
   * expired after its last attempt and a `reserve` of this loop buried it.
   * A rejection is ignored: the handler reports its own failures.
   *
   * @param job The dead job, with its attempts and last error.
   * @param cause How it died.
   * @returns A promise that settles once the handler is done with it.
   */
  dead?(job: DeadJob, cause: "failed" | "expired"): Promise<void>;
}

/** What happened to a job, for logs and metrics. */
export interface JobEvent {
  /**
   * `reserved`; then `completed`, `failed` (retried or dead), `lost`,
   * `released` (handed back) or `abandoned`; `error` for a queue operation
   * that failed (the job's lease then expires and it is reclaimed).
   */
  type: "reserved" | "completed" | "failed" | "lost" | "released" | "abandoned" | "error";
  /** The job's lease. */
  lease: Lease;
  /** The handler's `detail` (`completed`), or `"retry"` / `"dead"` (`failed`). */
  detail?: unknown;
  /** Why it failed, was lost or abandoned. */
  error?: string;
}

/** Options of {@linkcode JobLoop}. */
export interface JobLoopOptions {
  /** The queue. Not closed by the loop. */
  queue: JobQueue;
  /** Consumer name given to `reserve` (the node id). */
  consumer: string;
  /** Runs the jobs. */
  handler: JobHandler;
  /** Jobs run in parallel. @default {1} */
  concurrency?: number;
  /** Lease duration, renewed by every heartbeat, in ms. @default {30000} */
  leaseMs?: number;
  /** Interval of the heartbeats, in ms; below `leaseMs`. @default {a third of leaseMs} */
  heartbeatMs?: number;
  /** Longest wait of one `reserve` call, in ms. @default {5000} */
  reserveBlockMs?: number;
  /** Timers, sleeps and the grace period. @default {systemClock} */
  clock?: Clock;
  /** Told about every job event. @default {nothing} */
  onEvent?: (event: JobEvent) => void;
  /** Told about failed `reserve` and `heartbeat` calls (they are retried). @default {nothing} */
  onError?: (operation: "reserve" | "heartbeat", error: unknown) => void;
}

/** What {@linkcode JobLoop.stop} did. */
export interface StopResult {
  /** Jobs that ended within the grace period. */
  finished: number;
  /** Jobs handed back to the queue. */
  handedBack: number;
}

interface _Job extends ActiveJob {
  state: ActiveJob["state"];
  controller: AbortController;
  done: Promise<void>;
  beating: boolean;
  released: boolean;
}

/** Microtasks waited after a slot frees before reserving (batches the successors of jobs ending together). */
const COALESCE_MICROTASKS = 8;
const RESERVE_BACKOFF = { minMs: 100, maxMs: 5_000, factor: 2, jitter: 0.2 };
/** How long a job may take to settle after it was told to stop, before it is released anyway. */
const SETTLE_MS = 5_000;

/**
 * Reserves, heartbeats, runs and settles jobs of a queue, up to
 * `concurrency` at a time.
 *
 * @example Stopping hands a running job back to the queue
 * ```ts
 * import { JobLoop } from "./job_loop.ts";
 * import { InMemoryJobQueue } from "../queue/in_memory_job_queue.ts";
 *
 * const queue = new InMemoryJobQueue();
 * await queue.enqueue({ executionId: "exec-1", agent: "slow", task: null });
 * const loop = new JobLoop({
 *   queue,
 *   consumer: "worker-1",
 *   handler: {
 *     run: (job) =>
 *       new Promise((resolve) =>
 *         job.signal.addEventListener("abort", () => resolve({ type: "lost" }))
 *       ),
 *   },
 * });
 * loop.start();
 * while (loop.active === 0) await new Promise((resolve) => setTimeout(resolve, 5));
 * const { handedBack } = await loop.stop({ graceMs: 10 });
 * console.assert(handedBack === 1 && (await queue.stats()).waiting === 1);
 * await queue.close();
 * ```
 */
export class JobLoop {
  readonly #queue: JobQueue;
  readonly #consumer: string;
  readonly #handler: JobHandler;
  readonly #concurrency: number;
  readonly #leaseMs: number;
  readonly #heartbeatMs: number;
  readonly #blockMs: number;
  readonly #clock: Clock;
  readonly #onEvent: (event: JobEvent) => void;
  readonly #onError: (operation: "reserve" | "heartbeat", error: unknown) => void;
  readonly #jobs = new Set<_Job>();
  readonly #byId = new Map<string, _Job>();
  /** Every job not settled yet: running, or being acknowledged. */
  readonly #pending = new Set<Promise<void>>();
  readonly #stopping = new AbortController();
  #loop: Promise<void> | undefined;
  #ticker: TimerId | undefined;
  #slotFreed: (() => void) | undefined;
  #stopped: Promise<StopResult> | undefined;

  /**
   * Creates a loop; {@linkcode JobLoop.start} starts it.
   *
   * @param options Queue, consumer name, handler, concurrency, lease and heartbeat, clock, hooks.
   * @throws {TypeError} When `queue`, `consumer` or `handler` is missing.
   * @throws {RangeError} When a number is out of range or `heartbeatMs >= leaseMs`.
   */
  constructor(options: JobLoopOptions) {
    if (typeof options?.queue?.reserve !== "function") {
      throw new TypeError(`Invalid job loop option "queue": expected a JobQueue`);
    }
    if (typeof options.consumer !== "string" || options.consumer === "") {
      throw new TypeError(`Invalid job loop option "consumer": expected a non-empty string`);
    }
    if (typeof options.handler?.run !== "function") {
      throw new TypeError(`Invalid job loop option "handler": expected { run(job) }`);
    }
    this.#queue = options.queue;
    this.#consumer = options.consumer;
    this.#handler = options.handler;
    this.#concurrency = _positive("concurrency", options.concurrency ?? 1);
    this.#leaseMs = _positive("leaseMs", options.leaseMs ?? 30_000);
    this.#heartbeatMs = _positive(
      "heartbeatMs",
      options.heartbeatMs ?? Math.max(1, Math.floor(this.#leaseMs / 3)),
    );
    if (this.#heartbeatMs >= this.#leaseMs) {
      throw new RangeError(
        `Invalid job loop option "heartbeatMs": "${this.#heartbeatMs}" must be below leaseMs "${this.#leaseMs}"`,
      );
    }
    this.#blockMs = _positive("reserveBlockMs", options.reserveBlockMs ?? 5_000);
    this.#clock = options.clock ?? systemClock;
    const onEvent = options.onEvent;
    const onError = options.onError;
    // A listener that throws must not change what happens to the job.
    this.#onEvent = (event) => {
      try {
        onEvent?.(event);
      } catch { /* ignored */ }
    };
    this.#onError = (operation, error) => {
      try {
        onError?.(operation, error);
      } catch { /* ignored */ }
    };
  }

  /** Jobs running now. */
  get active(): number {
    return this.#jobs.size;
  }

  /** The jobs running now. */
  get jobs(): ActiveJob[] {
    return [...this.#jobs];
  }

  /** Whether {@linkcode JobLoop.stop} was called. */
  get stopping(): boolean {
    return this.#stopping.signal.aborted;
  }

  /**
   * Starts reserving and running jobs. Idempotent.
   *
   * @throws {TypeError} When the loop was stopped.
   */
  start(): void {
    if (this.stopping) throw new TypeError("Cannot start the job loop: it was stopped");
    if (this.#loop) return;
    this.#loop = this.#run();
    this.#tick();
  }

  /**
   * Stops gracefully: no more jobs are reserved; running jobs get `graceMs`
   * to finish, then the others are stopped and released back to the queue.
   * Idempotent (a second call returns the first call's result).
   *
   * @param options `graceMs`: how long running jobs may take to finish (default 0).
   * @returns How many jobs finished and how many were handed back.
   */
  stop(options: { graceMs?: number } = {}): Promise<StopResult> {
    this.#stopped ??= this.#stop(options.graceMs ?? 0);
    return this.#stopped;
  }

  async #stop(graceMs: number): Promise<StopResult> {
    this.#stopping.abort();
    this.#slotFreed?.();
    await this.#loop;
    const running = [...this.#jobs];
    const timeout = new AbortController();
    const grace = this.#clock.sleep(graceMs, timeout.signal).then(() => "late", () => "late");
    const all = Promise.allSettled(running.map((job) => job.done)).then(() => "done");
    await Promise.race([all, grace]);
    timeout.abort();
    const late = [...this.#jobs];
    for (const job of late) void this.#halt(job, "shutdown");
    await this.#withTimeout(Promise.allSettled(late.map((job) => job.done)));
    for (const job of this.#jobs) await this.#release(job);
    await this.#withTimeout(Promise.allSettled([...this.#pending]));
    if (this.#ticker !== undefined) this.#clock.clearTimeout(this.#ticker);
    this.#ticker = undefined;
    return { finished: running.length - late.length, handedBack: late.length };
  }

  async #run(): Promise<void> {
    const signal = this.#stopping.signal;
    let failures = 0;
    while (!signal.aborted) {
      const free = this.#concurrency - this.#jobs.size;
      if (free <= 0) {
        await new Promise<void>((resolve) => this.#slotFreed = resolve);
        this.#slotFreed = undefined;
        // Jobs that end together free their slots within a few microtasks of
        // each other: let them, and take their successors in one reserve.
        for (let i = 0; i < COALESCE_MICROTASKS; i++) await Promise.resolve();
        continue;
      }
      let leases: Lease[];
      try {
        leases = await this.#queue.reserve(this.#consumer, {
          count: free,
          blockMs: this.#blockMs,
          leaseMs: this.#leaseMs,
          signal,
          onDeadLettered: (jobs) => {
            for (const job of jobs) this.#track(this.#dead(job, "expired"));
          },
        });
        failures = 0;
      } catch (error) {
        if (signal.aborted) break;
        this.#onError("reserve", error);
        failures++;
        await this.#clock.sleep(backoffDelay(failures, RESERVE_BACKOFF), signal).catch(() => {});
        continue;
      }
      for (const lease of leases) {
        if (signal.aborted) void this.#releaseUnstarted(lease);
        else this.#launch(lease);
      }
    }
  }

  #launch(lease: Lease): void {
    const controller = new AbortController();
    const job: _Job = {
      lease,
      signal: controller.signal,
      state: "running",
      controller,
      done: Promise.resolve(),
      beating: false,
      released: false,
    };
    const previous = this.#byId.get(lease.jobId);
    this.#jobs.add(job);
    this.#byId.set(lease.jobId, job);
    this.#onEvent({ type: "reserved", lease });
    job.done = (async () => {
      // The same job under an older lease (this node lost it, e.g. while frozen): stop that first.
      if (previous && this.#jobs.has(previous)) {
        await this.#halt(previous, "lost");
        await this.#withTimeout(previous.done);
      }
      let outcome: JobOutcome;
      try {
        outcome = await this.#handler.run(job);
      } catch (error) {
        outcome = { type: "fail", error: _message(error), retry: true };
      }
      // The slot is free once the handler is done: the next reserve travels
      // with this job's acknowledgement instead of waiting for it.
      this.#free(job);
      await this.#settle(job, outcome);
    })().finally(() => this.#free(job));
    this.#track(job.done);
  }

  /** Keeps a promise among the pending ones until it settles (`stop` waits for them). */
  #track(done: Promise<void>): void {
    this.#pending.add(done);
    done.then(() => this.#pending.delete(done), () => this.#pending.delete(done));
  }

  /** Tells the handler of a dead job; never rejects. */
  async #dead(dead: DeadJob, cause: "failed" | "expired"): Promise<void> {
    if (!this.#handler.dead) return;
    // This loop may still run the job under the lease that expired (its
    // heartbeats failed): stop that run first, as a reclaim would.
    const stale = cause === "expired" ? this.#byId.get(dead.jobId) : undefined;
    if (stale) {
      await this.#halt(stale, "lost");
      await this.#withTimeout(stale.done);
    }
    try {
      await this.#handler.dead(dead, cause);
    } catch { /* ignored: the handler reports its own failures (JobHandler.dead) */ }
  }

  #free(job: _Job): void {
    if (!this.#jobs.delete(job)) return;
    if (this.#byId.get(job.lease.jobId) === job) this.#byId.delete(job.lease.jobId);
    this.#slotFreed?.();
  }

  async #settle(job: _Job, outcome: JobOutcome): Promise<void> {
    const { lease } = job;
    if (job.state === "handing-back" && outcome.type !== "complete") {
      return await this.#release(job);
    }
    if (job.state === "lost" || outcome.type === "lost") {
      job.state = "lost";
      const event: JobEvent = { type: "lost", lease };
      const error = outcome.type === "lost" ? outcome.error : undefined;
      if (error) event.error = error;
      return this.#onEvent(event);
    }
    try {
      switch (outcome.type) {
        case "complete": {
          await this.#queue.complete(lease);
          const event: JobEvent = { type: "completed", lease };
          if (outcome.detail !== undefined) event.detail = outcome.detail;
          return this.#onEvent(event);
        }
        case "fail": {
          const options = outcome.retry === false ? { retry: false } : {};
          const detail = await this.#queue.fail(lease, outcome.error, options);
          this.#onEvent({ type: "failed", lease, detail, error: outcome.error });
          if (detail !== "dead") return;
          const { jobId, spec, attempt: attempts } = lease;
          const dead = {
            jobId,
            spec,
            attempts,
            lastError: outcome.error,
            deadAt: this.#clock.now(),
          };
          return await this.#dead(dead, "failed");
        }
        case "abandon":
          job.state = "lost";
          return this.#onEvent({ type: "abandoned", lease, error: outcome.error });
      }
    } catch (error) {
      job.state = "lost";
      const type = error instanceof LeaseLostError ? "lost" : "error";
      this.#onEvent({ type, lease, error: _message(error) });
    }
  }

  /** Stops a job: the handler's hook, then its signal. */
  async #halt(job: _Job, why: "lost" | "shutdown"): Promise<void> {
    if (job.state !== "running") return;
    job.state = why === "lost" ? "lost" : "handing-back";
    let abort = true;
    if (this.#handler.stop) abort = await this.#handler.stop(job, why).catch(() => false);
    if (abort) {
      job.controller.abort(
        why === "lost"
          ? new LeaseLostError(job.lease.jobId, "the queue reported it lost at a heartbeat")
          : new Error("The worker node is shutting down"),
      );
    }
  }

  async #release(job: _Job): Promise<void> {
    if (job.state !== "handing-back" || job.released) return;
    job.released = true;
    try {
      await this.#queue.release(job.lease);
      this.#onEvent({ type: "released", lease: job.lease });
    } catch (error) {
      const type = error instanceof LeaseLostError ? "lost" : "error";
      this.#onEvent({ type, lease: job.lease, error: _message(error) });
    }
  }

  async #releaseUnstarted(lease: Lease): Promise<void> {
    try {
      await this.#queue.release(lease);
      this.#onEvent({ type: "released", lease });
    } catch (error) {
      this.#onEvent({ type: "error", lease, error: _message(error) });
    }
  }

  #tick(): void {
    this.#ticker = this.#clock.setTimeout(() => {
      for (const job of this.#jobs) void this.#heartbeat(job);
      if (this.#ticker !== undefined) this.#tick();
    }, this.#heartbeatMs);
  }

  async #heartbeat(job: _Job): Promise<void> {
    if (job.state !== "running" || job.beating) return;
    job.beating = true;
    try {
      const held = await this.#queue.heartbeat(job.lease);
      if (!held) await this.#halt(job, "lost");
    } catch (error) {
      this.#onError("heartbeat", error);
    } finally {
      job.beating = false;
    }
  }

  async #withTimeout(promise: Promise<unknown>): Promise<void> {
    const timer = new AbortController();
    await Promise.race([
      promise.catch(() => {}),
      this.#clock.sleep(SETTLE_MS, timer.signal).catch(() => {}),
    ]);
    timer.abort();
  }
}

function _positive(field: string, value: number): number {
  if (!Number.isSafeInteger(value) || value < 1) {
    throw new RangeError(
      `Invalid job loop option "${field}": "${value}" is not a positive integer`,
    );
  }
  return value;
}

function _message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
