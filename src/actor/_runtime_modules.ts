// The OAO runtime's own modules as an actor's bundle holds them. Internal:
// the module policy and the bundler ask here what is a runtime module and
// where a runtime module's own imports go.
//
// Why the runtime is bundled into each actor, tree-shaken, instead of being
// left for the worker to load: an actor that imports `defineAgent` from
// `@oao/runtime` made its worker load `mod.ts` and everything it imports,
// one TypeScript module at a time, the AI SDK and 170 npm packages
// included: its spawn took 97 ms where an actor importing nothing took 32.
// Bundled with the actor, the runtime brings only what the actor uses (for
// `defineAgent`, a few kB) and its worker loads one module. Each runtime
// module is marked free of side effects, so that one whose exports are not
// used is left out; one imported for its effects alone (`import "./x.ts"`)
// keeps them. Where the runtime is not made of local files (a remote
// package), its modules stay imports of the bundle, as before.
import { extname, sep } from "node:path";
import { fileURLToPath } from "node:url";

/**
 * The OAO package: `mod.ts` and `src/` (an actor imports the runtime from
 * there). A `file:` URL in a checkout or a linked package, an `https:` one
 * when the package comes from JSR.
 */
export const PACKAGE_URL: URL = new URL("../../", import.meta.url);
// Its directory, when the runtime is made of local files (else no local file is the runtime's).
const PACKAGE_DIR = PACKAGE_URL.protocol === "file:"
  ? fileURLToPath(PACKAGE_URL).replace(/[\\/]$/, "")
  : undefined;
const RUNTIME_SRC = PACKAGE_DIR === undefined ? undefined : `${PACKAGE_DIR}${sep}src`;
const RUNTIME_MOD = PACKAGE_DIR === undefined ? undefined : `${PACKAGE_DIR}${sep}mod.ts`;
const PACKAGE_CONFIG = PACKAGE_DIR === undefined ? undefined : `${PACKAGE_DIR}${sep}deno.json`;
// The command line is no module for actors: it loads modules by computed path
// (src/cli/_agents.ts), a way round the sandbox for whoever calls it.
const RUNTIME_DENIED = RUNTIME_SRC === undefined ? undefined : `${RUNTIME_SRC}${sep}cli`;

/**
 * The package's own name and subpaths (deno.json "exports"; a test keeps the
 * two equal), so that an actor can import `@oao/runtime` like a user would.
 */
export const RUNTIME_EXPORTS: Readonly<Record<string, string>> = {
  "@oao/runtime": "mod.ts",
  "@oao/runtime/redis": "src/redis/mod.ts",
  "@oao/runtime/tracing": "src/tracing/mod.ts",
  "@oao/runtime/logging": "src/logging/mod.ts",
  "@oao/runtime/testing": "src/testing/mod.ts",
  "@oao/runtime/model": "src/model/mod.ts",
  "@oao/runtime/kv": "src/kv/mod.ts",
  "@oao/runtime/mcp": "src/mcp/mod.ts",
};

/** Whether the runtime's modules are bundled into actors (they are local files). */
export const RUNTIME_BUNDLED: boolean = PACKAGE_DIR !== undefined;

/**
 * What a local path is to an actor: one of the runtime's modules, the
 * command line (never a module for actors), or neither.
 *
 * @param path An absolute file path.
 * @returns `"runtime"`, `"denied"` or `undefined`.
 */
export function runtimeFile(path: string): "runtime" | "denied" | undefined {
  if (RUNTIME_SRC === undefined || RUNTIME_DENIED === undefined) return undefined;
  if (inside(path, RUNTIME_DENIED)) return "denied";
  return path === RUNTIME_MOD || inside(path, RUNTIME_SRC) ? "runtime" : undefined;
}

/** Where an import made by a runtime module goes. */
export type RuntimeImport =
  /** Another runtime module (or the package's deno.json), bundled. */
  | { kind: "runtime"; url: string; loader: "ts" | "js" | "json" }
  /** Left to the worker's loader: a built-in or a package the runtime depends on. */
  | { kind: "external"; specifier: string };

/**
 * Decides an import that a runtime module makes, as the runtime's own
 * configuration would resolve it: relative paths stay in the package, bare
 * names go through the package's import map (an npm or JSR package stays an
 * import of the bundle), `node:` built-ins stay imports.
 *
 * @param specifier The import specifier.
 * @param importer The importing runtime module's URL.
 * @param imports The package's import map, as {@linkcode packageImports} read it.
 * @returns Where the import goes.
 * @throws {Error} When a runtime module imports a file outside the package.
 */
