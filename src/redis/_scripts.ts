/**
 * The Lua scripts of the Redis adapters, registered on a client with
 * `defineCommand` (ioredis sends `EVAL` once per connection, then `EVALSHA`,
 * and pipelines them like any command).
 *
 * Every script touches the keys of one hash tag only (`oao:{<id>}:…`), so it
 * runs on one Redis Cluster slot. Keys a script derives itself (snapshot keys
 * of a scope) carry the same hash tag.
 *
 * @module
 */
import type { RedisClient } from "./connection.ts";

/**
 * Appends a batch of events (group commit): the appends of one tick, for one
 * or many executions, in one call, so that the fixed cost of a call is paid
 * once per batch and the meta hash is read and written once per execution
 * and batch, not once per event.
 *
 * KEYS: the executions index when ARGV[1] is `1` (standalone server; on a
 * Cluster it lives in another slot and is updated apart), then for each
 * execution of the batch its events stream and meta hash.
 * ARGV: `1`/`0` (index in KEYS or not), the index score, then for each
 * execution: its id (index member) and the number `c` of its appends, then
 * `c` times: event id, JSON, retention (ms), fencing token or "", index key
 * or "".
 *
 * Per execution: one `HMGET` reads the last seq, the fencing token, the
 * expiry last set and the ids of the batch (an id already stored: a retry
 * after an ambiguous failure, or a command resent by the client, answers
 * with the seq stored then); one `XADD` per event; one `HSET` (seq, ids,
 * index keys). The expiry of the stream and the meta hash is set again
 * (`PEXPIRE` ×2, the deadline kept in field `x`) when it would move by more
 * than 1 % of the retention or 1 s, whichever is less, or when the stream is
 * new (`XADD NOMKSTREAM` tells) — so a log expires between
 * `retention − min(1 %, 1 s)` and `retention` after its last append, without
 * two more writes per append. One `ZADD GT` per
 * batch updates the index. Errors of one execution (a key of the wrong type,
 * out of memory) are reported for its appends only: nothing of theirs is
 * stored, the other appends of the batch are unaffected.
 *
 * Returns the index error or "", then per append, in order: `1, seq`
 * (appended), `0, seq` (already appended), `-1, fence` (fenced) or
 * `-2, message` (failed). The stream entry id is `<seq>-0`, so a sequence
 * range is an `XRANGE`; the meta field `n` holds the last seq (`XLEN` when it
 * is missing).
 */
const APPEND = `
local withIndex = ARGV[1] == '1'
local time = redis.call('TIME')
local now = time[1] * 1000 + math.floor(time[2] / 1000)
local k = withIndex and 2 or 1
local a = 3
local out = {''}
local touched = {}
while a <= #ARGV do
  local events, meta = KEYS[k], KEYS[k + 1]
  local member, c = ARGV[a], tonumber(ARGV[a + 1])
  local first = a + 2
  k = k + 2
  a = first + 5 * c
  local fields = {'n', 'fence', 'x'}
  for p = first, a - 1, 5 do fields[#fields + 1] = 'i:' .. ARGV[p] end
  local known = redis.pcall('HMGET', meta, unpack(fields))
  local seq = known.err == nil and tonumber(known[1])
  if known.err == nil and not seq then
    seq = redis.pcall('XLEN', events)
    if type(seq) == 'table' then known = seq end
  end
  if known.err then
    for _ = 1, c do out[#out + 1] = -2; out[#out + 1] = known.err end
  else
    local fence = tonumber(known[2])
    local set = {'n', 0}
    local ttl
    local fresh = seq == 0
    for i = 0, c - 1 do
      local p = first + 5 * i
      local done, token = known[4 + i], ARGV[p + 3]
      if done then
        out[#out + 1] = 0; out[#out + 1] = tonumber(done)
      elseif token ~= '' and fence and tonumber(token) < fence then
        out[#out + 1] = -1; out[#out + 1] = fence
      else
        local id, json = (seq + 1) .. '-0', ARGV[p + 1]
        local added = false
        if not fresh then added = redis.pcall('XADD', events, 'NOMKSTREAM', id, 'e', json) end
        if not added then -- a new stream, or one that vanished (evicted): expire it below
          fresh = true
          added = redis.pcall('XADD', events, id, 'e', json)
        end
        if type(added) == 'table' and added.err then
          out[#out + 1] = -2; out[#out + 1] = added.err
        else
          seq = seq + 1
          set[#set + 1] = fields[4 + i]; set[#set + 1] = seq
          if ARGV[p + 4] ~= '' then set[#set + 1] = 'k:' .. ARGV[p + 4]; set[#set + 1] = seq end
          ttl = tonumber(ARGV[p + 2])
          out[#out + 1] = 1; out[#out + 1] = seq
        end
      end
    end
    if ttl then
      set[2] = seq
      local deadline = now + ttl
      local x = tonumber(known[3])
      if fresh or not x or math.abs(deadline - x) > math.min(1000, ttl / 100) then
        set[#set + 1] = 'x'; set[#set + 1] = deadline
        redis.call('HSET', meta, unpack(set))
        redis.call('PEXPIRE', events, ttl)
        redis.call('PEXPIRE', meta, ttl)
      else
        redis.call('HSET', meta, unpack(set))
      end
      touched[#touched + 1] = ARGV[2]; touched[#touched + 1] = member
    end
  end
end
if withIndex and #touched > 0 then
  local added = redis.pcall('ZADD', KEYS[1], 'GT', unpack(touched))
  if type(added) == 'table' and added.err then out[1] = added.err end
end
return out
`;

