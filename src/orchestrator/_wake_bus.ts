// Waking the durable waits of executions (signals, approvals) without one
// store subscription per wait. Internal.
//
// A wait used to follow its execution's log with a subscription of its own:
// on Redis a blocking XREAD and so a connection per waiting execution (10,000
// waiting executions exhausted Redis' 10,000 clients), on Deno KV a poll per
// waiting execution every 100 ms. Now whoever appends what a wait waits for
// (a SIGNAL_RECEIVED, an APPROVAL_DECIDED) also appends a small WAKE event,
// naming the execution, to a wake log shared by every process on the stores
// (`wake()`); each orchestrator follows that log with one subscription
// (`WakeBus`) and wakes its waits of the named execution, which then read
// their own log as before. The log holds the name only: what is woken reads
// the truth from its execution's log.
//
// Wake logs are per 10-minute bucket of time (`system-wake-<bucket>`), each
// expiring 30 minutes after its last append, so that none grows without
// end; the bus follows the previous and the current bucket (processes whose
// clocks differ by less than the bucket agree on one of them), and moves on
// at each boundary. Buckets follow the machine's clock (not an injected
// one: every process must agree on them). A wait registers with the bus (which has then read the
// tail of both logs) before it reads its execution's log: a wake appended
// after that is seen by the bus, one appended before it follows the append
// the wait reads.
import type { Logger } from "@logtape/logtape";
import type { Clock, TimerId } from "../clock.ts";
import type { EventStore } from "../events/event_store.ts";

/** Width of a wake log's time bucket. */
export const WAKE_BUCKET_MS = 600_000;
const WAKE_RETENTION_SECONDS = 1_800;
const RETRY_MS = 1_000;
// How long the bus keeps following once no wait is registered: waits come and
// go (a wait that is woken registers again at once), and following again
// costs two reads and new subscriptions on the path of every signal.
const LINGER_MS = 10_000;

/** The id of the wake log of the bucket `index`. */
export function wakeLogId(index: number): string {
  return `system-wake-${index}`;
}

/**
 * Wakes the waits of `executionId` in every process on the store.
 *
 * @param store The event store.
 * @param executionId The execution whose waits have something new to read.
 * @param now Epoch ms now.
 */
export async function wake(store: EventStore, executionId: string, now: number): Promise<void> {
  await store.appendEvent(
    wakeLogId(Math.floor(now / WAKE_BUCKET_MS)),
    { type: "WAKE", data: { executionId } },
    { expire: WAKE_RETENTION_SECONDS },
  );
}

/** The waits of one process, woken by one subscription per wake log. */
export class WakeBus {
  readonly #store: EventStore;
  readonly #log: Logger;
  readonly #listeners = new Map<string, Set<() => void>>();
  #count = 0;
  #following: Following | undefined;
  #linger: ReturnType<typeof setTimeout> | undefined;

  constructor(store: EventStore, log: Logger) {
    this.#store = store;
    this.#log = log;
  }

