/**
 * The distributed {@linkcode JobQueue}: API nodes and worker nodes share one
 * Redis or Redis Cluster.
 *
 * ## Keys
 * All keys of a queue share the hash tag `{queue:<name>}` and so one Cluster
 * slot (`oao:` is the default `keyPrefix`):
 *
 * | key | type | holds |
 * | --- | --- | --- |
 * | `oao:{queue:<name>}:job:<id>` | hash | the job: spec, attempts, fencing token, holder, lease, last error |
 * | `oao:{queue:<name>}:ready` | sorted set | ready jobs; score = `(9 − priority) × 10¹³ + order` |
 * | `oao:{queue:<name>}:delayed` | sorted set | delayed jobs and retries; score = due time |
 * | `oao:{queue:<name>}:active` | sorted set | leased jobs; score = lease expiry |
 * | `oao:{queue:<name>}:dead` | sorted set | the dead-letter queue; score = time of death; trimmed after `deadRetentionMs` |
 * | `oao:{queue:<name>}:idem:<key>` | string | `<jobId>\n<executionId>` of an idempotency key, with a TTL |
 * | `oao:{queue:<name>}:seq` | string | counter giving ready jobs their order |
 * | `oao:{queue:<name>}:wake` | list | wake-up markers for blocked reservers (at most 16) |
 *
 * Every change is one Lua script (see `_queue_scripts.ts`), so it is atomic
 * even when several keys change together; `stats` reads four `ZCARD`s and a
 * `ZCOUNT`.
 *
 * A completed job's hash is replaced by a small tombstone that expires after a
 * minute (so a repeated `complete` is recognized); a dead job's hash expires
 * `deadRetentionMs` (7 days) after its death, when its entry leaves the
 * dead-letter set, unless it is re-enqueued first. So nothing a queue writes
 * outlives its use: job hashes go when their job is done (or dead long
 * enough), `ready`, `delayed` and `active` hold the jobs in progress, `dead`
 * is trimmed by age, `wake` holds at most 16 markers and `seq` is one counter.
 *
 * Why sorted sets rather than a Stream with a consumer group: priorities
 * would need one stream per level, and `XREADGROUP` over several streams does
 * not pop strictly by priority; `XAUTOCLAIM` has one idle threshold per call
 * while leases have per-job durations; a blocking `XREADGROUP` delivers outside
 * a script, so the fencing token could not be raised atomically with the
 * delivery; and delays, dead letters and idempotency need sorted sets and
 * hashes anyway. The pending-entries list would only duplicate the `active`
 * set.
 *
 * ## Leases, reclaim and fencing
 * `reserve` first moves due delayed jobs to the ready set and jobs whose lease
 * expired back to their place in it (reason `"reclaimed"`, remembering the
 * previous holder), then pops the best ready jobs, increments each one's
 * fencing token and records holder and expiry. `heartbeat`, `complete`,
 * `fail` and `release` act only when the job is still leased under the
 * presented token — checked and applied in one script — so the holder of a
 * reclaimed job gets `false` or {@linkcode LeaseLostError}. An expired lease
 * that nobody reclaimed yet can still be renewed or completed: the token
 * decides, not the clock. A reclaim counts as an attempt; a job whose lease
 * expires after its last attempt is dead-lettered ("Lease of consumer …
 * expired"), so a job that kills its workers does not circulate forever; the
 * script returns such jobs with the leases, and `reserve` reports them to its
 * caller's `onDeadLettered`.
 *
 * ## Time
 * Lease expiry, delays and retry due times are computed in the scripts from
 * the Redis server clock (`TIME`), one clock for all nodes. Retry delays are
 * drawn on the client ({@linkcode backoffDelay}) and added to server time.
 * The injected `clock` only times the client's blocking waits and retries of
 * failed commands.
 *
 * ## Blocking
 * A `reserve` with `blockMs` that finds nothing waits on `BLPOP` of the wake
 * list on a pooled dedicated connection (one per concurrently blocked call)
 * for at most `pollIntervalMs`, or until the next delayed job is due or the
 * next lease expires, whichever is sooner; `enqueue`, `release`, `fail` and
 * `requeueDead` push a marker that wakes one blocked reserver. So an idle
 * worker costs one script call per `pollIntervalMs`, and an expired lease is
 * reclaimed within `leaseMs + pollIntervalMs`. Aborting `signal` ends the wait
 * at once.
 *
 * ## Failures
 * Each operation is retried on transient Redis errors ({@linkcode withRetry}).
 * The scripts are idempotent under such a retry: the client draws the job id,
 * and a repeated `complete`, `fail` or `release` under the same token answers
 * as the first did. A `reserve` whose reply was lost leaves its jobs leased
 * until their lease expires; they are then reclaimed.
 *
 * @module
 */
