/**
 * The reads of one execution's log in the Redis event store: ranges
 * (`XRANGE`), the last event (`XREVRANGE … COUNT 1`), the count (`XLEN`) and
 * the lookup by index key (a script: `HGET` in the meta hash, then `XRANGE`
 * of that entry). Live reads are in `_event_subscriptions.ts`.
 *
 * @module
 */
import type { RangeOptions, StoredEvent } from "../events/event_store.ts";
import { _after, _checkExecutionId, _decodeEvent, _range } from "../events/_event_codec.ts";
import type { _StoreClient } from "./_store_client.ts";
import { _eventKeys } from "./_event_keys.ts";

/**
 * Decodes the entries of a stream reply into events.
 *
 * @param executionId The execution.
 * @param key The stream key (for messages).
 * @param entries `[id, [field, value, …]]` entries; anything else reads as none.
 * @returns The events.
 * @throws {CorruptDataError} When a stored event cannot be decoded.
 */
export function _decodeEntries(executionId: string, key: string, entries: unknown): StoredEvent[] {
  if (!Array.isArray(entries)) return [];
  return entries.map((entry) => {
    const [id, fields] = entry as [string, unknown[]];
    const seq = Number.parseInt(String(id), 10);
    let json: unknown;
    if (Array.isArray(fields)) {
      for (let i = 0; i < fields.length; i += 2) if (fields[i] === "e") json = fields[i + 1];
    }
    return _decodeEvent(executionId, seq, json, `${key} ${id}`);
  });
}

/** @internal The reads of one event store (see `RedisEventStore` for each). */
export class _EventReads {
  #redis: _StoreClient;

  /** @param redis The store's client. */
  constructor(redis: _StoreClient) {
    this.#redis = redis;
  }

  /**
   * Events with `from <= seq <= to`, in order.
   *
   * @param executionId The execution.
   * @param options Bounds and limit.
   * @returns The events.
   */
  async readRange(executionId: string, options?: RangeOptions): Promise<StoredEvent[]> {
    _checkExecutionId(executionId);
    return await this.#xrange("readRange", executionId, _range(options));
  }

  /**
   * Events with `seq > afterSeq`, in order.
   *
   * @param executionId The execution.
   * @param afterSeq The last sequence number already seen.
   * @param limit Maximum number of events.
   * @returns The events.
   */
  async readAfter(executionId: string, afterSeq: number, limit?: number): Promise<StoredEvent[]> {
    _checkExecutionId(executionId);
    const { after, limit: max } = _after(afterSeq, limit);
    return await this.#xrange("readAfter", executionId, {
      from: after + 1,
      to: Infinity,
      limit: max,
    });
  }

  /**
   * The last event of a log.
   *
   * @param executionId The execution.
   * @returns The event, or `undefined`.
   */
  async latest(executionId: string): Promise<StoredEvent | undefined> {
    _checkExecutionId(executionId);
    const key = _eventKeys(this.#redis.prefix, executionId).events;
    const reply = await this.#redis.send(
      `latest("${executionId}")`,
      (target) => target.xrevrange(key, "+", "-", "COUNT", 1),
    );
    return _decodeEntries(executionId, key, reply)[0];
  }

  /**
   * Number of events in a log.
   *
   * @param executionId The execution.
   * @returns The count.
   */
  async count(executionId: string): Promise<number> {
    _checkExecutionId(executionId);
    const key = _eventKeys(this.#redis.prefix, executionId).events;
    return await this.#redis.send(`count("${executionId}")`, (target) => target.xlen(key));
  }

  /**
   * The latest event appended with the index key `key`.
   *
   * @param executionId The execution.
   * @param key The index key.
   * @returns The event, or `undefined`.
   */
  async findByKey(executionId: string, key: string): Promise<StoredEvent | undefined> {
    _checkExecutionId(executionId);
    if (typeof key !== "string") throw new TypeError(`Invalid index key: expected a string`);
    const keys = _eventKeys(this.#redis.prefix, executionId);
    const reply = await this.#redis.send(
      `findByKey("${executionId}")`,
      (target) => target.oaoFindByKey(keys.events, keys.meta, key),
    );
    return _decodeEntries(executionId, keys.events, reply)[0];
  }

  async #xrange(
    operation: string,
    executionId: string,
    { from, to, limit }: { from: number; to: number; limit: number },
  ): Promise<StoredEvent[]> {
    if (limit === 0 || to < from) return [];
    const key = _eventKeys(this.#redis.prefix, executionId).events;
    const end = to === Infinity ? "+" : `${to}-0`;
    const reply = await this.#redis.send(
      `${operation}("${executionId}")`,
      (target) =>
        limit === Infinity
          ? target.xrange(key, `${from}-0`, end)
          : target.xrange(key, `${from}-0`, end, "COUNT", limit),
    );
    return _decodeEntries(executionId, key, reply);
  }
}
