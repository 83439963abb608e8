// The worker side of the runtime (src/worker/actor_worker.ts and the ~30
// modules it imports) as one module, built on first use instead of being
// committed. Internal: actor cells start their workers from it.
//
// Why one module: a fresh worker that loads one file starts in about half
// the time of one that loads the modules one by one (the module graph is
// most of a worker's start-up). Built with the esbuild the module sandbox
// already uses, kept in the bundle cache (`OAO_BUNDLE_CACHE`, see
// _bundle_cache.ts, trusted as Deno's own module cache is) so that a new
// process reads it instead of building, and
// handed to sandbox processes by their orchestrator. Workers load it as a
// file of that cache: a `blob:` module is compiled again by every worker
// (no code cache), which measured 25-30 % slower restarts; it is the
// fallback where the cache cannot be written. Where it cannot be
// built (no esbuild, the runtime loaded from a remote URL), workers load
// the modules themselves: slower to start, the same behaviour.
//
// Why minified (whitespace and syntax, names kept): V8 compiles a function
// when it first runs, and the code cache holds only what was compiled when
// the module was, so every worker compiles its runtime's message path again
// from source; the minified source (60 instead of 97 KB) measured 0.5 ms
// less from spawn to first reply, about 4 %. Stack traces stay readable: the
// source map is a file beside the module in the cache, which Deno applies
// (frames name src/worker/*.ts, line and column).
import { getLogger } from "@logtape/logtape";
import { fileURLToPath, pathToFileURL } from "node:url";
import type * as esbuild from "esbuild-wasm";
import { sha256 } from "./_bundle_build.ts";
import { cacheFile, storeCacheEntry } from "./_bundle_cache.ts";
import { loadEsbuild } from "./_esbuild.ts";

const SOURCE = new URL("../worker/actor_worker.ts", import.meta.url);
// Bump when the build's options change.
const FORMAT = "oao-runtime-bundle-5";

interface Built {
  code: string;
  url: string;
}

interface CacheEntry {
  format: string;
  code: string;
  inputs: { path: string; sha256: string }[];
}

let built: Built | undefined;
let building: Promise<void> | undefined;

/**
 * URL of the module a worker starts from: the built bundle once it is ready
 * (`prepareRuntimeBundle`), the runtime's own module before.
 *
 * @returns A `blob:` URL, or the `file:` (or remote) URL of actor_worker.ts.
 */
export function runtimeEntry(): string {
  return built?.url ?? SOURCE.href;
}

/**
 * The bundle's code, to hand to a sandbox process.
 *
 * @returns The code, or `undefined` when there is no bundle.
 */
export function runtimeBundleCode(): string | undefined {
  return built?.code;
}

/**
 * URL of the bundle's module, to hand to a sandbox process with its code.
 *
 * @returns The URL, or `undefined` when there is no bundle.
 */
export function runtimeBundleUrl(): string | undefined {
  return built?.url;
}

/**
 * Uses a bundle built by another process (an orchestrator hands its own to
 * its sandbox processes, which then never build one).
 *
 * @param code The bundle's code.
 * @param url Its `file:` URL in the cache, when it has one.
 */
export function adoptRuntimeBundle(code: string, url?: string): void {
  if (built) return;
  built = {
    code,
    url: url?.startsWith("file:")
      ? url
      : URL.createObjectURL(new Blob([code], { type: "text/javascript" })),
  };
}

/**
 * Builds the bundle (or reads it from the cache) once per process. Never
 * rejects: without a bundle, workers load the runtime's modules themselves.
 *
 * @returns Once `runtimeEntry` gives the bundle, or the fallback.
 */
export function prepareRuntimeBundle(): Promise<void> {
  if (built) return Promise.resolve();
  building ??= build().then(async (code) => adoptRuntimeBundle(code, await moduleFile(code)))
    .catch((error) => {
      getLogger(["oao", "actor"]).warn(
        "Cannot bundle the worker runtime ({error}): workers load its modules one by one",
        { error: (error as Error).message },
      );
    });
  return building;
}

