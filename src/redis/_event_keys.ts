/**
 * The key names of the Redis event store, in one place (the layout is
 * described in the module doc of `redis_event_store.ts`). The keys of one
 * execution carry the hash tag `{<executionId>}`, so that they share one
 * Redis Cluster slot; the status index has a hash tag of its own.
 *
 * @module
 */

/** The keys of one execution's log. */
export interface _EventKeys {
  /** The stream of its events. */
  events: string;
  /** Its meta hash (fencing token, index keys, claim). */
  meta: string;
}

/**
 * The hash-tagged key prefix of an execution.
 *
 * @param prefix The store's key prefix.
 * @param executionId The execution.
 * @returns `<prefix>{<executionId>}`.
 */
export function _executionTag(prefix: string, executionId: string): string {
  return `${prefix}{${executionId}}`;
}

/**
 * The stream and meta hash keys of an execution.
 *
 * @param prefix The store's key prefix.
 * @param executionId The execution.
 * @returns Its keys.
 */
export function _eventKeys(prefix: string, executionId: string): _EventKeys {
  const tag = _executionTag(prefix, executionId);
  return { events: `${tag}:events`, meta: `${tag}:meta` };
}

/**
 * The sorted set of execution ids scored by their last append.
 *
 * @param prefix The store's key prefix.
 * @returns `<prefix>executions`.
 */
export function _executionsKey(prefix: string): string {
  return `${prefix}executions`;
}

/**
 * The key base of the status index (one hash tag: see `_index_scripts.ts`).
 *
 * @param prefix The store's key prefix.
 * @returns `<prefix>{executions-index}:`.
 */
export function _statusIndexBase(prefix: string): string {
  return `${prefix}{executions-index}:`;
}

/**
 * The keys the status index scripts take, in their order.
 *
 * @param base The key base ({@linkcode _statusIndexBase}).
 * @returns The overall sorted set, the entries hash and the expiry set.
 */
export function _statusIndexKeys(base: string): string[] {
  return [`${base}all`, `${base}entries`, `${base}expiry`];
}