import type { Cluster, Redis } from "ioredis";
import { CorruptDataError, LeaseLostError } from "../persistence/store_errors.ts";
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
  lostReason,
  type ReserveRequest,
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
import { type RedisClient, withRetry } from "./connection.ts";
import { QUEUE_SCRIPTS, type QueueScript, runQueueScript } from "./_queue_scripts.ts";
import { _StoreClient, type RedisStoreOptions } from "./_store_client.ts";

/**
 * Options of {@linkcode RedisJobQueue}: the connection options shared by the
 * Redis stores (`redisUrl` or a borrowed `client`, `keyPrefix`, `clock` for
 * client-side waits and retry delays, `retry`, `connection`) plus the queue's.
 */
export interface RedisJobQueueOptions extends RedisStoreOptions {
  /** Queue name; becomes the hash tag `{queue:<name>}`. No braces. @default {"default"} */
  name?: string;
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
   * `requeueDead`) after it died, in ms: its hash expires then and its entry
   * leaves the dead-letter set.
   * @default {DEFAULT_DEAD_RETENTION_MS}
   */
  deadRetentionMs?: number;
  /** Uniform numbers in `[0, 1)` for the jitter. @default {Math.random} */
  random?: () => number;
  /**
   * Longest single blocking wait of `reserve`, in ms: bounds how late a
   * blocked reserver notices a job made due or a lease expired elsewhere.
   * Keep it below the client's command timeout.
   * @default {1000}
   */
  pollIntervalMs?: number;
}

interface QueueKeys {
  ready: string;
  delayed: string;
  active: string;
  dead: string;
  wake: string;
  seq: string;
}

/**
 * A {@linkcode JobQueue} in Redis (standalone or Cluster), shared by any
 * number of processes.
 *
 * @example Enqueue on an API node, reserve on a worker node
 * ```ts
 * import { RedisJobQueue } from "@oao/runtime/redis";
 *
 * const redisUrl = Deno.env.get("REDIS_URL"); // default redis://localhost:6379
 * const queue = new RedisJobQueue({ redisUrl, keyPrefix: "oao-example:", name: "agents" });
 * await queue.enqueue({ executionId: `exec-${crypto.randomUUID()}`, agent: "echo", task: "hi" });
 * const [lease] = await queue.reserve("worker-1", { blockMs: 5_000 });
 * if (lease) await queue.complete(lease);
 * await queue.close();
 * ```
 */
export class RedisJobQueue implements JobQueue {
  #redis: _StoreClient;
  #name: string;
  #prefix: string;
  #keys: QueueKeys;
  #options: ResolvedQueueOptions;
  #pollIntervalMs: number;
  #idle: RedisClient[] = [];
  #blocking = new Set<RedisClient>();
  #closing = new AbortController();
  #closed = false;