export function decideRuntimeImport(
  specifier: string,
  importer: string,
  imports: PackageImports,
): RuntimeImport {
  const runtimeExport = RUNTIME_EXPORTS[specifier];
  const bare = runtimeExport === undefined && !/^\.{0,2}\/|^[a-z][a-z0-9+.-]*:/i.test(specifier);
  const mapped = runtimeExport !== undefined
    ? new URL(runtimeExport, PACKAGE_URL).href
    : bare
    ? mapBare(imports.map, specifier)
    : specifier;
  if (mapped === undefined) {
    throw new Error(
      `Cannot bundle the OAO runtime into an actor: "${importer}" imports "${specifier}", which the package's import map does not name`,
    );
  }
  const url = new URL(mapped, bare ? PACKAGE_URL : importer);
  if (url.protocol !== "file:") return { kind: "external", specifier: mapped };
  const path = fileURLToPath(url);
  const extension = extname(path).toLowerCase();
  const loader = extension === ".json" ? "json" : /^\.m?js$/.test(extension) ? "js" : "ts";
  if (runtimeFile(path) === "runtime" || path === PACKAGE_CONFIG) {
    return { kind: "runtime", url: url.href, loader };
  }
  throw new Error(
    `Cannot bundle the OAO runtime into an actor: "${importer}" imports "${specifier}", outside the package`,
  );
}

/** The package's import map, and the deno.json text it was read from. */
export interface PackageImports {
  /** Bare name (or prefix ending in "/") → specifier. */
  readonly map: Readonly<Record<string, string>>;
  /** The deno.json it came from (`""` when there is none). */
  readonly text: string;
  /** That file's path, or `undefined` when the runtime is not local files. */
  readonly path: string | undefined;
}

/**
 * Reads the package's import map now (a build reads it once, and records
 * the text it read: its bundle depends on it).
 *
 * @returns The map, the text and the path.
 */
export function packageImports(): PackageImports {
  let text = "";
  try {
    if (PACKAGE_CONFIG !== undefined) text = Deno.readTextFileSync(PACKAGE_CONFIG);
  } catch {
    // none, or unreadable: no bare name can be resolved
  }
  let map: Record<string, string> = {};
  try {
    const imports = (JSON.parse(text) as { imports?: unknown }).imports;
    if (typeof imports === "object" && imports !== null) {
      map = Object.fromEntries(
        Object.entries(imports).filter((entry): entry is [string, string] =>
          typeof entry[1] === "string"
        ),
      );
    }
  } catch {
    // not JSON: no bare name can be resolved
  }
  return { map, text, path: PACKAGE_CONFIG };
}

/**
 * Whether `specifier` is a package the runtime's import map names (an `npm:`
 * or `jsr:` value of it, or a plain path inside one): what a runtime module
 * may leave for the worker to load, checked again when a cached bundle is
 * read.
 *
 * @param specifier An import of a bundle.
 * @param imports The package's import map.
 * @returns Whether the import map names it.
 */
export function namedByImportMap(specifier: string, imports: PackageImports): boolean {
  if (!/^(?:npm|jsr):/.test(specifier)) return false;
  return Object.values(imports.map).some((value) => {
    if (!/^(?:npm|jsr):/.test(value)) return false;
    if (specifier === value) return true;
    const base = value.endsWith("/") ? value : `${value}/`;
    const rest = specifier.slice(base.length);
    return specifier.startsWith(base) && /^[\w@-]+(?:[./][\w@-]+)*$/.test(rest) &&
      !rest.split("/").includes("..");
  });
}

// A bare name through the package's import map: exact entries first, then
// the longest prefix entry ("hono/": "npm:/hono@4/"; "zod": "npm:zod@4" maps
// "zod/mini" too, as Deno does for packages); `undefined` for a name it does
// not map.
function mapBare(map: Readonly<Record<string, string>>, specifier: string): string | undefined {
  const exact = map[specifier];
  if (exact !== undefined) return exact;
  let best = "";
  for (const [key, value] of Object.entries(map)) {
    if (key.length <= best.length) continue;
    const prefix = key.endsWith("/") || !/^(?:npm|jsr):/.test(value) ? key : `${key}/`;
    if (specifier.startsWith(prefix)) best = key;
  }
  return best === "" ? undefined : map[best] + specifier.slice(best.length);
}

/**
 * Whether `path` is inside the directory `dir`.
 *
 * @param path An absolute path.
 * @param dir An absolute directory path, without a trailing separator.
 * @returns Whether it is.
 */
export function inside(path: string, dir: string): boolean {
  return path.startsWith(dir + sep);
}

/**
 * Whether a runtime module must run whenever it is part of a bundle, even
 * if the actor uses none of its exports: it registers something as it loads
 * (error classes: `instanceof OaoError` knows an error made by another copy
 * of the runtime by its code, which the registry maps to its class).
 *
 * @param source The module's source.
 * @returns Whether it is kept for its effects.
 */
export function keepsEffects(source: string): boolean {
  return /^registerErrorClass\(/m.test(source);
}
