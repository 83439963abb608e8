/**
 * The embedded {@linkcode JobQueue}: one process, no Redis, the same
 * behaviour as `RedisJobQueue` (the same conformance suite runs on both).
 * All time — delays, lease expiry, retry backoff, blocking waits — is read
 * from the injected {@linkcode Clock}.
 *
 * @module
 */
import { type Clock, systemClock, type TimerId } from "../clock.ts";
import { LeaseLostError } from "../persistence/store_errors.ts";
import { backoffDelay, type BackoffOptions } from "../backoff.ts";
import {
  checkDeadLimit,
  checkEnqueue,
  checkErrorMessage,
  checkJobId,
  checkLease,
  checkLeaseMs,
  checkReserve,
  COMPLETED_MEMORY_MS,
  DEFAULT_DEAD_LIMIT,
  leaseExpiredError,
  lostReason,
  readyRank,
  type ReserveRequest,
  type ResolvedQueueOptions,
  resolveQueueOptions,
} from "./_job_queue_options.ts";
import type {
  DeadJob,
  EnqueueOptions,
  EnqueueResult,
  JobQueue,
  JobSpec,
  Lease,
  QueueStats,
  ReserveOptions,
} from "./job_queue.ts";

/** Options of {@linkcode InMemoryJobQueue}. */
export interface InMemoryJobQueueOptions {
  /** Source of time for delays, leases, backoff and blocking waits. @default {systemClock} */
  clock?: Clock;
  /** Lease duration when `reserve` does not give one, in ms. @default {30000} */
  leaseMs?: number;
  /** Attempts before dead-lettering when `enqueue` does not say. @default {3} */
  maxAttempts?: number;
  /**
   * Retry delays after a failed attempt (`backoffDelay` of `src/backoff.ts`:
   * the delay is drawn from `[base × (1 − jitter), base × (1 + jitter)]`,
   * capped at `maxMs`); omitted fields take the defaults.
   * @default {{ minMs: 1000, maxMs: 60000, factor: 2, jitter: 0.5 }}
   */
  backoff?: Partial<BackoffOptions>;
  /** How long an idempotency key is remembered, in ms. @default {86400000} */
  idempotencyTtlMs?: number;
  /**
   * How long a dead job is kept (listed by `deadLetters`, revived by
   * `requeueDead`) after it died, in ms; then it is forgotten.
   * @default {DEFAULT_DEAD_RETENTION_MS}
   */
  deadRetentionMs?: number;
  /** Uniform numbers in `[0, 1)` for the jitter. @default {Math.random} */
  random?: () => number;
}

type State = "ready" | "delayed" | "active" | "dead";
type Outcome = "" | "retry" | "dead" | "released";

interface Job {
  id: string;
  specJson: string;
  executionId: string;
  priority: number;
  maxAttempts: number;
  state: State;
  attempts: number;
  token: number;
  rank: number;
  dueAt: number;
  consumer: string;
  leaseMs: number;
  expiresAt: number;
  next: Lease["reason"];
  previousConsumer: string;
  lastError: string;
  deadAt: number;
  outcome: Outcome;
}

/**
 * A {@linkcode JobQueue} held in memory, for a single process.
 *
 * @example Enqueue, reserve, complete
 * ```ts
 * import { InMemoryJobQueue } from "./in_memory_job_queue.ts";
 * const queue = new InMemoryJobQueue();
 * await queue.enqueue({ executionId: "exec-1", agent: "echo", task: "hi" });
 * const [lease] = await queue.reserve("worker-1");
 * console.assert(lease?.spec.executionId === "exec-1" && lease.attempt === 1);
 * await queue.complete(lease!);
 * await queue.close();
 * ```
 */
