/**
 * The port for distributing executions to worker nodes. Implementations:
 * `InMemoryJobQueue` (embedded default, one process) and `RedisJobQueue`
 * (Redis Streams with a consumer group, for API nodes and worker nodes
 * sharing one Redis or Redis Cluster).
 *
 * ## Guarantees
 * - A job is delivered to one worker at a time, under a lease. The worker
 *   renews the lease by {@linkcode JobQueue.heartbeat}; a job whose lease
 *   expires is handed to another worker by {@linkcode JobQueue.reserve}, with
 *   a higher fencing token, and the old lease can no longer complete, fail or
 *   renew it.
 * - FIFO within a priority; higher priorities first.
 * - Failed attempts are retried after an exponential, jittered delay until
 *   `maxAttempts`; then the job moves to the dead-letter queue, keeping its
 *   attempts and last error, from where it can be inspected and re-enqueued.
 * - Submitting twice with the same idempotency key returns the first job.
 *
 * ## Attempts
 * Every delivery counts as an attempt, except the one after a
 * {@linkcode JobQueue.release}. A lease that expires counts too: a job whose
 * lease expires after its last attempt is dead-lettered with the error
 * `Lease of consumer "<name>" expired`, so a job that kills its workers does
 * not circulate forever. No worker reports such a job (its holder is gone):
 * the `reserve` call that dead-letters it tells its caller
 * ({@linkcode ReserveOptions.onDeadLettered}), so that the job's execution
 * can be marked failed.
 *
 * ## Repeated calls
 * `complete`, `fail` and `release` are safe to repeat with the same lease
 * (as a retry after a lost reply does): the repetition answers as the first
 * call did. The fencing token, not the clock, decides whether a lease is
 * still held: a lease that expired but was not reclaimed yet can still be
 * renewed or completed.
 *
 * @module
 */

/** What to run. */
export interface JobSpec {
  /** Execution id the job drives (its event log and snapshots). */
  executionId: string;
  /** Registered agent name. */
  agent: string;
  /** The task given to the agent. Must be JSON-serializable. */
  task: unknown;
  /** Policy overrides and other execution options. */
  options?: Record<string, unknown>;
  /** W3C `traceparent` of the submitter, continued by the worker. */
  traceparent?: string;
  /** W3C `tracestate`. */
  tracestate?: string;
}

/** Options of {@linkcode JobQueue.enqueue}. */
export interface EnqueueOptions {
  /** Higher runs first. Integers 0–9. @default {0} */
  priority?: number;
  /** Run no earlier than this many ms from now. @default {0} */
  delayMs?: number;
  /**
   * A repeated submit with this key returns the first job, for as long as
   * the queue remembers keys (a day by default), even after the job ended.
   */
  idempotencyKey?: string;
  /** Attempts before dead-lettering. @default {the queue's default} */
  maxAttempts?: number;
}

/** The result of {@linkcode JobQueue.enqueue}. */
export interface EnqueueResult {
  /** The job id. */
  jobId: string;
  /** The execution id of the job (the existing one for a duplicate). */
  executionId: string;
  /** True when the idempotency key matched an existing job. */
  duplicate: boolean;
}

/** A job held by a worker. */
export interface Lease {
  /** The job id. */
  jobId: string;
  /** The job. */
  spec: JobSpec;
  /** 1 for the first delivery, 2 after a retry or reclaim, … */
  attempt: number;
  /** Fencing token; grows with every delivery of the job. */
  token: number;
  /** The consumer (worker node) holding the lease. */
  consumer: string;
  /** Epoch ms at which the lease expires unless renewed. */
  expiresAt: number;
  /**
   * Why the job was delivered: first delivery, retry after a failure,
   * reclaim from an expired lease, or re-enqueue (by
   * {@linkcode JobQueue.requeueDead} or after {@linkcode JobQueue.release}).
   */
  reason: "new" | "retry" | "reclaimed" | "requeued";
  /** The consumer that held it before, for a reclaim. */
  previousConsumer?: string;
}

