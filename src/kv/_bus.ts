/**
 * In-process wake-ups of the KV stores: a store that commits a change to a
 * topic (an execution's log, a queue) wakes the subscriptions and blocked
 * reserves of every store of this process on the same `Deno.Kv` at once.
 * Other processes on the same file notice by polling: `Deno.Kv.watch` on the
 * SQLite backend of Deno 2.9.6 reports only the writes of its own process
 * (measured: a watcher saw none of the five writes another process made over
 * 15 s), so it adds nothing this bus does not do, and watching a key per
 * execution would cost one more write per commit.
 *
 * A waiter listens before it reads (see {@linkcode _Bus.listen}), so a change
 * committed between its read and its wait is never missed.
 *
 * @module
 */
import type { Clock, TimerId } from "../clock.ts";

/** @internal One registration on a topic. */
export interface _Ticket {
  /** Whether a change was announced since {@linkcode _Bus.listen}. */
  readonly fired: boolean;
  /**
   * Resolves once a change was announced (at once if one was), after `ms` on
   * `clock` (never for `Infinity`), or when `signal` aborts; then the ticket
   * is closed.
   */
  wait(options: { ms: number; clock: Clock; signal?: AbortSignal | undefined }): Promise<void>;
  /** Stops listening. Idempotent. */
  close(): void;
}

/** @internal Listeners per topic, for one database within this process. */
export class _Bus {
  #topics = new Map<string, Set<() => void>>();

  /** Starts listening to a topic; the ticket fires on the next announced change. */
  listen(topic: string): _Ticket {
    let fired = false;
    let wake: (() => void) | undefined;
    const onChange = () => {
      fired = true;
      wake?.();
    };
    let listeners = this.#topics.get(topic);
    if (!listeners) this.#topics.set(topic, listeners = new Set());
    listeners.add(onChange);
    const set = listeners;
    const close = () => {
      set.delete(onChange);
      if (set.size === 0 && this.#topics.get(topic) === set) this.#topics.delete(topic);
      wake?.();
    };
    return {
      get fired() {
        return fired;
      },
      wait({ ms, clock, signal }) {
        if (fired || signal?.aborted) {
          close();
          return Promise.resolve();
        }
        return new Promise<void>((resolve) => {
          let timer: TimerId | undefined;
          wake = () => {
            wake = undefined;
            if (timer !== undefined) clock.clearTimeout(timer);
            signal?.removeEventListener("abort", onAbort);
            close();
            resolve();
          };
          const onAbort = () => wake?.();
          signal?.addEventListener("abort", onAbort, { once: true });
          if (Number.isFinite(ms)) timer = clock.setTimeout(() => wake?.(), Math.max(0, ms));
        });
      },
      close,
    };
  }

  /** Announces a change: fires every ticket listening to the topic. */
  notify(topic: string): void {
    const listeners = this.#topics.get(topic);
    if (listeners) { for (const onChange of [...listeners]) onChange(); }
  }
}

const buses = new WeakMap<Deno.Kv, _Bus>();

/** @internal The bus of a database. */
export function _busOf(kv: Deno.Kv): _Bus {
  let bus = buses.get(kv);
  if (!bus) buses.set(kv, bus = new _Bus());
  return bus;
}
