// Which actor of a pooled worker an escaped error belongs to. Internal: the
// pooled worker (actor_worker.ts) runs each actor's runtime inside its own
// async context, so that what the actor's code starts from there — promises,
// timers, microtasks — carries that actor along.
//
// - An unhandled rejection is reported in the context of the code that made
//   the promise: it is blamed on that actor alone.
// - An error thrown by a timer or microtask is not (the global `error` event
//   runs outside every context): the timer functions are wrapped so that the
//   callback's own context is read where it throws.
// - What escapes from elsewhere (a listener of the actor's own channels, code
//   started at module level) has no owner: it still fails the whole worker.
//
// The timers of an actor that left the worker (stopped or failed) are
// cleared, and a callback of one that is still queued does not run: a failed
// actor's interval ticks no more, as in a worker of its own, which parks.
//
// An actor can escape the blame (a timer function taken at module level, a
// context of its own making): its error then fails the worker, as before.
// Only actors of one agent definition share a worker, so this measures
// accidents, not attacks.

type Storage<T> = {
  run<R>(store: T, fn: () => R): R;
  getStore(): T | undefined;
};

/** The constructor of Node's `AsyncLocalStorage`, passed in by the pooled worker's bootstrap. */
export type StorageConstructor = new <T>() => Storage<T>;

type TimerFn = (handler: unknown, timeout?: number, ...args: unknown[]) => number;
type ClearFn = (id?: number) => void;

/** @internal The owners of the code running in a pooled worker. */
export class _PoolOwners<T extends object> {
  #storage: Storage<T>;
  #blame: (owner: T, error: unknown) => void;
  #timers = new Map<T, Set<number>>();
  #gone = new WeakSet<T>();

  /**
   * @param Storage `AsyncLocalStorage`.
   * @param blame Fails one owner with an error thrown by its timer or microtask.
   */
  constructor(Storage: StorageConstructor, blame: (owner: T, error: unknown) => void) {
    this.#storage = new Storage<T>();
    this.#blame = blame;
  }

  /** Runs `fn` as `owner`: what it starts belongs to `owner`. */
  run<R>(owner: T, fn: () => R): R {
    return this.#storage.run(owner, fn);
  }

  /** The owner of the running code, if any. */
  current(): T | undefined {
    return this.#storage.getStore();
  }

  /** `owner` left the worker: its timers are cleared and its queued callbacks skipped. */
  forget(owner: T, clear: ClearFn): void {
    this.#gone.add(owner);
    for (const id of this.#timers.get(owner) ?? []) clear(id);
    this.#timers.delete(owner);
  }

  /** Replaces the scope's timer functions with ones that know their owner. */
  install(scope: typeof globalThis): void {
    const g = scope as unknown as Record<string, unknown>;
    const setTimeout = g.setTimeout as TimerFn;
    const setInterval = g.setInterval as TimerFn;
    const clearTimeout = g.clearTimeout as ClearFn;
    const clearInterval = g.clearInterval as ClearFn;
    const queueMicrotask = g.queueMicrotask as (callback: () => void) => void;
    g.setTimeout = this.#timer(setTimeout, clearTimeout, true);
    g.setInterval = this.#timer(setInterval, clearInterval, false);
    g.clearTimeout = this.#clear(clearTimeout);
    g.clearInterval = this.#clear(clearInterval);
    g.queueMicrotask = (callback: () => void) => {
      const owner = this.current();
      if (owner === undefined || typeof callback !== "function") return queueMicrotask(callback);
      queueMicrotask(() => this.#call(owner, callback, []));
    };
  }

  #timer(start: TimerFn, clear: ClearFn, once: boolean): TimerFn {
    return (handler, timeout, ...args) => {
      const owner = this.current();
      if (owner === undefined || typeof handler !== "function") {
        return start(handler, timeout, ...args);
      }
      if (this.#gone.has(owner)) return start(() => {}, timeout); // an id all the same
      const mine = this.#timers.get(owner) ?? new Set<number>();
      this.#timers.set(owner, mine);
      const id: number = start(() => {
        if (once) mine.delete(id);
        if (this.#gone.has(owner)) return clear(id);
        this.#call(owner, handler as (...args: unknown[]) => unknown, args);
      }, timeout);
      mine.add(id);
      return id;
    };
  }

  #clear(clear: ClearFn): ClearFn {
    return (id) => {
      clear(id);
      const owner = this.current();
      if (owner !== undefined && id !== undefined) this.#timers.get(owner)?.delete(id);
    };
  }

  #call(owner: T, callback: (...args: unknown[]) => unknown, args: unknown[]): void {
    if (this.#gone.has(owner)) return;
    try {
      callback(...args);
    } catch (error) {
      this.#blame(owner, error);
    }
  }
}
