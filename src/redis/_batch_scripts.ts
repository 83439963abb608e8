/**
 * The group-commit scripts of the event store: one call appends the events
 * issued in one tick (the snapshot saves have theirs, `_persistence_scripts.ts`). They are sent with `sendCommand` (not through
 * ioredis's auto-pipelining, which would only delay a command that already
 * carries a whole batch): `EVALSHA`, then `EVAL` once per server when the
 * script is not loaded yet.
 *
 * ## Idempotency
 * Each call carries a batch record key, unique per batch. The script looks
 * it up first: when present, the batch was executed already (a retry after a
 * lost reply, or a command resent by the client library) and the script
 * returns the reply stored there instead of applying the batch again.
 * Otherwise it applies the batch and stores its reply under that key for
 * `recordMs` (longer than any retry of the batch may arrive). So a batch is
 * applied at most once and every attempt gets the same answer, at the price
 * of one or two commands per batch, not per write: the lookup is skipped on
 * the first attempt when the client cannot resend a command by itself (a
 * standalone client with `autoResendUnfulfilledCommands: false`, as
 * `connectRedis` makes): such a first attempt cannot find its own record.
 * Because one connection executes commands in the order they were sent (a
 * command that timed out stays on its connection, ahead of its retry), and
 * ioredis then drops the commands it could not send before a reconnection
 * attempt failed (`maxRetriesPerRequest: 0`), an earlier attempt of a batch
 * never runs after a later one.
 *
 * The `DIRECT` script (direct appends, see `_fast_appends.ts`) needs no
 * record: each of its appends targets the stream id its store proposed, so a
 * second run finds the event already at its id and stores nothing twice.
 *
 * A script returns its reply as one string of lines: the stored record and
 * the answer are the same string.
 *
 * @module
 */
import type { Command as IoredisCommand, Redis, ReplyError as IoredisReplyError } from "ioredis";
import { createHash } from "node:crypto";
import type { RedisClient } from "./connection.ts";
import { _INDEX_LUA } from "./_index_scripts.ts";

/**
 * Appends a batch of events for one or many executions.
 *
 * KEYS: batch record; the executions index when ARGV[3] is `1` (standalone
 * server; on a Cluster it lives in another slot and is updated apart); then
 * for each execution its events stream and meta hash. (The keys of the
 * status index, `_index_scripts.ts`, are named from their base in ARGV[7]:
 * entries are passed on a standalone server only.)
 * ARGV: record lifetime (ms); `1` to look the record up first (see
 * {@linkcode _runBatchScript}); `1`/`0` (index in KEYS or not); the index
 * score (the batch's latest append time, also "now" for the status index);
 * the default retention (ms); the number `n` of status index entries; the
 * status index key base; then for each execution its id (index member) and
 * the number `c` of its appends, then `c` times: the event JSON and its
 * options, `""` (default retention, no fencing token, no index key) or
 * `"<retention ms>,<fencing token>,<expected seq>,<index key>"` (each part
 * may be empty; an expected seq stores the event only when the log's last
 * seq is that one);
 * then `n` times the status index entry of an append: its position among the
 * appends (1 for the first), execution id, createdAt, expiresAt, updatedAt,
 * status, waitingFor (or `-`), agent and `1`/`0` (initial: written only when
 * the execution has no live entry) — written only when that append is stored,
 * with its seq (an index failure is reported like the executions index's).
 *
 * Per execution: `XLEN` gives the last seq (entries are never deleted, so
 * the length of a log is its last sequence number); `HGET fence` only when an
 * append carries a fencing token or an index key (it also checks the type of
 * the meta hash before anything is written); one `XADD` per event; `HSET` of
 * the index keys when there are some; `PTTL`, and `PEXPIRE` of the stream and
 * the meta hash when the expiry would move by more than 1 % of the retention
 * or 1 s, whichever is less (or when it is missing: a new stream, a meta hash
 * just written) — so a log expires between `retention − min(1 %, 1 s)` and
 * `retention` after its last append, without two writes per append. One
 * `ZADD GT` per batch updates the index. An error of one execution (a key of
 * the wrong type, out of memory) is reported for its appends only: nothing of
 * theirs is stored, the other appends of the batch are unaffected.
 *
 * Reply: lines (Redis error messages hold no line break): the index error or
 * "", then one line per append, in order: its seq (appended), `F<fence>`
 * (fenced), `C<last seq>` (not the expected seq) or `E<message>` (failed).
 */
