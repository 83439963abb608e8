/**
 * `oao migrate`: copies what one set of stores holds into another — for a
 * deployment that outgrows one machine, from the Deno KV file to Redis (any
 * direction between `kv:<path>` and `redis://…` works the same way):
 *
 * - every log of the event store (executions, workflows), event by event
 *   with its time, step, totals, trace ids and index key, each execution's
 *   entry in the executions index rebuilt from its events as a live writer
 *   writes it, and what is left of its retention;
 * - the snapshots of each log's scope (actor state, tool ledger);
 * - the jobs waiting in the queue (the ready ones are moved: leased from the
 *   source, enqueued on the target with an idempotency key derived from
 *   their id, then completed on the source); delayed jobs not yet due and
 *   dead letters stay in the source, counted in the summary (run it again
 *   once they are due; requeue dead ones first).
 *
 * Nothing may run on the source meanwhile: every unfinished execution is
 * claimed on the source first (`EventStore.claim`), so that a process still
 * running one makes the migration stop before it copies anything, naming
 * that process. A log already on the target with as many events is skipped
 * (running the migration twice copies nothing twice); one with other events
 * is a conflict, reported and left alone.
 *
 * @module
 */
import type { EventStore, StoredEvent } from "../events/event_store.ts";
import type { PersistenceAdapter } from "../persistence/persistence_adapter.ts";
import type { JobQueue } from "../queue/job_queue.ts";
import { MIGRATED_KEY_PREFIX } from "../queue/_reserved_keys.ts";
import { indexEntry } from "../orchestrator/_index_entries.ts";
import { ExecutionBusyError } from "../errors.ts";
import { holderIsGone } from "../orchestrator/_ownership.ts";

/** One side of a migration. */
export interface MigrationStores {
  /** As given, passwords masked (for messages). */
  readonly name: string;
  readonly eventStore: EventStore;
  readonly persistence: PersistenceAdapter;
  readonly queue: JobQueue;
}

/** What a migration copied. */
export interface MigrationSummary {
  /** Logs copied (executions and workflows). */
  logs: number;
  /** Events copied. */
  events: number;
  /** Snapshots copied. */
  snapshots: number;
  /** Queued jobs moved. */
  jobs: number;
  /** Logs already on the target with the same number of events. */
  skipped: number;
  /** Logs on the target with other events: `id: why`. */
  conflicts: string[];
  /** Dead jobs left in the source. */
  deadLeft: number;
  /** Delayed jobs, not yet due, left in the source. */
  delayedLeft: number;
}

/** Options of {@linkcode migrateStores}. */
export interface MigrateOptions {
  /** Retention of the copied logs, counted from each log's last event, in s. */
  retentionSeconds: number;
  /** Called after each log, for progress lines. */
  onProgress?: (done: number, total: number) => void;
  /** Epoch ms now. @default {Date.now} */
  now?: () => number;
}

const CLAIM_OWNER = "oao migrate";
const CLAIM_TTL_MS = 10 * 60_000;
const FINAL = new Set(["EXECUTION_COMPLETED", "EXECUTION_FAILED", "EXECUTION_CANCELLED"]);

/**
 * Copies the logs, snapshots and queued jobs of `from` into `to`.
 *
 * @param from The source stores.
 * @param to The target stores.
 * @param options Retention and progress.
 * @returns What was copied.
 * @throws {ExecutionBusyError} When a process still runs an execution of the source (nothing is copied).
 */
