/**
 * The Lua scripts of `RedisJobQueue` and how they are run.
 *
 * Every script changes the keys of one queue only; they all carry the hash
 * tag `{queue:<name>}`, so each script touches a single Redis Cluster slot.
 * Job hashes (`<prefix>job:<id>`) are built inside the scripts from the
 * prefix; they share the tag, hence the slot.
 *
 * Time: scripts read the server clock (`TIME`), one clock for every worker
 * of a queue. Scripts are replicated by effects (the default since Redis 5),
 * so reading `TIME` before writing is safe.
 *
 * Job hash fields: `spec` (JSON), `exec` (execution id), `prio`, `max`
 * (attempts allowed), `state` (`ready` | `delayed` | `active` | `dead` |
 * `done`), `att` (attempts counted), `tok` (fencing token), `rank` (place
 * among ready jobs), `cons` (holder), `lms` (lease duration), `exp` (lease
 * expiry), `next` (reason of the next delivery), `prev` (previous holder of
 * a reclaimed job), `err` (last error), `dead` (dead-letter time), `out`
 * (outcome recorded under token `tok`, so that a repeated call answers the
 * same: `retry` | `dead` | `released` | `done`).
 *
 * @module
 */
import { createHash } from "node:crypto";
import type { RedisClient } from "./connection.ts";

/** A Lua script and its SHA-1. */
export interface QueueScript {
  /** Name, for error messages. */
  name: string;
  /** Source. */
  lua: string;
  /** SHA-1 of the source, for `EVALSHA`. */
  sha: string;
}

const PRELUDE = `
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local function wake(key)
  redis.call('LPUSH', key, '1')
  redis.call('LTRIM', key, 0, 15)
end
local function rank_of(prio, seq_key)
  return (9 - tonumber(prio)) * 1e13 + redis.call('INCR', seq_key)
end
local function forget_dead(dead_key, now, ttl)
  redis.call('ZREMRANGEBYSCORE', dead_key, '-inf', now - tonumber(ttl))
end
local function bury(dead_key, job_key, id, now, ttl)
  redis.call('ZADD', dead_key, now, id)
  redis.call('PEXPIRE', job_key, ttl)
  forget_dead(dead_key, now, ttl)
end
`;

/**
 * KEYS: ready, delayed, wake, seq, job, idem.
 * ARGV: jobId, spec, executionId, priority, delayMs, maxAttempts, hasIdem, idemTtlMs.
 * Returns {jobId, executionId, duplicate}.
 */
const ENQUEUE = `
if ARGV[7] == '1' then
  local known = redis.call('GET', KEYS[6])
  if known then
    local sep = string.find(known, '\\n', 1, true)
    local id = string.sub(known, 1, sep - 1)
    return {id, string.sub(known, sep + 1), id == ARGV[1] and 0 or 1}
  end
end
if redis.call('EXISTS', KEYS[5]) == 1 then
  return {ARGV[1], ARGV[3], 0}
end
local now = now_ms()
redis.call('HSET', KEYS[5], 'spec', ARGV[2], 'exec', ARGV[3], 'prio', ARGV[4], 'max', ARGV[6],
  'att', 0, 'tok', 0, 'next', 'new', 'prev', '', 'out', '')
local delay = tonumber(ARGV[5])
if delay > 0 then
  redis.call('HSET', KEYS[5], 'state', 'delayed')
  redis.call('ZADD', KEYS[2], now + delay, ARGV[1])
else
  local rank = rank_of(ARGV[4], KEYS[4])
  redis.call('HSET', KEYS[5], 'state', 'ready', 'rank', rank)
  redis.call('ZADD', KEYS[1], rank, ARGV[1])
end
if ARGV[7] == '1' then
  redis.call('SET', KEYS[6], ARGV[1] .. '\\n' .. ARGV[3], 'PX', ARGV[8])
end
wake(KEYS[3])
return {ARGV[1], ARGV[3], 0}
`;

/**
 * KEYS: ready, delayed, active, dead, wake, seq.
 * ARGV: prefix, consumer, count, leaseMs, deadRetentionMs.
 * Promotes due delayed jobs, moves expired leases back to their place (or to
 * the dead-letter queue once their attempts are used up), then pops up to
 * `count` ready jobs and leases them under a new fencing token.
 * Returns {hintMs, {{jobId, spec, attempts, lastError, deadAt}...},
 * {jobId, spec, attempt, token, expiresAt, reason, previous}...}: the jobs it
 * dead-lettered, then the leases; hintMs is the time until the next delayed
 * job is due or lease expires, -1 if none.
 */
