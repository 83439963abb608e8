// What an actor's module graph may contain, decided per import before
// anything is read: files under the actor's root, the OAO runtime's own
// modules, allowed `node:` built-ins, and remote modules from hosts in the
// actor's `import` grant. Internal: used by the module sandbox.
//
// Why a policy of our own: Deno does not permission-check module loading, so
// a worker with no permissions can still `import("file:///proc/self/environ")`
// and read the error that quotes it. The host therefore decides every import
// of an actor's graph itself and bundles what it allowed (_module_sandbox.ts).
import { dirname, extname } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { ModuleRefusedError } from "./actor_errors.ts";
import type { PermissionValue } from "./permissions.ts";
import {
  inside,
  PACKAGE_URL,
  RUNTIME_BUNDLED,
  RUNTIME_EXPORTS,
  runtimeFile,
} from "./_runtime_modules.ts";

// `node:` built-ins an actor may import. Left out on purpose: `vm` (runs code
// from strings), `worker_threads` and `cluster` (start workers that load
// modules unchecked), `module` (a second loader), `repl`, `inspector`, `v8`
// (engine flags), `wasi`, `sqlite` (extensions) and `test`. What the allowed
// ones do is still checked by the worker's Deno permissions.
const NODE_BUILTINS = new Set([
  "assert",
  "assert/strict",
  "async_hooks",
  "buffer",
  "child_process",
  "console",
  "constants",
  "crypto",
  "dgram",
  "diagnostics_channel",
  "dns",
  "dns/promises",
  "events",
  "fs",
  "fs/promises",
  "http",
  "http2",
  "https",
  "net",
  "os",
  "path",
  "path/posix",
  "path/win32",
  "perf_hooks",
  "process",
  "punycode",
  "querystring",
  "readline",
  "readline/promises",
  "stream",
  "stream/consumers",
  "stream/promises",
  "stream/web",
  "string_decoder",
  "timers",
  "timers/promises",
  "tls",
  "tty",
  "url",
  "util",
  "util/types",
  "zlib",
]);

/** Loaders by file extension; anything else is refused. */
const LOADERS: Readonly<Record<string, "ts" | "js" | "json">> = {
  ".ts": "ts",
  ".mts": "ts",
  ".js": "js",
  ".mjs": "js",
  ".json": "json",
};

/** The rules for one actor module. */
export interface ModulePolicy {
  /** The actor module (entry point) URL. */
  readonly module: string;
  /** Real path of the actor's root directory. */
  readonly root: string;
  /** The actor's `import` permission: remote hosts it may load modules from. */
  readonly importHosts: PermissionValue;
}

/** Where an allowed import goes. */
export type ImportTarget =
  /** A file under the root: read and bundled. */
  | { kind: "local"; url: string; loader: "ts" | "js" | "json" }
  /** A remote module of a granted host: fetched by the host and bundled. */
  | { kind: "remote"; url: string }
  /** One of the OAO runtime's modules (local files): bundled, tree-shaken (_runtime_modules.ts). */
  | { kind: "runtime"; url: string; loader: "ts" | "js" }
  /** Left to the worker's loader: a `node:` built-in, or the runtime's module of a remote package. */
  | { kind: "external"; specifier: string };

/**
 * Builds the policy of an actor module.
 *
 * @param module The actor module URL (`file:`, or `https:`/`http:` of a granted host).
 * @param options The root (default: the module's directory) and the `import` grant.
 * @returns The policy, with the root's real path.
 * @throws {ModuleRefusedError} When the root cannot be opened.
 * @throws {Error} When the module's directory does not exist.
 */
export async function modulePolicy(
  module: string,
  options: { root?: string | URL | undefined; importHosts: PermissionValue },
): Promise<ModulePolicy> {
  const url = new URL(module);
  let root: string;
  if (options.root === "") {
    root = ""; // no local files: a remote actor module, or a child of one
  } else if (options.root !== undefined) {
    const rootUrl = options.root instanceof URL
      ? options.root
      : /^[a-z][a-z0-9+.-]+:/i.test(options.root)
      ? new URL(options.root)
      : pathToFileURL(options.root);
    if (rootUrl.protocol !== "file:") {
      throw new TypeError(`Invalid root "${rootUrl.href}": expected a directory path or file URL`);
    }
    root = fileURLToPath(rootUrl);
  } else if (url.protocol === "file:") {
    root = dirname(fileURLToPath(url));
  } else {
    root = "";
  }
  if (root !== "") {
    try {
      root = await Deno.realPath(root);
    } catch (error) {
      if (options.root === undefined && error instanceof Deno.errors.NotFound) {
        throw new Error(`Module not found "${url.href}"`);
      }
      throw new ModuleRefusedError(
        module,
        module,
        `its root "${root}" cannot be opened (${(error as Error).name})`,
      );
    }
  }
  return { module: url.href, root: root.replace(/[\\/]$/, ""), importHosts: options.importHosts };
}

/**
 * Decides one import from what its specifier says, before anything is read.
 * Local files pass a second check, {@linkcode confineLocal}, on their real path.
 *
 * @param policy The actor's policy.
 * @param specifier The import specifier.
 * @param importer URL of the importing module; `undefined` for the entry point.
 * @param type The import attribute `type`, if any.
 * @returns Where the import goes.
 * @throws {ModuleRefusedError} Saying why it is refused.
 */