export async function migrateStores(
  from: MigrationStores,
  to: MigrationStores,
  options: MigrateOptions,
): Promise<MigrationSummary> {
  const now = options.now ?? Date.now;
  const ids = await from.eventStore.listExecutions();
  const claims = await claimUnfinished(from.eventStore, ids);
  const summary: MigrationSummary = {
    logs: 0,
    events: 0,
    snapshots: 0,
    jobs: 0,
    skipped: 0,
    conflicts: [],
    deadLeft: 0,
    delayedLeft: 0,
  };
  try {
    for (const [i, id] of ids.entries()) {
      const events = await from.eventStore.readRange(id);
      const there = await to.eventStore.count(id);
      if (there === events.length && there > 0) {
        summary.skipped++;
      } else if (there > 0) {
        summary.conflicts.push(
          `${id}: the target holds ${there} events, the source ${events.length}`,
        );
      } else if (events.length > 0) {
        await copyLog(to.eventStore, id, events, options.retentionSeconds, now());
        summary.logs++;
        summary.events += events.length;
        summary.snapshots += await copySnapshots(from.persistence, to.persistence, id);
      }
      options.onProgress?.(i + 1, ids.length);
    }
    summary.jobs = await moveJobs(from.queue, to.queue);
    const left = await from.queue.stats();
    summary.deadLeft = left.dead;
    summary.delayedLeft = left.delayed;
  } finally {
    await Promise.all(
      [...claims].map(([id, token]) => from.eventStore.releaseClaim(id, token).catch(() => {})),
    );
  }
  return summary;
}

// Claims every unfinished execution of the source, or releases them all and
// throws naming the first one a process still runs.
async function claimUnfinished(store: EventStore, ids: string[]): Promise<Map<string, number>> {
  const claims = new Map<string, number>();
  try {
    for (const id of ids) {
      const last = await store.latest(id);
      if (!last || FINAL.has(last.type)) continue;
      const request = { owner: CLAIM_OWNER, ttlMs: CLAIM_TTL_MS };
      let claim = await store.claim(id, request);
      // A holder that died on this machine (kill -9) holds nothing any more.
      if (!claim.acquired && holderIsGone(claim.holder)) {
        claim = await store.claim(id, { ...request, replacing: claim.holder });
      }
      if (!claim.acquired) throw new ExecutionBusyError(id, claim.holder, claim.expiresInMs);
      claims.set(id, claim.token);
    }
    return claims;
  } catch (error) {
    await Promise.all(
      [...claims].map(([id, token]) => store.releaseClaim(id, token).catch(() => {})),
    );
    throw error;
  }
}

async function copyLog(
  target: EventStore,
  id: string,
  events: StoredEvent[],
  retentionSeconds: number,
  now: number,
): Promise<void> {
  const first = events[0]!;
  const agent = typeof first.data?.agent === "string" ? first.data.agent : undefined;
  const createdAt = first.time;
  // What is left of the log's retention, counted from its last event.
  const left = retentionSeconds - (now - events.at(-1)!.time) / 1000;
  const expire = Math.max(60, Math.ceil(left));
  for (const event of events) {
    const { executionId: _e, seq: _s, id: _i, ...input } = event;
    const index = agent === undefined ? undefined : indexEntry(event.type, { agent, createdAt });
    await target.appendEvent(id, input, { expire, ...(index ? { index } : {}) });
  }
}

async function copySnapshots(
  source: PersistenceAdapter,
  target: PersistenceAdapter,
  scope: string,
): Promise<number> {
  let copied = 0;
  for (const key of await source.list(scope)) {
    const snapshot = await source.load(key);
    if (!snapshot) continue;
    await target.save(key, snapshot.data);
    copied++;
  }
  return copied;
}

// Moves the ready jobs (and those whose lease expired); a job is completed on
// the source only once the target holds it.
async function moveJobs(source: JobQueue, target: JobQueue): Promise<number> {
  let moved = 0;
  for (;;) {
    const leases = await source.reserve(CLAIM_OWNER, { count: 100, leaseMs: CLAIM_TTL_MS });
    if (leases.length === 0) return moved;
    for (const lease of leases) {
      await target.enqueue(lease.spec, { idempotencyKey: `${MIGRATED_KEY_PREFIX}${lease.jobId}` });
      await source.complete(lease);
      moved++;
    }
  }
}
