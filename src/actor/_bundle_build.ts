// Bundles an actor module with esbuild and a resolver that decides every
// import before anything is read (_module_policy.ts). Internal: the module
// sandbox verifies what this returns (_bundle_verify.ts) before any use.
//
// What is bundled: the actor's files under its root, remote modules of
// granted hosts (fetched here, by the host, following redirects only to
// granted hosts), and what the actor uses of the OAO runtime's own modules
// (trusted code, outside the root on purpose: see _runtime_modules.ts). What
// stays an import of the bundle, loaded by the worker: allowed `node:`
// built-ins, and the packages the runtime's bundled modules import.
import type * as esbuild from "esbuild-wasm";
import { ModuleRefusedError } from "./actor_errors.ts";
import { rewriteImportMeta } from "./_bundle_verify.ts";
import { SHIMMED_BUILTINS, shimSource } from "./_builtin_shims.ts";
import { type Esbuild, loadEsbuild } from "./_esbuild.ts";
import { confineLocal, decideImport, type ModulePolicy } from "./_module_policy.ts";
import { BundleRuntime } from "./_bundle_runtime.ts";

/** A local file the bundle was made from, as it was read. */
export interface BundleInput {
  /** Its URL as imported. */
  url: string;
  /** Its real path. */
  real: string;
  /** SHA-256 of its content, hex. */
  sha256: string;
  /** Whether it is one of the OAO runtime's files (or the package's deno.json). */
  runtime?: true;
}

/** An actor module bundled, not yet verified. */
export interface RawBundle {
  /** The bundle: one ES module. */
  code: string;
  /** Its source map (JSON), sources as the original URLs. */
  map: string;
  /** Specifiers left as imports (`node:` built-ins, the runtime's packages). */
  externals: string[];
  /** Those of `externals` that runtime modules import (decided by the runtime's files). */
  runtimeExternals: string[];
  /** The local files read. */
  inputs: BundleInput[];
  /** Whether a remote module is part of it. */
  remote: boolean;
}

const LOCAL = "oao-local";
const REMOTE = "oao-remote";
const RUNTIME = "oao-runtime-module";
const SLIM = "oao-runtime-slim";
const BUILTIN_SHIM = "oao-builtin-shim";
const MAX_REDIRECTS = 5;

interface BuildState {
  /** The first refusal or failure of the plugin: the error the build ends with. */
  failed?: Error;
  /** Remote URLs after their redirects: relative imports resolve against those. */
  finalUrls: Map<string, string>;
  externals: Set<string>;
  runtimeExternals: Set<string>;
  inputs: BundleInput[];
  /** The source of each module read, by esbuild path: what it imports, and how. */
  sources: Map<string, string>;
}

/**
 * Bundles the actor module of `policy`.
 *
 * @param policy The actor's module policy.
 * @returns The bundle, its map, externals and inputs.
 * @throws {ModuleRefusedError} When an import is not allowed.
 * @throws {Error} When a module is missing, does not parse, or cannot be fetched.
 */
export async function buildBundle(policy: ModulePolicy): Promise<RawBundle> {
  const lib = await loadEsbuild();
  const state: BuildState = {
    finalUrls: new Map(),
    externals: new Set(),
    runtimeExternals: new Set(),
    inputs: [],
    sources: new Map(),
  };
  let result: esbuild.BuildResult<{ write: false; outfile: string; sourcemap: "external" }>;
  try {
    result = await lib.build({
      entryPoints: [policy.module],
      bundle: true,
      write: false,
      format: "esm",
      platform: "neutral",
      target: "esnext",
      outfile: "actor.js",
      sourcemap: "external",
      sourcesContent: false,
      keepNames: true,
      logLevel: "silent",
      plugins: [sandboxPlugin(lib, policy, state)],
    });
  } catch (error) {
    if (state.failed) throw state.failed;
    // What esbuild itself reports are syntax and link errors, as Deno would.
    throw new Error(`Cannot bundle "${policy.module}": SyntaxError: ${buildMessage(error)}`, {
      cause: error,
    });
  }
  if (state.failed) throw state.failed;
  const map = JSON.parse(result.outputFiles.find((f) => f.path.endsWith(".map"))!.text) as {
    sources: string[];
  };
  map.sources = map.sources.map((s) =>
    s.replace(/^(?:\.\.\/)*(?:oao-local|oao-remote|oao-runtime-module|oao-runtime-slim):/, "")
  );
  return {
    code: result.outputFiles.find((f) => f.path.endsWith(".js"))!.text,
    map: JSON.stringify(map),
    externals: [...state.externals],
    runtimeExternals: [...state.runtimeExternals],
    inputs: state.inputs,
    remote: state.finalUrls.size > 0,
  };
}

