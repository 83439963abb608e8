/**
 * The options every Deno KV store takes: which database (a path, shared
 * within the process, or a `Deno.Kv` of the caller's), the prefix of its
 * keys, and the clock.
 *
 * @module
 */
import type { Clock } from "../clock.ts";

/** Options shared by `KvEventStore`, `KvPersistenceAdapter` and `KvJobQueue`. */
export interface KvStoreOptions {
  /**
   * The Deno KV file, opened on first use with `openKv` (shared with the other
   * KV stores of this process on the same path, created with its directory)
   * and released by `close()`. Ignored when `kv` is given.
   * @default {"./.oao/oao.kv"}
   */
  path?: string;
  /** An open database to use instead of `path`; `close()` leaves it open. */
  kv?: Deno.Kv;
  /**
   * First element of every key the store writes, so that several
   * deployments (or tests) can share one file.
   * @default {"oao"}
   */
  keyPrefix?: string;
  /**
   * Time of events, expiries, claims and leases, and the timers of waits.
   * Every process on one file must read the same time: the machine's clock.
   * @default {systemClock}
   */
  clock?: Clock;
  /**
   * How long an operation keeps retrying while the database is locked by
   * another program before it fails with `StoreUnavailableError`, in ms.
   * @default {15000}
   */
  unavailableAfterMs?: number;
}
