/**
 * Defaults, argument checks and shared wording of the job queue
 * implementations, so that the in-memory twin and the Redis queue accept,
 * reject and report exactly alike.
 *
 * @module
 */
import { type BackoffOptions, resolveBackoff } from "../backoff.ts";
import type { DeadJob, EnqueueOptions, JobSpec, Lease, ReserveOptions } from "./job_queue.ts";

/**
 * Default retry delays of failed jobs (the shared backoff of `src/backoff.ts`):
 * 1 s, doubling up to 60 s, ±50 % jitter.
 */
export const DEFAULT_QUEUE_BACKOFF: Readonly<BackoffOptions> = Object.freeze({
  minMs: 1_000,
  maxMs: 60_000,
  factor: 2,
  jitter: 0.5,
});
/** Default lease duration. */
export const DEFAULT_LEASE_MS = 30_000;
/** Default attempts before dead-lettering. */
export const DEFAULT_MAX_ATTEMPTS = 3;
/** Default lifetime of an idempotency key: one day. */
export const DEFAULT_IDEMPOTENCY_TTL_MS = 86_400_000;
/** Default time a dead job is kept for `deadLetters` and `requeueDead`: 7 days, like event logs. */
export const DEFAULT_DEAD_RETENTION_MS = 7 * 86_400_000;
/** How long a completed job is remembered so that a repeated `complete` is a no-op. */
export const COMPLETED_MEMORY_MS = 60_000;
/** Most jobs one `reserve` may take. */
export const MAX_RESERVE_COUNT = 1_000;
/** Longest error message kept with a job; longer ones are cut. */
export const MAX_ERROR_LENGTH = 16_384;
/** Default number of dead jobs listed. */
export const DEFAULT_DEAD_LIMIT = 100;

/** Options both implementations take. */
export interface CommonQueueOptions {
  leaseMs?: number;
  maxAttempts?: number;
  backoff?: Partial<BackoffOptions>;
  idempotencyTtlMs?: number;
  deadRetentionMs?: number;
  random?: () => number;
}

/** Validated {@linkcode CommonQueueOptions}. */
export interface ResolvedQueueOptions {
  leaseMs: number;
  maxAttempts: number;
  backoff: BackoffOptions;
  idempotencyTtlMs: number;
  deadRetentionMs: number;
  random: () => number;
}

/** A validated enqueue request. */
export interface EnqueueRequest {
  specJson: string;
  executionId: string;
  priority: number;
  delayMs: number;
  maxAttempts: number;
  idempotencyKey: string | undefined;
}

/** A validated reserve request. */
export interface ReserveRequest {
  count: number;
  blockMs: number;
  leaseMs: number;
  signal: AbortSignal | undefined;
  /** Tells the caller's `onDeadLettered` of a non-empty batch; never throws. */
  reportDead: (jobs: DeadJob[]) => void;
}

/** Merges queue options with the defaults and checks every field. */
export function resolveQueueOptions(options: CommonQueueOptions): ResolvedQueueOptions {
  const resolved = {
    leaseMs: options.leaseMs ?? DEFAULT_LEASE_MS,
    maxAttempts: options.maxAttempts ?? DEFAULT_MAX_ATTEMPTS,
    backoff: resolveBackoff(options.backoff, "job queue option backoff", DEFAULT_QUEUE_BACKOFF),
    idempotencyTtlMs: options.idempotencyTtlMs ?? DEFAULT_IDEMPOTENCY_TTL_MS,
    deadRetentionMs: options.deadRetentionMs ?? DEFAULT_DEAD_RETENTION_MS,
    random: options.random ?? Math.random,
  };
  checkPositiveInteger("job queue option", "leaseMs", resolved.leaseMs);
  checkPositiveInteger("job queue option", "maxAttempts", resolved.maxAttempts);
  checkPositiveInteger("job queue option", "idempotencyTtlMs", resolved.idempotencyTtlMs);
  checkPositiveInteger("job queue option", "deadRetentionMs", resolved.deadRetentionMs);
  if (typeof resolved.random !== "function") {
    throw new TypeError(`Invalid job queue option "random": must be a function`);
  }
  return resolved;
}