function sandboxPlugin(lib: Esbuild, policy: ModulePolicy, state: BuildState): esbuild.Plugin {
  const runtime = new BundleRuntime(lib, { inputs: state.inputs, sources: state.sources, sha256 });
  const failure = (error: unknown) => {
    const failed = error instanceof Error ? error : new Error(String(error));
    state.failed ??= failed;
    return { errors: [{ text: failed.message }] };
  };
  return {
    name: "oao-module-sandbox",
    setup(build) {
      build.onResolve({ filter: /.*/ }, async (args) => {
        try {
          if (args.namespace === BUILTIN_SHIM) {
            // A shim's own import of the real built-in.
            state.externals.add(args.path);
            return { path: args.path, external: true };
          }
          const importer = args.kind === "entry-point"
            ? undefined
            : state.finalUrls.get(args.importer) ?? args.importer;
          const fromRuntime = args.namespace === RUNTIME || args.namespace === SLIM;
          const target = fromRuntime
            ? runtime.decide(args.path, args.importer)
            : decideImport(policy, args.path, importer, args.with.type);
          if (importer === undefined && target.kind !== "local" && target.kind !== "remote") {
            throw new ModuleRefusedError(
              policy.module,
              args.path,
              `an actor module must be under its root "${policy.root}"`,
            );
          }
          // A runtime module, or a package one imports, counts only for what
          // the actor uses of it, unless it is imported for its effects or
          // registers something as it loads (_runtime_modules.ts).
          const effects = fromRuntime || target.kind === "runtime"
            ? {
              sideEffects: await runtime.keepsEffects(
                args,
                fromRuntime,
                target.kind === "runtime" ? target.url : undefined,
              ),
            }
            : {};
          switch (target.kind) {
            case "external":
              if (SHIMMED_BUILTINS.has(target.specifier)) {
                return { path: target.specifier, namespace: BUILTIN_SHIM };
              }
              state.externals.add(target.specifier);
              if (fromRuntime) state.runtimeExternals.add(target.specifier);
              return { path: target.specifier, external: true, ...effects };
            case "remote":
              return { path: target.url, namespace: REMOTE };
            case "local": {
              const real = await confineLocal(policy, args.path, target.url);
              return { path: target.url, namespace: LOCAL, pluginData: { real, ...target } };
            }
            case "runtime": {
              const slim = args.namespace === LOCAL
                ? await runtime.slim(args.importer, args.path, target.url)
                : undefined;
              if (slim !== undefined) return { path: slim, namespace: SLIM, sideEffects: false };
              return { path: target.url, namespace: RUNTIME, pluginData: target, ...effects };
            }
          }
        } catch (error) {
          return failure(error);
        }
      });
      build.onLoad({ filter: /.*/, namespace: BUILTIN_SHIM }, (args) => ({
        contents: shimSource(args.path),
        loader: "js",
      }));
      build.onLoad({ filter: /.*/, namespace: LOCAL }, async (args) => {
        const { real, loader } = args.pluginData as { real: string; loader: "ts" | "js" | "json" };
        try {
          const source = await Deno.readTextFile(real);
          state.inputs.push({ url: args.path, real, sha256: await sha256(source) });
          state.sources.set(args.path, source);
          if (loader === "json") return { contents: source, loader };
          return await withImportMeta(lib, source, loader, args.path, policy.module);
        } catch (error) {
          return failure(error);
        }
      });
      build.onLoad({ filter: /.*/, namespace: SLIM }, (args) => ({
        contents: state.sources.get(args.path)!,
        loader: "js",
      }));
      build.onLoad({ filter: /.*/, namespace: RUNTIME }, async (args) => {
        const { loader } = args.pluginData as { loader: "ts" | "js" | "json" };
        try {
          const source = await runtime.source(args.path);
          await runtime.addInput(args.path, source);
          state.sources.set(args.path, source);
          if (loader === "json") return { contents: source, loader };
          return await withImportMeta(lib, source, loader, args.path, policy.module);
        } catch (error) {
          return failure(error);
        }
      });
      build.onLoad({ filter: /.*/, namespace: REMOTE }, async (args) => {
        try {
          const remote = await fetchRemote(policy, args.path);
          state.finalUrls.set(args.path, remote.url);
          return await withImportMeta(lib, remote.text, remote.loader, remote.url, policy.module);
        } catch (error) {
          return failure(error);
        }
      });
    },
  };
}