export class InMemoryJobQueue implements JobQueue {
  #clock: Clock;
  #options: ResolvedQueueOptions;
  #jobs = new Map<string, Job>();
  /** Ready jobs, ascending rank. */
  #ready: Job[] = [];
  /** Delayed jobs, ascending due time. */
  #delayed: Job[] = [];
  #active = new Map<string, Job>();
  #dead = new Map<string, Job>();
  #completed = new Map<string, { token: number; until: number }>();
  #idempotency = new Map<string, { jobId: string; executionId: string; until: number }>();
  #waiters = new Set<() => void>();
  #seq = 0;
  #closed = false;

  /**
   * Creates an empty queue.
   *
   * @param options Clock, defaults for leases and attempts, backoff.
   * @throws {RangeError} When an option is out of range.
   */
  constructor(options: InMemoryJobQueueOptions = {}) {
    this.#clock = options.clock ?? systemClock;
    this.#options = resolveQueueOptions(options);
  }

  /**
   * Adds a job, or returns the existing one for a repeated idempotency key.
   *
   * @param spec The job; must be JSON-serializable (it is stored as JSON).
   * @param options Priority, delay, idempotency key, attempts.
   * @returns The job id and whether the key matched an existing job.
   * @throws {TypeError} When the spec is malformed or not serializable.
   * @throws {RangeError} When an option is out of range.
   */
  enqueue(spec: JobSpec, options: EnqueueOptions = {}): Promise<EnqueueResult> {
    return Promise.try(() => this.#enqueue(spec, options));
  }

  #enqueue(spec: JobSpec, options: EnqueueOptions): EnqueueResult {
    this.#assertOpen("enqueue");
    const request = checkEnqueue(spec, options, this.#options);
    const now = this.#clock.now();
    const key = request.idempotencyKey;
    if (key !== undefined) {
      this.#forgetExpired(this.#idempotency, now);
      const known = this.#idempotency.get(key);
      if (known) {
        return { jobId: known.jobId, executionId: known.executionId, duplicate: true };
      }
    }
    const job: Job = {
      id: String(++this.#seq),
      specJson: request.specJson,
      executionId: request.executionId,
      priority: request.priority,
      maxAttempts: request.maxAttempts,
      state: "ready",
      attempts: 0,
      token: 0,
      rank: 0,
      dueAt: 0,
      consumer: "",
      leaseMs: 0,
      expiresAt: 0,
      next: "new",
      previousConsumer: "",
      lastError: "",
      deadAt: 0,
      outcome: "",
    };
    this.#jobs.set(job.id, job);
    if (request.delayMs > 0) this.#delay(job, now + request.delayMs);
    else this.#makeReady(job, true);
    if (key !== undefined) {
      const until = now + this.#options.idempotencyTtlMs;
      this.#idempotency.set(key, { jobId: job.id, executionId: job.executionId, until });
    }
    this.#notify();
    return { jobId: job.id, executionId: job.executionId, duplicate: false };
  }

  /**
   * Takes up to `count` ready jobs, highest priority first, then in the order
   * they became ready. Jobs whose lease expired go back to their place first
   * (or to the dead-letter queue once they used up their attempts, reported
   * to `onDeadLettered`). When none is ready it waits up to `blockMs`;
   * aborting `signal` ends the wait and resolves with no jobs.
   *
   * @param consumer Name of the reserving worker.
   * @param options Count, wait, lease duration, abort signal, dead-letter listener.
   * @returns The leases taken, possibly none.
   * @throws {TypeError} When `consumer` is empty.
   * @throws {RangeError} When an option is out of range.
   */
  async reserve(consumer: string, options: ReserveOptions = {}): Promise<Lease[]> {
    this.#assertOpen("reserve");
    const request = checkReserve(consumer, options, this.#options);
    const { signal } = request;
    if (signal?.aborted) return [];
    const deadline = this.#clock.now() + request.blockMs;
    while (true) {
      const leases = this.#take(consumer, request);
      const remaining = deadline - this.#clock.now();
      if (leases.length > 0 || remaining <= 0 || this.#closed) return leases;
      await this.#wait(Math.min(remaining, this.#nextChangeIn()), signal);
      if (signal?.aborted || this.#closed) return [];
    }
  }

  /**
   * Extends a lease by `leaseMs` (default: the duration it was reserved
   * with). A lease that expired but was not reclaimed yet is still renewed:
   * the fencing token, not the clock, decides. On success `lease.expiresAt`
   * is updated.
   *
   * @param lease The lease from `reserve`.
   * @param leaseMs New duration from now, in ms.
   * @returns `false` when the lease was lost.
   * @throws {TypeError} When `lease` is not a lease.
   * @throws {RangeError} When `leaseMs` is not a positive integer.
   */
  heartbeat(lease: Lease, leaseMs?: number): Promise<boolean> {
    return Promise.try(() => {
      this.#assertOpen("heartbeat");
      checkLease(lease, "heartbeat");
      checkLeaseMs(leaseMs);
      const job = this.#held(lease);
      if (!job) return false;
      job.expiresAt = this.#clock.now() + (leaseMs ?? job.leaseMs);
      lease.expiresAt = job.expiresAt;
      return true;
    });
  }

  /**
   * Marks the job done and forgets it. Repeating it with the same lease is a
   * no-op for a minute.
   *
   * @param lease The lease from `reserve`.
   * @returns A promise that settles once the job is done.
   * @throws {LeaseLostError} When the lease was lost.
   * @throws {TypeError} When `lease` is not a lease.
   */
  complete(lease: Lease): Promise<void> {
    return Promise.try(() => {
      this.#assertOpen("complete");
      checkLease(lease, "complete");
      const now = this.#clock.now();
      this.#forgetExpired(this.#completed, now);
      const job = this.#held(lease);
      if (job) {
        this.#active.delete(job.id);
        this.#jobs.delete(job.id);
        this.#completed.set(job.id, { token: job.token, until: now + COMPLETED_MEMORY_MS });
      } else if (this.#completed.get(lease.jobId)?.token !== lease.token) {
        throw this.#lost(lease);
      }
    });
  }

  /**
   * Records a failed attempt: the job is retried after a backoff delay, or
   * dead-lettered when it used up its attempts or `retry` is false.
   * Repeating it with the same lease returns the same answer.
   *
   * @param lease The lease from `reserve`.
   * @param error The error message kept with the job (cut at 16 KiB).
   * @param options `retry: false` dead-letters at once.
   * @returns `"retry"` or `"dead"`.
   * @throws {LeaseLostError} When the lease was lost.
   * @throws {TypeError} When `lease` or `error` is malformed.
   */
  fail(lease: Lease, error: string, options: { retry?: boolean } = {}): Promise<"retry" | "dead"> {
    return Promise.try(() => {
      this.#assertOpen("fail");
      checkLease(lease, "fail");
      const message = checkErrorMessage(error);
      const job = this.#held(lease);
      if (!job) {
        const replay = this.#replayOf(lease);
        if (replay === "retry" || replay === "dead") return replay;
        throw this.#lost(lease);
      }
      const now = this.#clock.now();
      this.#active.delete(job.id);
      job.lastError = message;
      if (options.retry === false || job.attempts >= job.maxAttempts) {
        this.#bury(job, now);
        return "dead";
      }
      const delay = backoffDelay(job.attempts, this.#options.backoff, this.#options.random);
      job.next = "retry";
      job.previousConsumer = "";
      this.#delay(job, now + delay);
      job.outcome = "retry";
      this.#notify();
      return "retry";
    });
  }

  /**
   * Hands a job back to the front of its priority without counting the
   * attempt (graceful shutdown); its next delivery has reason `"requeued"`.
   * Repeating it with the same lease is a no-op.
   *
   * @param lease The lease from `reserve`.
   * @returns A promise that settles once the job is back.
   * @throws {LeaseLostError} When the lease was lost.
   * @throws {TypeError} When `lease` is not a lease.
   */
  release(lease: Lease): Promise<void> {
    return Promise.try(() => {
      this.#assertOpen("release");
      checkLease(lease, "release");
      const job = this.#held(lease);
      if (!job) {
        if (this.#replayOf(lease) === "released") return;
        throw this.#lost(lease);
      }
      this.#active.delete(job.id);
      job.attempts -= 1;
      job.next = "requeued";
      job.previousConsumer = "";
      this.#makeReady(job, false);
      job.outcome = "released";
      this.#notify();
    });
  }

  /**
   * Lists dead jobs, oldest first.
   *
   * @param limit Most jobs to list.
   * @returns The dead jobs with their attempts and last error.
   * @throws {RangeError} When `limit` is not a positive integer.
   */
  deadLetters(limit: number = DEFAULT_DEAD_LIMIT): Promise<DeadJob[]> {
    return Promise.try(() => {
      this.#assertOpen("deadLetters");
      checkDeadLimit(limit);
      this.#forgetDead(this.#clock.now());
      const jobs: DeadJob[] = [];
      for (const job of this.#dead.values()) {
        if (jobs.length >= limit) break;
        jobs.push(deadJob(job));
      }
      return jobs;
    });
  }

  /**
   * Moves a dead job to the back of its priority with fresh attempts; its
   * next delivery has reason `"requeued"`.
   *
   * @param jobId The dead job.
   * @returns `false` when no dead job has this id.
   * @throws {TypeError} When `jobId` is not a non-empty string.
   */
  requeueDead(jobId: string): Promise<boolean> {
    return Promise.try(() => {
      this.#assertOpen("requeueDead");
      checkJobId(jobId);
      this.#forgetDead(this.#clock.now());
      const job = this.#dead.get(jobId);
      if (!job) return false;
      this.#dead.delete(jobId);
      job.attempts = 0;
      job.next = "requeued";
      job.previousConsumer = "";
      job.outcome = "";
      this.#makeReady(job, true);
      this.#notify();
      return true;
    });
  }

  /**
   * Current counts. Delayed jobs that are due count as waiting.
   *
   * @returns Waiting, delayed, in-flight and dead jobs.
   */
  stats(): Promise<QueueStats> {
    return Promise.try(() => {
      this.#assertOpen("stats");
      const now = this.#clock.now();
      this.#forgetDead(now);
      const due = upperBound(this.#delayed, (job) => job.dueAt <= now);
      return {
        waiting: this.#ready.length + due,
        delayed: this.#delayed.length - due,
        inFlight: this.#active.size,
        dead: this.#dead.size,
      };
    });
  }

  /**
   * Closes the queue: pending `reserve` calls resolve with no jobs and later
   * calls throw. Idempotent.
   *
   * @returns A promise that settles once closed.
   */
  close(): Promise<void> {
    this.#closed = true;
    this.#notify();
    return Promise.resolve();
  }

  #take(consumer: string, request: ReserveRequest): Lease[] {
    const { count, leaseMs } = request;
    const now = this.#clock.now();
    let due = 0;
    while (due < this.#delayed.length && this.#delayed[due]!.dueAt <= now) due++;
    for (const job of this.#delayed.splice(0, due)) this.#makeReady(job, true);
    const expired = [...this.#active.values()].filter((job) => job.expiresAt <= now);
    expired.sort((a, b) => a.expiresAt - b.expiresAt);
    const buried: DeadJob[] = [];
    for (const job of expired) {
      this.#active.delete(job.id);
      if (job.attempts >= job.maxAttempts) {
        job.lastError = leaseExpiredError(job.consumer);
        this.#bury(job, now);
        buried.push(deadJob(job));
      } else {
        job.next = "reclaimed";
        job.previousConsumer = job.consumer;
        this.#makeReady(job, false);
      }
    }
    const leases: Lease[] = [];
    for (const job of this.#ready.splice(0, count)) {
      job.state = "active";
      job.attempts += 1;
      job.token += 1;
      job.consumer = consumer;
      job.leaseMs = leaseMs;
      job.expiresAt = now + leaseMs;
      job.outcome = "";
      this.#active.set(job.id, job);
      const lease: Lease = {
        jobId: job.id,
        spec: JSON.parse(job.specJson),
        attempt: job.attempts,
        token: job.token,
        consumer,
        expiresAt: job.expiresAt,
        reason: job.next,
      };
      if (job.next === "reclaimed") lease.previousConsumer = job.previousConsumer;
      leases.push(lease);
    }
    request.reportDead(buried);
    return leases;
  }

  /** Places a job among the ready ones; `fresh` gives it a new place at the back. */
  #makeReady(job: Job, fresh: boolean): void {
    job.state = "ready";
    if (fresh) job.rank = readyRank(job.priority, ++this.#seq);
    const at = upperBound(this.#ready, (other) => other.rank <= job.rank);
    this.#ready.splice(at, 0, job);
  }

  #delay(job: Job, dueAt: number): void {
    job.state = "delayed";
    job.dueAt = dueAt;
    const at = upperBound(this.#delayed, (other) => other.dueAt <= dueAt);
    this.#delayed.splice(at, 0, job);
  }

  #bury(job: Job, now: number): void {
    job.state = "dead";
    job.deadAt = now;
    job.outcome = "dead";
    this.#dead.set(job.id, job);
    this.#forgetDead(now);
  }

  /** Forgets the dead jobs older than `deadRetentionMs` (they died in insertion order). */
  #forgetDead(now: number): void {
    for (const [id, job] of this.#dead) {
      if (job.deadAt + this.#options.deadRetentionMs > now) break;
      this.#dead.delete(id);
      this.#jobs.delete(id);
    }
  }

  #held(lease: Lease): Job | undefined {
    const job = this.#jobs.get(lease.jobId);
    return job?.state === "active" && job.token === lease.token ? job : undefined;
  }

  #replayOf(lease: Lease): Outcome {
    const job = this.#jobs.get(lease.jobId);
    return job?.token === lease.token ? job.outcome : "";
  }

  #lost(lease: Lease): LeaseLostError {
    const job = this.#jobs.get(lease.jobId);
    const completed = this.#completed.get(lease.jobId);
    const found = job ?? (completed ? { state: "done", token: completed.token } : undefined);
    return new LeaseLostError(lease.jobId, lostReason(found, lease.token));
  }

  /** Ms until a delayed job is due or a lease expires; `Infinity` when neither. */
  #nextChangeIn(): number {
    let next = this.#delayed[0]?.dueAt ?? Infinity;
    for (const job of this.#active.values()) next = Math.min(next, job.expiresAt);
    return Math.max(1, next - this.#clock.now());
  }

  #wait(ms: number, signal: AbortSignal | undefined): Promise<void> {
    return new Promise((resolve) => {
      let timer: TimerId | undefined;
      const done = () => {
        this.#waiters.delete(done);
        if (timer !== undefined) this.#clock.clearTimeout(timer);
        signal?.removeEventListener("abort", done);
        resolve();
      };
      this.#waiters.add(done);
      signal?.addEventListener("abort", done, { once: true });
      if (Number.isFinite(ms)) timer = this.#clock.setTimeout(done, ms);
    });
  }

  #notify(): void {
    for (const wake of [...this.#waiters]) wake();
  }

  #forgetExpired(map: Map<string, { until: number }>, now: number): void {
    for (const [key, entry] of map) {
      if (entry.until > now) break;
      map.delete(key);
    }
  }

  #assertOpen(operation: string): void {
    if (this.#closed) throw new Error(`Cannot ${operation}: the job queue is closed`);
  }
}

/** A dead job as `deadLetters` lists it. */
function deadJob(job: Job): DeadJob {
  const { id: jobId, attempts, lastError, deadAt } = job;
  return { jobId, spec: JSON.parse(job.specJson), attempts, lastError, deadAt };
}

/** Index of the first element for which `before` is false (`before` must be monotone). */
function upperBound<T>(items: readonly T[], before: (item: T) => boolean): number {
  let low = 0;
  let high = items.length;
  while (low < high) {
    const mid = (low + high) >>> 1;
    if (before(items[mid]!)) low = mid + 1;
    else high = mid;
  }
  return low;
}
