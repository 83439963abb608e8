/**
 * Direct appends: the appends of one tick whose sequence number the store
 * proposes itself. A few travel as plain commands in one write; from
 * `SCRIPT_FROM` on, as one call of the minimal `DIRECT` script (one `XADD`
 * per append and nothing else), because then the client's per-command work
 * costs more than the script's per-call work in Redis.
 *
 * The store proposes the next sequence number of the log (see
 * `_append_heads.ts`) and adds the event with that explicit stream id:
 * `XADD <events> NOMKSTREAM <seq>-0 e <json>`. Redis accepts an id only when
 * it is greater than the last one, so the check-and-add is atomic without a
 * script: a collision (another writer took the id) is refused, and so is a
 * log that no longer exists (`NOMKSTREAM`: it expired). Such an append takes
 * the script path instead, which reads the length of the log itself.
 *
 * When the expiry must move (see `_AppendHeads.mustRenew`), `PEXPIRE` of the
 * stream and of the meta hash precede the `XADD` (in the same write, or the
 * same script): if the connection drops between them, the log lives longer,
 * never shorter.
 *
 * The executions index is updated by one `ZADD GT` for the appends of the
 * tick that were stored ({@linkcode _sendIndex}), written once their replies
 * are in and before they resolve: later commands of the store travel behind
 * it on the same connection, while the appends do not wait for Redis to
 * update the index.
 *
 * ## Ambiguous failures
 * When the outcome of an `XADD` is unknown (the connection dropped or the
 * command timed out after it was sent), or its id was taken, the entry at
 * that id is read: if it holds this very event (same JSON, which carries the
 * event's unique id), the earlier attempt stored it; otherwise the event was
 * not stored and it takes the script path. An attempt cannot land later: its
 * id is taken by then, or it was sent on the same connection before the read
 * (one connection executes in order), or on a connection that is closed. The
 * `DIRECT` script does that reading itself, and is simply run again.
 *
 * @module
 */
import type { Command as IoredisCommand } from "ioredis";
import { type RedisClient, withRetry } from "./connection.ts";
import type { _StoreClient } from "./_store_client.ts";
import { _BATCH_SCRIPTS, _replyError, _runBatchScript } from "./_batch_scripts.ts";

/**
 * From this many direct appends in a tick on, they travel in one call of the
 * `DIRECT` script instead of one command each: the per-command work of the
 * client then costs more than the script's per-call work in Redis.
 */
const SCRIPT_FROM = 4;

/** One direct append. */
export interface _FastAppend {
  /** The execution (for messages). */
  executionId: string;
  /** The events stream key. */
  events: string;
  /** The meta hash key. */
  meta: string;
  /** The event JSON. */
  json: string;
  /** The proposed sequence number. */
  seq: number;
  /** Retention in ms. */
  ttlMs: number;
  /** Whether to set the expiry of the stream and the meta hash. */
  renew: boolean;
}

/**
 * What became of a direct append: `"stored"` (at its proposed seq),
 * `"script"` (not stored: the script path must append it), or the `Error`
 * that rejects it (a key of the wrong type, out of memory…).
 */
export type _FastOutcome = "stored" | "script" | Error;

let Command: typeof IoredisCommand | undefined;

/**
 * Sends the direct appends of one tick.
 *
 * @param redis The store's client (timeouts, retries, generations).
 * @param client The connected standalone client.
 * @param appends The appends.
 * @returns One outcome per append, in order.
 */