/**
 * Raises the fencing token of an execution (never lowers it).
 *
 * KEYS: meta hash. ARGV: token, retention (ms) for a meta hash created here.
 * Returns the token now in force.
 */
const FENCE = `
local current = tonumber(redis.call('HGET', KEYS[1], 'fence') or '0')
local token = tonumber(ARGV[1])
if token <= current then return current end
redis.call('HSET', KEYS[1], 'fence', ARGV[1])
if redis.call('PTTL', KEYS[1]) == -1 then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return token
`;

/**
 * The latest event appended with an index key.
 *
 * KEYS: events stream, meta hash. ARGV: index key.
 * Returns the `XRANGE` reply of that entry (empty when unknown).
 */
const FIND_BY_KEY = `
local seq = redis.call('HGET', KEYS[2], 'k:' .. ARGV[1])
if not seq then return {} end
return redis.call('XRANGE', KEYS[1], seq .. '-0', seq .. '-0')
`;

/**
 * Saves a batch of snapshots (group commit), each under version and fencing
 * rules, maintaining the scope index and the expiries (the index lives at
 * least as long as its members). Saves are applied in order, so two saves of
 * one key in a batch behave as two calls. Field `x` marks a snapshot that has
 * an expiry, so that the common case (an existing snapshot without expiry
 * saved again without one) costs two calls: `HMGET`, `HSET`.
 *
 * KEYS: for each save, its snapshot hash and scope index (sorted set of keys).
 * ARGV: for each save, 7 values: key, data JSON, savedAt, version or "",
 * expected version or "", fencing token or "", ttl (ms) or "".
 * Returns per save, in order: `'OK', version`, `'STALE', stored version`,
 * `'FENCED', token` or `'ERR', message` (a key of the wrong type, out of
 * memory: that save is not applied, the others are unaffected).
 */
const SAVE = `
local function save(snap, index, key, data, savedAt, version, expected, token, ttl)
  local cur = redis.pcall('HMGET', snap, 'v', 'f', 'w', 'x')
  if cur.err then return 'ERR', cur.err end
  local v = tonumber(cur[1]) or 0
  if token ~= '' and cur[2] and tonumber(token) < tonumber(cur[2]) then
    return 'FENCED', cur[2]
  end
  if expected ~= '' and tonumber(expected) ~= v then return 'STALE', string.format('%d', v) end
  local nv = string.format('%d', v + 1)
  if version ~= '' then
    nv = version
    if tonumber(nv) <= v then return 'STALE', string.format('%d', v) end
  end
  local fields = {'v', nv, 't', savedAt, 'd', data}
  if token ~= '' then
    fields[#fields + 1] = 'f'; fields[#fields + 1] = token
    fields[#fields + 1] = 'w'; fields[#fields + 1] = token
  end
  if ttl ~= '' then fields[#fields + 1] = 'x'; fields[#fields + 1] = '1' end
  if ttl ~= '' or v == 0 or cur[4] then
    local kind = redis.call('TYPE', index).ok
    if kind ~= 'zset' and kind ~= 'none' then
      return 'ERR', 'WRONGTYPE Operation against a key holding the wrong kind of value'
    end
  end
  local written = redis.pcall('HSET', snap, unpack(fields))
  if type(written) == 'table' and written.err then return 'ERR', written.err end
  if token == '' and cur[3] then redis.call('HDEL', snap, 'w') end
  if ttl ~= '' then
    redis.call('PEXPIRE', snap, ttl)
    local indexTtl = redis.call('PTTL', index)
    redis.call('ZADD', index, 0, key)
    if indexTtl == -2 or (indexTtl >= 0 and indexTtl < tonumber(ttl)) then
      redis.call('PEXPIRE', index, ttl)
    end
  elseif v == 0 or cur[4] then
    if cur[4] then
      redis.call('HDEL', snap, 'x')
      redis.call('PERSIST', snap)
    end
    redis.call('ZADD', index, 0, key)
    redis.call('PERSIST', index)
  end
  return 'OK', nv
end
local out = {}
local p = 0
for i = 1, #KEYS, 2 do
  local status, value = save(KEYS[i], KEYS[i + 1], ARGV[p + 1], ARGV[p + 2], ARGV[p + 3],
    ARGV[p + 4], ARGV[p + 5], ARGV[p + 6], ARGV[p + 7])
  out[#out + 1] = status; out[#out + 1] = value
  p = p + 7
end
return out
`;

