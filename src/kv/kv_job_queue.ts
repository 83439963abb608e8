/**
 * The embedded durable {@linkcode JobQueue}: jobs in a Deno KV file, shared by
 * the processes of one machine — a `worker` takes the jobs a `serve` on the
 * same file enqueued — with the behaviour of the in-memory and Redis queues
 * (the same conformance suite runs on all three).
 *
 * ## Layout and atomicity
 * A job record plus one index key per state (ready, delayed, active, dead);
 * see `_queue_keys.ts`. Every change of a job moves its index key and
 * rewrites its record in one atomic commit checked against the record's
 * versionstamp: of two processes reserving, completing or requeuing one job,
 * one wins and the other reads again. Enqueues and the changes of different
 * jobs submitted while a commit is in flight share the next commit
 * (`_commit_batcher.ts`); a `reserve` leases its jobs in one commit.
 *
 * ## Leases, reclaim and fencing
 * `reserve` first moves due delayed jobs to the ready ones, and jobs whose
 * lease expired back to their place among them (reason `"reclaimed"`) or to
 * the dead letters when they used up their attempts; then it leases the best
 * ready jobs, raising each one's fencing token. `heartbeat`, `complete`,
 * `fail` and `release` act only while the job is leased under the presented
 * token. An expired lease nobody reclaimed yet can still be renewed: the
 * token decides, not the clock.
 *
 * ## Time
 * Delays, leases and retry due times are read from the injected clock; every
 * process on one file must read the same time (the machine's clock, the
 * default). FIFO within a priority follows the time a job became ready (then
 * its order within its process).
 *
 * ## Blocking
 * A `reserve` with `blockMs` that finds nothing waits until a job is
 * enqueued or handed back in this process (any queue on the same `Deno.Kv`),
 * the next delayed job is due or lease expires, or `pollIntervalMs` passed —
 * the interval at which jobs enqueued by other processes are seen
 * (`Deno.Kv.watch` does not report other processes' writes in Deno 2.9.6:
 * see `_bus.ts`). Aborting `signal` ends the wait at once.
 *
 * @module
 */
import { backoffDelay, type BackoffOptions } from "../backoff.ts";
import {
  checkDeadLimit,
  checkEnqueue,
  checkErrorMessage,
  checkJobId,
  checkLease,
  checkLeaseMs,
  checkReserve,
  DEFAULT_DEAD_LIMIT,
  type ResolvedQueueOptions,
  resolveQueueOptions,
} from "../queue/_job_queue_options.ts";
import type {
  DeadJob,
  EnqueueOptions,
  EnqueueResult,
  JobQueue,
  JobSpec,
  Lease,
  QueueStats,
  ReserveOptions,
} from "../queue/job_queue.ts";
import { _deleteParts, _split, _writeParts } from "./_chunks.ts";
import type { _Bus } from "./_bus.ts";
import { _CommitBatcher } from "./_commit_batcher.ts";
import { _KvClient } from "./_kv_client.ts";
import { _checkIdSize, _keySize } from "./_limits.ts";
import { _QueueJobs } from "./_queue_jobs.ts";
import { _freshRank, type _Job, _QueueKeys } from "./_queue_keys.ts";
import type { KvStoreOptions } from "./kv_store_options.ts";

/** Options of {@linkcode KvJobQueue}. */
export interface KvJobQueueOptions extends KvStoreOptions {
  /** Queue name: queues of different names on one file are independent. @default {"default"} */
  name?: string;
  /** Lease duration when `reserve` does not give one, in ms. @default {30000} */
  leaseMs?: number;
  /** Attempts before dead-lettering when `enqueue` does not say. @default {3} */
  maxAttempts?: number;
  /**
   * Retry delays after a failed attempt (`backoffDelay` of `src/backoff.ts`);
   * omitted fields take the defaults.
   * @default {{ minMs: 1000, maxMs: 60000, factor: 2, jitter: 0.5 }}
   */
  backoff?: Partial<BackoffOptions>;
  /** How long an idempotency key is remembered, in ms. @default {86400000} */
  idempotencyTtlMs?: number;
  /** How long a dead job is kept after it died, in ms. @default {DEFAULT_DEAD_RETENTION_MS} */
  deadRetentionMs?: number;
  /** Uniform numbers in `[0, 1)` for the jitter. @default {Math.random} */
  random?: () => number;
  /**
   * Longest wait of a blocked `reserve` between two looks, in ms: how soon it
   * sees jobs enqueued by other processes.
   * @default {250}
   */
  pollIntervalMs?: number;
}

