/**
 * How `KvJobQueue` lays out a queue in Deno KV, and its job record.
 *
 * ## Keys (below `[p, "q", <name>]`; `p` is the prefix, `"oao"` by default)
 * | key | holds |
 * | --- | --- |
 * | `["job", <id>]` | the job: spec (or the count of its parts), state, attempts, fencing token, holder, lease, last error |
 * | `["spec", <id>, <part>]` | the spec of a job, when larger than 8 KiB |
 * | `["ready", 9 − priority, <time>, <n>, <id>]` | ready jobs, best first: priority, then when they became ready |
 * | `["delayed", <due>, <id>]` | delayed jobs and retries, by due time |
 * | `["active", <lease expiry>, <id>]` | leased jobs, by lease expiry |
 * | `["dead", <time of death>, <id>]` | the dead-letter queue, oldest first |
 * | `["idem", <key>]` | the job of an idempotency key |
 * | `["done", <id>]` | the token of a job completed within the last minute |
 *
 * Every change of a job moves its index key and rewrites its record in one
 * atomic commit checked against the record's versionstamp, so two processes
 * never both lease, complete or requeue one job.
 *
 * @module
 */
import { CorruptDataError } from "../persistence/store_errors.ts";
import type { Lease } from "../queue/job_queue.ts";

/** @internal A job as stored. */
export interface _Job {
  /** The spec as UTF-8 JSON, unless stored in `count` parts. */
  spec: Uint8Array | { parts: number };
  executionId: string;
  priority: number;
  maxAttempts: number;
  state: "ready" | "delayed" | "active" | "dead";
  attempts: number;
  token: number;
  /** Place among the ready jobs of its priority: time it became ready, and a tie-breaker. */
  rank: [number, number];
  dueAt: number;
  consumer: string;
  leaseMs: number;
  expiresAt: number;
  next: Lease["reason"];
  previousConsumer: string;
  lastError: string;
  deadAt: number;
  /** What the last settling call answered, for a repeated call: "", "retry", "dead", "released". */
  outcome: "" | "retry" | "dead" | "released";
}

/** @internal The keys of one queue. */
export class _QueueKeys {
  #base: Deno.KvKey;
  constructor(prefix: string, name: string) {
    this.#base = [prefix, "q", name];
  }
  job(id: string): Deno.KvKey {
    return [...this.#base, "job", id];
  }
  specParts(id: string): Deno.KvKey {
    return [...this.#base, "spec", id];
  }
  index(kind: "ready" | "delayed" | "active" | "dead"): Deno.KvKey {
    return [...this.#base, kind];
  }
  /** The index key of a job in its state. */
  of(id: string, job: _Job): Deno.KvKey {
    switch (job.state) {
      case "ready":
        return [...this.#base, "ready", 9 - job.priority, job.rank[0], job.rank[1], id];
      case "delayed":
        return [...this.#base, "delayed", job.dueAt, id];
      case "active":
        return [...this.#base, "active", job.expiresAt, id];
      case "dead":
        return [...this.#base, "dead", job.deadAt, id];
    }
  }
  /** The end (exclusive) of the entries of `kind` whose time is at most `time`. */
  until(kind: "delayed" | "active" | "dead", time: number): Deno.KvKey {
    // A boolean sorts after every string (the job id that follows the time).
    return [...this.#base, kind, time, true];
  }
  idempotency(key: string): Deno.KvKey {
    return [...this.#base, "idem", key];
  }
  done(id: string): Deno.KvKey {
    return [...this.#base, "done", id];
  }
}

let order = 0;

/**
 * A new place at the back of the ready jobs: now, then a counter of this
 * process (several processes on one file interleave by time).
 *
 * @internal
 */
export function _freshRank(now: number): [number, number] {
  return [now, ++order];
}

/**
 * Checks a job record read from the database.
 *
 * @throws {CorruptDataError} When it is not one.
 * @internal
 */
export function _checkJob(value: unknown, where: string): _Job | null {
  if (value === null) return null;
  const job = value as Partial<_Job>;
  if (
    typeof job !== "object" || typeof job.state !== "string" || typeof job.token !== "number" ||
    typeof job.attempts !== "number" || !Array.isArray(job.rank) ||
    !(job.spec instanceof Uint8Array || typeof job.spec?.parts === "number")
  ) {
    throw new CorruptDataError(where, "the entry is not a job of a Deno KV job queue");
  }
  return job as _Job;
}
