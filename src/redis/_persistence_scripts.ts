/**
 * The group-commit script of `RedisPersistenceAdapter`: one call
 * saves the snapshots issued in one tick. It runs through `_runBatchScript`
 * (`_batch_scripts.ts`), which explains the batch record that makes a retried
 * call apply its batch at most once.
 *
 * @module
 */
import { createHash } from "node:crypto";
import type { _BatchScript } from "./_batch_scripts.ts";

/**
 * Saves a batch of snapshots, each under version and fencing rules,
 * maintaining the scope index and the expiries (the index lives at least as
 * long as its members). The saves of a scope are applied in the order they
 * were issued, so two saves of one key in a batch behave as two calls (saves
 * of different scopes touch different keys). Field `x` marks a snapshot that
 * has an expiry, field `w` holds the token of the writer of this version.
 *
 * ## Why a save still reads, and what was cut instead
 * Every save reads its hash (`HMGET`) before writing it (`HSET`), also when
 * the caller chose the version (an actor's message sequence): Redis 7 has no
 * write conditional on a hash field, and without the stored version and
 * token a stale or fenced writer (a zombie incarnation) could not be refused.
 * The read was not the cost. Server time per save (`INFO commandstats`, 500
 * saves a call, bench payload, best of 150 calls) was 3.3 µs without
 * options and 4.4 µs with `version` and `fencingToken`, of which the two
 * calls are about 2 µs; the rest was per-save script work: a function call,
 * an options `string.match`, a table of `HSET` fields, a concatenated reply.
 * A string per snapshot written blind with `SET … GET` and checked after
 * measured only 15 % below this script (the old value comes back into Lua)
 * and would change the stored layout. So the layout stays and each save
 * does little besides its two calls: 2.9 µs without options, 3.3 µs with
 * `version` and `fencingToken`. Saves travel in runs (consecutive saves of
 * one scope with the same kind of options), each with its own layout:
 *
 * - `p` (no options: workflow records, unfenced executions): one argument,
 *   the data. A snapshot of exactly three fields (`v`, `t`, `d`: no token,
 *   writer or expiry) is read with `HLEN` and `HGET v` instead of the
 *   `HMGET` of four fields: two integer and string replies cost less than a
 *   table (script time per save 2.96 against 4.48 µs, median of 7 interleaved
 *   runs of 40 calls of 500 saves);
 * - `v` (`version` and/or `fencingToken` only: actors, fenced executions):
 *   data, version (`""`: stored + 1), token (`""`: none), read with
 *   `tonumber`;
 * - `g` (anything else: `expectedVersion`, `ttlSeconds`, a savedAt other
 *   than the batch's): data and `"<savedAt>,<version>,<expected>,<token>,<ttl
 *   ms>"` (each part may be empty).
 *
 * A `p` or `v` save of a new snapshot, of one with an expiry, or without
 * token of one with a writer token, takes the general path of `g` (index,
 * expiries, fields to drop). A saved version is replied as the bare number.
 *
 * KEYS: batch record, then for each run its scope index (sorted set of keys)
 * followed by the snapshot hashes of its saves.
 * ARGV: record lifetime (ms); `1` to look the record up first; the default
 * savedAt; then for each run: its layout (`p`, `v` or `g`), its number of
 * saves and the length in bytes of its snapshot key prefix
 * (`<prefix>{<scope>}:snap:`), then the arguments of its saves.
 * Reply: lines, one per save, in the order of KEYS: `<version>` (saved),
 * `S<stored version>` (stale), `F<token>` (fenced) or `E<message>` (failed: a
 * key of the wrong type, out of memory; that save is not applied, the others
 * are unaffected).
 */