const RESERVE = `
local now = now_ms()
local prefix = ARGV[1]
local due = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now, 'LIMIT', 0, 1000)
for _, id in ipairs(due) do
  local key = prefix .. 'job:' .. id
  redis.call('ZREM', KEYS[2], id)
  local prio = redis.call('HGET', key, 'prio')
  if prio then
    local rank = rank_of(prio, KEYS[6])
    redis.call('HSET', key, 'state', 'ready', 'rank', rank)
    redis.call('ZADD', KEYS[1], rank, id)
  end
end
local buried = {}
local expired = redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', now, 'LIMIT', 0, 1000)
for _, id in ipairs(expired) do
  local key = prefix .. 'job:' .. id
  redis.call('ZREM', KEYS[3], id)
  local j = redis.call('HMGET', key, 'att', 'max', 'cons', 'rank', 'spec')
  if j[1] then
    if tonumber(j[1]) >= tonumber(j[2]) then
      local err = 'Lease of consumer "' .. (j[3] or '') .. '" expired'
      redis.call('HSET', key, 'state', 'dead', 'dead', now, 'out', 'dead', 'err', err)
      bury(KEYS[4], key, id, now, ARGV[5])
      buried[#buried + 1] = {id, j[5], j[1], err, now}
    else
      redis.call('HSET', key, 'state', 'ready', 'next', 'reclaimed', 'prev', j[3])
      redis.call('ZADD', KEYS[1], j[4], id)
    end
  end
end
local out = {-1, buried}
local expires = now + tonumber(ARGV[4])
local popped = redis.call('ZPOPMIN', KEYS[1], ARGV[3])
for i = 1, #popped, 2 do
  local id = popped[i]
  local key = prefix .. 'job:' .. id
  local j = redis.call('HMGET', key, 'spec', 'next', 'prev')
  if j[1] then
    local att = redis.call('HINCRBY', key, 'att', 1)
    local tok = redis.call('HINCRBY', key, 'tok', 1)
    redis.call('HSET', key, 'state', 'active', 'cons', ARGV[2], 'lms', ARGV[4], 'exp', expires,
      'out', '')
    redis.call('ZADD', KEYS[3], expires, id)
    out[#out + 1] = {id, j[1], att, tok, expires, j[2], j[3] or ''}
  end
end
if #out > 2 and redis.call('ZCARD', KEYS[1]) > 0 then wake(KEYS[5]) end
local next_at = nil
local d = redis.call('ZRANGE', KEYS[2], 0, 0, 'WITHSCORES')
if d[2] then next_at = tonumber(d[2]) end
local a = redis.call('ZRANGE', KEYS[3], 0, 0, 'WITHSCORES')
if a[2] and (next_at == nil or tonumber(a[2]) < next_at) then next_at = tonumber(a[2]) end
if next_at then out[1] = math.max(1, next_at - now) end
return out
`;

/**
 * KEYS: active, job. ARGV: jobId, token, leaseMs ('' for the reserved duration).
 * Returns the new expiry, or -1 when the lease is lost.
 */
const HEARTBEAT = `
local j = redis.call('HMGET', KEYS[2], 'state', 'tok', 'lms')
if j[1] ~= 'active' or j[2] ~= ARGV[2] then return -1 end
local ms = tonumber(ARGV[3] ~= '' and ARGV[3] or j[3])
local expires = now_ms() + ms
redis.call('HSET', KEYS[2], 'exp', expires)
redis.call('ZADD', KEYS[1], expires, ARGV[1])
return expires
`;

/**
 * KEYS: active, job. ARGV: jobId, token, rememberMs.
 * Returns {'ok'} or {'lost', state, token}.
 */
const COMPLETE = `
local j = redis.call('HMGET', KEYS[2], 'state', 'tok', 'out')
if j[1] == 'active' and j[2] == ARGV[2] then
  redis.call('ZREM', KEYS[1], ARGV[1])
  redis.call('DEL', KEYS[2])
  redis.call('HSET', KEYS[2], 'state', 'done', 'tok', ARGV[2], 'out', 'done')
  redis.call('PEXPIRE', KEYS[2], ARGV[3])
  return {'ok'}
end
if j[2] == ARGV[2] and j[3] == 'done' then return {'ok'} end
return {'lost', j[1] or '', j[2] or ''}
`;

/**
 * KEYS: delayed, active, dead, wake, job.
 * ARGV: jobId, token, error, retry ('1'/'0'), delayMs, deadRetentionMs.
 * Returns {'retry'}, {'dead'} or {'lost', state, token}.
 */
const FAIL = `
local j = redis.call('HMGET', KEYS[5], 'state', 'tok', 'out', 'att', 'max')
if j[1] == 'active' and j[2] == ARGV[2] then
  local now = now_ms()
  redis.call('ZREM', KEYS[2], ARGV[1])
  if ARGV[4] == '0' or tonumber(j[4]) >= tonumber(j[5]) then
    redis.call('HSET', KEYS[5], 'state', 'dead', 'err', ARGV[3], 'dead', now, 'out', 'dead')
    bury(KEYS[3], KEYS[5], ARGV[1], now, ARGV[6])
    return {'dead'}
  end
  redis.call('HSET', KEYS[5], 'state', 'delayed', 'err', ARGV[3], 'next', 'retry', 'prev', '',
    'out', 'retry')
  redis.call('ZADD', KEYS[1], now + tonumber(ARGV[5]), ARGV[1])
  wake(KEYS[4])
  return {'retry'}
end
if j[2] == ARGV[2] and (j[3] == 'retry' or j[3] == 'dead') then return {j[3]} end
return {'lost', j[1] or '', j[2] or ''}
`;

