// An index module of the runtime (`mod.ts`, `src/*/mod.ts`: nothing but
// re-exports), narrowed to the names an actor imports from it. Internal: the
// bundler uses it while bundling the runtime into an actor
// (_runtime_modules.ts).
//
// Why: esbuild reads every module an index re-exports before it can drop
// what is unused, and the wasm esbuild reads about 0.5 MB of TypeScript a
// second: `import { defineAgent } from "@oao/runtime"` took 2.6 s to bundle
// the first time (138 files), against 0.08 s for the modules `defineAgent`
// needs. So the actor's import of an index becomes an import of a module
// that re-exports only the names it asked for, from where the index takes
// them. Anything else (a namespace import, `export *`, an index that declares
// something) keeps the whole index: slower to bundle, the same result.
import { type Node, parse } from "acorn";
import type { Esbuild } from "./_esbuild.ts";
import { walk } from "./_bundle_verify.ts";

type AnyNode = Node & Record<string, unknown>;

/** What an index re-exports: exported name → [module URL, name there]. */
export type ReexportIndex = ReadonlyMap<string, readonly [string, string]>;

/** An index module: what it re-exports, and the modules it imports in its order. */
export interface IndexModule {
  /** Exported name → [module URL, name there]. */
  readonly index: ReexportIndex;
  /** The modules it imports, in order; `effect` for those imported for effects alone. */
  readonly order: readonly { url: string; effect: boolean }[];
}

/** What a module imports from each specifier: the names, or `"*"` for everything. */
export type ImportedNames = ReadonlyMap<string, ReadonlySet<string> | "*">;

/**
 * The re-exports of an index module, if it is nothing but re-exports (and
 * imports for effects, which are kept).
 *
 * @param lib The esbuild to strip types with.
 * @param source The index's TypeScript source.
 * @param url The index's URL, to resolve its specifiers against.
 * @returns Its re-exports and the order of its imports, or `undefined`.
 */
export async function reexportIndex(
  lib: Esbuild,
  source: string,
  url: string,
): Promise<IndexModule | undefined> {
  const program = await parseStripped(lib, source, "ts");
  if (program === undefined) return undefined;
  const index = new Map<string, readonly [string, string]>();
  const order: { url: string; effect: boolean }[] = [];
  // esbuild writes `export { a } from "./x"` as an import and a local export.
  const imported = new Map<string, readonly [string, string]>();
  for (const statement of program.body as AnyNode[]) {
    const from = (statement.source as { value?: unknown } | null | undefined)?.value;
    const target = typeof from === "string" ? new URL(from, url).href : undefined;
    if (statement.type === "ImportDeclaration" && target !== undefined) {
      const specifiers = statement.specifiers as AnyNode[];
      order.push({ url: target, effect: specifiers.length === 0 });
      for (const s of specifiers) {
        if (s.type !== "ImportSpecifier") return undefined;
        imported.set(nameOf(s.local), [target, nameOf(s.imported)]);
      }
    } else if (statement.type === "ExportNamedDeclaration" && !statement.declaration) {
      for (const s of statement.specifiers as AnyNode[]) {
        const entry = target === undefined
          ? imported.get(nameOf(s.local))
          : [target, nameOf(s.local)] as const;
        if (entry === undefined) return undefined;
        if (target !== undefined) order.push({ url: target, effect: false });
        index.set(nameOf(s.exported), entry);
      }
    } else return undefined;
  }
  return { index, order };
}

/**
 * What a module imports, by specifier: `import { a, b as c }` gives `a` and
 * `b`; a default import gives `default`; a namespace import, `export *`,
 * an import for effects or a dynamic import gives `"*"`. Imports used only as
 * types are not counted (esbuild strips them, as the build will).
 *
 * @param lib The esbuild to strip types with.
 * @param source The module's source.
 * @param loader Its loader.
 * @returns The names by specifier, or `undefined` when it cannot be parsed.
 */
export async function importedNames(
  lib: Esbuild,
  source: string,
  loader: "ts" | "js",
): Promise<ImportedNames | undefined> {
  const program = await parseStripped(lib, source, loader);
  if (program === undefined) return undefined;
  const names = new Map<string, Set<string> | "*">();
  const add = (specifier: unknown, name: string) => {
    if (typeof specifier !== "string") return;
    const known = names.get(specifier);
    if (known === "*") return;
    if (name === "*") names.set(specifier, "*");
    else names.set(specifier, (known ?? new Set()).add(name));
  };
  walk(program, (node) => {
    const specifier = (node.source as { value?: unknown } | null | undefined)?.value;
    switch (node.type) {
      case "ImportDeclaration": {
        const specifiers = node.specifiers as AnyNode[];
        if (specifiers.length === 0) add(specifier, "*");
        for (const s of specifiers) {
          add(
            specifier,
            s.type === "ImportSpecifier"
              ? nameOf(s.imported)
              : s.type === "ImportDefaultSpecifier"
              ? "default"
              : "*",
          );
        }
        break;
      }
      case "ExportNamedDeclaration":
        for (const s of (node.specifiers as AnyNode[] | undefined) ?? []) {
          add(specifier, nameOf(s.local));
        }
        break;
      case "ExportAllDeclaration":
      case "ImportExpression":
        add(specifier, "*");
        break;
    }
  });
  return names;
}

/**
 * The source of a module that re-exports `names` from where `index` takes
 * them, importing those modules (and those imported for effects) in the
 * index's order, or `undefined` when the index lacks one of the names.
 *
 * @param index The index module.
 * @param names The names wanted.
 * @returns ES module source.
 */
export function slimIndex(index: IndexModule, names: ReadonlySet<string>): string | undefined {
  const wanted = new Map<string, string[]>();
  for (const name of names) {
    const entry = index.index.get(name);
    if (entry === undefined) return undefined;
    wanted.set(entry[0], [...wanted.get(entry[0]) ?? [], `${quote(entry[1])} as ${quote(name)}`]);
  }
  const lines: string[] = [];
  const seen = new Set<string>();
  for (const { url, effect } of index.order) {
    const list = wanted.get(url);
    if (seen.has(url) || (!effect && !list)) continue;
    seen.add(url);
    lines.push(
      list
        ? `export { ${list.join(", ")} } from ${JSON.stringify(url)};`
        : `import ${JSON.stringify(url)};`,
    );
  }
  return `${lines.join("\n")}\n`;
}

function quote(name: string): string {
  return /^[A-Za-z_$][\w$]*$/.test(name) ? name : JSON.stringify(name);
}

async function parseStripped(
  lib: Esbuild,
  source: string,
  loader: "ts" | "js",
): Promise<AnyNode | undefined> {
  try {
    const { code } = await lib.transform(source, { loader, target: "esnext", format: "esm" });
    return parse(code, { ecmaVersion: "latest", sourceType: "module" }) as unknown as AnyNode;
  } catch {
    return undefined; // the build itself will say what is wrong
  }
}

function nameOf(node: unknown): string {
  const n = node as { type: string; name?: string; value?: string };
  return n.type === "Identifier" ? n.name! : String(n.value);
}
