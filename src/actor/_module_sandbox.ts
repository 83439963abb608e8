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
  const url = URL.createObjectURL(new Blob([code], { type: "text/javascript" }));
  return { module: policy.module, url, root: policy.root };
}

function base64(text: string): string {
  const bytes = new TextEncoder().encode(text);
  let binary = "";
  for (let i = 0; i < bytes.length; i += 0x8000) {
    binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  }
  return btoa(binary);
}