/** Options of {@linkcode JobQueue.reserve}. */
export interface ReserveOptions {
  /** Maximum jobs to take. @default {1} */
  count?: number;
  /** Wait this long for a job when none is ready. @default {0} */
  blockMs?: number;
  /** Lease duration in ms. @default {the queue's lease} */
  leaseMs?: number;
  /**
   * Stops waiting: the call then resolves with no jobs (it does not
   * reject). An already aborted signal takes no job.
   */
  signal?: AbortSignal;
  /**
   * Told, before the call resolves, about the jobs it moved to the
   * dead-letter queue because their lease expired after their last attempt
   * (the reclaim that precedes every reservation): their holder is gone, so
   * nobody else learns of their death. Called with one batch at a time, never
   * an empty one; a listener that throws changes nothing. The report is not
   * repeated: when the reply of a reservation is lost (connection failure),
   * its report is lost with it, and the jobs stay dead (`deadLetters`).
   * `InMemoryJobQueue` and `RedisJobQueue` report; an implementation that
   * cannot ignores the option.
   * @default {nothing}
   */
  onDeadLettered?: (jobs: DeadJob[]) => void;
}

/** A job in the dead-letter queue. */
export interface DeadJob {
  /** The job id. */
  jobId: string;
  /** The job. */
  spec: JobSpec;
  /** Attempts made. */
  attempts: number;
  /** Last error message. */
  lastError: string;
  /** Epoch ms it was dead-lettered. */
  deadAt: number;
}

/** Counts for metrics and the `queue` command. */
export interface QueueStats {
  /** Jobs ready to run, including delayed jobs that are due. */
  waiting: number;
  /** Jobs waiting for their delay or a retry delay. */
  delayed: number;
  /** Jobs under a lease (including expired leases not reclaimed yet). */
  inFlight: number;
  /** Jobs in the dead-letter queue. */
  dead: number;
}

/** A durable job queue with leases. */
export interface JobQueue {
  /** Adds a job (or returns the existing one for a repeated idempotency key). */
  enqueue(spec: JobSpec, options?: EnqueueOptions): Promise<EnqueueResult>;
  /**
   * Takes up to `count` ready jobs, reclaiming jobs whose lease expired;
   * waits up to `blockMs` when none is ready.
   */
  reserve(consumer: string, options?: ReserveOptions): Promise<Lease[]>;
  /**
   * Extends a lease by `leaseMs` (default: the duration it was reserved
   * with) and updates `lease.expiresAt`. Resolves `false` when the lease was
   * lost (reclaimed by another consumer, released, settled); the holder must
   * stop working on the job.
   */
  heartbeat(lease: Lease, leaseMs?: number): Promise<boolean>;
  /** Marks the job done. @throws {LeaseLostError} When the lease was lost. */
  complete(lease: Lease): Promise<void>;
  /**
   * Records a failed attempt: retried after a backoff delay, or dead-lettered
   * after `maxAttempts` (or at once when `retry` is false).
   * @throws {LeaseLostError} When the lease was lost.
   */
  fail(lease: Lease, error: string, options?: { retry?: boolean }): Promise<"retry" | "dead">;
  /**
   * Hands a job back to the front of its priority without counting an
   * attempt (graceful shutdown).
   * @throws {LeaseLostError} When the lease was lost.
   */
  release(lease: Lease): Promise<void>;
  /** Lists dead jobs, oldest first (100 unless `limit` says otherwise). */
  deadLetters(limit?: number): Promise<DeadJob[]>;
  /** Moves a dead job back to the queue; resolves `false` if it is not dead. */
  requeueDead(jobId: string): Promise<boolean>;
  /** Current counts. */
  stats(): Promise<QueueStats>;
  /**
   * Releases connections; pending `reserve` calls resolve with no jobs and
   * later calls reject. Idempotent.
   */
  close(): Promise<void>;
}
