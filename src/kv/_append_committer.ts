/**
 * Group commit of `KvEventStore`: the appends waiting when a commit starts
 * travel together in one atomic operation — many events of many executions —
 * so that the cost of a commit is paid per batch, not per event. One commit
 * is in flight at a time; appends issued meanwhile wait for the next one, so
 * batches grow with the load. Fence and claim changes of the store run
 * between commits ({@linkcode _AppendCommitter.exclusive}).
 *
 * Why by hand: Deno KV has no group commit of its own, and a commit costs
 * about 0.2 ms before its first mutation (measured on a 2-core VM: 4,000
 * single-event commits/s); with this, 1,000 executions appending one event
 * each at a time reach 13,000–16,000 events/s, 0.80–0.89 of raw batched
 * `atomic().set()`s of the same values on the same file (`bench/kv_bench.ts`).
 *
 * ## One commit
 * Per execution: one `set` per event (and one per index key) and, when the
 * log's listing time moved by `LISTING_LAG_MS` or more, the move of its key
 * in the executions listing. What keeps two writers (two stores, two
 * processes) from storing two events at one seq or leaving a gap:
 *
 * - in fast mode (`_log_clock.ts`), one check of the log clock, which every
 *   writer sets: it fails if anyone wrote since this store's last commit;
 * - otherwise, per execution, a check that the slot after the last known
 *   event is still empty (`versionstamp: null`), and of the fence record
 *   when an append carries a fencing token or the log (re)starts.
 *
 * A batch stays within the limits of one atomic operation (`_limits.ts`):
 * 100 checks, 1,000 mutations, 80 KiB of keys, 800 KiB in all; what does not
 * fit waits for the next commit, in order.
 *
 * ## Conflicts
 * A failed check means another writer appended or fenced in between: the
 * batch goes back in front of the pending appends, what the store knew of its
 * executions is read again, and it is committed again — its appends still in
 * the order they were issued. Fencing is decided from the state the
 * successful commit checked, so an append is never refused on a stale token.
 *
 * @module
 */
import {
  CorruptDataError,
  FencedError,
  StaleVersionError,
  StoreUnavailableError,
} from "../persistence/store_errors.ts";
import type { StoredEvent } from "../events/event_store.ts";
import { _rewriteParts } from "./_chunks.ts";
import { _keyText, type _LogHead, type _LogKeys, _readLast, _writeHeader } from "./_event_log.ts";
import {
  _alive,
  _checkRecord,
  _current,
  type _FenceEntry,
  type _FenceRecord,
  _nextGen,
} from "./_fence_record.ts";
import type { _KvClient } from "./_kv_client.ts";
import { _keySize, MAX_BATCH_BYTES, MAX_CHECKS, MAX_KEY_BYTES, MAX_MUTATIONS } from "./_limits.ts";
import { _LogClock } from "./_log_clock.ts";
import { _Remembered } from "./_remembered.ts";
import type { ExecutionIndexEntry } from "../events/execution_index.ts";
import { _liveRef, type _StatusRef, type _StatusValue } from "./_status_index.ts";

/** @internal One append, from the call to its outcome. */
export interface _Append {
  executionId: string;
  /** The event value: room for the header, then UTF-8 JSON or the reference to its parts. */
  value: Uint8Array;
  /** For an event stored in parts: their count and until when Deno KV keeps them. */
  parts: { count: number; until: number } | undefined;
  /** Settles once the parts are written (a failure fails this append alone). */
  ready: Promise<void> | undefined;
  ttlMs: number;
  fencingToken: number | undefined;
  /** Stored only when the log's last seq is this one (`AppendOptions.expectedSeq`). */
  expectedSeq: number | undefined;
  key: string | undefined;
  /** The status index entry it writes, if any (`_status_index.ts`). */
  index: ExecutionIndexEntry | undefined;
  /** Store clock at the call. */
  time: number;
  /** The stored event, completed with its seq. */
  record: StoredEvent;
  resolve(event: StoredEvent): void;
  reject(error: unknown): void;
}

/** @internal What the committer needs from its store. */
export interface _CommitterHost {
  client: _KvClient;
  keys: _LogKeys;
  /**
   * Rewrites every entry of the log's generation so that Deno KV keeps it
   * until `until` at least (see Retention in `kv_event_store.ts`).
   */
  refresh(
    executionId: string,
    target: { gen: number; head: _LogHead | undefined; until: number },
  ): Promise<void>;
  /** Wakes the subscriptions of these executions. */
  notify(executionIds: Iterable<string>): void;
}

