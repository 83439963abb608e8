// The verified bundle of an actor module: what its worker loads instead of
// the module itself. Internal: the actor system prepares modules before it
// creates their cells; a cell's worker imports the bundle.
//
// Why: Deno does not permission-check module loading. A worker with no
// permissions can still `import("file:///proc/self/environ")` or a JSON file
// anywhere and read it (or the error that quotes it). So the host decides
// every import of an actor's graph (_module_policy.ts) while esbuild bundles
// it (_bundle_build.ts), then checks the bundle with a full parser and turns
// every computed `import()` into a refusal (_bundle_verify.ts); the worker's
// global scope loses `eval`, `Function` and `Worker` before the bundle runs
// (src/worker/_guest_hardening.ts).
//
// Built once per process for each module, root and `import` grant, on first
// spawn (a file cache spares later processes the build: _bundle_cache.ts).
import type { PermissionValue } from "./permissions.ts";
import { buildBundle, type RawBundle } from "./_bundle_build.ts";
import { readCachedBundle, writeCachedBundle } from "./_bundle_cache.ts";
import { verifyBundle } from "./_bundle_verify.ts";
import { modulePolicy } from "./_module_policy.ts";

/** What the sandbox of one actor module depends on. */
export interface SandboxOptions {
  /** Directory the actor's own files live in. @default {the module's directory} */
  root?: string | URL | undefined;
  /** The actor's `import` permission: hosts it may load remote modules from. */
  importHosts: PermissionValue;
}

/** An actor module, verified and bundled. */
export interface VerifiedModule {
  /** The actor module. */
  readonly module: string;
  /** URL of the verified bundle (a `blob:` URL of this process), for the worker to import. */
  readonly url: string;
  /** Real path of the actor's root (`""` for a remote module): its children live there too. */
  readonly root: string;
}

const building = new Map<string, Promise<VerifiedModule>>();
const verified = new Map<string, VerifiedModule>();
const codes = new Map<string, string>(); // the verified bundle's code, by key

function cacheKey(module: string, options: SandboxOptions): string {
  const root = options.root === undefined ? null : String(options.root);
  return JSON.stringify([module, root, options.importHosts]);
}

/**
 * Verifies and bundles an actor module, or returns the bundle made earlier
 * in this process for the same module, root and grant.
 *
 * @param module The actor module URL.
 * @param options Root and `import` grant.
 * @returns The verified module.
 * @throws {ModuleRefusedError} When its graph imports something outside what is allowed.
 * @throws {Error} When it cannot be bundled (a syntax error, a missing file, a failed fetch).
 *
 * @example
 * ```ts ignore
 * import { verifyActorModule } from "./_module_sandbox.ts";
 * const counter = new URL("../../actors/counter.ts", import.meta.url).href;
 * const verified = await verifyActorModule(counter, { importHosts: false });
 * console.assert(verified.url.startsWith("blob:"));
 * ```
 */
export function verifyActorModule(
  module: string,
  options: SandboxOptions,
): Promise<VerifiedModule> {
  const key = cacheKey(module, options);
  let entry = building.get(key);
  if (!entry) {
    entry = prepare(key, module, options).then((result) => {
      verified.set(key, result);
      return result;
    }, (error) => {
      building.delete(key); // not kept: the next spawn tries again
      throw error;
    });
    building.set(key, entry);
  }
  return entry;
}

/**
 * The bundle {@linkcode verifyActorModule} made, if it is done.
 *
 * @param module The actor module URL.
 * @param options Root and `import` grant, as given to `verifyActorModule`.
 * @returns The verified module, or `undefined`.
 */
export function verifiedActorModule(
  module: string,
  options: SandboxOptions,
): VerifiedModule | undefined {
  return verified.get(cacheKey(module, options));
}

async function prepare(
  key: string,
  module: string,
  options: SandboxOptions,
): Promise<VerifiedModule> {
  const policy = await modulePolicy(module, options);
  let bundle: RawBundle | undefined = await readCachedBundle(key, policy);
  if (!bundle) {
    bundle = await buildBundle(policy);
    await writeCachedBundle(key, bundle);
  }
  const code = verifyBundle(bundle.code, {
    module: policy.module,
    externals: new Set(bundle.externals),
  }) + `//# sourceMappingURL=data:application/json;base64,${base64(bundle.map)}\n`;
  codes.set(key, code);
  const url = URL.createObjectURL(new Blob([code], { type: "text/javascript" }));
  return { module: policy.module, url, root: policy.root };
}

/** A verified bundle, as handed to a sandbox process (which then needs no bundler). */
export interface PortableModule {
  module: string;
  options: SandboxOptions;
  root: string;
  code: string;
}

/**
 * Verifies an actor module (as {@linkcode verifyActorModule}) and returns its
 * bundle's code, for a sandbox process of this orchestrator.
 *
 * @param module The actor module URL.
 * @param options Root and `import` grant.
 * @returns The module, its options, real root and verified code.
 * @throws {ModuleRefusedError} As `verifyActorModule`.
 */
export async function portableActorModule(
  module: string,
  options: SandboxOptions,
): Promise<PortableModule> {
  const result = await verifyActorModule(module, options);
  const root = options.root === undefined ? undefined : String(options.root);
  const code = codes.get(cacheKey(module, options))!;
  return { module, options: { root, importHosts: options.importHosts }, root: result.root, code };
}

/**
 * Takes a bundle verified by the orchestrator (trusted: it comes from the
 * process that started this one), so that spawning the module here needs
 * no bundling.
 *
 * @param portable What {@linkcode portableActorModule} returned in the orchestrator.
 */
export function adoptActorModule(portable: PortableModule): void {
  const key = cacheKey(portable.module, portable.options);
  if (verified.has(key)) return;
  const url = URL.createObjectURL(new Blob([portable.code], { type: "text/javascript" }));
  const result: VerifiedModule = { module: portable.module, url, root: portable.root };
  codes.set(key, portable.code);
  verified.set(key, result);
  building.set(key, Promise.resolve(result));
}

function base64(text: string): string {
  const bytes = new TextEncoder().encode(text);
  let binary = "";
  for (let i = 0; i < bytes.length; i += 0x8000) {
    binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  }
  return btoa(binary);
}