const SAVE = `
if ARGV[2] == '1' then
  local done = redis.call('GET', KEYS[1])
  if done then return done end
end
local now = ARGV[3]
local function save(snap, index, skip, data, savedAt, version, expected, token, ttl, cur)
  if cur.err then return 'E' .. cur.err end
  local v = tonumber(cur[1]) or 0
  if token ~= '' and cur[2] and tonumber(token) < tonumber(cur[2]) then return 'F' .. cur[2] end
  if expected ~= '' and tonumber(expected) ~= v then return string.format('S%d', v) end
  local nv = version
  if nv == '' then
    nv = string.format('%d', v + 1)
  elseif tonumber(nv) <= v then
    return string.format('S%d', v)
  end
  local indexed = ttl ~= '' or v == 0 or cur[4]
  if indexed then
    local kind = redis.call('TYPE', index).ok
    if kind ~= 'zset' and kind ~= 'none' then
      return 'EWRONGTYPE Operation against a key holding the wrong kind of value'
    end
  end
  local written
  if token ~= '' then
    if ttl ~= '' then
      written = redis.pcall('HSET', snap, 'v', nv, 't', savedAt, 'd', data,
        'f', token, 'w', token, 'x', '1')
    else
      written = redis.pcall('HSET', snap, 'v', nv, 't', savedAt, 'd', data, 'f', token, 'w', token)
    end
  elseif ttl ~= '' then
    written = redis.pcall('HSET', snap, 'v', nv, 't', savedAt, 'd', data, 'x', '1')
  else
    written = redis.pcall('HSET', snap, 'v', nv, 't', savedAt, 'd', data)
  end
  if type(written) == 'table' then return 'E' .. written.err end
  if token == '' and cur[3] then redis.call('HDEL', snap, 'w') end
  if not indexed then return nv end
  local key = string.sub(snap, skip + 1)
  if ttl ~= '' then
    redis.call('PEXPIRE', snap, ttl)
    local indexTtl = redis.call('PTTL', index)
    redis.call('ZADD', index, 0, key)
    if indexTtl == -2 or (indexTtl >= 0 and indexTtl < tonumber(ttl)) then
      redis.call('PEXPIRE', index, ttl)
    end
  else
    if cur[4] then
      redis.call('HDEL', snap, 'x')
      redis.call('PERSIST', snap)
    end
    redis.call('ZADD', index, 0, key)
    redis.call('PERSIST', index)
  end
  return nv
end
local out = {}
local n, k, a, last = 0, 2, 4, #ARGV
while a <= last do
  local mode, c, skip = ARGV[a], tonumber(ARGV[a + 1]), tonumber(ARGV[a + 2])
  local index = KEYS[k]
  k = k + 1
  a = a + 3
  if mode == 'p' then
    for _ = 1, c do
      local snap, data = KEYS[k], ARGV[a]
      k = k + 1
      a = a + 1
      n = n + 1
      -- Exactly v, t and d: no token, writer or expiry to look after.
      local v = redis.pcall('HLEN', snap) == 3 and tonumber(redis.pcall('HGET', snap, 'v'))
      if v and v >= 1 then
        local nv = string.format('%d', v + 1)
        local written = redis.pcall('HSET', snap, 'v', nv, 't', now, 'd', data)
        out[n] = type(written) == 'table' and 'E' .. written.err or nv
      else
        out[n] = save(snap, index, skip, data, now, '', '', '', '',
          redis.pcall('HMGET', snap, 'v', 'f', 'w', 'x'))
      end
    end
  elseif mode == 'v' then
    for _ = 1, c do
      local snap, data, version, token = KEYS[k], ARGV[a], ARGV[a + 1], ARGV[a + 2]
      k = k + 1
      a = a + 3
      n = n + 1
      local cur = redis.pcall('HMGET', snap, 'v', 'f', 'w', 'x')
      local v = not cur.err and not cur[4] and tonumber(cur[1])
      if not v or v < 1 or (token == '' and cur[3]) then
        out[n] = save(snap, index, skip, data, now, version, '', token, '', cur)
      elseif token ~= '' and cur[2] and tonumber(token) < tonumber(cur[2]) then
        out[n] = 'F' .. cur[2]
      elseif version ~= '' and tonumber(version) <= v then
        out[n] = string.format('S%d', v)
      else
        if version == '' then version = string.format('%d', v + 1) end
        local written
        if token == '' then
          written = redis.pcall('HSET', snap, 'v', version, 't', now, 'd', data)
        else
          written = redis.pcall('HSET', snap, 'v', version, 't', now, 'd', data,
            'f', token, 'w', token)
        end
        out[n] = type(written) == 'table' and 'E' .. written.err or version
      end
    end
  else
    for _ = 1, c do
      local snap, data = KEYS[k], ARGV[a]
      local savedAt, version, expected, token, ttl =
        string.match(ARGV[a + 1], '^(%d*),(%d*),(%d*),(%d*),(%d*)$')
      k = k + 1
      a = a + 2
      n = n + 1
      if savedAt == '' then savedAt = now end
      out[n] = save(snap, index, skip, data, savedAt, version, expected, token, ttl,
        redis.pcall('HMGET', snap, 'v', 'f', 'w', 'x'))
    end
  end
end
local reply = table.concat(out, '\\n')
redis.call('SET', KEYS[1], reply, 'PX', ARGV[1])
return reply
`;

/** The save script, for `_runBatchScript`. */
export const _SAVE_SCRIPT: _BatchScript = {
  lua: SAVE,
  sha: createHash("sha1").update(SAVE).digest("hex"),
};