/** A log moves in the executions listing when its last append is this much later than its key. */
export const LISTING_LAG_MS = 30_000;
/** Consecutive conflicting commits before the appends of a batch fail. */
const MAX_CONFLICTS = 200;
/** Heads and fence records kept in memory. */
const CACHE_LIMIT = 50_000;

/**
 * How long before Deno KV may delete a log's entries (`k`) the log may expire
 * (`x`): half the retention, at most a minute (the slack for the time
 * between building a commit and Deno KV applying it).
 *
 * @internal
 */
export function _margin(ttlMs: number): number {
  return Math.min(60_000, ttlMs / 2);
}

interface _Group {
  executionId: string;
  appends: _Append[];
}

/** One execution's part of a commit. */
interface _Plan {
  group: _Group;
  head: _LogHead | undefined;
  alive: boolean;
  /** The fence record as read, when the execution needs it. */
  fenceEntry: _FenceEntry | undefined;
  /** The record, when it applies. */
  fence: _FenceRecord | undefined;
  gen: number;
  /** Until when Deno KV keeps the generation's entries. */
  until: number;
  /** Until when it must keep them for these appends. */
  needed: number;
}

interface _Outcome {
  append: _Append;
  /** Its seq when stored, 0 when refused. */
  seq: number;
  /** The fence that refused it, or 0. */
  fence: number;
  /** The log's last seq, when refused for not being its `expectedSeq`. */
  last?: number;
}

type _RoundOutcome = "committed" | "conflict" | "failed" | "refreshed";

/** @internal Coalesces appends into atomic commits. */
export class _AppendCommitter {
  /** The log clock (fence and claim changes stamp their commits with it). */
  readonly clock: _LogClock;
  #host: _CommitterHost;
  #pending = new Map<string, _Append[]>();
  #jobs: (() => Promise<void>)[] = [];
  #running = false;
  #idle: (() => void)[] = [];
  /** Known heads (`null`: no event found). */
  #heads = new _Remembered<_LogHead | null>(CACHE_LIMIT);
  #fences = new _Remembered<_FenceEntry>(CACHE_LIMIT);
  /** Known references to status index entries (`null`: none alive). */
  #refs = new _Remembered<_StatusRef | null>(CACHE_LIMIT);
  /** Commits of appends made so far. */
  commits = 0;

  constructor(host: _CommitterHost) {
    this.#host = host;
    this.clock = new _LogClock(host.keys.clock());
  }

  /** Queues an append for the next commit. */
  add(append: _Append): void {
    const list = this.#pending.get(append.executionId);
    if (list) list.push(append);
    else this.#pending.set(append.executionId, [append]);
    this.#kick();
  }

