/**
 * The job operations of `KvJobQueue` on its records (`_queue_keys.ts`):
 * leasing ready jobs, moving due and expired ones, changing one job with a
 * versionstamp check, reading specs. Every move of a job rewrites its record
 * and moves its index key in one atomic commit.
 *
 * @module
 */
import { LeaseLostError } from "../persistence/store_errors.ts";
import {
  COMPLETED_MEMORY_MS,
  leaseExpiredError,
  lostReason,
  type ResolvedQueueOptions,
} from "../queue/_job_queue_options.ts";
import type { DeadJob, JobSpec, Lease } from "../queue/job_queue.ts";
import { _deleteParts, _readParts } from "./_chunks.ts";
import type { _CommitBatcher } from "./_commit_batcher.ts";
import { _keyText } from "./_event_log.ts";
import type { _KvClient } from "./_kv_client.ts";
import { _keySize, MAX_CHECKS } from "./_limits.ts";
import { _checkJob, _freshRank, type _Job, type _QueueKeys } from "./_queue_keys.ts";

/** Jobs moved (promoted, reclaimed, forgotten) by one look. */
const SWEEP = 100;
const decoder = new TextDecoder();

/**
 * @internal The move of a job from one state to another (`null`: deleted), checked
 * against its versionstamp (unless the caller checks it).
 */
export interface _Move {
  id: string;
  from: _Job;
  to: _Job | null;
  versionstamp: string | undefined;
}

/** @internal A job as read: id, record, versionstamp. */
export interface _Read {
  id: string;
  job: _Job;
  versionstamp: string;
}

/** @internal The job operations of one queue. */
export class _QueueJobs {
  #client: _KvClient;
  #batcher: _CommitBatcher;
  #keys: _QueueKeys;
  #options: ResolvedQueueOptions;
  /** The last change of each job under way in this process (see `change`). */
  #tails = new Map<string, Promise<unknown>>();

  constructor(
    client: _KvClient,
    parts: { batcher: _CommitBatcher; keys: _QueueKeys; options: ResolvedQueueOptions },
  ) {
    this.#client = client;
    this.#batcher = parts.batcher;
    this.#keys = parts.keys;
    this.#options = parts.options;
  }