const APPEND = `${_INDEX_LUA}
if ARGV[2] == '1' then
  local done = redis.call('GET', KEYS[1])
  if done then return done end
end
local withIndex = ARGV[3] == '1'
local defaultTtl = ARGV[5]
local k = withIndex and 3 or 2
local a = 8
local entries = tonumber(ARGV[6])
local groupsEnd = #ARGV - 9 * entries
local out = {''}
local touched = {}
while a <= groupsEnd do
  local events, meta = KEYS[k], KEYS[k + 1]
  local member, c = ARGV[a], tonumber(ARGV[a + 1])
  local first = a + 2
  k = k + 2
  a = first + 2 * c
  local seq = redis.pcall('XLEN', events)
  local fence = false
  if type(seq) == 'number' then
    for p = first + 1, a - 1, 2 do
      if ARGV[p] ~= '' then
        fence = redis.pcall('HGET', meta, 'fence')
        if type(fence) == 'table' then seq = fence; fence = false end
        break
      end
    end
  end
  if type(seq) == 'table' then
    for _ = 1, c do out[#out + 1] = 'E' .. seq.err end
  else
    local ttl
    local keyed = {}
    for p = first, a - 1, 2 do
      local t, token, expected, key = defaultTtl, '', '', ''
      if ARGV[p + 1] ~= '' then
        t, token, expected, key = string.match(ARGV[p + 1], '^(%d*),(%d*),(%d*),(.*)$')
        if t == '' then t = defaultTtl end
      end
      if token ~= '' and fence and tonumber(token) < tonumber(fence) then
        out[#out + 1] = 'F' .. fence
      elseif expected ~= '' and tonumber(expected) ~= seq then
        out[#out + 1] = 'C' .. seq
      else
        local added = redis.pcall('XADD', events, (seq + 1) .. '-0', 'e', ARGV[p])
        if type(added) == 'table' and added.err then
          out[#out + 1] = 'E' .. added.err
        else
          seq = seq + 1
          if key ~= '' then keyed[#keyed + 1] = 'k:' .. key; keyed[#keyed + 1] = seq end
          ttl = tonumber(t)
          out[#out + 1] = seq
        end
      end
    end
    if ttl then
      if #keyed > 0 then redis.call('HSET', meta, unpack(keyed)) end
      local left = redis.call('PTTL', events)
      if #keyed > 0 or left < 0 or math.abs(ttl - left) > math.min(1000, ttl / 100) then
        redis.call('PEXPIRE', events, ttl)
        redis.call('PEXPIRE', meta, ttl)
      end
      touched[#touched + 1] = ARGV[4]; touched[#touched + 1] = member
    end
  end
end
if withIndex and #touched > 0 then
  local added = redis.pcall('ZADD', KEYS[2], 'GT', unpack(touched))
  if type(added) == 'table' and added.err then out[1] = added.err end
end
if entries > 0 then
  local ok, failed = pcall(function()
    for i = groupsEnd + 1, #ARGV, 9 do
      local seq = out[1 + tonumber(ARGV[i])]
      if type(seq) == 'number' then
        oaoIndexPut(ARGV[7], ARGV[4], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3], ARGV[i + 4], seq,
          ARGV[i + 5], ARGV[i + 6], ARGV[i + 7], ARGV[i + 8])
      end
    end
    oaoIndexPurge(ARGV[7], ARGV[4], 64)
  end)
  if not ok then
    local message = type(failed) == 'table' and failed.err or tostring(failed)
    out[1] = string.gsub(message, '\\n', ' ')
  end
end
local reply = table.concat(out, '\\n')
redis.call('SET', KEYS[1], reply, 'PX', ARGV[1])
return reply
`;