export function decideImport(
  policy: ModulePolicy,
  specifier: string,
  importer: string | undefined,
  type: string | undefined,
): ImportTarget {
  const refuse = (reason: string): never => {
    throw new ModuleRefusedError(policy.module, specifier, reason);
  };
  if (type !== undefined && type !== "json") {
    refuse(`import attribute type "${type}" is not supported inside an actor`);
  }
  if (specifier.startsWith("node:")) {
    if (NODE_BUILTINS.has(specifier.slice(5)) && type === undefined) {
      return { kind: "external", specifier };
    }
    refuse(`the built-in "${specifier}" is not allowed inside an actor`);
  }
  const runtimeExport = RUNTIME_EXPORTS[specifier];
  if (runtimeExport !== undefined) {
    const url = new URL(runtimeExport, PACKAGE_URL).href;
    return RUNTIME_BUNDLED
      ? { kind: "runtime", url, loader: "ts" }
      : { kind: "external", specifier: url };
  }
  const relative = /^\.{0,2}\//.test(specifier);
  if (!relative && !/^[a-z][a-z0-9+.-]*:/i.test(specifier)) {
    refuse(
      `bare specifiers other than the OAO runtime's (${
        Object.keys(RUNTIME_EXPORTS).map((s) => `"${s}"`).join(", ")
      }) cannot be resolved inside an actor`,
    );
  }
  let url: URL;
  try {
    url = new URL(specifier, importer ?? policy.module);
  } catch {
    return refuse("it is not a valid URL or path");
  }
  switch (url.protocol) {
    case "file:":
      if (importer !== undefined && !importer.startsWith("file:")) {
        refuse("a remote module cannot import local files");
      }
      return decideFile(policy, url, type, refuse);
    case "https:":
    case "http:":
      if (url.username || url.password) refuse("remote module URLs may not carry credentials");
      if (!hostGranted(url, policy.importHosts)) {
        refuse(`the host "${url.host}" is not in the actor's "import" permission`);
      }
      if (type === "json") refuse("JSON modules are loaded only from inside the actor's root");
      return { kind: "remote", url: url.href };
    case "npm:":
    case "jsr:":
      return refuse(
        `${url.protocol} packages cannot be verified inside an actor: vendor the code under the actor's root`,
      );
    default:
      return refuse(`${url.protocol} modules are not allowed inside an actor`);
  }
}

function decideFile(
  policy: ModulePolicy,
  url: URL,
  type: string | undefined,
  refuse: (reason: string) => never,
): ImportTarget {
  url.search = "";
  url.hash = "";
  const path = fileURLToPath(url);
  const loader = LOADERS[extname(path).toLowerCase()];
  if (loader === undefined) {
    refuse(
      `only ${Object.keys(LOADERS).join(", ")} modules can be loaded inside an actor`,
    );
  }
  if (loader === "json" && type !== "json") {
    refuse('JSON modules need the import attribute with { type: "json" }');
  }
  if (policy.root !== "" && inside(path, policy.root)) {
    return { kind: "local", url: url.href, loader: loader! };
  }
  const runtime = runtimeFile(path);
  if (runtime === "runtime") {
    if (loader === "json") refuse("JSON modules are loaded only from inside the actor's root");
    return { kind: "runtime", url: url.href, loader: loader as "ts" | "js" };
  }
  if (runtime === "denied") refuse("the OAO command line is not a module for actors");
  return refuse(
    policy.root === ""
      ? "local files are not allowed in a remote actor module"
      : `it is outside the actor's root "${policy.root}" and the OAO runtime`,
  );
}

/**
 * Second check of a local file, on its real path (a symbolic link under the
 * root may lead out of it). Reads no content.
 *
 * @param policy The actor's policy.
 * @param specifier The import specifier, for the error.
 * @param url The file URL that {@linkcode decideImport} allowed.
 * @returns The real path to read.
 * @throws {ModuleRefusedError} When it leads out of the root or is not a file.
 * @throws {Error} When it does not exist.
 */
export async function confineLocal(
  policy: ModulePolicy,
  specifier: string,
  url: string,
): Promise<string> {
  const path = fileURLToPath(url);
  let real: string;
  try {
    real = await Deno.realPath(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) throw new Error(`Module not found "${url}"`);
    throw new ModuleRefusedError(
      policy.module,
      specifier,
      `it cannot be opened (${(error as Error).name})`,
    );
  }
  if (!inside(real, policy.root)) {
    throw new ModuleRefusedError(
      policy.module,
      specifier,
      `a symbolic link leads outside the actor's root "${policy.root}"`,
    );
  }
  const info = await Deno.stat(real);
  if (!info.isFile) throw new ModuleRefusedError(policy.module, specifier, "it is not a file");
  return real;
}

/**
 * Whether a remote URL's host is in an `import` grant: `true` grants every
 * host; a list entry is a host name (any port) or `host:port`.
 *
 * @param url The remote URL.
 * @param grant The actor's `import` permission.
 * @returns Whether the host is granted.
 */
function hostGranted(url: URL, grant: PermissionValue): boolean {
  if (typeof grant === "boolean") return grant;
  return grant.some((host) => host === url.host || host === url.hostname);
}
