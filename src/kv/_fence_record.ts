/**
 * The fencing token and claim of an execution in `KvEventStore`: one record
 * per execution (`[p, "ef", <executionId>]`), changed by `fence`, `claim`,
 * `renewClaim` and `releaseClaim` with a versionstamp check, and checked by
 * every append that carries a fencing token (in the same atomic commit).
 *
 * A record belongs to one generation of the log. It applies while that
 * generation is alive, or — written before the generation's first event —
 * until `x` (the store's retention after it was written), like the log the
 * in-memory store creates for a fence or claim. When the log dies, the
 * record dies with it: tokens and claims start afresh with the next
 * generation, as they do in the other stores.
 *
 * @module
 */
import { CorruptDataError } from "../persistence/store_errors.ts";
import type { ClaimRequest, ClaimResult } from "../events/event_store.ts";
import { _mayReplace } from "../events/_event_codec.ts";
import type { _LogHead } from "./_event_log.ts";

/** @internal The stored record. */
export interface _FenceRecord {
  /** The generation of the log it belongs to. */
  g: number;
  /** The newest fencing token. */
  f: number;
  /** Expiry while the generation has no live event (store clock, ms). */
  x: number;
  /** Deno KV deletes the record no earlier than this. */
  k: number;
  /** The claim: owner, its token, until when. */
  c?: { o: string; t: number; u: number };
}

/** @internal A record as read, with its versionstamp for the commit's check. */
export interface _FenceEntry {
  value: _FenceRecord | null;
  versionstamp: string | null;
}

/** @internal Whether a log's head is alive at `now`. */
export function _alive(head: _LogHead | undefined, now: number): head is _LogHead {
  return head !== undefined && head.s > 0 && head.x > now;
}

/**
 * The generation a dead log restarts with: the one after the last one found,
 * or a later one a record was written for (its older events were deleted
 * meanwhile).
 *
 * @internal
 */
export function _nextGen(
  head: _LogHead | undefined,
  at: { record: _FenceRecord | null; now: number },
): number {
  const { record, now } = at;
  const next = (head?.g ?? 0) + 1;
  return record && record.x > now && record.g > next ? record.g : next;
}

/**
 * The record, if it applies to the log's current (or next) generation.
 *
 * @internal
 */
export function _current(
  record: _FenceRecord | null,
  at: { head: _LogHead | undefined; now: number },
): _FenceRecord | undefined {
  const { head, now } = at;
  if (!record) return undefined;
  if (_alive(head, now)) return record.g === head.g ? record : undefined;
  return record.x > now && record.g === _nextGen(head, { record, now }) ? record : undefined;
}

/**
 * Checks a record read from the database.
 *
 * @throws {CorruptDataError} When it is not a fence record.
 * @internal
 */
export function _checkRecord(value: unknown, where: string): _FenceRecord | null {
  if (value === null) return null;
  const r = value as Partial<_FenceRecord>;
  if (
    typeof r !== "object" || typeof r.g !== "number" || typeof r.f !== "number" ||
    typeof r.x !== "number" || typeof r.k !== "number" ||
    (r.c !== undefined && (typeof r.c?.o !== "string" || typeof r.c.t !== "number"))
  ) {
    throw new CorruptDataError(where, "the entry is not a fencing record of a Deno KV event log");
  }
  return r as _FenceRecord;
}

/** @internal What a change of the record needs to know. */
export interface _FenceContext {
  /** The applying record, if any. */
  current: _FenceRecord | undefined;
  /** The generation of the live log, or the one a dead log restarts with. */
  gen: number;
  /** Now (store clock). */
  now: number;
  /** Expiry of a record written for a generation without a live event. */
  x: number;
}

/**
 * A record with a newer token, or `undefined` when nothing changes.
 *
 * @internal
 */
export function _raised(ctx: _FenceContext, token: number): _FenceRecord | undefined {
  const { current } = ctx;
  if (current) return token > current.f ? { ...current, f: token } : undefined;
  if (token === 0) return undefined;
  return { g: ctx.gen, f: token, x: ctx.x, k: 0 };
}

/**
 * The outcome of a claim, and the record to write when it is granted.
 *
 * @internal
 */
export function _claimed(
  ctx: _FenceContext,
  request: ClaimRequest,
): { result: ClaimResult; record: _FenceRecord | undefined } {
  const { current, now } = ctx;
  const held = current?.c;
  if (held && !_mayReplace(request, held.o) && held.u > now && held.t >= current.f) {
    return {
      result: { acquired: false, holder: held.o, expiresInMs: held.u - now },
      record: undefined,
    };
  }
  const token = (current?.f ?? 0) + 1;
  const record: _FenceRecord = current
    ? { ...current, f: token }
    : { g: ctx.gen, f: token, x: ctx.x, k: 0 };
  record.c = { o: request.owner, t: token, u: now + request.ttlMs };
  return { result: { acquired: true, token }, record };
}

/**
 * The record with the claim renewed, or `undefined` when the token no longer holds it.
 *
 * @internal
 */
export function _renewed(
  ctx: _FenceContext,
  claim: { token: number; ttlMs: number },
): _FenceRecord | undefined {
  const { token, ttlMs } = claim;
  const { current } = ctx;
  if (current?.c?.t !== token || current.f !== token) return undefined;
  return { ...current, c: { ...current.c, u: ctx.now + ttlMs } };
}

/**
 * The record without the claim, or `undefined` when the token does not hold it.
 *
 * @internal
 */
export function _released(ctx: _FenceContext, token: number): _FenceRecord | undefined {
  const { current } = ctx;
  if (current?.c?.t !== token) return undefined;
  const { c: _, ...rest } = current;
  return rest;
}