  /**
   * Moves due and expired jobs (telling `reportDead` of those that died),
   * then leases up to `count` ready ones.
   */
  async take(
    consumer: string,
    want: { count: number; leaseMs: number; reportDead(jobs: DeadJob[]): void },
  ): Promise<Lease[]> {
    const { count, leaseMs } = want;
    const now = this.#client.clock.now();
    // Due delayed jobs become ready, at the back.
    await this.#sweep({ kind: "delayed", now }, (job) => ({
      ...job,
      state: "ready",
      rank: _freshRank(now),
    }));
    // Expired leases go back to their place, or die after their last attempt.
    const moved = await this.#sweep({ kind: "active", now }, (job) => {
      if (job.attempts >= job.maxAttempts) {
        return this.buried({ ...job, lastError: leaseExpiredError(job.consumer) }, now);
      }
      return {
        ...job,
        state: "ready",
        next: "reclaimed",
        previousConsumer: job.consumer,
      };
    });
    const buried = moved.filter(({ job }) => job.state === "dead");
    if (buried.length > 0) want.reportDead(await this.#deadJobs(buried));
    const lease = { consumer, leaseMs, now };
    const leases: Lease[] = [];
    while (leases.length < count) {
      const want = Math.min(count - leases.length, MAX_CHECKS);
      const taken = await this.#client.run("reserve", async (kv) => {
        const ids: string[] = [];
        for await (const entry of kv.list({ prefix: this.#keys.index("ready") }, { limit: want })) {
          ids.push(entry.key[entry.key.length - 1] as string);
        }
        if (ids.length === 0) return [];
        const jobs = (await this.readJobs(kv, ids)).filter(({ job }) => job.state === "ready");
        if (jobs.length === 0) return [];
        const leased = await Promise.all(jobs.map((read) => this.#lease(kv, read, lease)));
        const atomic = kv.atomic();
        for (const { move } of leased) this.#move(atomic, move);
        if ((await atomic.commit()).ok) return leased.map((l) => l.lease);
        // Another reserver took one of them first: take the others one by one, in order.
        const out: Lease[] = [];
        for (const { move, lease } of leased) {
          const one = kv.atomic();
          this.#move(one, move);
          if ((await one.commit()).ok) out.push(lease);
        }
        return out.length > 0 ? out : undefined;
      });
      if (taken === undefined) {
        await new Promise((resolve) => setTimeout(resolve, Math.random() * 5));
        continue;
      }
      leases.push(...taken);
      if (taken.length < want) break;
    }
    return leases;
  }

  /** The move of a ready job to a lease of `consumer`, and that lease. */
  async #lease(
    kv: Deno.Kv,
    read: _Read,
    holder: { consumer: string; leaseMs: number; now: number },
  ): Promise<{ move: _Move; lease: Lease }> {
    const { id, job, versionstamp } = read;
    const { consumer, leaseMs, now } = holder;
    const next: _Job = {
      ...job,
      state: "active",
      attempts: job.attempts + 1,
      token: job.token + 1,
      consumer,
      leaseMs,
      expiresAt: now + leaseMs,
      outcome: "",
    };
    const lease: Lease = {
      jobId: id,
      spec: await this.spec(kv, { id, job }),
      attempt: next.attempts,
      token: next.token,
      consumer,
      expiresAt: next.expiresAt,
      reason: job.next,
    };
    if (job.next === "reclaimed") lease.previousConsumer = job.previousConsumer;
    return { move: { id, from: job, to: next, versionstamp }, lease };
  }

  /**
   * Applies `change` to the jobs whose time (due, lease expiry) came, each
   * with a versionstamp check; a job another process moved first is skipped.
   */
  /** Moves the due jobs of one kind; the jobs as moved (none when another process moved them). */
  async #sweep(
    due: { kind: "delayed" | "active"; now: number },
    change: (job: _Job) => _Job,
  ): Promise<{ id: string; job: _Job }[]> {
    const { kind, now } = due;
    return await this.#client.run(`reserve: move ${kind} jobs`, async (kv) => {
      const found: { id: string; key: Deno.KvKey }[] = [];
      const moved: { id: string; job: _Job }[] = [];
      const selector = { start: this.#keys.index(kind), end: this.#keys.until(kind, now) };
      for await (const entry of kv.list(selector, { limit: SWEEP })) {
        found.push({ id: entry.key[entry.key.length - 1] as string, key: entry.key });
      }
      if (found.length === 0) return moved;
      const jobs = new Map(
        (await this.readJobs(kv, found.map((f) => f.id))).map((r) => [r.id, r]),
      );
      const atomic = kv.atomic();
      for (const { id, key } of found) {
        const read = jobs.get(id);
        const due = read &&
          (kind === "delayed"
            ? read.job.state === "delayed" && read.job.dueAt <= now
            : read.job.state === "active" && read.job.expiresAt <= now);
        if (!read || !due || String(key) !== String(this.#keys.of(id, read.job))) {
          atomic.delete(key); // a key left behind: its job moved on or is gone
          continue;
        }
        const to = change(read.job);
        this.#move(atomic, { id, from: read.job, to, versionstamp: read.versionstamp });
        moved.push({ id, job: to });
      }
      // On conflict another process moved them: looked at again next time.
      return (await atomic.commit()).ok ? moved : [];
    });
  }

  /** Dead jobs as `deadLetters` lists them. */
  async #deadJobs(jobs: { id: string; job: _Job }[]): Promise<DeadJob[]> {
    return await this.#client.run(
      "reserve: report dead jobs",
      async (kv) =>
        await Promise.all(jobs.map(async ({ id, job }) => ({
          jobId: id,
          spec: await this.spec(kv, { id, job }),
          attempts: job.attempts,
          lastError: job.lastError,
          deadAt: job.deadAt,
        }))),
    );
  }

  /** Deletes the dead jobs older than `deadRetentionMs`. */
  async forgetDead(): Promise<void> {
    const now = this.#client.clock.now();
    const before = now - this.#options.deadRetentionMs;
    await this.#client.run("forget dead jobs", async (kv) => {
      const selector = { start: this.#keys.index("dead"), end: this.#keys.until("dead", before) };
      const found: string[] = [];
      for await (const entry of kv.list(selector, { limit: SWEEP })) {
        found.push(entry.key[entry.key.length - 1] as string);
      }
      if (found.length === 0) return;
      const atomic = kv.atomic();
      for (const { id, job, versionstamp } of await this.readJobs(kv, found)) {
        if (job.state !== "dead") continue;
        this.#move(atomic, { id, from: job, to: null, versionstamp });
      }
      await atomic.commit();
    });
  }

  /**
   * Reads a job, applies `change` and commits the job it returns (`null`:
   * delete, absent: nothing to do) with a versionstamp check; again on
   * conflict.
   *
   * The changes of one job made in this process apply one after the other,
   * in the order they were called, as on the in-memory and Redis queues: a
   * `heartbeat` called before a `complete` of the same lease renews it. Left
   * to race, their reads could come back in any order, and the `complete`
   * could win (the conformance test of concurrent calls failed 1 run in 3).
   * Changes of other processes still meet the versionstamp check.
   */
  change<R>(
    target: { id: string; operation: string },
    change: (job: _Job | null, now: number) => { job?: _Job | null; result: R },
  ): Promise<R> {
    const { id } = target;
    const before = this.#tails.get(id);
    const run = before
      ? before.then(() => this.#change(target, change))
      : this.#change(target, change);
    const tail = run.catch(() => {});
    this.#tails.set(id, tail);
    void tail.then(() => {
      if (this.#tails.get(id) === tail) this.#tails.delete(id);
    });
    return run;
  }

  async #change<R>(
    target: { id: string; operation: string },
    change: (job: _Job | null, now: number) => { job?: _Job | null; result: R },
  ): Promise<R> {
    const { id, operation } = target;
    const key = this.#keys.job(id);
    for (;;) {
      const entry = await this.#client.run(operation, (kv) => kv.get<unknown>(key));
      const job = _checkJob(entry.value, this.#where(id));
      const now = this.#client.clock.now();
      const { job: next, result } = change(job, now);
      if (next === undefined || job === null) return result;
      const keys = [key, this.#keys.of(id, job)];
      if (next) keys.push(this.#keys.of(id, next));
      if (next === null && operation === "complete") keys.push(this.#keys.done(id));
      const keyBytes = keys.reduce((sum, k) => sum + _keySize(k), 0) * 2;
      const commit = await this.#batcher.commit({
        operation,
        checks: [{ key, versionstamp: entry.versionstamp }],
        mutate: (atomic) => {
          this.#move(atomic, { id, from: job, to: next, versionstamp: undefined });
          if (next === null && operation === "complete") {
            atomic.set(this.#keys.done(id), {
              token: job.token,
              until: now + COMPLETED_MEMORY_MS,
            }, { expireIn: COMPLETED_MEMORY_MS });
          }
        },
        keys,
        mutations: keys.length,
        keyBytes,
        bytes: keyBytes + 2_048 + (job.spec instanceof Uint8Array ? job.spec.length : 0) +
          2 * job.lastError.length + 2 * (next?.lastError.length ?? 0),
      });
      if (commit.ok) {
        if (next === null && !(job.spec instanceof Uint8Array)) {
          await _deleteParts(this.#client, this.#keys.specParts(id), { count: job.spec.parts });
        }
        return result;
      }
    }
  }

  /** Adds to `atomic` the move of a job from one state to another (`null`: deleted). */
  #move(atomic: Deno.AtomicOperation, move: _Move): void {
    const { id, from, to, versionstamp } = move;
    const key = this.#keys.job(id);
    if (versionstamp !== undefined) atomic.check({ key, versionstamp });
    atomic.delete(this.#keys.of(id, from));
    if (to === null) {
      atomic.delete(key);
      return;
    }
    if (to.state === "dead") {
      const expireIn = Math.max(
        1,
        to.deadAt + this.#options.deadRetentionMs - this.#client.clock.now(),
      );
      atomic.set(key, to, { expireIn: expireIn + 60_000 });
      atomic.set(this.#keys.of(id, to), null, { expireIn: expireIn + 60_000 });
    } else {
      atomic.set(key, to);
      atomic.set(this.#keys.of(id, to), null);
    }
  }

  /** A job moved to the dead letters. */
  buried(job: _Job, now: number): _Job {
    return { ...job, state: "dead", deadAt: now, outcome: "dead" };
  }

  /** Reads jobs (10 per read), skipping missing ones. */
  async readJobs(kv: Deno.Kv, ids: string[]): Promise<_Read[]> {
    const out: _Read[] = [];
    for (let at = 0; at < ids.length; at += 10) {
      const chunk = ids.slice(at, at + 10);
      const entries = await kv.getMany<unknown[]>(chunk.map((id) => this.#keys.job(id)));
      entries.forEach((entry, n) => {
        const id = chunk[n]!;
        const job = _checkJob(entry.value, this.#where(id));
        if (job && entry.versionstamp) out.push({ id, job, versionstamp: entry.versionstamp });
      });
    }
    return out;
  }

  /** The spec of a job. */
  async spec(kv: Deno.Kv, read: { id: string; job: _Job }): Promise<JobSpec> {
    const { id, job } = read;
    const bytes = job.spec instanceof Uint8Array ? job.spec : await _readParts(
      kv,
      this.#keys.specParts(id),
      { count: job.spec.parts, where: this.#where(id) },
    );
    return JSON.parse(decoder.decode(bytes));
  }

  /** When the next delayed job is due or lease expires (store clock), or `Infinity`. */
  async nextChange(): Promise<number> {
    return await this.#client.run("reserve", async (kv) => {
      let next = Infinity;
      for (const kind of ["delayed", "active"] as const) {
        for await (const entry of kv.list({ prefix: this.#keys.index(kind) }, { limit: 1 })) {
          next = Math.min(next, entry.key[entry.key.length - 2] as number);
        }
      }
      return next;
    });
  }

  async lost(lease: Lease): Promise<LeaseLostError> {
    const found = await this.#client.run("lease check", async (kv) => {
      const [job, done] = await kv.getMany<[unknown, { token: number } | null]>([
        this.#keys.job(lease.jobId),
        this.#keys.done(lease.jobId),
      ]);
      const record = _checkJob(job.value, this.#where(lease.jobId));
      if (record) return { state: record.state, token: record.token };
      return done.value ? { state: "done", token: done.value.token } : undefined;
    });
    return new LeaseLostError(lease.jobId, lostReason(found, lease.token));
  }

  #where(id: string): string {
    return `Deno KV "${this.#client.where}" ${_keyText(this.#keys.job(id))}`;
  }
}
