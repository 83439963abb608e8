/**
 * The reads of the Redis event store's executions indexes (their writes
 * are in `_index_writes.ts`): `listExecutions` pages through `oao:executions`
 * and drops the ids whose log has expired; `queryExecutions` runs the query
 * script of the status index (`_index_scripts.ts`).
 *
 * @module
 */
import { _listLimit } from "../events/_event_codec.ts";
import type { ExecutionPage, ExecutionQuery, IndexedExecution } from "../events/execution_index.ts";
import { _checkQuery, _encodeCursor, _SCAN_BUDGET } from "../events/_index_codec.ts";
import { _INDEX_SCRIPTS, _runIndexScript } from "./_index_scripts.ts";
import type { _StoreClient } from "./_store_client.ts";
import { _eventKeys, _executionsKey, _statusIndexBase, _statusIndexKeys } from "./_event_keys.ts";

/** Most ids one page of `listExecutions` reads. */
const PAGE = 1_000;

/** @internal The executions listing of one event store (see `RedisEventStore` for each). */
export class _ExecutionListing {
  #redis: _StoreClient;

  /** @param redis The store's client. */
  constructor(redis: _StoreClient) {
    this.#redis = redis;
  }

  /**
   * Ids of executions with a live log, most recently appended first.
   *
   * @param limit Maximum number of ids.
   * @returns The ids.
   */
  async listExecutions(limit?: number): Promise<string[]> {
    const max = _listLimit(limit);
    const index = _executionsKey(this.#redis.prefix);
    const ids: string[] = [];
    const seen = new Set<string>();
    let offset = 0;
    while (ids.length < max) {
      const batch = Math.min(PAGE, Math.max(16, max - ids.length));
      const page = await this.#redis.run(
        "listExecutions()",
        (client) => client.zrevrange(index, offset, offset + batch - 1, "WITHSCORES"),
      );
      if (page.length === 0) break;
      const members: string[] = [];
      const scores: string[] = [];
      for (let i = 0; i < page.length; i += 2) {
        members.push(page[i]!);
        scores.push(page[i + 1]!);
      }
      const exists = await this.#redis.run(
        "listExecutions()",
        (client) =>
          Promise.all(
            members.map((id) => client.exists(_eventKeys(this.#redis.prefix, id).events)),
          ),
      );
      const dead: string[] = [];
      members.forEach((id, i) => {
        if (exists[i]) {
          if (!seen.has(id) && ids.length < max) ids.push(id);
          seen.add(id);
        } else dead.push(id, scores[i]!);
      });
      if (dead.length) {
        await this.#redis.run("listExecutions()", (_, scripts) => scripts.oaoPrune(index, ...dead));
      }
      offset += members.length - dead.length / 2;
      if (members.length < batch) break;
    }
    return ids;
  }

  /**
   * A page of the executions index, newest first.
   *
   * @param query Filters, cursor and limit.
   * @returns The page.
   */
  async queryExecutions(query?: ExecutionQuery): Promise<ExecutionPage> {
    const q = _checkQuery(query);
    const base = _statusIndexBase(this.#redis.prefix);
    const args: (string | number)[] = [
      base,
      this.#redis.clock.now(),
      q.limit,
      _SCAN_BUDGET,
      q.cursor ? q.cursor.c : "",
      q.cursor ? q.cursor.id : "",
      q.after === -Infinity ? "" : q.after,
      q.before === Infinity ? "" : q.before,
      q.agent === undefined ? 0 : 1,
      q.agent ?? "",
      q.waitingFor?.join(",") ?? "",
      ...(q.statuses ?? []),
    ];
    const reply = await this.#redis.run(
      "queryExecutions()",
      (client) => _runIndexScript(client, _INDEX_SCRIPTS.query, _statusIndexKeys(base), args),
    ) as string[];
    const executions: IndexedExecution[] = [];
    for (let i = 2; i + 1 < reply.length; i += 2) {
      const entry = _parseIndexLine(reply[i]!, reply[i + 1]!);
      if (entry) executions.push(entry);
    }
    const [score, id] = reply;
    return score && id
      ? { executions, nextCursor: _encodeCursor({ c: Number(score), id }) }
      : { executions };
  }
}

/** An entry from its line in the index hash (see `_index_scripts.ts`). */
function _parseIndexLine(executionId: string, line: string): IndexedExecution | undefined {
  const match = /^(\d+) \d+ (\d+) \d+ (\S+) (\S+) ([\s\S]*)$/.exec(line);
  if (!match) return undefined;
  const entry: IndexedExecution = {
    executionId,
    status: match[3]!,
    agent: match[5]!,
    createdAt: Number(match[1]),
    updatedAt: Number(match[2]),
  };
  if (match[4] !== "-") entry.waitingFor = match[4]!;
  return entry;
}
