// Which actor of a pooled worker an escaped error belongs to. Internal: the
// pooled worker (actor_worker.ts) runs each actor's runtime inside its own
// async context, which what the actor's code starts from there — promises,
// timers, microtasks, the listeners of its ports — carries along.
//
// - An unhandled rejection is reported in the context that was current when
//   the promise was rejected: it is blamed on that actor alone.
// - An error thrown by a timer or microtask is not (the global `error` event
//   runs outside every context): the timer functions are wrapped, and the
//   callback's own context is read where it throws.
// - What escapes from code that no actor started (the module's own top-level
//   timers, say) has no owner: it still fails the whole worker.
//
// Timers are not cleared when their actor leaves the worker: a module-level
// object (a batcher, a cache, a client) may have started its timer while
// serving that actor and serve the others with it. An error of a timer or
// promise of an actor that has left is the departed actor's: it is dropped.
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

/** @internal The owners of the code running in a pooled worker. */
export class _PoolOwners<T extends object> {
  #storage: Storage<T>;
  #blame: (owner: T, error: unknown) => void;

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

  /**
   * Replaces the scope's `setTimeout`, `setInterval` and `queueMicrotask`
   * with ones whose callbacks' errors are blamed on their owner. A scope that
   * will not take them (an actor's module froze it) keeps its own: errors of
   * its timers then fail the worker, as before blame existed.
   */
  install(scope: typeof globalThis): void {
    const g = scope as unknown as Record<string, unknown>;
    const setTimeout = g.setTimeout as TimerFn;
    const setInterval = g.setInterval as TimerFn;
    const queueMicrotask = g.queueMicrotask as (callback: () => void) => void;
    try {
      g.setTimeout = this.#timer(setTimeout);
      g.setInterval = this.#timer(setInterval);
      g.queueMicrotask = (callback: () => void) => {
        const owner = this.current();
        if (owner === undefined || typeof callback !== "function") return queueMicrotask(callback);
        queueMicrotask(() => this.#call(owner, callback, []));
      };
    } catch {
      // frozen: see above
    }
  }

  #timer(start: TimerFn): TimerFn {
    return (handler, timeout, ...args) => {
      const owner = this.current();
      if (owner === undefined || typeof handler !== "function") {
        return start(handler, timeout, ...args);
      }
      const callback = handler as (...args: unknown[]) => unknown;
      return start(() => this.#call(owner, callback, args), timeout);
    };
  }

  #call(owner: T, callback: (...args: unknown[]) => unknown, args: unknown[]): void {
    this.#storage.run(owner, () => {
      try {
        callback.apply(globalThis, args);
      } catch (error) {
        this.#blame(owner, error);
      }
    });
  }
}