/** Specs larger than this (UTF-8 bytes) are stored in parts. */
const INLINE_SPEC_BYTES = 8_192;
const encoder = new TextEncoder();

/**
 * A {@linkcode JobQueue} in a Deno KV file, for the processes of one machine.
 * Opens the file on first use (see {@linkcode KvStoreOptions.path}); needs
 * `--unstable-kv`.
 *
 * @example Enqueue, reserve, complete
 * ```ts
 * import { KvJobQueue } from "./kv_job_queue.ts";
 * const dir = await Deno.makeTempDir();
 * const queue = new KvJobQueue({ path: `${dir}/oao.kv` });
 * await queue.enqueue({ executionId: "exec-1", agent: "echo", task: "hi" });
 * const [lease] = await queue.reserve("worker-1");
 * console.assert(lease?.spec.executionId === "exec-1" && lease.attempt === 1);
 * await queue.complete(lease!);
 * await queue.close();
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export class KvJobQueue implements JobQueue {
  #client: _KvClient;
  #batcher: _CommitBatcher;
  #jobs: _QueueJobs;
  #keys: _QueueKeys;
  #name: string;
  #options: ResolvedQueueOptions;
  #pollIntervalMs: number;

  /**
   * Creates a queue; the file is opened by the first operation.
   *
   * @param options File (or `Deno.Kv`), key prefix, name, clock, defaults
   *   for leases and attempts, backoff, polling.
   * @throws {TypeError} When `name` or `keyPrefix` is not a non-empty string.
   * @throws {RangeError} When an option is out of range.
   */
  constructor(options: KvJobQueueOptions = {}) {
    this.#client = new _KvClient("KvJobQueue", options);
    this.#batcher = new _CommitBatcher(this.#client);
    this.#options = resolveQueueOptions(options);
    this.#name = options.name ?? "default";
    if (typeof this.#name !== "string" || this.#name === "") {
      throw new TypeError(`Invalid job queue option "name": "${this.#name}" must be non-empty`);
    }
    _checkIdSize(this.#name, "job queue name");
    this.#keys = new _QueueKeys(this.#client.prefix, this.#name);
    this.#jobs = new _QueueJobs(this.#client, {
      batcher: this.#batcher,
      keys: this.#keys,
      options: this.#options,
    });
    this.#pollIntervalMs = options.pollIntervalMs ?? 250;
    if (!Number.isInteger(this.#pollIntervalMs) || this.#pollIntervalMs < 10) {
      throw new RangeError(
        `Invalid job queue option "pollIntervalMs": "${this.#pollIntervalMs}" is not an integer >= 10`,
      );
    }
  }

  /**
   * Adds a job, or returns the existing one for a repeated idempotency key.
   *
   * @param spec The job; must be JSON-serializable (it is stored as JSON).
   * @param options Priority, delay, idempotency key, attempts.
   * @returns The job id and whether the key matched an existing job.
   * @throws {TypeError} When the spec is malformed or not serializable.
   * @throws {RangeError} When an option is out of range.
   * @throws {StoreUnavailableError} When the file fails.
   */
  async enqueue(spec: JobSpec, options: EnqueueOptions = {}): Promise<EnqueueResult> {
    this.#assertOpen("enqueue");
    const request = checkEnqueue(spec, options, this.#options);
    const key = request.idempotencyKey;
    if (key !== undefined) _checkIdSize(key, "idempotency key");
    const id = crypto.randomUUID();
    const bytes = encoder.encode(request.specJson);
    const parts = bytes.length > INLINE_SPEC_BYTES ? _split(bytes) : undefined;
    if (parts) {
      await _writeParts(this.#client, this.#keys.specParts(id), { operation: "enqueue", parts });
    }
    let result: EnqueueResult;
    for (;;) {
      const known = key === undefined ? undefined : await this.#client.run(
        "enqueue",
        (kv) =>
          kv.get<{ jobId: string; executionId: string; until: number }>(
            this.#keys.idempotency(key),
          ),
      );
      const now = this.#client.clock.now();
      const found = known?.value;
      if (found && found.until > now) {
        result = { jobId: found.jobId, executionId: found.executionId, duplicate: true };
        break;
      }
      const job: _Job = {
        spec: parts ? { parts: parts.length } : bytes,
        executionId: request.executionId,
        priority: request.priority,
        maxAttempts: request.maxAttempts,
        state: request.delayMs > 0 ? "delayed" : "ready",
        attempts: 0,
        token: 0,
        rank: _freshRank(now),
        dueAt: request.delayMs > 0 ? now + request.delayMs : 0,
        consumer: "",
        leaseMs: 0,
        expiresAt: 0,
        next: "new",
        previousConsumer: "",
        lastError: "",
        deadAt: 0,
        outcome: "",
      };
      const ttl = this.#options.idempotencyTtlMs;
      const keys = [this.#keys.job(id), this.#keys.of(id, job)];
      if (key !== undefined) keys.push(this.#keys.idempotency(key));
      const keyBytes = keys.reduce((sum, k) => sum + _keySize(k), 0);
      const commit = await this.#batcher.commit({
        operation: "enqueue",
        checks: known ? [known] : [],
        mutate: (atomic) => {
          atomic.set(keys[0]!, job).set(keys[1]!, null);
          if (key !== undefined) {
            atomic.set(keys[2]!, {
              jobId: id,
              executionId: request.executionId,
              until: now + ttl,
            }, { expireIn: ttl });
          }
        },
        keys,
        mutations: keys.length,
        keyBytes,
        bytes: keyBytes + (parts ? 0 : bytes.length) + 512,
      });
      if (commit.ok) {
        result = { jobId: id, executionId: request.executionId, duplicate: false };
        break;
      }
    }
    if (result.duplicate && parts) {
      await _deleteParts(this.#client, this.#keys.specParts(id), { count: parts.length });
    }
    if (!result.duplicate) await this.#wake();
    return result;
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
   * @throws {StoreUnavailableError} When the file fails.
   */
  async reserve(consumer: string, options: ReserveOptions = {}): Promise<Lease[]> {
    this.#assertOpen("reserve");
    const request = checkReserve(consumer, options, this.#options);
    const { signal } = request;
    if (signal?.aborted) return [];
    const clock = this.#client.clock;
    const deadline = clock.now() + request.blockMs;
    const stop = AbortSignal.any(
      signal ? [this.#client.closing.signal, signal] : [
        this.#client.closing.signal,
      ],
    );
    let bus: _Bus;
    try {
      bus = await this.#client.bus("reserve");
    } catch (error) {
      if (this.#client.closed) return []; // closed while the file was being opened
      throw error;
    }
    while (true) {
      const ticket = bus.listen(this.#topic);
      let leases: Lease[];
      let nextChange: number;
      try {
        leases = await this.#jobs.take(consumer, request);
        nextChange = leases.length > 0 ? Infinity : await this.#jobs.nextChange();
      } catch (error) {
        ticket.close();
        if (this.#client.closed) return [];
        throw error;
      }
      const now = clock.now();
      const remaining = deadline - now;
      if (leases.length > 0 || remaining <= 0 || this.#client.closed) {
        ticket.close();
        return leases;
      }
      if (nextChange <= now) { // a job became due or a lease expired meanwhile: look again
        ticket.close();
        continue;
      }
      const ms = Math.min(remaining, this.#pollIntervalMs, nextChange - now);
      await ticket.wait({ ms, clock, signal: stop });
      if (stop.aborted) return [];
    }
  }

  /**
   * Extends a lease by `leaseMs` (default: the duration it was reserved
   * with). A lease that expired but was not reclaimed yet is still renewed.
   * On success `lease.expiresAt` is updated.
   *
   * @param lease The lease from `reserve`.
   * @param leaseMs New duration from now, in ms.
   * @returns `false` when the lease was lost.
   * @throws {TypeError} When `lease` is not a lease.
   * @throws {RangeError} When `leaseMs` is not a positive integer.
   * @throws {StoreUnavailableError} When the file fails.
   */
  async heartbeat(lease: Lease, leaseMs?: number): Promise<boolean> {
    this.#assertOpen("heartbeat");
    checkLease(lease, "heartbeat");
    checkLeaseMs(leaseMs);
    const expiresAt = await this.#jobs.change(
      { id: lease.jobId, operation: "heartbeat" },
      (job, now) => {
        if (!_held(job, lease)) return { result: undefined };
        const next: _Job = { ...job!, expiresAt: now + (leaseMs ?? job!.leaseMs) };
        return { job: next, result: next.expiresAt };
      },
    );
    if (expiresAt === undefined) return false;
    lease.expiresAt = expiresAt;
    return true;
  }

  /**
   * Marks the job done and forgets it. Repeating it with the same lease is a
   * no-op for a minute.
   *
   * @param lease The lease from `reserve`.
   * @returns A promise that settles once the job is done.
   * @throws {LeaseLostError} When the lease was lost.
   * @throws {TypeError} When `lease` is not a lease.
   * @throws {StoreUnavailableError} When the file fails.
   */
  async complete(lease: Lease): Promise<void> {
    this.#assertOpen("complete");
    checkLease(lease, "complete");
    const done = await this.#jobs.change({ id: lease.jobId, operation: "complete" }, (job) => {
      if (!_held(job, lease)) return { result: false };
      return { job: null, result: true };
    });
    if (done) return;
    const repeated = await this.#client.run("complete", async (kv) => {
      const entry = await kv.get<{ token: number; until: number }>(this.#keys.done(lease.jobId));
      return entry.value?.token === lease.token && entry.value.until > this.#client.clock.now();
    });
    if (!repeated) throw await this.#jobs.lost(lease);
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
   * @throws {StoreUnavailableError} When the file fails.
   */
  async fail(
    lease: Lease,
    error: string,
    options: { retry?: boolean } = {},
  ): Promise<"retry" | "dead"> {
    this.#assertOpen("fail");
    checkLease(lease, "fail");
    const message = checkErrorMessage(error);
    const outcome = await this.#jobs.change({ id: lease.jobId, operation: "fail" }, (job, now) => {
      if (!_held(job, lease)) {
        const replay = job?.token === lease.token ? job.outcome : "";
        return { result: replay === "retry" || replay === "dead" ? replay : undefined };
      }
      const next: _Job = { ...job!, lastError: message };
      if (options.retry === false || next.attempts >= next.maxAttempts) {
        return { job: this.#jobs.buried(next, now), result: "dead" as const };
      }
      const delay = backoffDelay(next.attempts, this.#options.backoff, this.#options.random);
      Object.assign(next, {
        state: "delayed",
        dueAt: now + delay,
        next: "retry",
        previousConsumer: "",
        outcome: "retry",
      });
      return { job: next, result: "retry" as const };
    });
    if (outcome === undefined) throw await this.#jobs.lost(lease);
    if (outcome === "retry") await this.#wake();
    return outcome;
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
   * @throws {StoreUnavailableError} When the file fails.
   */
  async release(lease: Lease): Promise<void> {
    this.#assertOpen("release");
    checkLease(lease, "release");
    const released = await this.#jobs.change({ id: lease.jobId, operation: "release" }, (job) => {
      if (!_held(job, lease)) {
        return { result: job?.token === lease.token && job.outcome === "released" };
      }
      const next: _Job = {
        ...job!,
        state: "ready",
        attempts: job!.attempts - 1,
        next: "requeued",
        previousConsumer: "",
        outcome: "released",
      };
      return { job: next, result: true };
    });
    if (!released) throw await this.#jobs.lost(lease);
    await this.#wake();
  }

  /**
   * Lists dead jobs, oldest first.
   *
   * @param limit Most jobs to list.
   * @returns The dead jobs with their attempts and last error.
   * @throws {RangeError} When `limit` is not a positive integer.
   * @throws {StoreUnavailableError} When the file fails.
   */
  async deadLetters(limit: number = DEFAULT_DEAD_LIMIT): Promise<DeadJob[]> {
    this.#assertOpen("deadLetters");
    checkDeadLimit(limit);
    await this.#jobs.forgetDead();
    return await this.#client.run("deadLetters", async (kv) => {
      const ids: string[] = [];
      for await (const entry of kv.list({ prefix: this.#keys.index("dead") }, { limit })) {
        ids.push(entry.key[entry.key.length - 1] as string);
      }
      const jobs = await this.#jobs.readJobs(kv, ids);
      const dead: DeadJob[] = [];
      for (const { id, job } of jobs) {
        if (job.state !== "dead") continue;
        dead.push({
          jobId: id,
          spec: await this.#jobs.spec(kv, { id, job }),
          attempts: job.attempts,
          lastError: job.lastError,
          deadAt: job.deadAt,
        });
      }
      return dead;
    });
  }

  /**
   * Moves a dead job to the back of its priority with fresh attempts; its
   * next delivery has reason `"requeued"`.
   *
   * @param jobId The dead job.
   * @returns `false` when no dead job has this id.
   * @throws {TypeError} When `jobId` is not a non-empty string.
   * @throws {StoreUnavailableError} When the file fails.
   */
  async requeueDead(jobId: string): Promise<boolean> {
    this.#assertOpen("requeueDead");
    checkJobId(jobId);
    const requeued = await this.#jobs.change(
      { id: jobId, operation: "requeueDead" },
      (job, now) => {
        if (job?.state !== "dead") return { result: false };
        if (job.deadAt + this.#options.deadRetentionMs <= now) return { job: null, result: false };
        const next: _Job = {
          ...job,
          state: "ready",
          attempts: 0,
          rank: _freshRank(now),
          next: "requeued",
          previousConsumer: "",
          outcome: "",
        };
        return { job: next, result: true };
      },
    );
    if (requeued) await this.#wake();
    return requeued;
  }

  /**
   * Current counts. Delayed jobs that are due count as waiting.
   *
   * @returns Waiting, delayed, in-flight and dead jobs.
   * @throws {StoreUnavailableError} When the file fails.
   */
  async stats(): Promise<QueueStats> {
    this.#assertOpen("stats");
    await this.#jobs.forgetDead();
    return await this.#client.run("stats", async (kv) => {
      const now = this.#client.clock.now();
      const count = async (selector: Deno.KvListSelector) => {
        let n = 0;
        for await (const _ of kv.list(selector, { batchSize: 1_000 })) n++;
        return n;
      };
      const [ready, due, delayed, inFlight, dead] = await Promise.all([
        count({ prefix: this.#keys.index("ready") }),
        count({
          start: this.#keys.index("delayed"),
          end: this.#keys.until("delayed", now),
        }),
        count({ prefix: this.#keys.index("delayed") }),
        count({ prefix: this.#keys.index("active") }),
        count({ prefix: this.#keys.index("dead") }),
      ]);
      return { waiting: ready + due, delayed: delayed - due, inFlight, dead };
    });
  }

  /**
   * Closes the queue: pending `reserve` calls resolve with no jobs and later
   * calls throw. Releases the file (unless the `Deno.Kv` was given as option
   * `kv`). Idempotent.
   *
   * @returns A promise that settles once closed.
   */
  async close(): Promise<void> {
    await this.#client.close();
  }

  get #topic(): string {
    return `q\u0000${this.#client.prefix}\u0000${this.#name}`;
  }

  /** Wakes the blocked reserves of this process. */
  async #wake(): Promise<void> {
    (await this.#client.bus("wake")).notify(this.#topic);
  }

  #assertOpen(operation: string): void {
    if (this.#client.closed) throw new Error(`Cannot ${operation}: the job queue is closed`);
  }
}

function _held(job: _Job | null, lease: Lease): boolean {
  return job?.state === "active" && job.token === lease.token;
}
