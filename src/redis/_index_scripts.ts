/**
 * The executions index of `RedisEventStore` in Lua: writing an entry (inside
 * the append script on a standalone server, atomically with the event; by
 * {@linkcode _INDEX_SCRIPTS}`.put` right after it on a Cluster) and querying
 * a page.
 *
 * ## Keys
 * All under one hash tag, `<prefix>{executions-index}:` (one Cluster slot,
 * so one script can read and write them all):
 * - `all` — sorted set of every indexed execution, scored by `createdAt`;
 * - `status:<status>` — one sorted set per status, scored the same way;
 * - `entries` — hash: execution id → its entry as one line,
 *   `<createdAt> <expiresAt> <updatedAt> <seq> <status> <waitingFor or -> <agent>`;
 * - `expiry` — sorted set of the ids scored by `expiresAt`.
 *
 * Each key expires a minute after the latest expiry of the entries written
 * to it (so nothing stays once every entry has expired). Expired entries are
 * removed by every write and every query (at most 64 at
 * a time, oldest expiry first, from each set and the hash) and are skipped by
 * queries until then, so a query never lists one. A write that comes with a
 * lower seq than the live entry's is ignored (a late Cluster update), as is
 * an initial one when there is a live entry; a live entry keeps its
 * `createdAt`.
 *
 * @module
 */
import { createHash } from "node:crypto";
import type { RedisClient } from "./connection.ts";
import type { _BatchScript } from "./_batch_scripts.ts";

/** Lua functions shared by the append, put and query scripts. */
export const _INDEX_LUA = `
local function oaoIndexPut(base, now, id, c, x, u, q, s, w, agent, initial)
  local entries = base .. 'entries'
  local old = redis.call('HGET', entries, id)
  if old then
    local oc, ox, _, oq, os = string.match(old, '^(%d+) (%d+) (%d+) (%d+) (%S+) ')
    if oc and tonumber(ox) > tonumber(now) then
      if initial == '1' or tonumber(oq) > tonumber(q) then return end
      c = oc
    end
    if os then redis.call('ZREM', base .. 'status:' .. os, id) end
  end
  redis.call('ZADD', base .. 'all', c, id)
  redis.call('ZADD', base .. 'status:' .. s, c, id)
  redis.call('HSET', entries, id, c .. ' ' .. x .. ' ' .. u .. ' ' .. q .. ' ' .. s .. ' ' .. w .. ' ' .. agent)
  redis.call('ZADD', base .. 'expiry', x, id)
  local keep = tonumber(x) - tonumber(now) + 60000
  for _, key in ipairs({ base .. 'all', base .. 'status:' .. s, entries, base .. 'expiry' }) do
    if redis.call('PTTL', key) < keep then redis.call('PEXPIRE', key, keep) end
  end
end
local function oaoIndexPurge(base, now, max)
  local ids = redis.call('ZRANGEBYSCORE', base .. 'expiry', '-inf', now, 'LIMIT', 0, max)
  for _, id in ipairs(ids) do
    local old = redis.call('HGET', base .. 'entries', id)
    local os = old and string.match(old, '^%d+ %d+ %d+ %d+ (%S+) ')
    if os then redis.call('ZREM', base .. 'status:' .. os, id) end
    redis.call('HDEL', base .. 'entries', id)
    redis.call('ZREM', base .. 'all', id)
    redis.call('ZREM', base .. 'expiry', id)
  end
end
`;

/**
 * Writes entries (a Cluster, after the append script of their events).
 *
 * KEYS: `all`, `entries`, `expiry` (for routing: every key used is in their slot).
 * ARGV: the key base (`<prefix>{executions-index}:`), now (ms), then per
 * entry: id, createdAt, expiresAt, updatedAt, seq, status, waitingFor (or
 * `-`), agent, `1` when initial (written only if the execution has no live
 * entry) or `0`.
 */
const PUT = `${_INDEX_LUA}
local base, now = ARGV[1], ARGV[2]
for i = 3, #ARGV, 9 do
  oaoIndexPut(base, now, ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3], ARGV[i + 4],
    ARGV[i + 5], ARGV[i + 6], ARGV[i + 7], ARGV[i + 8])
end
oaoIndexPurge(base, now, 64)
return #ARGV
`;

/**
 * A page of the index, newest first: a merge of the sorted sets of the
 * statuses asked for (or `all`), from the cursor on, examining at most
 * `budget` entries.
 *
 * KEYS: `all`, `entries`, `expiry`.
 * ARGV: key base, now, limit, budget, cursor score and id (`""` for none),
 * createdAfter (inclusive) and createdBefore (exclusive) (`""` for none),
 * `1` and the agent (or `0`, `""`), the waitingFor values joined by commas
 * (`""` for any), then the statuses (none for any).
 * Reply: the next cursor's score and id (`""`, `""` on the last page), then
 * per entry its id and line.
 */
