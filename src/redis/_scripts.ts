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
 * Appends one event, idempotently and under fencing.
 *
 * KEYS: events stream, meta hash. ARGV: event id, JSON, retention (ms),
 * fencing token or "", index key or "".
 * Returns `{1, seq}` (appended), `{0, seq}` (the id was already appended:
 * a retry after an ambiguous failure) or `{-1, fence}` (fenced).
 * The stream entry id is `<seq>-0`, so a sequence range is an `XRANGE`; the
 * meta field `n` holds the last seq (`XLEN` when it is missing).
 */
const APPEND = `
local known = redis.call('HMGET', KEYS[2], 'i:' .. ARGV[1], 'fence', 'n')
if known[1] then return {0, tonumber(known[1])} end
if ARGV[4] ~= '' and known[2] and tonumber(ARGV[4]) < tonumber(known[2]) then
  return {-1, tonumber(known[2])}
end
local seq = (tonumber(known[3]) or redis.call('XLEN', KEYS[1])) + 1
redis.call('XADD', KEYS[1], string.format('%d-0', seq), 'e', ARGV[2])
if ARGV[5] ~= '' then
  redis.call('HSET', KEYS[2], 'n', seq, 'i:' .. ARGV[1], seq, 'k:' .. ARGV[5], seq)
else
  redis.call('HSET', KEYS[2], 'n', seq, 'i:' .. ARGV[1], seq)
end
redis.call('PEXPIRE', KEYS[1], ARGV[3])
redis.call('PEXPIRE', KEYS[2], ARGV[3])
return {1, seq}
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
 * Saves a snapshot under version and fencing rules, maintains the scope
 * index and the expiries (the index lives at least as long as its members).
 * Field `x` marks a snapshot that has an expiry, so that the common case (an
 * existing snapshot without expiry saved again without one) costs two calls.
 *
 * KEYS: snapshot hash, scope index (sorted set of keys).
 * ARGV: key, data JSON, savedAt, version or "", expected version or "",
 * fencing token or "", ttl (ms) or "".
 * Returns `{'OK', version}`, `{'STALE', stored version}` or `{'FENCED', token}`.
 */
const SAVE = `
local cur = redis.call('HMGET', KEYS[1], 'v', 'f', 'w', 'x')
local v = tonumber(cur[1]) or 0
if ARGV[6] ~= '' and cur[2] and tonumber(ARGV[6]) < tonumber(cur[2]) then
  return {'FENCED', cur[2]}
end
if ARGV[5] ~= '' and tonumber(ARGV[5]) ~= v then return {'STALE', string.format('%d', v)} end
local nv = string.format('%d', v + 1)
if ARGV[4] ~= '' then
  nv = ARGV[4]
  if tonumber(nv) <= v then return {'STALE', string.format('%d', v)} end
end
local ttl = ARGV[7]
local fields = {'v', nv, 't', ARGV[3], 'd', ARGV[2]}
if ARGV[6] ~= '' then
  fields[#fields + 1] = 'f'; fields[#fields + 1] = ARGV[6]
  fields[#fields + 1] = 'w'; fields[#fields + 1] = ARGV[6]
end
if ttl ~= '' then fields[#fields + 1] = 'x'; fields[#fields + 1] = '1' end
redis.call('HSET', KEYS[1], unpack(fields))
if ARGV[6] == '' and cur[3] then redis.call('HDEL', KEYS[1], 'w') end
if ttl ~= '' then
  redis.call('PEXPIRE', KEYS[1], ttl)
  local indexTtl = redis.call('PTTL', KEYS[2])
  redis.call('ZADD', KEYS[2], 0, ARGV[1])
  if indexTtl == -2 or (indexTtl >= 0 and indexTtl < tonumber(ttl)) then
    redis.call('PEXPIRE', KEYS[2], ttl)
  end
elseif v == 0 or cur[4] then
  if cur[4] then
    redis.call('HDEL', KEYS[1], 'x')
    redis.call('PERSIST', KEYS[1])
  end
  redis.call('ZADD', KEYS[2], 0, ARGV[1])
  redis.call('PERSIST', KEYS[2])
end
return {'OK', nv}
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
  oaoAppend(...args: (string | number)[]): Promise<[number, number]>;
  oaoFence(...args: (string | number)[]): Promise<number>;
  oaoFindByKey(...args: (string | number)[]): Promise<unknown>;
  oaoSave(...args: (string | number)[]): Promise<[string, string]>;
  oaoDelete(...args: (string | number)[]): Promise<number>;
  oaoList(...args: (string | number)[]): Promise<string[]>;
  oaoExpireScope(...args: (string | number)[]): Promise<number>;
  oaoPrune(...args: (string | number)[]): Promise<number>;
}

const SCRIPTS: Record<keyof _Scripts, { lua: string; numberOfKeys: number }> = {
  oaoAppend: { lua: APPEND, numberOfKeys: 2 },
  oaoFence: { lua: FENCE, numberOfKeys: 1 },
  oaoFindByKey: { lua: FIND_BY_KEY, numberOfKeys: 2 },
  oaoSave: { lua: SAVE, numberOfKeys: 2 },
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