/** Checks a job and its enqueue options; serializes the job. */
export function checkEnqueue(
  spec: JobSpec,
  options: EnqueueOptions,
  defaults: ResolvedQueueOptions,
): EnqueueRequest {
  if (typeof spec !== "object" || spec === null) {
    throw new TypeError("Cannot enqueue job: the job spec must be an object");
  }
  for (const field of ["executionId", "agent"] as const) {
    if (typeof spec[field] !== "string" || spec[field] === "") {
      throw new TypeError(`Cannot enqueue job: "${field}" must be a non-empty string`);
    }
  }
  for (const field of ["traceparent", "tracestate"] as const) {
    if (spec[field] !== undefined && typeof spec[field] !== "string") {
      throw new TypeError(`Cannot enqueue job: "${field}" must be a string`);
    }
  }
  let specJson: string;
  try {
    specJson = JSON.stringify(spec);
  } catch (cause) {
    const reason = cause instanceof Error ? cause.message : String(cause);
    throw new TypeError(`Cannot enqueue job: the spec is not JSON-serializable (${reason})`, {
      cause,
    });
  }
  const priority = options.priority ?? 0;
  if (!Number.isInteger(priority) || priority < 0 || priority > 9) {
    throw new RangeError(`Invalid enqueue option "priority": "${priority}" is not an integer 0-9`);
  }
  const delayMs = options.delayMs ?? 0;
  if (!Number.isFinite(delayMs) || delayMs < 0) {
    throw new RangeError(`Invalid enqueue option "delayMs": "${delayMs}" is not a number >= 0`);
  }
  const maxAttempts = options.maxAttempts ?? defaults.maxAttempts;
  checkPositiveInteger("enqueue option", "maxAttempts", maxAttempts);
  const key = options.idempotencyKey;
  if (key !== undefined && (typeof key !== "string" || key === "")) {
    throw new TypeError(`Invalid enqueue option "idempotencyKey": must be a non-empty string`);
  }
  return {
    specJson,
    executionId: spec.executionId,
    priority,
    delayMs: Math.ceil(delayMs),
    maxAttempts,
    idempotencyKey: key,
  };
}

/** Checks a consumer name and reserve options. */
export function checkReserve(
  consumer: string,
  options: ReserveOptions,
  defaults: ResolvedQueueOptions,
): ReserveRequest {
  if (typeof consumer !== "string" || consumer === "") {
    throw new TypeError("Cannot reserve jobs: the consumer name must be a non-empty string");
  }
  const count = options.count ?? 1;
  if (!Number.isInteger(count) || count < 1 || count > MAX_RESERVE_COUNT) {
    throw new RangeError(
      `Invalid reserve option "count": "${count}" is not an integer 1-${MAX_RESERVE_COUNT}`,
    );
  }
  const blockMs = options.blockMs ?? 0;
  if (!Number.isFinite(blockMs) || blockMs < 0) {
    throw new RangeError(`Invalid reserve option "blockMs": "${blockMs}" is not a number >= 0`);
  }
  const leaseMs = options.leaseMs ?? defaults.leaseMs;
  checkPositiveInteger("reserve option", "leaseMs", leaseMs);
  const listener = options.onDeadLettered;
  if (listener !== undefined && typeof listener !== "function") {
    throw new TypeError(`Invalid reserve option "onDeadLettered": must be a function`);
  }
  const reportDead = (jobs: DeadJob[]) => {
    if (jobs.length === 0 || listener === undefined) return;
    try {
      listener(jobs);
    } catch { /* a listener's failure changes nothing (ReserveOptions.onDeadLettered) */ }
  };
  return { count, blockMs, leaseMs, signal: options.signal, reportDead };
}

/** Checks that a value looks like a {@linkcode Lease} handed out by a queue. */
export function checkLease(lease: Lease, operation: string): void {
  if (
    typeof lease !== "object" || lease === null || typeof lease.jobId !== "string" ||
    !Number.isInteger(lease.token)
  ) {
    throw new TypeError(`Cannot ${operation}: the argument is not a lease from reserve()`);
  }
}

/** Checks an optional lease duration given to `heartbeat`. */
export function checkLeaseMs(leaseMs: number | undefined): void {
  if (leaseMs !== undefined) checkPositiveInteger("heartbeat argument", "leaseMs", leaseMs);
}

/** Checks the error message given to `fail` and cuts it to {@linkcode MAX_ERROR_LENGTH}. */
export function checkErrorMessage(error: string): string {
  if (typeof error !== "string") {
    throw new TypeError("Cannot fail job: the error must be a message string");
  }
  return error.length > MAX_ERROR_LENGTH ? error.slice(0, MAX_ERROR_LENGTH) : error;
}

/** Checks the job id given to `requeueDead`. */
export function checkJobId(jobId: string): void {
  if (typeof jobId !== "string" || jobId === "") {
    throw new TypeError("Cannot requeue dead job: the job id must be a non-empty string");
  }
}

/** Checks the `limit` of `deadLetters`. */
export function checkDeadLimit(limit: number): void {
  checkPositiveInteger("deadLetters argument", "limit", limit);
}

/** The last error recorded for a job whose lease expired too often. */
export function leaseExpiredError(consumer: string): string {
  return `Lease of consumer "${consumer}" expired`;
}

/** Why a lease is lost, from what the queue found instead of the expected lease. */
export function lostReason(found: { state: string; token: number } | undefined, token: number) {
  if (!found) return "the job no longer exists";
  if (found.token !== token) {
    return `fencing token ${token} is older than the current ${found.token}`;
  }
  return `the job is "${found.state}", no longer held under token ${token}`;
}

/**
 * The rank of a ready job: higher priority first, then the order in which
 * jobs became ready. Exact in a double (and a Redis sorted-set score).
 */
export function readyRank(priority: number, order: number): number {
  return (9 - priority) * 1e13 + order;
}

function checkPositiveInteger(what: string, field: string, value: number): void {
  if (!Number.isSafeInteger(value) || value < 1) {
    throw new RangeError(`Invalid ${what} "${field}": "${value}" is not a positive integer`);
  }
}