/**
 * KEYS: ready, active, wake, job. ARGV: jobId, token.
 * Returns {'ok'} or {'lost', state, token}.
 */
const RELEASE = `
local j = redis.call('HMGET', KEYS[4], 'state', 'tok', 'out', 'rank')
if j[1] == 'active' and j[2] == ARGV[2] then
  redis.call('ZREM', KEYS[2], ARGV[1])
  redis.call('HINCRBY', KEYS[4], 'att', -1)
  redis.call('HSET', KEYS[4], 'state', 'ready', 'next', 'requeued', 'prev', '', 'out', 'released')
  redis.call('ZADD', KEYS[1], j[4], ARGV[1])
  wake(KEYS[3])
  return {'ok'}
end
if j[2] == ARGV[2] and j[3] == 'released' then return {'ok'} end
return {'lost', j[1] or '', j[2] or ''}
`;

/**
 * KEYS: ready, dead, wake, seq, job. ARGV: jobId.
 * Returns 1 when the job was dead and is ready again, else 0.
 */
const REQUEUE_DEAD = `
if redis.call('ZREM', KEYS[2], ARGV[1]) == 0 then return 0 end
local prio = redis.call('HGET', KEYS[5], 'prio')
if not prio then return 0 end
local rank = rank_of(prio, KEYS[4])
redis.call('HSET', KEYS[5], 'state', 'ready', 'rank', rank, 'att', 0, 'next', 'requeued',
  'prev', '', 'out', '')
redis.call('PERSIST', KEYS[5])
redis.call('ZADD', KEYS[1], rank, ARGV[1])
wake(KEYS[3])
return 1
`;

/**
 * KEYS: dead. ARGV: prefix, limit, deadRetentionMs.
 * Returns {{jobId, spec, attempts, lastError, deadAt}...}, oldest first.
 */
const DEAD_LETTERS = `
forget_dead(KEYS[1], now_ms(), ARGV[3])
local out = {}
for _, id in ipairs(redis.call('ZRANGE', KEYS[1], 0, tonumber(ARGV[2]) - 1)) do
  local j = redis.call('HMGET', ARGV[1] .. 'job:' .. id, 'spec', 'att', 'err', 'dead')
  if j[1] then out[#out + 1] = {id, j[1], j[2], j[3] or '', j[4]} end
end
return out
`;

/**
 * KEYS: ready, delayed, active, dead. ARGV: deadRetentionMs.
 * Returns {waiting, delayed, inFlight, dead}; due delayed jobs count as waiting.
 */
const STATS = `
local now = now_ms()
forget_dead(KEYS[4], now, ARGV[1])
local due = redis.call('ZCOUNT', KEYS[2], '-inf', now)
return {redis.call('ZCARD', KEYS[1]) + due, redis.call('ZCARD', KEYS[2]) - due,
  redis.call('ZCARD', KEYS[3]), redis.call('ZCARD', KEYS[4])}
`;

function script(name: string, body: string): QueueScript {
  return luaScript(name, PRELUDE + body);
}

/**
 * A script with its SHA-1, for {@linkcode runQueueScript}.
 *
 * @param name Name, for error messages.
 * @param lua Source.
 * @returns The script.
 */
export function luaScript(name: string, lua: string): QueueScript {
  return { name, lua, sha: createHash("sha1").update(lua).digest("hex") };
}

/** The scripts, by operation. */
export const QUEUE_SCRIPTS = {
  enqueue: script("enqueue", ENQUEUE),
  reserve: script("reserve", RESERVE),
  heartbeat: script("heartbeat", HEARTBEAT),
  complete: script("complete", COMPLETE),
  fail: script("fail", FAIL),
  release: script("release", RELEASE),
  requeueDead: script("requeueDead", REQUEUE_DEAD),
  deadLetters: script("deadLetters", DEAD_LETTERS),
  stats: script("stats", STATS),
} as const;

/**
 * Runs a script by SHA-1, loading it with `EVAL` when the node does not
 * have it yet (first use, after a restart or a failover).
 *
 * @param client A standalone or Cluster client.
 * @param script The script.
 * @param keys Keys, all of one hash tag.
 * @param args Arguments.
 * @returns The script's reply.
 */
export async function runQueueScript(
  client: RedisClient,
  script: QueueScript,
  keys: readonly string[],
  args: readonly (string | number)[],
): Promise<unknown> {
  try {
    return await client.evalsha(script.sha, keys.length, ...keys, ...args);
  } catch (error) {
    if (!(error instanceof Error) || !error.message.startsWith("NOSCRIPT")) throw error;
    return await client.eval(script.lua, keys.length, ...keys, ...args);
  }
}
