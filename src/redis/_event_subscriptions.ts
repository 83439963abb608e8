/**
 * Live reads of the Redis event store: a subscription reads the backlog and
 * then the events as they are appended with one cursor
 * (`XREAD BLOCK … STREAMS key <seq>-0`), on a connection of its own (a
 * blocking read would hold up every other command of the shared one). A
 * dropped connection is retried from the cursor; closing the store ends
 * every subscription.
 *
 * @module
 */
import { getLogger } from "@logtape/logtape";
import type { Cluster } from "ioredis";
import type { StoredEvent, SubscribeOptions } from "../events/event_store.ts";
import { _checkExecutionId, _subscribeStart } from "../events/_event_codec.ts";
import { type RedisClient, withRetry } from "./connection.ts";
import type { _StoreClient } from "./_store_client.ts";
import { _eventKeys } from "./_event_keys.ts";
import { _decodeEntries } from "./_event_reads.ts";

const logger = getLogger(["oao", "redis"]);
/** Most events one blocking read returns. */
const PAGE = 1_000;

/** @internal The live subscriptions of one event store. */
export class _EventSubscriptions {
  #redis: _StoreClient;
  #blockMs: number;
  #tails = new Set<AbortController>();

  /**
   * @param redis The store's client.
   * @param blockMs How long one blocking read waits before it is reissued (ms).
   * @throws {RangeError} When `blockMs` is not a positive integer.
   */
  constructor(redis: _StoreClient, blockMs: number | undefined) {
    this.#redis = redis;
    this.#blockMs = blockMs ?? 5_000;
    if (!Number.isSafeInteger(this.#blockMs) || this.#blockMs < 1) {
      throw new RangeError(
        `Invalid subscribeBlockMs ${this.#blockMs}: expected a positive integer`,
      );
    }
  }

  /**
   * Backlog after `afterSeq`, then live events as they are appended, until
   * `signal` aborts, the consumer stops iterating, or the store closes.
   *
   * @param executionId The execution.
   * @param options Start and abort signal.
   * @returns An async iterable of events.
   */
  async *subscribe(
    executionId: string,
    options?: SubscribeOptions,
  ): AsyncGenerator<StoredEvent, void, undefined> {
    _checkExecutionId(executionId);
    let cursor = _subscribeStart(options);
    const key = _eventKeys(this.#redis.prefix, executionId).events;
    const stop = new AbortController();
    const onAbort = () => stop.abort();
    options?.signal?.addEventListener("abort", onAbort, { once: true });
    if (options?.signal?.aborted) return;
    this.#tails.add(stop);
    let tail: RedisClient | undefined;
    try {
      const client = await this.#redis.get();
      const timeout = this.#redis.commandTimeoutMs;
      tail = _duplicate(client, timeout > 0 ? timeout + this.#blockMs : 0);
      const reader = tail;
      stop.signal.addEventListener("abort", () => reader.disconnect(), { once: true });
      while (!stop.signal.aborted) {
        let reply: unknown;
        try {
          reply = await withRetry(
            `subscribe("${executionId}")`,
            () =>
              reader.xread("COUNT", PAGE, "BLOCK", this.#blockMs, "STREAMS", key, `${cursor}-0`),
            { ...this.#redis.retryOptions, signal: stop.signal },
          );
        } catch (error) {
          if (stop.signal.aborted) return;
          throw error;
        }
        for (const event of _decodeEntries(executionId, key, _streamEntries(reply))) {
          cursor = event.seq;
          yield event;
          if (stop.signal.aborted) return;
        }
      }
    } finally {
      options?.signal?.removeEventListener("abort", onAbort);
      this.#tails.delete(stop);
      tail?.disconnect();
    }
  }

  /** Ends every subscription (close). */
  close(): void {
    for (const tail of this.#tails) tail.abort();
  }
}

/**
 * A connection of its own for blocking reads, without auto-pipelining; a
 * command without reply is abandoned after `timeoutMs` (the block time plus
 * the store's command timeout; 0 for none). It connects on its first read,
 * which waits for the connection (offline queue on: a read is safe to send
 * late).
 */
function _duplicate(client: RedisClient, timeoutMs: number): RedisClient {
  let tail: RedisClient;
  if (_isCluster(client)) {
    const { replyMapping: _, commandTimeout: __, ...redisOptions } = client.options.redisOptions ??
      {};
    tail = client.duplicate(undefined, {
      enableAutoPipelining: false,
      enableOfflineQueue: true,
      redisOptions: { ...redisOptions, ...(timeoutMs > 0 ? { commandTimeout: timeoutMs } : {}) },
    });
  } else {
    tail = client.duplicate({
      enableAutoPipelining: false,
      enableOfflineQueue: true,
      commandTimeout: timeoutMs > 0 ? timeoutMs : undefined,
    });
  }
  tail.on("error", (error: unknown) => {
    logger.debug("Subscription connection: {error}", {
      error: error instanceof Error ? error.message : String(error),
    });
  });
  return tail;
}

function _isCluster(client: RedisClient): client is Cluster {
  return client.isCluster;
}

/** The entries of a one-stream `XREAD` reply (RESP2 nesting or RESP3 flattened map). */
function _streamEntries(reply: unknown): unknown {
  if (!Array.isArray(reply) || reply.length === 0) return [];
  if (typeof reply[0] === "string") return reply[1];
  return (reply[0] as unknown[] | undefined)?.[1] ?? [];
}
