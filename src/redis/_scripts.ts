/**
 * The Lua scripts of the Redis adapters, registered on a client with
 * `defineCommand` (ioredis sends `EVAL` once per connection, then `EVALSHA`,
 * and pipelines them like any command). The group-commit scripts (appends,
 * saves) are in `_batch_scripts.ts`.
 *
 * Every script touches the keys of one hash tag only (`oao:{<id>}:…`), so it
 * runs on one Redis Cluster slot. Keys a script derives itself (snapshot keys
 * of a scope) carry the same hash tag.
 *
 * @module
 */
import type { RedisClient } from "./connection.ts";

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

// The claim fields of the meta hash: `owner`, `otoken` (its fencing token)
// and `ountil` (expiry, ms on the Redis server's clock: every process
// compares against the same time).
const NOW = `local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)`;

/**
 * Claims an execution (see `EventStore.claim`).
 *
 * KEYS: meta hash. ARGV: owner, ttl (ms), take over ('1' or ''), retention
 * (ms) for a meta hash created here, the holder to replace ('' for none).
 * Returns `{1, token}` or `{0, holder, ms until its claim expires}`.
 */
const CLAIM = `${NOW}
local h = redis.call('HMGET', KEYS[1], 'fence', 'owner', 'otoken', 'ountil')
local fence = tonumber(h[1] or '0')
local replace = ARGV[3] == '1' or (ARGV[5] ~= '' and h[2] == ARGV[5])
if h[2] and not replace and tonumber(h[4]) > now and tonumber(h[3]) >= fence then
  return {0, h[2], tonumber(h[4]) - now}
end
local token = fence + 1
redis.call('HSET', KEYS[1], 'fence', token, 'owner', ARGV[1], 'otoken', token,
  'ountil', now + tonumber(ARGV[2]))
if redis.call('PTTL', KEYS[1]) == -1 then redis.call('PEXPIRE', KEYS[1], ARGV[4]) end
return {1, token}
`;

/**
 * Extends a claim. KEYS: meta hash. ARGV: token, ttl (ms).
 * Returns 1, or 0 when the token no longer holds the claim.
 */
const RENEW_CLAIM = `${NOW}
local h = redis.call('HMGET', KEYS[1], 'fence', 'otoken')
if h[2] ~= ARGV[1] or h[1] ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], 'ountil', now + tonumber(ARGV[2]))
return 1
`;

/** Gives up a claim if the token holds it. KEYS: meta hash. ARGV: token. */
const RELEASE_CLAIM = `
if redis.call('HGET', KEYS[1], 'otoken') ~= ARGV[1] then return 0 end
return redis.call('HDEL', KEYS[1], 'owner', 'otoken', 'ountil')
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
  oaoFence(...args: (string | number)[]): Promise<number>;
  oaoFindByKey(...args: (string | number)[]): Promise<unknown>;
  oaoClaim(...args: (string | number)[]): Promise<[number, string | number, number?]>;
  oaoRenewClaim(...args: (string | number)[]): Promise<number>;
  oaoReleaseClaim(...args: (string | number)[]): Promise<number>;
  oaoDelete(...args: (string | number)[]): Promise<number>;
  oaoList(...args: (string | number)[]): Promise<string[]>;
  oaoExpireScope(...args: (string | number)[]): Promise<number>;
  oaoPrune(...args: (string | number)[]): Promise<number>;
}

const SCRIPTS: Record<keyof _Scripts, { lua: string; numberOfKeys: number }> = {
  oaoFence: { lua: FENCE, numberOfKeys: 1 },
  oaoFindByKey: { lua: FIND_BY_KEY, numberOfKeys: 2 },
  oaoClaim: { lua: CLAIM, numberOfKeys: 1 },
  oaoRenewClaim: { lua: RENEW_CLAIM, numberOfKeys: 1 },
  oaoReleaseClaim: { lua: RELEASE_CLAIM, numberOfKeys: 1 },
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