  /**
   * Calls `onWake` each time the waits of `executionId` are woken, until the
   * returned function is called. Resolves once every wake appended from now
   * on will be seen.
   */
  async listen(executionId: string, onWake: () => void): Promise<() => void> {
    let set = this.#listeners.get(executionId);
    if (!set) this.#listeners.set(executionId, set = new Set());
    const listener = () => onWake();
    set.add(listener);
    this.#count++;
    if (this.#linger !== undefined) clearTimeout(this.#linger);
    this.#linger = undefined;
    const following = this.#following ??= this.#follow();
    let removed = false;
    const unlisten = () => {
      if (removed) return;
      removed = true;
      set.delete(listener);
      if (set.size === 0) this.#listeners.delete(executionId);
      if (--this.#count === 0) this.#idle();
    };
    try {
      await following.ready;
    } catch (error) {
      unlisten();
      throw error;
    }
    return unlisten;
  }

  /**
   * Registers a wait of `executionId`: every wake from now on counts. Its
   * `wait` resolves at the first wake since the registration (at once when
   * there was one), at `deadline` on `clock`, or when `signal` aborts.
   * `stop` ends the registration.
   */
  async watch(executionId: string, clock: Clock, signal: AbortSignal): Promise<WakeWatch> {
    let woken = false;
    let onWake: (() => void) | undefined;
    const stop = await this.listen(executionId, () => {
      woken = true;
      onWake?.();
    });
    return {
      stop,
      again: () => {
        woken = false;
      },
      wait: (deadline) =>
        new Promise<void>((resolve) => {
          if (woken || signal.aborted) return resolve();
          let timer: TimerId | undefined;
          const finish = () => {
            if (timer !== undefined) clock.clearTimeout(timer);
            signal.removeEventListener("abort", finish);
            onWake = undefined;
            resolve();
          };
          onWake = finish;
          signal.addEventListener("abort", finish, { once: true });
          if (deadline !== null) {
            timer = clock.setTimeout(finish, Math.max(0, deadline - clock.now()));
          }
        }),
    };
  }

  /** Wakes the waits of `executionId` in this process only (it runs the execution). */
  notify(executionId: string): void {
    for (const listener of this.#listeners.get(executionId) ?? []) listener();
  }

  /** Stops following the wake logs (a later `listen` starts again). */
  close(): void {
    if (this.#linger !== undefined) clearTimeout(this.#linger);
    this.#linger = undefined;
    const following = this.#following;
    this.#following = undefined;
    if (!following) return;
    following.stop.abort();
    clearTimeout(following.timer);
  }

  // No wait is registered: stop following unless one registers soon. The
  // timer does not keep the process alive.
  #idle(): void {
    if (this.#linger !== undefined) clearTimeout(this.#linger);
    this.#linger = setTimeout(() => {
      this.#linger = undefined;
      if (this.#count === 0) this.close();
    }, LINGER_MS);
    Deno.unrefTimer(this.#linger);
  }

  // Follows the previous and the current bucket from their tails; at each
  // boundary, the new bucket from its start.
  #follow(): Following {
    const stop = new AbortController();
    const following: Following = { stop, ready: Promise.resolve() };
    const bucket = Math.floor(Date.now() / WAKE_BUCKET_MS);
    following.ready = (async () => {
      const tails = await Promise.all(
        [bucket - 1, bucket].map(async (b) => (await this.#store.latest(wakeLogId(b)))?.seq ?? 0),
      );
      this.#tail(bucket - 1, tails[0]!, stop.signal, WAKE_BUCKET_MS);
      this.#tail(bucket, tails[1]!, stop.signal, 2 * WAKE_BUCKET_MS);
    })();
    following.ready.catch(() => {
      if (this.#following === following) this.#following = undefined;
    });
    const next = (b: number) => {
      following.timer = setTimeout(() => {
        if (stop.signal.aborted) return;
        this.#tail(b, 0, stop.signal, 2 * WAKE_BUCKET_MS);
        next(b + 1);
      }, Math.max(0, b * WAKE_BUCKET_MS - Date.now()));
    };
    next(bucket + 1);
    return following;
  }

  // Reads one wake log from `afterSeq` for `forMs` (then the next buckets
  // cover it), retrying when the store fails.
  #tail(bucket: number, afterSeq: number, stop: AbortSignal, forMs: number): void {
    const id = wakeLogId(bucket);
    const done = new AbortController();
    const timer = setTimeout(() => done.abort(), forMs);
    const signal = AbortSignal.any([stop, done.signal]);
    void (async () => {
      let seq = afterSeq;
      while (!signal.aborted) {
        try {
          for await (const event of this.#store.subscribe(id, { afterSeq: seq, signal })) {
            seq = event.seq;
            const executionId = (event.data as { executionId?: unknown } | undefined)?.executionId;
            if (typeof executionId === "string") this.notify(executionId);
          }
        } catch (error) {
          if (signal.aborted) break;
          this.#log.warn("Cannot read the wake log {id}: {message}; retrying", {
            id,
            message: error instanceof Error ? error.message : String(error),
          });
        }
        if (!signal.aborted) await pause(RETRY_MS, signal);
      }
      clearTimeout(timer);
    })();
  }
}

/** A wait registered with the {@linkcode WakeBus}. */
export interface WakeWatch {
  /**
   * Resolves at the first wake since the registration (or since `again`), at
   * `deadline`, or when the run stops.
   */
  wait(deadline: number | null): Promise<void>;
  /** Forgets the wakes seen so far: call it before reading what a wake announces. */
  again(): void;
  /** Ends the registration. */
  stop(): void;
}

interface Following {
  stop: AbortController;
  /** Resolves once the tails of the wake logs are read. */
  ready: Promise<void>;
  /** The next bucket boundary. */
  timer?: ReturnType<typeof setTimeout>;
}

function pause(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    }
    signal.addEventListener("abort", done, { once: true });
  });
}