  /**
   * Creates a queue on Redis; the connection is opened by the first operation.
   *
   * @param options URL (or client), name, key prefix, defaults for leases and
   * attempts, backoff, polling, clock and retry budget.
   * @throws {TypeError} When `name` is empty or has braces, or `keyPrefix` is invalid.
   * @throws {RangeError} When an option is out of range.
   */
  constructor(options: RedisJobQueueOptions = {}) {
    const name = options.name ?? "default";
    if (typeof name !== "string" || !/^[^{}]+$/.test(name)) {
      throw new TypeError(
        `Invalid job queue option "name": "${name}" must be non-empty and without braces`,
      );
    }
    const pollIntervalMs = options.pollIntervalMs ?? 1_000;
    if (!Number.isInteger(pollIntervalMs) || pollIntervalMs < 10) {
      throw new RangeError(
        `Invalid job queue option "pollIntervalMs": "${pollIntervalMs}" is not an integer >= 10`,
      );
    }
    this.#redis = new _StoreClient("RedisJobQueue", options);
    this.#name = name;
    this.#prefix = `${this.#redis.prefix}{queue:${name}}:`;
    const key = (suffix: string) => this.#prefix + suffix;
    this.#keys = {
      ready: key("ready"),
      delayed: key("delayed"),
      active: key("active"),
      dead: key("dead"),
      wake: key("wake"),
      seq: key("seq"),
    };
    this.#options = resolveQueueOptions(options);
    this.#pollIntervalMs = pollIntervalMs;
  }

  /** The prefix shared by every key of this queue, e.g. `oao:{queue:default}:`. */
  get keyPrefix(): string {
    return this.#prefix;
  }

  /**
   * Adds a job, or returns the existing one for a repeated idempotency key.
   *
   * @param spec The job; must be JSON-serializable.
   * @param options Priority, delay, idempotency key, attempts.
   * @returns The job id and whether the key matched an existing job.
   * @throws {TypeError} When the spec is malformed or not serializable.
   * @throws {RangeError} When an option is out of range.
   * @throws {StoreUnavailableError} When Redis stays unreachable.
   */
  async enqueue(spec: JobSpec, options: EnqueueOptions = {}): Promise<EnqueueResult> {
    this.#assertOpen("enqueue");
    const request = checkEnqueue(spec, options, this.#options);
    const jobId = crypto.randomUUID();
    const idem = request.idempotencyKey;
    const reply = await this.#run("enqueue", QUEUE_SCRIPTS.enqueue, [
      this.#keys.ready,
      this.#keys.delayed,
      this.#keys.wake,
      this.#keys.seq,
      this.#jobKey(jobId),
      this.#prefix + "idem:" + (idem ?? ""),
    ], [
      jobId,
      request.specJson,
      request.executionId,
      request.priority,
      request.delayMs,
      request.maxAttempts,
      idem === undefined ? "0" : "1",
      this.#options.idempotencyTtlMs,
    ]) as [string, string, number];
    return { jobId: reply[0], executionId: reply[1], duplicate: reply[2] === 1 };
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
   * @throws {StoreUnavailableError} When Redis stays unreachable.
   */
  async reserve(consumer: string, options: ReserveOptions = {}): Promise<Lease[]> {
    this.#assertOpen("reserve");
    const request = checkReserve(consumer, options, this.#options);
    const { signal } = request;
    if (signal?.aborted) return [];
    const clock = this.#redis.clock;
    const deadline = clock.now() + request.blockMs;
    try {
      while (true) {
        const { leases, hintMs } = await this.#reserveOnce(consumer, request);
        const remaining = deadline - clock.now();
        if (leases.length > 0 || remaining <= 0 || this.#closed) return leases;
        const wait = Math.min(remaining, this.#pollIntervalMs, hintMs < 0 ? Infinity : hintMs);
        await this.#waitForWake(wait, signal);
        if (signal?.aborted || this.#closed) return [];
      }
    } catch (error) {
      if (this.#closed || (signal?.aborted && error === signal.reason)) return [];
      throw error;
    }
  }

  /**
   * Extends a lease by `leaseMs` (default: the duration it was reserved
   * with), from the server's current time. A lease that expired but was not
   * reclaimed yet is still renewed. On success `lease.expiresAt` is updated.
   *
   * @param lease The lease from `reserve`.
   * @param leaseMs New duration from now, in ms.
   * @returns `false` when the lease was lost.
   * @throws {TypeError} When `lease` is not a lease.
   * @throws {RangeError} When `leaseMs` is not a positive integer.
   * @throws {StoreUnavailableError} When Redis stays unreachable.
   */
  async heartbeat(lease: Lease, leaseMs?: number): Promise<boolean> {
    this.#assertOpen("heartbeat");
    checkLease(lease, "heartbeat");
    checkLeaseMs(leaseMs);
    const expiresAt = await this.#run("heartbeat", QUEUE_SCRIPTS.heartbeat, [
      this.#keys.active,
      this.#jobKey(lease.jobId),
    ], [lease.jobId, lease.token, leaseMs ?? ""]) as number;
    if (expiresAt < 0) return false;
    lease.expiresAt = expiresAt;
    return true;
  }

  /**
   * Marks the job done and deletes it. Repeating it with the same lease is a
   * no-op for a minute.
   *
   * @param lease The lease from `reserve`.
   * @returns A promise that settles once the job is done.
   * @throws {LeaseLostError} When the lease was lost.
   * @throws {TypeError} When `lease` is not a lease.
   * @throws {StoreUnavailableError} When Redis stays unreachable.
   */
  async complete(lease: Lease): Promise<void> {
    this.#assertOpen("complete");
    checkLease(lease, "complete");
    const reply = await this.#run("complete", QUEUE_SCRIPTS.complete, [
      this.#keys.active,
      this.#jobKey(lease.jobId),
    ], [lease.jobId, lease.token, COMPLETED_MEMORY_MS]) as string[];
    this.#checkSettled(lease, reply);
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
   * @throws {StoreUnavailableError} When Redis stays unreachable.
   */
  async fail(
    lease: Lease,
    error: string,
    options: { retry?: boolean } = {},
  ): Promise<"retry" | "dead"> {
    this.#assertOpen("fail");
    checkLease(lease, "fail");
    const message = checkErrorMessage(error);
    const attempt = Number.isInteger(lease.attempt) && lease.attempt > 0 ? lease.attempt : 1;
    const delay = backoffDelay(attempt, this.#options.backoff, this.#options.random);
    const reply = await this.#run("fail", QUEUE_SCRIPTS.fail, [
      this.#keys.delayed,
      this.#keys.active,
      this.#keys.dead,
      this.#keys.wake,
      this.#jobKey(lease.jobId),
    ], [
      lease.jobId,
      lease.token,
      message,
      options.retry === false ? "0" : "1",
      delay,
      this.#options.deadRetentionMs,
    ]) as string[];
    this.#checkSettled(lease, reply);
    return reply[0] as "retry" | "dead";
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
   * @throws {StoreUnavailableError} When Redis stays unreachable.
   */
  async release(lease: Lease): Promise<void> {
    this.#assertOpen("release");
    checkLease(lease, "release");
    const reply = await this.#run("release", QUEUE_SCRIPTS.release, [
      this.#keys.ready,
      this.#keys.active,
      this.#keys.wake,
      this.#jobKey(lease.jobId),
    ], [lease.jobId, lease.token]) as string[];
    this.#checkSettled(lease, reply);
  }

  /**
   * Lists dead jobs, oldest first.
   *
   * @param limit Most jobs to list.
   * @returns The dead jobs with their attempts and last error.
   * @throws {RangeError} When `limit` is not a positive integer.
   * @throws {StoreUnavailableError} When Redis stays unreachable.
   */
  async deadLetters(limit: number = DEFAULT_DEAD_LIMIT): Promise<DeadJob[]> {
    this.#assertOpen("deadLetters");
    checkDeadLimit(limit);
    const reply = await this.#run("deadLetters", QUEUE_SCRIPTS.deadLetters, [this.#keys.dead], [
      this.#prefix,
      limit,
      this.#options.deadRetentionMs,
    ]) as [string, string, string, string, string][];
    return reply.map(([jobId, spec, attempts, lastError, deadAt]) => ({
      jobId,
      spec: this.#parseSpec(jobId, spec),
      attempts: Number(attempts),
      lastError,
      deadAt: Number(deadAt),
    }));
  }

  /**
   * Moves a dead job to the back of its priority with fresh attempts; its
   * next delivery has reason `"requeued"`.
   *
   * @param jobId The dead job.
   * @returns `false` when no dead job has this id.
   * @throws {TypeError} When `jobId` is not a non-empty string.
   * @throws {StoreUnavailableError} When Redis stays unreachable.
   */
  async requeueDead(jobId: string): Promise<boolean> {
    this.#assertOpen("requeueDead");
    checkJobId(jobId);
    const reply = await this.#run("requeueDead", QUEUE_SCRIPTS.requeueDead, [
      this.#keys.ready,
      this.#keys.dead,
      this.#keys.wake,
      this.#keys.seq,
      this.#jobKey(jobId),
    ], [jobId]);
    return reply === 1;
  }

  /**
   * Current counts: four `ZCARD`s and a `ZCOUNT` in one script. Delayed jobs
   * that are due count as waiting.
   *
   * @returns Waiting, delayed, in-flight and dead jobs.
   * @throws {StoreUnavailableError} When Redis stays unreachable.
   */
  async stats(): Promise<QueueStats> {
    this.#assertOpen("stats");
    const [waiting, delayed, inFlight, dead] = await this.#run("stats", QUEUE_SCRIPTS.stats, [
      this.#keys.ready,
      this.#keys.delayed,
      this.#keys.active,
      this.#keys.dead,
    ], [this.#options.deadRetentionMs]) as [number, number, number, number];
    return { waiting, delayed, inFlight, dead };
  }

  /**
   * Closes the queue: pending `reserve` calls resolve with no jobs, the
   * blocking connections are closed, and so is the main connection unless it
   * was passed in as `client`. Later calls throw. Idempotent.
   *
   * @returns A promise that settles once the connections are closed.
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#closing.abort();
    for (const connection of this.#blocking) connection.disconnect();
    this.#blocking.clear();
    this.#idle = [];
    await this.#redis.close();
  }

  async #reserveOnce(
    consumer: string,
    request: ReserveRequest,
  ): Promise<{ leases: Lease[]; hintMs: number }> {
    const keys = this.#keys;
    const reply = await this.#run(
      "reserve",
      QUEUE_SCRIPTS.reserve,
      [keys.ready, keys.delayed, keys.active, keys.dead, keys.wake, keys.seq],
      [this.#prefix, consumer, request.count, request.leaseMs, this.#options.deadRetentionMs],
      request.signal,
    ) as [
      number,
      [string, string, string, string, number][],
      ...[string, string, number, number, number, Lease["reason"], string][],
    ];
    const [hintMs, buried, ...jobs] = reply;
    request.reportDead(buried.map(([jobId, spec, attempts, lastError, deadAt]) => ({
      jobId,
      spec: this.#parseSpec(jobId, spec),
      attempts: Number(attempts),
      lastError,
      deadAt: Number(deadAt),
    })));
    const leases = jobs.map(([jobId, spec, attempt, token, expiresAt, reason, previous]) => {
      const lease: Lease = {
        jobId,
        spec: this.#parseSpec(jobId, spec),
        attempt,
        token,
        consumer,
        expiresAt,
        reason,
      };
      if (reason === "reclaimed") lease.previousConsumer = previous;
      return lease;
    });
    return { leases, hintMs };
  }

  /** Waits for a wake-up marker, at most `ms`, or until `signal` aborts or the queue closes. */
  async #waitForWake(ms: number, signal: AbortSignal | undefined): Promise<void> {
    const stop = signal ? AbortSignal.any([signal, this.#closing.signal]) : this.#closing.signal;
    if (stop.aborted) return;
    const connection = this.#idle.pop() ?? this.#newBlockingConnection(await this.#redis.get());
    const seconds = Math.max(10, Math.ceil(ms)) / 1000;
    const popped = connection.blpop(this.#keys.wake, seconds).then(
      (reply) => reply !== null,
      () => false,
    ).finally(() => {
      if (this.#closed) connection.disconnect();
      else this.#idle.push(connection);
    });
    let onAbort = () => {};
    const aborted = new Promise<"aborted">((resolve) => {
      onAbort = () => resolve("aborted");
      stop.addEventListener("abort", onAbort, { once: true });
    });
    const outcome = await Promise.race([popped, aborted]);
    stop.removeEventListener("abort", onAbort);
    if (outcome !== "aborted") return;
    // The wait goes on in Redis until its timeout; pass on a marker it takes meanwhile.
    void popped.then(async (gotMarker) => {
      if (!gotMarker || this.#closed) return;
      await (await this.#redis.get()).lpush(this.#keys.wake, "1").catch(() => {});
    }).catch(() => {});
  }

  #newBlockingConnection(client: RedisClient): RedisClient {
    // It connects on its first wait, which may wait for the connection (a
    // wake-up wait is safe to send late).
    const connection: RedisClient = client.isCluster
      ? (client as Cluster).duplicate(undefined, { enableOfflineQueue: true })
      : (client as Redis).duplicate({ enableOfflineQueue: true });
    connection.on("error", () => {/* reconnects by itself; reserve retries the wait */});
    this.#blocking.add(connection);
    return connection;
  }

  async #run(
    operation: string,
    script: QueueScript,
    keys: string[],
    args: (string | number)[],
    signal?: AbortSignal,
  ): Promise<unknown> {
    const client = await this.#redis.get();
    const options = this.#redis.retryOptions;
    if (signal) {
      options.signal = options.signal ? AbortSignal.any([options.signal, signal]) : signal;
    }
    return await withRetry(
      `${operation}("${this.#name}")`,
      () => runQueueScript(client, script, keys, args),
      options,
    );
  }

  #checkSettled(lease: Lease, reply: string[]): void {
    if (reply[0] !== "lost") return;
    const [, state = "", token = ""] = reply;
    const found = state === "" && token === "" ? undefined : { state, token: Number(token) };
    throw new LeaseLostError(lease.jobId, lostReason(found, lease.token));
  }

  #parseSpec(jobId: string, spec: string): JobSpec {
    try {
      return JSON.parse(spec);
    } catch (cause) {
      throw new CorruptDataError(this.#jobKey(jobId), "the job spec is not valid JSON", { cause });
    }
  }

  #jobKey(jobId: string): string {
    return `${this.#prefix}job:${jobId}`;
  }

  #assertOpen(operation: string): void {
    if (this.#closed) {
      throw new Error(`Cannot ${operation}: the job queue "${this.#name}" is closed`);
    }
  }
}