  /** Runs `fn` between two commits. */
  exclusive<T>(fn: () => Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.#jobs.push(() => fn().then(resolve, reject));
      this.#kick();
    });
  }

  /** Resolves when no append or job is pending or in flight. */
  drained(): Promise<void> {
    if (!this.#running) return Promise.resolve();
    return new Promise((resolve) => this.#idle.push(resolve));
  }

  /** Forgets what is known of an execution. */
  forget(executionId: string): void {
    this.#heads.delete(executionId);
    this.#fences.delete(executionId);
    this.#refs.delete(executionId);
  }

  /** Records a fence record the store wrote. */
  fenceWritten(executionId: string, entry: _FenceEntry): void {
    this.#fences.remember(executionId, entry);
  }

  #kick(): void {
    if (this.#running) return;
    this.#running = true;
    queueMicrotask(() => this.#loop());
  }

  async #loop(): Promise<void> {
    try {
      let conflicts = 0;
      while (this.#pending.size > 0 || this.#jobs.length > 0) {
        const job = this.#jobs.shift();
        if (job) {
          await job();
          continue;
        }
        const outcome = await this.#round();
        if (outcome === "conflict") {
          if (++conflicts >= MAX_CONFLICTS) {
            this.#failAll(
              new Error(`${conflicts} commits in a row conflicted with other writers`),
            );
          }
          // Let the other writer finish: a macrotask, then a little jitter once it repeats.
          await new Promise((resolve) =>
            setTimeout(resolve, conflicts > 3 ? Math.random() * Math.min(20, conflicts) : 0)
          );
          continue;
        }
        conflicts = 0;
        if (outcome === "committed" && this.#pending.size === 0) {
          // Let the callers of the appends just resolved issue their next ones.
          await new Promise((resolve) => setTimeout(resolve, 0));
        }
      }
    } finally {
      this.#running = false;
      for (const resolve of this.#idle.splice(0)) resolve();
    }
  }

  /** Fails every pending append: with `cause` as a {@linkcode StoreUnavailableError}'s cause. */
  #failAll(cause: unknown): void {
    const pending = this.#pending;
    this.#pending = new Map();
    for (const appends of pending.values()) {
      for (const append of appends) {
        append.reject(
          cause instanceof StoreUnavailableError
            ? cause
            : new StoreUnavailableError(`appendEvent("${append.executionId}")`, { cause }),
        );
      }
    }
  }

  /** One batch: read what is missing, build, commit. */
  async #round(): Promise<_RoundOutcome> {
    const client = this.#host.client;
    const clock = this.clock;
    let batch: _Group[] = [];
    let plans: _Plan[];
    let now: number;
    try {
      if (clock.due) {
        this.#heads.clear();
        this.#fences.clear();
        this.#refs.clear();
        try {
          await client.run("appendEvent: read the log clock", (kv) => clock.enter(kv));
        } catch (error) { // the file cannot be opened or read: every pending append fails
          this.#failAll(error);
          return "failed";
        }
      }
      // One time for the whole round, so that the plan keeps within what was taken.
      now = client.clock.now();
      batch = await this.#ready(this.#take({ fast: clock.fast, now }));
      if (batch.length === 0) return "failed";
      batch = await this.#load(batch, now);
      if (batch.length === 0) return "failed";
      plans = batch.map((group) => this.#plan(group, { now, fast: clock.fast }));
      const prepared = await this.#prepare(plans, now);
      if (!prepared) {
        this.#unshift(batch);
        return "refreshed";
      }
    } catch (error) {
      for (const group of batch) this.forget(group.executionId);
      this.#fail(batch, error);
      return "failed";
    }
    const outcomes: _Outcome[] = [];
    const heads = new Map<string, _LogHead>();
    const refs = new Map<string, _StatusRef>();
    let committed: boolean;
    try {
      committed = await client.run(
        batch.length === 1
          ? `appendEvent("${batch[0]!.executionId}")`
          : `appendEvent("${batch[0]!.executionId}") and ${batch.length - 1} more executions`,
        async (kv) => {
          outcomes.length = 0;
          heads.clear();
          refs.clear();
          const atomic = kv.atomic();
          for (const plan of plans) this.#build(atomic, plan, { now, outcomes, heads, refs });
          const stamp = clock.stamp(atomic);
          const result = await atomic.commit();
          clock.settle(stamp, result);
          return result.ok;
        },
      );
    } catch (error) {
      clock.drop();
      for (const group of batch) this.forget(group.executionId);
      this.#fail(batch, error);
      return "failed";
    }
    if (!committed) {
      for (const group of batch) this.forget(group.executionId);
      this.#unshift(batch);
      return "conflict";
    }
    this.commits++;
    for (const [executionId, head] of heads) this.#heads.remember(executionId, head);
    for (const [executionId, ref] of refs) this.#refs.remember(executionId, ref);
    for (const { append, seq, fence, last } of outcomes) {
      if (seq > 0) {
        append.record.seq = seq;
        append.resolve(append.record);
      } else if (last !== undefined) {
        append.reject(new StaleVersionError(append.executionId, append.expectedSeq!, last));
      } else {
        append.reject(new FencedError(append.executionId, append.fencingToken!, fence));
      }
    }
    this.#host.notify(heads.keys());
    return "committed";
  }

  /** The batch once the parts of its large events are written, without those that failed. */
  async #ready(batch: _Group[]): Promise<_Group[]> {
    const waiting = batch.flatMap((group) => group.appends.filter((append) => append.ready));
    if (waiting.length === 0) return batch;
    const failed = new Map<_Append, unknown>();
    await Promise.all(waiting.map((append) =>
      append.ready!.then(
        () => append.ready = undefined,
        (error: unknown) => failed.set(append, error),
      )
    ));
    if (failed.size === 0) return batch;
    for (const [append, error] of failed) append.reject(error);
    return batch
      .map((group) => ({ ...group, appends: group.appends.filter((a) => !failed.has(a)) }))
      .filter((group) => group.appends.length > 0);
  }

  /**
   * Makes Deno KV keep what the batch relies on long enough: rewrites a log
   * whose entries it would delete before the log expires (then the batch is
   * planned again: `false`), and the parts of large events written before the
   * log was last kept longer.
   */
  async #prepare(plans: _Plan[], now: number): Promise<boolean> {
    let refreshed = false;
    for (const plan of plans) {
      if (plan.needed <= plan.until) continue;
      const ttl = Math.max(...plan.group.appends.map((a) => a.ttlMs));
      await this.#host.refresh(plan.group.executionId, {
        gen: plan.gen,
        head: plan.alive ? plan.head : undefined,
        until: now + 2 * ttl,
      });
      this.forget(plan.group.executionId);
      refreshed = true;
    }
    if (refreshed) return false;
    for (const plan of plans) {
      for (const append of plan.group.appends) {
        if (!append.parts || append.parts.until >= plan.until) continue;
        const prefix = this.#host.keys.parts(append.executionId, append.record.id);
        await _rewriteParts(this.#host.client, prefix, {
          operation: `appendEvent("${append.executionId}")`,
          expireIn: Math.max(1, Math.ceil(plan.until - now)),
        });
        append.parts.until = plan.until;
      }
    }
    return true;
  }

  /** What one execution's part of the commit is based on. */
  #plan(group: _Group, at: { now: number; fast: boolean }): _Plan {
    const { now, fast } = at;
    const { executionId, appends } = group;
    const head = this.#heads.get(executionId) ?? undefined;
    const alive = _alive(head, now);
    const fenced = !alive || appends.some((a) => a.fencingToken !== undefined);
    const fenceEntry = fenced ? this.#fences.get(executionId) : undefined;
    const fence = fenceEntry ? _current(fenceEntry.value, { head, now }) : undefined;
    const gen = alive ? head.g : _nextGen(head, { record: fenceEntry?.value ?? null, now });
    let until: number;
    if (alive) until = head.k;
    else {
      until = now + 2 * Math.max(...appends.map((a) => a.ttlMs));
      if (fence && fence.k > 0 && fence.k < until) until = fence.k;
    }
    let needed = 0;
    for (const a of appends) needed = Math.max(needed, a.time + a.ttlMs + _margin(a.ttlMs));
    return {
      group,
      head,
      alive,
      fenceEntry: fast ? undefined : fenceEntry,
      fence,
      gen,
      until,
      needed,
    };
  }

  /** Adds one execution's appends to the commit (with its checks, unless in fast mode). */
  #build(
    atomic: Deno.AtomicOperation,
    plan: _Plan,
    into: {
      now: number;
      outcomes: _Outcome[];
      heads: Map<string, _LogHead>;
      refs: Map<string, _StatusRef>;
    },
  ): void {
    const { group: { executionId, appends }, head, alive, fenceEntry, fence, gen, until } = plan;
    const keys = this.#host.keys;
    let seq = alive ? head!.s : 0;
    if (!this.clock.fast) {
      atomic.check({ key: keys.event(executionId, { gen, seq: seq + 1 }), versionstamp: null });
      if (fenceEntry) {
        atomic.check({ key: keys.fence(executionId), versionstamp: fenceEntry.versionstamp });
      }
    }
    // The commit's checks make `seq` the log's last seq when it succeeds, so
    // an expected seq is decided atomically with the append.
    const accepted: _Append[] = [];
    for (const append of appends) {
      const token = append.fencingToken;
      const last = seq + accepted.length;
      if (token !== undefined && fence && token < fence.f) {
        into.outcomes.push({ append, seq: 0, fence: fence.f });
      } else if (append.expectedSeq !== undefined && append.expectedSeq !== last) {
        into.outcomes.push({ append, seq: 0, fence: 0, last });
      } else accepted.push(append);
    }
    if (accepted.length === 0) return;
    const last = accepted[accepted.length - 1]!;
    const oldListing = head?.i ?? 0;
    const listing = !alive || last.time - oldListing >= LISTING_LAG_MS ? last.time : oldListing;
    const expireIn = Math.max(1, Math.ceil(until - into.now));
    let indexed: { append: _Append; seq: number } | undefined;
    const known = this.#refs.get(executionId);
    const live = known && known.x > into.now ? known : undefined;
    for (const append of accepted) {
      seq++;
      if (append.index !== undefined && !(append.index.initial && (live || indexed))) {
        indexed = { append, seq };
      }
      const value = append.value;
      _writeHeader(value, {
        x: append.time + append.ttlMs,
        k: until,
        t: append.time,
        i: listing,
        inParts: append.parts !== undefined,
      });
      atomic.set(keys.event(executionId, { gen, seq }), value, { expireIn });
      if (append.key !== undefined) {
        atomic.set([...keys.indexKey(executionId, { gen, key: append.key }), seq], null, {
          expireIn,
        });
      }
      into.outcomes.push({ append, seq, fence: 0 });
    }
    if (listing !== oldListing || !alive) {
      if (oldListing > 0) atomic.delete(keys.listing(oldListing, executionId));
      atomic.set(keys.listing(listing, executionId), null, { expireIn });
    }
    if (indexed) {
      const { append, seq: at } = indexed;
      const index = append.index!;
      const c = live ? live.c : index.createdAt;
      const x = append.time + append.ttlMs;
      const value: _StatusValue = { s: index.status, a: index.agent, x, u: append.time, q: at };
      if (index.waitingFor !== undefined) value.w = index.waitingFor;
      const keep = { expireIn: Math.max(1, Math.ceil(x - into.now + _margin(append.ttlMs))) };
      atomic.set(keys.statusEntry(c, executionId), value, keep);
      atomic.set(keys.statusRef(executionId), { c, x }, keep);
      into.refs.set(executionId, { c, x });
    }
    into.heads.set(executionId, {
      g: gen,
      s: seq,
      x: last.time + last.ttlMs,
      k: until,
      t: last.time,
      i: listing,
    });
  }

  /**
   * Reads the heads (and fence records) the batch needs and the store does
   * not know. Returns the batch without the executions whose data cannot be
   * decoded: their appends fail alone, with the {@linkcode CorruptDataError}.
   */
  async #load(batch: _Group[], now: number): Promise<_Group[]> {
    const client = this.#host.client;
    const keys = this.#host.keys;
    const failed = new Map<string, unknown>();
    const unknown = batch.filter((group) => !this.#heads.has(group.executionId));
    if (unknown.length > 0) {
      const read = await client.run(
        "appendEvent: read log heads",
        (kv) =>
          Promise.all(
            unknown.map(({ executionId }) =>
              _readLast(kv, { keys, executionId }).catch((error: unknown) => {
                if (!(error instanceof CorruptDataError)) throw error;
                failed.set(executionId, error);
                return undefined;
              })
            ),
          ),
      );
      unknown.forEach(({ executionId }, n) => {
        if (!failed.has(executionId)) this.#heads.remember(executionId, read[n]?.head ?? null);
      });
    }
    // Where the status index entries of live logs are (a dead log has none alive).
    const needRef = batch.filter((group) =>
      !failed.has(group.executionId) && !this.#refs.has(group.executionId) &&
      group.appends.some((a) => a.index !== undefined)
    );
    const liveRefs = needRef.filter((group) => {
      if (_alive(this.#heads.get(group.executionId) ?? undefined, now)) return true;
      this.#refs.remember(group.executionId, null);
      return false;
    });
    for (let at = 0; at < liveRefs.length; at += 10) {
      const chunk = liveRefs.slice(at, at + 10);
      const entries = await client.run(
        "appendEvent: read status index references",
        (kv) => kv.getMany<unknown[]>(chunk.map((group) => keys.statusRef(group.executionId))),
      );
      chunk.forEach(({ executionId }, n) => {
        this.#refs.remember(executionId, _liveRef(entries[n]!.value, now) ?? null);
      });
    }
    const needFence = batch.filter((group) =>
      !failed.has(group.executionId) && !this.#fences.has(group.executionId) &&
      (!_alive(this.#heads.get(group.executionId) ?? undefined, now) ||
        group.appends.some((a) => a.fencingToken !== undefined))
    );
    for (let at = 0; at < needFence.length; at += 10) {
      const chunk = needFence.slice(at, at + 10);
      const entries = await client.run(
        "appendEvent: read fence records",
        (kv) => kv.getMany<unknown[]>(chunk.map((group) => keys.fence(group.executionId))),
      );
      chunk.forEach(({ executionId }, n) => {
        const entry = entries[n]!;
        try {
          const where = `${keys.where} ${_keyText(keys.fence(executionId))}`;
          const value = _checkRecord(entry.value, where);
          this.#fences.remember(executionId, { value, versionstamp: entry.versionstamp });
        } catch (error) {
          failed.set(executionId, error);
        }
      });
    }
    if (failed.size === 0) return batch;
    for (const group of batch) {
      const error = failed.get(group.executionId);
      if (error !== undefined) { for (const append of group.appends) append.reject(error); }
    }
    return batch.filter((group) => !failed.has(group.executionId));
  }

  /**
   * Takes the appends of the next commit from the pending ones, in order,
   * within the limits of one atomic operation (with the log clock's check
   * and set).
   */
  #take(at: { fast: boolean; now: number }): _Group[] {
    const { fast, now } = at;
    const batch: _Group[] = [];
    const clockKey = _keySize(this.#host.keys.clock());
    let checks = 1, mutations = 1, keyBytes = 2 * clockKey, bytes = 2 * clockKey + 64;
    for (const [executionId, appends] of this.#pending) {
      const head = this.#heads.get(executionId) ?? undefined;
      const alive = _alive(head, now);
      const plain = alive && !appends.some((a) => a.fencingToken !== undefined);
      const eventKey = _keySize(this.#host.keys.event(executionId, { gen: 0, seq: 0 }));
      const groupChecks = fast ? 0 : plain ? 1 : 2;
      // The listing key deleted and set, when it moves (decided as #build will).
      let latest = 0;
      for (const append of appends) if (append.time > latest) latest = append.time;
      const listingMoves = alive && latest - head.i < LISTING_LAG_MS ? 0 : 2;
      // The status index entry and its reference, when an append writes them.
      const indexed = appends.some((a) => a.index !== undefined);
      const moves = listingMoves + (indexed ? 2 : 0);
      // Index values: the agent's name (≤ 200 characters) and a few numbers.
      const groupKeys = eventKey * (groupChecks + moves) + (indexed ? 700 : 0);
      if (
        checks + groupChecks > MAX_CHECKS || mutations + moves + 1 > MAX_MUTATIONS ||
        keyBytes + groupKeys + eventKey > MAX_KEY_BYTES ||
        bytes + groupKeys + eventKey + appends[0]!.value.length > MAX_BATCH_BYTES
      ) break;
      checks += groupChecks;
      mutations += moves;
      keyBytes += groupKeys;
      bytes += groupKeys;
      let n = 0;
      for (const append of appends) {
        const keyed = append.key === undefined ? 0 : eventKey + append.key.length * 3 + 12;
        const size = eventKey + keyed;
        const value = append.value.length;
        if (
          mutations + (keyed ? 2 : 1) > MAX_MUTATIONS || keyBytes + size > MAX_KEY_BYTES ||
          bytes + size + value > MAX_BATCH_BYTES
        ) break;
        mutations += keyed ? 2 : 1;
        keyBytes += size;
        bytes += size + value;
        n++;
      }
      if (n === 0) break;
      batch.push({ executionId, appends: n === appends.length ? appends : appends.slice(0, n) });
      if (n === appends.length) this.#pending.delete(executionId);
      else {
        appends.splice(0, n);
        break;
      }
    }
    return batch;
  }

  /** Puts a batch back in front of the pending appends, in order. */
  #unshift(batch: _Group[]): void {
    const pending = new Map<string, _Append[]>();
    for (const { executionId, appends } of batch) {
      pending.set(executionId, [...appends, ...(this.#pending.get(executionId) ?? [])]);
    }
    for (const [executionId, appends] of this.#pending) {
      if (!pending.has(executionId)) pending.set(executionId, appends);
    }
    this.#pending = pending;
  }

  #fail(batch: _Group[], error: unknown): void {
    for (const { appends } of batch) for (const append of appends) append.reject(error);
  }
}
