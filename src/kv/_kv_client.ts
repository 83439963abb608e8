/**
 * What every KV store does with its database: open it on first use (a path,
 * shared within the process, or a borrowed `Deno.Kv`), refuse calls once
 * closed, retry while another program holds the file locked, and report the
 * database's failures as {@linkcode StoreUnavailableError} naming the path.
 *
 * @module
 */
import { type Clock, systemClock } from "../clock.ts";
import { OaoError } from "../oao_error.ts";
import { StoreUnavailableError } from "../persistence/store_errors.ts";
import { type _Bus, _busOf } from "./_bus.ts";
import type { KvStoreOptions } from "./kv_store_options.ts";
import { DEFAULT_KV_PATH, openKv, type SharedKv } from "./open_kv.ts";

const DEFAULT_UNAVAILABLE_AFTER_MS = 15_000;

/** @internal The database of one store. */
export class _KvClient {
  /** The store's clock. */
  readonly clock: Clock;
  /** First element of every key. */
  readonly prefix: string;
  /** Aborted when `close()` starts: the store refuses new calls and ends its waits. */
  readonly closing: AbortController = new AbortController();
  #store: string;
  #path: string;
  #borrowed: Deno.Kv | undefined;
  #shared: SharedKv | undefined;
  #opening: Promise<Deno.Kv> | undefined;
  /** Set once `close()` released the database: nothing runs any more. */
  #released = false;
  #unavailableAfterMs: number;
  #active = new Set<Promise<unknown>>();
  #closed: Promise<void> | undefined;

  /**
   * @param store The store's class name, for messages.
   * @param options Database, prefix, clock.
   */
  constructor(store: string, options: KvStoreOptions) {
    this.#store = store;
    this.clock = options.clock ?? systemClock;
    this.prefix = options.keyPrefix ?? "oao";
    if (typeof this.prefix !== "string" || this.prefix.length === 0) {
      throw new TypeError(
        `Invalid ${store} option "keyPrefix" ${String(this.prefix)}: expected a non-empty string`,
      );
    }
    this.#borrowed = options.kv;
    this.#path = options.kv ? "the Deno.Kv given as option kv" : options.path ?? DEFAULT_KV_PATH;
    this.#unavailableAfterMs = options.unavailableAfterMs ?? DEFAULT_UNAVAILABLE_AFTER_MS;
    if (!Number.isFinite(this.#unavailableAfterMs) || this.#unavailableAfterMs < 0) {
      throw new RangeError(
        `Invalid ${store} option "unavailableAfterMs" ${this.#unavailableAfterMs}: expected a number ≥ 0`,
      );
    }
  }

  /** Whether `close()` was called (the work in flight may still be finishing). */
  get closed(): boolean {
    return this.closing.signal.aborted;
  }

  /** The database file, for messages. */
  get where(): string {
    return this.#shared?.path ?? this.#path;
  }

  /**
   * The database, opened on first use.
   *
   * @throws {StoreUnavailableError} When closed or when it cannot be opened.
   */
  kv(operation: string): Promise<Deno.Kv> {
    if (this.#released) return Promise.reject(this.closedError(operation));
    if (this.#borrowed) return Promise.resolve(this.#borrowed);
    if (this.#shared) return Promise.resolve(this.#shared.kv);
    this.#opening ??= openKv(this.#path).then((shared) => {
      if (this.#released) {
        shared.release();
        throw this.closedError(operation);
      }
      this.#shared = shared;
      return shared.kv;
    }).finally(() => this.#opening = undefined);
    return this.#opening;
  }

  /** The in-process wake-ups of the database. */
  async bus(operation: string): Promise<_Bus> {
    return _busOf(await this.kv(operation));
  }

  /**
   * Runs `fn` on the database; runs it again while the file is locked by
   * another program (up to `unavailableAfterMs`), so `fn` must be safe to
   * repeat.
   *
   * @throws {StoreUnavailableError} When closed, or when the database stays
   *   locked or fails (the cause says how); errors of `fn` itself unchanged.
   */
  run<T>(operation: string, fn: (kv: Deno.Kv) => Promise<T>): Promise<T> {
    const running = this.#run(operation, fn);
    this.#active.add(running);
    const forget = () => this.#active.delete(running);
    running.then(forget, forget);
    return running;
  }

  async #run<T>(operation: string, fn: (kv: Deno.Kv) => Promise<T>): Promise<T> {
    const kv = await this.kv(operation);
    // Real time, not the store's clock: what is waited for is another
    // process's SQLite transaction, which runs on real time whatever the clock.
    const started = performance.now();
    for (let attempt = 1;; attempt++) {
      try {
        return await fn(kv);
      } catch (error) {
        if (!_isDatabaseError(error)) throw error;
        // SQLite's "database is locked": another connection writes (at once
        // when a transaction's snapshot went stale; after a 5 s busy timeout
        // when a writer holds the file).
        if (_isLocked(error) && !this.closed) {
          if (performance.now() - started < this.#unavailableAfterMs) {
            const ms = attempt <= 3 ? Math.random() * 2 : Math.min(500, 5 * 2 ** attempt);
            await new Promise((resolve) => setTimeout(resolve, ms));
            continue;
          }
        }
        throw new StoreUnavailableError(`${operation} on Deno KV "${this.where}"`, {
          cause: error,
        });
      }
    }
  }

  /**
   * Ends the store's waits (`closing`), runs `drain` (the store finishes what
   * it accepted), lets the operations in flight finish, then releases the
   * database (unless borrowed). Idempotent.
   */
  async close(drain?: () => Promise<void>): Promise<void> {
    if (this.closed) return await this.#closed;
    this.closing.abort();
    this.#closed = (async () => {
      await drain?.().catch(() => {});
      await this.#opening?.catch(() => {});
      while (this.#active.size > 0) await Promise.allSettled([...this.#active]);
      this.#released = true;
      this.#shared?.release();
      this.#shared = undefined;
    })();
    await this.#closed;
  }

  /** The error of a call made after `close()`. */
  closedError(operation: string): StoreUnavailableError {
    return new StoreUnavailableError(operation, {
      cause: new Error(`the ${this.#store} is closed`),
    });
  }
}

/**
 * Errors of the database itself (not of our arguments): SQLite, I/O, a closed
 * handle. Deno KV reports some of them as `TypeError`s ("database is locked",
 * "Database is closed").
 */
function _isDatabaseError(error: unknown): boolean {
  if (!(error instanceof Error) || error instanceof OaoError || error instanceof RangeError) {
    return false;
  }
  return !(error instanceof TypeError) || _isLocked(error) ||
    /closed|I\/O|disk/i.test(error.message);
}

function _isLocked(error: unknown): boolean {
  return error instanceof Error && /database is locked|busy/i.test(error.message);
}