// In a bundle, `import.meta` would describe the bundle: each module that
// uses it gets its own, made from its original URL.
async function withImportMeta(
  lib: Esbuild,
  source: string,
  loader: "ts" | "js",
  url: string,
  module: string,
): Promise<{ contents: string; loader: "ts" | "js" }> {
  if (!source.includes("import.meta")) return { contents: source, loader };
  const { code } = await lib.transform(source, {
    loader,
    target: "esnext",
    sourcemap: "inline",
    sourcefile: url,
  });
  return { contents: rewriteImportMeta(code, url, module), loader: "js" };
}

async function fetchRemote(
  policy: ModulePolicy,
  url: string,
): Promise<{ url: string; text: string; loader: "ts" | "js" }> {
  let current = new URL(url);
  for (let hop = 0; hop <= MAX_REDIRECTS; hop++) {
    const response = await fetch(current, { redirect: "manual" });
    const location = response.headers.get("location");
    if (response.status >= 300 && response.status < 400 && location !== null) {
      await response.body?.cancel();
      const next = new URL(location, current);
      decideImport(policy, next.href, current.href, undefined); // a granted host, or refused
      current = next;
      continue;
    }
    if (!response.ok) {
      await response.body?.cancel();
      throw new Error(`Cannot fetch "${current.href}": HTTP ${response.status}`);
    }
    const type = response.headers.get("content-type") ?? "";
    const loader = /typescript|mp2t/i.test(type) || /\.m?ts$/.test(current.pathname)
      ? "ts"
      : /javascript|ecmascript/i.test(type) || /\.m?js$/.test(current.pathname)
      ? "js"
      : undefined;
    if (loader === undefined) {
      await response.body?.cancel();
      throw new ModuleRefusedError(
        policy.module,
        url,
        `"${current.href}" is not a JavaScript or TypeScript module (content type "${type}")`,
      );
    }
    return { url: current.href, text: await response.text(), loader };
  }
  throw new ModuleRefusedError(policy.module, url, `more than ${MAX_REDIRECTS} redirects`);
}

function buildMessage(error: unknown): string {
  const errors = (error as { errors?: esbuild.Message[] }).errors;
  const first = errors?.[0];
  if (!first) return (error as Error).message;
  const at = first.location
    ? `${
      first.location.file.replace(
        /^(?:oao-local|oao-remote|oao-runtime-module|oao-runtime-slim):/,
        "",
      )
    }:${first.location.line}:${first.location.column + 1}: `
    : "";
  return `${at}${first.text}`;
}

/**
 * SHA-256 of a text, hex.
 *
 * @param text The text.
 * @returns 64 hex digits.
 */
export async function sha256(text: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join("");
}
