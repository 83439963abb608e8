/**
 * The operators' console's built files (the Preact client of `src/console/`,
 * bundled by `deno bundle` into one script, and its style sheet): built, not
 * committed. The build is kept in the bundle cache (`OAO_BUNDLE_CACHE`,
 * `$DENO_DIR/oao_bundles`, …) under a key of the sources' contents, so a
 * changed source is never served from an old build. `deno task
 * bundle:console` (run by `deno task start`, `serve`, `test` and the
 * Dockerfile) builds it ahead; a server that may write the cache and run
 * `deno` builds it on its first request when it is missing (after a failure,
 * it tries again 30 s later). Internal.
 *
 * @module
 */
import { cacheFile, storeCacheEntry } from "../actor/_bundle_cache.ts";
import { sha256 } from "../actor/_bundle_build.ts";

/** The built console. */
export interface ConsoleBuild {
  /** Content hash of the sources (first 16 hex digits): the assets' names carry it. */
  hash: string;
  /** The bundled script. */
  js: string;
  /** The style sheet. */
  css: string;
}

const FORMAT = "oao-console-1";
const SOURCES = new URL("../console/", import.meta.url);
const ROOT = new URL("../../", import.meta.url);

/** Why the console cannot be served, for the 503 page (public: no server paths in it). */
export class ConsoleUnavailableError extends Error {
  /** What the bundler said, for the server's log and the task's output (not for the page). */
  readonly detail: string | undefined;
  /**
   * @param message What is missing.
   * @param detail What the bundler said.
   */
  constructor(message: string, detail?: string) {
    super(message);
    this.name = "ConsoleUnavailableError";
    this.detail = detail;
  }
}

let pending: Promise<ConsoleBuild> | undefined;
const RETRY_AFTER_MS = 30_000;

/**
 * The console's build: from the cache, else built now when this process may
 * (read the sources, write the cache, run `deno`).
 *
 * @param options `build: false` only reads the cache.
 * @returns The build.
 * @throws {ConsoleUnavailableError} When it is not built and cannot be built here.
 */
export function consoleBuild(options: { build?: boolean } = {}): Promise<ConsoleBuild> {
  if (pending) return pending;
  const attempt = _load(options.build ?? true);
  pending = attempt;
  // A failure is the answer for a while: a public page must not start a build per request.
  attempt.catch(() => {
    const timer = setTimeout(() => {
      if (pending === attempt) pending = undefined;
    }, RETRY_AFTER_MS);
    Deno.unrefTimer(timer);
  });
  return attempt;
}

async function _load(build: boolean): Promise<ConsoleBuild> {
  const sources = await _sources();
  const key = await sha256(`${FORMAT}\n${sources}`);
  const hash = key.slice(0, 16);
  const cached = await cacheFile(key, false, ".console.json");
  if (cached !== undefined) {
    try {
      const entry = JSON.parse(await Deno.readTextFile(cached)) as Partial<ConsoleBuild>;
      if (typeof entry.js === "string" && typeof entry.css === "string") {
        return { hash, js: entry.js, css: entry.css };
      }
    } catch {
      // not built yet, or unreadable: build it
    }
  }
  const target = build ? await cacheFile(key, true, ".console.json") : undefined;
  if (target === undefined || !_granted({ name: "run" })) {
    throw new ConsoleUnavailableError(
      'The console is not built and this process may not build it: run "deno task bundle:console"',
    );
  }
  const js = await _bundle(`${target}.${crypto.randomUUID()}.js`);
  const css = await Deno.readTextFile(new URL("style.css", SOURCES));
  const built = { hash, js, css };
  await storeCacheEntry(target, { format: FORMAT, js, css });
  return built;
}

// Every source file of the console, in a stable order, as one text (the cache key's input).
async function _sources(): Promise<string> {
  if (SOURCES.protocol !== "file:" || !_granted({ name: "read", path: SOURCES })) {
    throw new ConsoleUnavailableError(
      "The console's sources are not readable here (a local checkout of OAO serves it)",
    );
  }
  const files: string[] = [];
  const walk = async (dir: URL, prefix: string) => {
    for await (const entry of Deno.readDir(dir)) {
      if (entry.isDirectory) await walk(new URL(`${entry.name}/`, dir), `${prefix}${entry.name}/`);
      else if (/\.(ts|css)$/.test(entry.name)) files.push(`${prefix}${entry.name}`);
    }
  };
  try {
    await walk(SOURCES, "");
  } catch (error) {
    throw new ConsoleUnavailableError(
      `The console's sources cannot be read: ${(error as Error).message}`,
    );
  }
  files.sort();
  const parts = await Promise.all(
    files.map(async (f) => `${f}\n${await Deno.readTextFile(new URL(f, SOURCES))}`),
  );
  return parts.join("\n\0\n");
}

async function _bundle(out: string): Promise<string> {
  const { code, stderr } = await new Deno.Command(Deno.execPath(), {
    args: [
      "bundle",
      "--quiet",
      "--platform",
      "browser",
      "--minify",
      "--config",
      new URL("deno.json", ROOT).pathname,
      "-o",
      out,
      new URL("main.ts", SOURCES).pathname,
    ],
    stdout: "null",
    stderr: "piped",
  }).output();
  try {
    if (code !== 0) {
      throw new ConsoleUnavailableError(
        "Bundling the console failed (the server's log says why)",
        new TextDecoder().decode(stderr).trim().slice(-4000),
      );
    }
    return await Deno.readTextFile(out);
  } finally {
    await Deno.remove(out).catch(() => {});
  }
}

function _granted(descriptor: Deno.PermissionDescriptor): boolean {
  return Deno.permissions.querySync(descriptor).state === "granted";
}

if (import.meta.main) {
  try {
    const { hash, js } = await consoleBuild();
    console.log(`Console built (${hash}, ${js.length} bytes of script)`);
  } catch (error) {
    const detail = error instanceof ConsoleUnavailableError ? error.detail : undefined;
    console.error(`error: ${(error as Error).message}${detail ? `\n${detail}` : ""}`);
    Deno.exit(1);
  }
}