/**
 * Adds the direct appends of one tick (see `_fast_appends.ts`): each with the
 * stream id its store proposed, so the script only adds (no length read, no
 * expiry read, no batch record). An id that is taken or a log that no longer
 * exists is reported, not worked around: that append then takes
 * {@linkcode APPEND}. Running the script again adds nothing twice: an id
 * already holding the same event is reported as stored.
 *
 * KEYS: for each append its events stream, then its meta hash when it sets
 * the expiry.
 * ARGV: for each append its stream id (`<seq>-0`), its event JSON and the
 * retention to set (ms), or `""` to leave the expiry alone.
 * Reply: lines, one per append, in order: `S` (stored), `T` (id taken by
 * another event), `M` (no log: it expired) or `E<message>` (failed).
 */
const DIRECT = `
local out = {}
local k = 1
for a = 1, #ARGV, 3 do
  local events, id, json, ttl = KEYS[k], ARGV[a], ARGV[a + 1], ARGV[a + 2]
  k = k + 1
  if ttl ~= '' then
    redis.call('PEXPIRE', events, ttl)
    redis.call('PEXPIRE', KEYS[k], ttl)
    k = k + 1
  end
  local added = redis.pcall('XADD', events, 'NOMKSTREAM', id, 'e', json)
  if type(added) == 'string' then
    out[#out + 1] = 'S'
  elseif not added then
    out[#out + 1] = 'M'
  elseif string.find(added.err, 'equal or smaller', 1, true) then
    local entry = redis.call('XRANGE', events, id, id)[1]
    local fields = entry and entry[2] or {}
    out[#out + 1] = (fields[1] == 'e' and fields[2] == json) and 'S' or 'T'
  else
    out[#out + 1] = 'E' .. added.err
  end
end
return table.concat(out, '\\n')
`;

/** A group-commit script. */
export interface _BatchScript {
  lua: string;
  sha: string;
}

function _script(lua: string): _BatchScript {
  return { lua, sha: createHash("sha1").update(lua).digest("hex") };
}

/** The group-commit scripts. */
export const _BATCH_SCRIPTS: {
  append: _BatchScript;
  direct: _BatchScript;
} = {
  append: _script(APPEND),
  direct: _script(DIRECT),
};

interface _Ioredis {
  Command: typeof IoredisCommand;
  ReplyError: typeof IoredisReplyError;
}

let ioredis: _Ioredis | undefined;

/**
 * Whether a first attempt must look its batch record up: when the client may
 * send a command again by itself (a Cluster client after a closed connection,
 * a standalone client with `autoResendUnfulfilledCommands`).
 *
 * @param client The client.
 * @returns True when the client may resend.
 */
export function _mayResend(client: RedisClient): boolean {
  return client.isCluster || (client as Redis).options.autoResendUnfulfilledCommands !== false;
}

/**
 * Runs a group-commit script.
 *
 * @param client The client.
 * @param script The script.
 * @param keys Its keys (the batch record first).
 * @param args Its arguments (the record lifetime, then `1` to look the record up first…).
 * @returns The lines of the reply.
 */
export async function _runBatchScript(
  client: RedisClient,
  script: _BatchScript,
  keys: string[],
  args: (string | number)[],
): Promise<string[]> {
  ioredis ??= await import("ioredis");
  const { Command } = ioredis;
  const send = (name: "evalsha" | "eval", body: string) =>
    client.sendCommand(
      new Command(name, [body, keys.length, keys, args], { replyEncoding: "utf8" }),
    ) as Promise<string>;
  let reply: string;
  try {
    reply = await send("evalsha", script.sha);
  } catch (error) {
    // NOSCRIPT: not executed, so sending the script itself is safe.
    if (!(error instanceof Error) || !error.message.startsWith("NOSCRIPT")) throw error;
    reply = await send("eval", script.lua);
  }
  return reply.split("\n");
}

/**
 * The error of one write of a batch, as ioredis reports a failed command.
 *
 * @param message The message Redis gave.
 * @returns A `ReplyError`.
 */
export function _replyError(message: string): Error {
  return new ioredis!.ReplyError(message);
}