export async function _sendFastAppends(
  redis: _StoreClient,
  client: RedisClient,
  appends: _FastAppend[],
): Promise<_FastOutcome[]> {
  Command ??= (await import("ioredis")).Command;
  if (appends.length >= SCRIPT_FROM) return await _sendScript(redis, client, appends);
  const commands: IoredisCommand[] = [];
  const positions: number[] = [];
  for (const append of appends) {
    if (append.renew) {
      commands.push(new Command("pexpire", [append.events, append.ttlMs]));
      commands.push(new Command("pexpire", [append.meta, append.ttlMs]));
    }
    positions.push(commands.length);
    commands.push(
      new Command("xadd", [append.events, "NOMKSTREAM", `${append.seq}-0`, "e", append.json], {
        replyEncoding: "utf8",
      }),
    );
  }
  let replies: unknown[] | undefined;
  let failure: unknown;
  try {
    replies = await redis.exec(client, commands);
  } catch (error) {
    failure = error; // the watchdog's timeout: every outcome is unknown
  }
  const outcomes: _FastOutcome[] = [];
  const unknown: number[] = [];
  appends.forEach((_, i) => {
    const reply = replies ? replies[positions[i]!] : failure;
    if (typeof reply === "string") outcomes.push("stored");
    else if (reply === null) outcomes.push("script"); // NOMKSTREAM: the log is gone
    else if (
      !(reply instanceof Error) || /equal or smaller/.test(reply.message) ||
      redis.transient(reply)
    ) {
      outcomes.push("script");
      unknown.push(i);
    } else outcomes.push(reply);
  });
  if (unknown.length === 0) return outcomes;
  await Promise.all(unknown.map((i) =>
    _storedAt(redis, appends[i]!).then(
      (found) => {
        if (found) outcomes[i] = "stored";
      },
      (error: Error) => {
        outcomes[i] = error; // the store stayed unreachable: the append may or may not be stored
      },
    )
  ));
  return outcomes;
}

/**
 * Writes the executions index update of a tick (`ZADD GT`) at once.
 *
 * @param redis The store's client.
 * @param client The connected client.
 * @param key The index key.
 * @param members Score, member, score, member….
 * @returns Once Redis answered; rejects with its error.
 */
export function _sendIndex(
  redis: _StoreClient,
  client: RedisClient,
  key: string,
  members: (string | number)[],
): Promise<unknown> {
  const command = new Command!("zadd", [key, "GT", ...members]);
  return redis.guard(client.sendCommand(command) as Promise<unknown>);
}

/**
 * Sends many direct appends as one call of the `DIRECT` script, retried as a
 * whole after a transient failure (it stores nothing twice).
 */
async function _sendScript(
  redis: _StoreClient,
  client: RedisClient,
  appends: _FastAppend[],
): Promise<_FastOutcome[]> {
  const keys: string[] = [];
  const args: (string | number)[] = [];
  for (const append of appends) {
    keys.push(append.events);
    if (append.renew) keys.push(append.meta);
    args.push(`${append.seq}-0`, append.json, append.renew ? append.ttlMs : "");
  }
  const first = appends[0]!.executionId;
  const operation = `appendEvent("${first}") and ${appends.length - 1} more`;
  let lines: string[];
  try {
    lines = await withRetry(
      operation,
      () => redis.guard(_runBatchScript(client, _BATCH_SCRIPTS.direct, keys, args)),
      redis.retryOptions,
    );
  } catch (error) {
    return appends.map(() => error instanceof Error ? error : new Error(String(error)));
  }
  return appends.map((_, i) => {
    const line = lines[i] ?? "";
    const kind = line[0];
    return kind === "S" ? "stored" : kind === "E" ? _replyError(line.slice(1)) : "script";
  });
}

/** Whether the entry at the proposed id holds this very event (retried reads). */
async function _storedAt(redis: _StoreClient, append: _FastAppend): Promise<boolean> {
  const id = `${append.seq}-0`;
  const entries = await redis.send(
    `appendEvent("${append.executionId}")`,
    (target) => target.xrange(append.events, id, id),
  );
  const fields = entries[0]?.[1];
  if (!fields) return false;
  for (let i = 0; i < fields.length; i += 2) {
    if (fields[i] === "e") return fields[i + 1] === append.json;
  }
  return false;
}
