/**
 * Opens the Deno KV file the KV stores share: one `Deno.Kv` per path within a
 * process (the event store, the persistence adapter and the job queue of one
 * process use one SQLite connection), created with its parent directory on
 * first use and closed when the last user releases it.
 *
 * Every failure to open names the path and what to do: Deno KV not enabled
 * (`--unstable-kv`), a permission missing, a file that is not a Deno KV
 * database (damaged, or another program's file), a file another program holds
 * locked, a path that cannot be a file. They are reported as
 * {@linkcode StoreUnavailableError} (the environment's failure: fix it, then
 * resume), whose `cause` says why.
 *
 * @example
 * ```ts
 * import { openKv } from "./open_kv.ts";
 * const dir = await Deno.makeTempDir();
 * const db = await openKv(`${dir}/state/oao.kv`);
 * await db.kv.set(["hello"], "world");
 * db.release();
 * await Deno.remove(dir, { recursive: true });
 * ```
 *
 * @module
 */
import { dirname, resolve } from "node:path";
import { StoreUnavailableError } from "../persistence/store_errors.ts";

/** Where the KV stores keep their data unless told otherwise (relative to the working directory). */
export const DEFAULT_KV_PATH = "./.oao/oao.kv";

/** A share of an open Deno KV database (see {@linkcode openKv}). */
export interface SharedKv {
  /** The database. Close it through {@linkcode SharedKv.release}, not directly. */
  readonly kv: Deno.Kv;
  /** The absolute path of its file (or `":memory:"`). */
  readonly path: string;
  /** Gives up this share; the database closes when the last share is released. Idempotent. */
  release(): void;
}

interface _Open {
  kv: Promise<Deno.Kv>;
  shares: number;
}

const open = new Map<string, _Open>();

/**
 * Opens the Deno KV database at `path`, or shares the one this process has
 * open there. The parent directory is created if missing. `":memory:"` opens
 * a private in-memory database (never shared).
 *
 * @param path The file, absolute or relative to the working directory.
 * @returns A share of the database; call `release()` when done.
 * @throws {TypeError} When `path` is not a non-empty string.
 * @throws {StoreUnavailableError} When the database cannot be opened; the
 *   message names the path and what to do (`--unstable-kv`, permissions, a
 *   damaged or locked file, a directory in the way).
 *
 * @example
 * ```ts
 * import { openKv } from "./open_kv.ts";
 * const a = await openKv(":memory:");
 * await a.kv.set(["k"], 1);
 * console.assert((await a.kv.get(["k"])).value === 1);
 * a.release();
 * ```
 */
export async function openKv(path: string): Promise<SharedKv> {
  if (typeof path !== "string" || path.length === 0) {
    throw new TypeError(
      `Invalid Deno KV path ${JSON.stringify(path) ?? String(path)}: expected a non-empty string`,
    );
  }
  const full = path === ":memory:" ? path : resolve(path);
  if (full === ":memory:") {
    return await _share({ kv: _open(full), shares: 0 }, { path: full, shared: false });
  }
  let entry = open.get(full);
  if (!entry) {
    entry = { kv: _open(full), shares: 0 };
    open.set(full, entry);
    const created = entry;
    created.kv.catch(() => {
      if (open.get(full) === created) open.delete(full);
    });
  }
  return await _share(entry, { path: full, shared: true });
}

async function _share(
  entry: _Open,
  share: { path: string; shared: boolean },
): Promise<SharedKv> {
  const { path, shared } = share;
  entry.shares++;
  let kv: Deno.Kv;
  try {
    kv = await entry.kv;
  } catch (error) {
    entry.shares--;
    throw error;
  }
  let released = false;
  return {
    kv,
    path,
    release() {
      if (released) return;
      released = true;
      if (--entry.shares > 0) return;
      if (shared && open.get(path) === entry) open.delete(path);
      try {
        kv.close();
      } catch { /* already closed */ }
    },
  };
}

async function _open(path: string): Promise<Deno.Kv> {
  const fail = (reason: string, cause?: unknown): never => {
    throw new StoreUnavailableError(`openKv("${path}")`, {
      cause: new Error(`Cannot open Deno KV "${path}": ${reason}`, { cause }),
    });
  };
  if (typeof Deno.openKv !== "function") {
    fail(
      `Deno KV is not enabled in this Deno; run it with --unstable-kv (or add "unstable": ["kv"] to deno.json)`,
    );
  }
  if (path !== ":memory:") {
    const dir = dirname(path);
    try {
      await Deno.mkdir(dir, { recursive: true });
    } catch (error) {
      if (_isPermission(error)) fail(_permissionHint(error, path), error);
      fail(
        `cannot create its directory "${dir}" (${_message(error)}); choose a writable path`,
        error,
      );
    }
  }
  try {
    return await Deno.openKv(path);
  } catch (error) {
    return fail(_explain(error, path), error);
  }
}

/** What an error of `Deno.openKv` means for the user, and what to do. */
function _explain(error: unknown, path: string): string {
  if (_isPermission(error)) return _permissionHint(error, path);
  const message = _message(error);
  if (/not a database|malformed|corrupt/i.test(message)) {
    return `${message}: the file is damaged or is not a Deno KV database; move it away (or restore a backup) and retry`;
  }
  if (/locked|busy/i.test(message)) {
    return `${message}: another program holds the file locked; stop it, or use another path`;
  }
  if (/unable to open|is a directory|read-only|readonly/i.test(message)) {
    return `${message}: the path cannot be opened as a writable file (a directory? a read-only location?); choose a writable file path`;
  }
  return message;
}

function _isPermission(error: unknown): boolean {
  return error instanceof Deno.errors.NotCapable || error instanceof Deno.errors.PermissionDenied;
}

function _permissionHint(error: unknown, path: string): string {
  return `${_message(error)}; grant read and write access to "${
    dirname(path)
  }" (for example --allow-read --allow-write=${dirname(path)})`;
}

function _message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