async function build(): Promise<string> {
  if (SOURCE.protocol !== "file:") throw new Error(`the runtime is loaded from ${SOURCE.origin}`);
  const cached = await readCache();
  if (cached !== undefined) return cached;
  const esbuild = await loadEsbuild();
  const inputs: CacheEntry["inputs"] = [];
  const result = await esbuild.build({
    entryPoints: [fileURLToPath(SOURCE)],
    bundle: true,
    format: "esm",
    platform: "neutral",
    target: "esnext",
    minifyWhitespace: true,
    minifySyntax: true,
    // V8's explicit compile hint: every function of the bundle is compiled as
    // it loads, not on its first call, so the code cache Deno keeps for the
    // module holds them all and a new worker compiles none of the start path.
    // actor.spawn_p50, in turn on a 2-core machine: 1.27 and 1.20 of a raw
    // worker's start against 1.33 and 1.31 (~1 ms a spawn); RSS per actor
    // unchanged (1.12–1.13).
    banner: { js: "//# allFunctionsCalledOnLoad" },
    sourcemap: "external",
    sourcesContent: false, // positions only: a worker reads the map on its first stack trace
    outfile: "oao-runtime.js", // a name for the outputs: nothing is written
    write: false,
    logLevel: "silent",
    plugins: [runtimeFiles(inputs)],
  });
  const output = (extension: string) => result.outputFiles.find((f) => f.path.endsWith(extension))!;
  const code = output(".js").text + await sourceMapComment(output(".js.map").text);
  await writeCache({ format: FORMAT, code, inputs });
  return code;
}

// Writes the bundle's source map into the cache (named by its content) and
// returns the comment that points the module at it, or "" where the cache
// cannot be written. Its sources become the runtime's file URLs.
async function sourceMapComment(text: string): Promise<string> {
  const map = JSON.parse(text) as { sources: string[] };
  map.sources = map.sources.map((source) => {
    const path = source.slice(source.indexOf(NAMESPACE) + NAMESPACE.length + 1);
    return source.includes(NAMESPACE) ? pathToFileURL(path).href : source;
  });
  const json = JSON.stringify(map);
  const path = await cacheFile(`${FORMAT}\nmap\n${await sha256(json)}`, true, ".js.map");
  if (path === undefined || !await storeCacheEntry(path, json)) return "";
  return `\n//# sourceMappingURL=${path.slice(path.lastIndexOf("/") + 1)}\n`;
}

// The bundle as a module file of the cache (named by its content), if the cache allows.
async function moduleFile(code: string): Promise<string | undefined> {
  const key = `${FORMAT}\nmodule\n${await sha256(code)}`;
  const existing = await cacheFile(key, false, ".js");
  if (existing !== undefined) {
    try {
      if (await Deno.readTextFile(existing) === code) return pathToFileURL(existing).href;
    } catch {
      // not there yet
    }
  }
  const path = await cacheFile(key, true, ".js");
  return path !== undefined && await storeCacheEntry(path, code)
    ? pathToFileURL(path).href
    : undefined;
}

const NAMESPACE = "oao-runtime";

// The wasm esbuild has no file system: the runtime's files are read here.
// Only local files, and Deno's `node:` built-ins (left as imports): the worker
// side of the runtime imports nothing else.
function runtimeFiles(inputs: CacheEntry["inputs"]): esbuild.Plugin {
  return {
    name: "oao-runtime-files",
    setup(build) {
      build.onResolve({ filter: /^node:/ }, (args) => ({ path: args.path, external: true }));
      build.onResolve({ filter: /.*/ }, (args) => {
        const url = new URL(args.path, args.importer ? pathToFileURL(args.importer) : SOURCE);
        if (url.protocol !== "file:") {
          return { errors: [{ text: `the worker runtime may not import "${args.path}"` }] };
        }
        return { path: fileURLToPath(url), namespace: NAMESPACE };
      });
      build.onLoad({ filter: /.*/, namespace: NAMESPACE }, async (args) => {
        const contents = await Deno.readTextFile(args.path);
        inputs.push({ path: args.path, sha256: await sha256(contents) });
        return { contents, loader: args.path.endsWith(".ts") ? "ts" : "js" };
      });
    },
  };
}

async function readCache(): Promise<string | undefined> {
  const path = await cacheFile(`${FORMAT}\n${SOURCE.href}`, false);
  if (path === undefined) return undefined;
  try {
    const entry = JSON.parse(await Deno.readTextFile(path)) as CacheEntry;
    if (entry.format !== FORMAT || typeof entry.code !== "string") return undefined;
    for (const input of entry.inputs) {
      if (await sha256(await Deno.readTextFile(input.path)) !== input.sha256) return undefined;
    }
    return entry.code;
  } catch {
    return undefined; // absent, unreadable or a source gone: build
  }
}

async function writeCache(entry: CacheEntry): Promise<void> {
  const path = await cacheFile(`${FORMAT}\n${SOURCE.href}`, true);
  if (path !== undefined) await storeCacheEntry(path, entry);
}

// `deno task bundle`: builds the bundle into the cache ahead of the first
// spawn (the Dockerfile runs it, so that a container never builds it).
if (import.meta.main) {
  await prepareRuntimeBundle();
  if (!built) Deno.exit(1);
  const cached = await cacheFile(`${FORMAT}\n${SOURCE.href}`, false);
  console.log(`Worker runtime bundled (${built.code.length} bytes)${cached ? `: ${cached}` : ""}`);
}
