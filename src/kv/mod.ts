/**
 * The Deno KV adapters of OAO, one per port — {@linkcode KvPersistenceAdapter}
 * (snapshots), {@linkcode KvEventStore} (event logs, with group commit) and
 * {@linkcode KvJobQueue} (the job queue of workers) — durable on one machine
 * with nothing to install: one SQLite file (`./.oao/oao.kv` by default),
 * shared safely by the processes that open it. Needs `--unstable-kv`.
 *
 * @example An orchestrator on Deno KV
 * ```ts
 * import { Orchestrator } from "../../mod.ts"; // "@oao/runtime"
 * import { KvEventStore, KvJobQueue, KvPersistenceAdapter, openKv } from "./mod.ts"; // "@oao/runtime/kv"
 *
 * const dir = await Deno.makeTempDir();
 * const path = `${dir}/oao.kv`;
 * const db = await openKv(path); // optional: fails early, naming the path, if it cannot open
 * const persistence = new KvPersistenceAdapter({ path });
 * const eventStore = new KvEventStore({ path });
 * const orchestrator = new Orchestrator({ persistence, eventStore, retentionSeconds: 60 });
 * // ... register agents and tools, run executions ...
 * await orchestrator.close();
 *
 * // The queue a `serve` enqueues executions on and `worker` processes reserve them from.
 * const queue = new KvJobQueue({ path });
 * await queue.enqueue({ executionId: "exec-1", agent: "researcher", task: { topic: "actors" } });
 * const [lease] = await queue.reserve("worker-1");
 * if (lease) await queue.complete(lease);
 * await Promise.all([queue.close(), eventStore.close(), persistence.close()]);
 * db.release();
 * await Deno.remove(dir, { recursive: true });
 * ```
 *
 * @module
 */
export { KvEventStore, type KvEventStoreOptions } from "./kv_event_store.ts";
export { KvJobQueue, type KvJobQueueOptions } from "./kv_job_queue.ts";
export { KvScheduleStore, type KvScheduleStoreOptions } from "./kv_schedule_store.ts";
export {
  KvPersistenceAdapter,
  type KvPersistenceAdapterOptions,
} from "./kv_persistence_adapter.ts";
export type { KvStoreOptions } from "./kv_store_options.ts";
export { DEFAULT_KV_PATH, openKv, type SharedKv } from "./open_kv.ts";
