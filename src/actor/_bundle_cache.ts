// A file cache of actor bundles, so that a new process does not start
// esbuild (~1 s) for modules that have not changed. Internal.
//
// An entry is used only if every local file it was made from still has the
// same real path (under the root, or one of the runtime's files) and content
// hash, and it is verified again like a fresh build (_bundle_verify.ts); its
// externals must each pass the policy again (a package that the runtime's
// bundled files import must be one the package's import map names). So a
// stale or tampered entry cannot widen what an actor may import. Bundles
// with remote modules are not cached (they would need a fetch to be checked).
// The cache is read where the host may read it, and written where it may
// write it, without a prompt: `OAO_BUNDLE_CACHE` (a directory, or "off"),
// else `$DENO_DIR/oao_bundles`, else `$XDG_CACHE_HOME/oao/bundles`, else
// `$HOME/.cache/oao/bundles`.
import { normalize } from "node:path";
import { fileURLToPath } from "node:url";
import { type BundleInput, type RawBundle, sha256 } from "./_bundle_build.ts";
import { NEVER_IMPORTED } from "./_builtin_shims.ts";
import { confineLocal, decideImport, type ModulePolicy } from "./_module_policy.ts";
import {
  namedByImportMap,
  type PackageImports,
  packageImports,
  runtimeFile,
} from "./_runtime_modules.ts";

// Bump when what a bundle contains changes meaning (import.meta, guards, …).
const FORMAT = "oao-actor-bundle-4";

interface Entry extends Omit<RawBundle, "remote"> {
  format: string;
  key: string;
}

interface CacheDirectory {
  path: string;
  writable: boolean;
}

let directory: CacheDirectory | null | undefined;

function cacheDirectory(): CacheDirectory | undefined {
  if (directory !== undefined) return directory ?? undefined;
  const granted = (descriptor: Deno.PermissionDescriptor) =>
    Deno.permissions.querySync(descriptor).state === "granted";
  const env = (name: string) =>
    granted({ name: "env", variable: name }) ? Deno.env.get(name) || undefined : undefined;
  const explicit = env("OAO_BUNDLE_CACHE");
  const path = explicit === "off" ? undefined : explicit ??
    (env("DENO_DIR") && `${env("DENO_DIR")}/oao_bundles`) ??
    (env("XDG_CACHE_HOME") && `${env("XDG_CACHE_HOME")}/oao/bundles`) ??
    (env("HOME") && `${env("HOME")}/.cache/oao/bundles`);
  directory = path !== undefined && granted({ name: "read", path })
    ? { path, writable: granted({ name: "write", path }) }
    : null;
  return directory ?? undefined;
}

/**
 * The cache file of an entry, where the cache may be read (or written).
 *
 * @param key What identifies the entry.
 * @param write Whether it is to be written.
 * @param extension The file's extension.
 * @returns Its path, or `undefined` where there is no usable cache.
 */
export async function cacheFile(
  key: string,
  write: boolean,
  extension = ".json",
): Promise<string | undefined> {
  const dir = cacheDirectory();
  if (dir === undefined || (write && !dir.writable)) return undefined;
  return `${dir.path}/${await sha256(`${FORMAT}\n${key}`)}${extension}`;
}

/**
 * Writes a cache entry whole (a temporary file renamed), or not at all.
 *
 * @param path From `cacheFile(key, true)`.
 * @param entry The entry: text as is, anything else as JSON.
 * @returns Whether it was written.
 */
export async function storeCacheEntry(path: string, entry: unknown): Promise<boolean> {
  try {
    await Deno.mkdir(path.slice(0, path.lastIndexOf("/")), { recursive: true });
    const temp = `${path}.${crypto.randomUUID()}.tmp`;
    await Deno.writeTextFile(temp, typeof entry === "string" ? entry : JSON.stringify(entry));
    await Deno.rename(temp, path);
    return true;
  } catch {
    return false; // a cache that cannot be written is no cache: the next process builds again
  }
}

/**
 * The cached bundle for `key`, if there is one and its files are unchanged.
 *
 * @param key The sandbox's key (module, root, grant).
 * @param policy The actor's policy, to check inputs and externals again.
 * @returns The bundle (still to be verified), or `undefined`.
 */
export async function readCachedBundle(
  key: string,
  policy: ModulePolicy,
): Promise<RawBundle | undefined> {
  const path = await cacheFile(key, false);
  if (path === undefined) return undefined;
  let entry: Entry;
  try {
    entry = JSON.parse(await Deno.readTextFile(path)) as Entry;
  } catch {
    return undefined; // absent or unreadable: build
  }
  if (
    entry.format !== FORMAT || entry.key !== key || !Array.isArray(entry.inputs) ||
    !Array.isArray(entry.runtimeExternals)
  ) {
    return undefined;
  }
  try {
    const imports = packageImports();
    for (const input of entry.inputs) {
      if (!await unchanged(policy, input, imports)) return undefined;
    }
    const fromRuntime = new Set(entry.runtimeExternals);
    for (const specifier of entry.externals) {
      if (fromRuntime.has(specifier) && namedByImportMap(specifier, imports)) continue;
      if (NEVER_IMPORTED.has(specifier)) return undefined;
      const target = decideImport(policy, specifier, policy.module, undefined);
      if (target.kind !== "external" || target.specifier !== specifier) return undefined;
    }
  } catch {
    return undefined; // refused now: build, and let the build say why
  }
  return {
    code: entry.code,
    map: entry.map,
    externals: entry.externals,
    runtimeExternals: entry.runtimeExternals,
    inputs: entry.inputs,
    remote: false,
  };
}

async function unchanged(
  policy: ModulePolicy,
  input: BundleInput,
  imports: PackageImports,
): Promise<boolean> {
  if (input.runtime) {
    // A runtime file, named as it was read: no `..` on the way out of the package.
    const real = input.real;
    if (normalize(real) !== real || real !== fileURLToPath(input.url)) return false;
    if (real === imports.path) return await sha256(imports.text) === input.sha256;
    if (runtimeFile(real) !== "runtime") return false;
    return await sha256(await Deno.readTextFile(real)) === input.sha256;
  }
  const type = input.url.endsWith(".json") ? "json" : undefined;
  if (decideImport(policy, input.url, policy.module, type).kind !== "local") return false;
  const real = await confineLocal(policy, input.url, input.url);
  return real === input.real && await sha256(await Deno.readTextFile(real)) === input.sha256;
}

/**
 * Stores a bundle for later processes; does nothing where the cache is not
 * usable, and never fails the spawn.
 *
 * @param key The sandbox's key (module, root, grant).
 * @param bundle The bundle as built.
 */
export async function writeCachedBundle(key: string, bundle: RawBundle): Promise<void> {
  if (bundle.remote) return;
  const path = await cacheFile(key, true);
  if (path === undefined) return;
  const entry: Entry = {
    format: FORMAT,
    key,
    code: bundle.code,
    map: bundle.map,
    externals: bundle.externals,
    runtimeExternals: bundle.runtimeExternals,
    inputs: bundle.inputs,
  };
  await storeCacheEntry(path, entry);
}