/**
 * Deletes a snapshot and its index entry.
 *
 * KEYS: snapshot hash, scope index. ARGV: key. Returns 1 if it existed.
 */
const DELETE = `
local n = redis.call('DEL', KEYS[1])
redis.call('ZREM', KEYS[2], ARGV[1])
return n
`;

/**
 * Lists the keys of a scope, dropping index entries whose snapshot expired.
 *
 * KEYS: scope index. ARGV: snapshot key prefix of the scope (`…{scope}:snap:`,
 * followed by the full snapshot key).
 * Returns the live keys.
 */
const LIST = `
local live = {}
for _, key in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  if redis.call('EXISTS', ARGV[1] .. key) == 1 then
    live[#live + 1] = key
  else
    redis.call('ZREM', KEYS[1], key)
  end
end
return live
`;

/**
 * Sets the expiry of every snapshot of a scope, and of its index.
 *
 * KEYS: scope index. ARGV: snapshot key prefix of the scope, ttl (ms).
 * Returns the number of snapshots.
 */
const EXPIRE_SCOPE = `
local n = 0
for _, key in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  if redis.call('PEXPIRE', ARGV[1] .. key, ARGV[2]) == 1 then
    redis.call('HSET', ARGV[1] .. key, 'x', '1')
    n = n + 1
  end
end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return n
`;

/**
 * Removes members of the executions index whose score is unchanged (their
 * log expired and no append touched them since).
 *
 * KEYS: executions index. ARGV: member, score, member, score, ….
 */
const PRUNE = `
local n = 0
for i = 1, #ARGV, 2 do
  if redis.call('ZSCORE', KEYS[1], ARGV[i]) == ARGV[i + 1] then
    n = n + redis.call('ZREM', KEYS[1], ARGV[i])
  end
end
return n
`;

/** The scripts as typed commands of a client. */
export interface _Scripts {
  oaoAppend(...args: (string | number)[]): Promise<(string | number)[]>;
  oaoFence(...args: (string | number)[]): Promise<number>;
  oaoFindByKey(...args: (string | number)[]): Promise<unknown>;
  oaoSave(...args: (string | number)[]): Promise<string[]>;
  oaoDelete(...args: (string | number)[]): Promise<number>;
  oaoList(...args: (string | number)[]): Promise<string[]>;
  oaoExpireScope(...args: (string | number)[]): Promise<number>;
  oaoPrune(...args: (string | number)[]): Promise<number>;
}

/** `numberOfKeys` omitted: the first argument of the call is the number of keys. */
const SCRIPTS: Record<keyof _Scripts, { lua: string; numberOfKeys?: number }> = {
  oaoAppend: { lua: APPEND },
  oaoFence: { lua: FENCE, numberOfKeys: 1 },
  oaoFindByKey: { lua: FIND_BY_KEY, numberOfKeys: 2 },
  oaoSave: { lua: SAVE },
  oaoDelete: { lua: DELETE, numberOfKeys: 2 },
  oaoList: { lua: LIST, numberOfKeys: 1 },
  oaoExpireScope: { lua: EXPIRE_SCOPE, numberOfKeys: 1 },
  oaoPrune: { lua: PRUNE, numberOfKeys: 1 },
};

const defined = new WeakSet<object>();

/**
 * The OAO scripts of a client, registered on first use.
 *
 * @param client A client.
 * @returns The same client, typed with the script commands.
 */
export function _scripts(client: RedisClient): _Scripts {
  if (!defined.has(client)) {
    for (const [name, script] of Object.entries(SCRIPTS)) client.defineCommand(name, script);
    defined.add(client);
  }
  return client as unknown as _Scripts;
}