const QUERY = `${_INDEX_LUA}
local base, now = ARGV[1], ARGV[2]
oaoIndexPurge(base, now, 64)
local limit, budget = tonumber(ARGV[3]), tonumber(ARGV[4])
local cc, cid, after, before = ARGV[5], ARGV[6], ARGV[7], ARGV[8]
local hasAgent, agent = ARGV[9] == '1', ARGV[10]
local anyWait, waits = ARGV[11] == '', {}
for w in string.gmatch(ARGV[11], '[^,]+') do waits[w] = true end
local sets, wanted = {}, nil
if #ARGV >= 12 then
  wanted = {}
  for i = 12, #ARGV do
    sets[#sets + 1] = base .. 'status:' .. ARGV[i]
    wanted[ARGV[i]] = true
  end
else
  sets[1] = KEYS[1]
end
local max = before == '' and '+inf' or ('(' .. before)
local ccn = tonumber(cc)
if ccn and (before == '' or ccn < tonumber(before)) then max = cc end
local min = after == '' and '-inf' or after
local function less(a, b)
  local n = math.min(#a, #b)
  for i = 1, n do
    local x, y = string.byte(a, i), string.byte(b, i)
    if x ~= y then return x < y end
  end
  return #a < #b
end
local bufs = {}
for i, key in ipairs(sets) do bufs[i] = { key = key, items = {}, pos = 1, off = 0, done = false } end
local CHUNK = 100
local function head(b)
  if b.pos > #b.items then
    if b.done then return nil end
    local r = redis.call('ZREVRANGEBYSCORE', b.key, max, min, 'WITHSCORES', 'LIMIT', b.off, CHUNK)
    b.items, b.pos = {}, 1
    for j = 1, #r, 2 do b.items[#b.items + 1] = { r[j], tonumber(r[j + 1]), r[j + 1] } end
    b.off = b.off + #b.items
    if #b.items < CHUNK then b.done = true end
    if #b.items == 0 then return nil end
  end
  return b.items[b.pos]
end
local out, found, examined, last = { '', '' }, 0, 0, nil
local nowN = tonumber(now)
while true do
  local best, bi = nil, nil
  for i, b in ipairs(bufs) do
    local h = head(b)
    if h and (best == nil or h[2] > best[2] or (h[2] == best[2] and less(best[1], h[1]))) then
      best, bi = h, i
    end
  end
  if best == nil then break end
  if found >= limit or examined >= budget then
    out[1], out[2] = last[3], last[1]
    break
  end
  bufs[bi].pos = bufs[bi].pos + 1
  examined = examined + 1
  last = best
  local id = best[1]
  if not (ccn and best[2] == ccn and not less(id, cid)) then
    local line = redis.call('HGET', KEYS[2], id)
    if line then
      local x, s, w, a = string.match(line, '^%d+ (%d+) %d+ %d+ (%S+) (%S+) (.*)$')
      if x and tonumber(x) > nowN and (not hasAgent or a == agent) and (anyWait or waits[w])
        and (wanted == nil or wanted[s]) then
        out[#out + 1] = id
        out[#out + 1] = line
        found = found + 1
      end
    end
  end
end
return out
`;

function _script(lua: string): _BatchScript {
  return { lua, sha: createHash("sha1").update(lua).digest("hex") };
}

/** The index scripts. */
export const _INDEX_SCRIPTS: { put: _BatchScript; query: _BatchScript } = {
  put: _script(PUT),
  query: _script(QUERY),
};

/**
 * Runs an index script (`EVALSHA`, then `EVAL` when the server does not
 * have it yet); on a Cluster it goes to the slot of its keys.
 *
 * @param client The client.
 * @param script The script.
 * @param keys Its keys.
 * @param args Its arguments.
 * @returns The reply.
 */
export async function _runIndexScript(
  client: RedisClient,
  script: _BatchScript,
  keys: string[],
  args: (string | number)[],
): Promise<unknown> {
  try {
    return await client.evalsha(script.sha, keys.length, ...keys, ...args);
  } catch (error) {
    // NOSCRIPT: not executed, so sending the script itself is safe.
    if (!(error instanceof Error) || !error.message.startsWith("NOSCRIPT")) throw error;
    return await client.eval(script.lua, keys.length, ...keys, ...args);
  }
}
