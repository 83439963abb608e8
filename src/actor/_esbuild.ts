// esbuild, loaded once per process on first use: the WebAssembly build
// (npm:esbuild-wasm), run in this thread. Internal: the module sandbox's bundler.
//
// Why the wasm build, in this thread: the native esbuild runs as a child
// process (the host would need `--allow-run`), and the wasm build's own
// worker mode starts a classic worker, which Deno does not have. Measured on
// Deno 2.9.6 (2 cores): initialize ~0.4 s, the first build ~0.7 s (the engine
// compiles the wasm lazily), later builds of a one-file agent ~50-70 ms.
// The sandbox builds each actor module once per process.
import type * as esbuild from "esbuild-wasm";

/** The esbuild API. */
export type Esbuild = typeof esbuild;

let loading: Promise<Esbuild> | undefined;

/**
 * The esbuild API, initialised.
 *
 * @returns esbuild, ready to build.
 * @throws {Error} When its wasm binary cannot be read (the host needs read access to the npm cache).
 */
export function loadEsbuild(): Promise<Esbuild> {
  loading ??= initialize().catch((error) => {
    loading = undefined;
    throw new Error(
      `Cannot start esbuild, which verifies actor modules: ${(error as Error).message}`,
      { cause: error },
    );
  });
  return loading;
}

async function initialize(): Promise<Esbuild> {
  const lib = await import("esbuild-wasm/esm/browser.js") as Esbuild;
  const bytes = await Deno.readFile(new URL(import.meta.resolve("esbuild-wasm/esbuild.wasm")));
  await lib.initialize({ wasmModule: await WebAssembly.compile(bytes), worker: false });
  return lib;
}
