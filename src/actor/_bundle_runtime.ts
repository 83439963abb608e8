// What the bundler does with the OAO runtime's own modules while it bundles
// an actor (see _runtime_modules.ts for why they are bundled): reads each
// file once and records it as an input of the bundle (with the package's
// deno.json, whose import map decides their imports), tells which imports
// keep their module's effects, and narrows an actor's import of a runtime
// index to the names it imports (_runtime_slim.ts). Internal: one per build.
import type * as esbuild from "esbuild-wasm";
import { fileURLToPath, pathToFileURL } from "node:url";
import type { BundleInput } from "./_bundle_build.ts";
import type { Esbuild } from "./_esbuild.ts";
import {
  decideRuntimeImport,
  keepsEffects,
  type PackageImports,
  packageImports,
  type RuntimeImport,
} from "./_runtime_modules.ts";
import {
  type ImportedNames,
  importedNames,
  type IndexModule,
  reexportIndex,
  slimIndex,
} from "./_runtime_slim.ts";

/** The runtime's modules in one actor's build. */
export class BundleRuntime {
  readonly #lib: Esbuild;
  readonly #inputs: BundleInput[];
  readonly #sources: Map<string, string>;
  readonly #files = new Map<string, Promise<string>>();
  readonly #imports = new Map<string, Promise<ImportedNames | undefined>>();
  readonly #indexes = new Map<string, Promise<IndexModule | undefined>>();
  #packageImports: PackageImports | undefined;
  #sha256: (text: string) => Promise<string>;

  /**
   * @param lib The build's esbuild.
   * @param build The build's inputs (added to here), the source of each
   * module it read by esbuild path (read here), and its hash function.
   */
  constructor(
    lib: Esbuild,
    build: {
      inputs: BundleInput[];
      sources: Map<string, string>;
      sha256: (text: string) => Promise<string>;
    },
  ) {
    this.#lib = lib;
    this.#inputs = build.inputs;
    this.#sources = build.sources;
    this.#sha256 = build.sha256;
  }

  /** Where an import a runtime module makes goes (the import map read once per build). */
  decide(specifier: string, importer: string): RuntimeImport {
    this.#packageImports ??= packageImports();
    return decideRuntimeImport(specifier, importer, this.#packageImports);
  }

  /** The text of a runtime file, read once per build. */
  source(url: string): Promise<string> {
    let source = this.#files.get(url);
    if (source === undefined) {
      source = Deno.readTextFile(fileURLToPath(url));
      this.#files.set(url, source);
    }
    return source;
  }

  /**
   * Records a runtime file as an input of the bundle; the package's
   * deno.json too, the first time: its import map decided where the
   * runtime's imports went.
   */
  async addInput(url: string, source: string): Promise<void> {
    const sha256 = await this.#sha256(source);
    this.#inputs.push({ url, real: fileURLToPath(url), sha256, runtime: true });
    this.#packageImports ??= packageImports();
    const { path, text } = this.#packageImports;
    if (path === undefined || this.#inputs.some((input) => input.real === path)) return;
    const hash = await this.#sha256(text);
    this.#inputs.push({ url: pathToFileURL(path).href, real: path, sha256: hash, runtime: true });
  }

  /**
   * Whether the module an import resolves to keeps its effects (esbuild's
   * `sideEffects`): when it is imported for them (for an actor's module, as
   * parsed: an import without names, or of the namespace, or what cannot be
   * parsed; for the runtime's own, in deno fmt's layout, an `import "x";`
   * line), or when it is a runtime module that registers as it loads.
   */
  async keepsEffects(
    args: esbuild.OnResolveArgs,
    fromRuntime: boolean,
    runtimeUrl: string | undefined,
  ): Promise<boolean> {
    if (runtimeUrl !== undefined && keepsEffects(await this.source(runtimeUrl))) return true;
    if (!fromRuntime) {
      const names = (await this.#actorImports(args.importer))?.get(args.path);
      return names === undefined || names === "*";
    }
    const source = this.#sources.get(args.importer);
    if (source === undefined) return false;
    const quoted = args.path.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
    return new RegExp(`^import ["']${quoted}["'];`, "m").test(source);
  }

  /**
   * An actor module's import of a runtime index (`@oao/runtime`), narrowed
   * to the names it imports: the path of that narrowed module (its source
   * kept with the build's sources), or `undefined` to bundle the index whole.
   */
  async slim(importer: string, specifier: string, url: string): Promise<string | undefined> {
    const names = (await this.#actorImports(importer))?.get(specifier);
    if (names === undefined || names === "*") return undefined;
    let index = this.#indexes.get(url);
    if (index === undefined) {
      index = this.#index(url);
      this.#indexes.set(url, index);
    }
    const found = await index;
    const contents = found && slimIndex(found, names);
    if (contents === undefined) return undefined;
    const path = `${url}?names=${[...names].sort().join(",")}`;
    this.#sources.set(path, contents);
    return path;
  }

  async #index(url: string): Promise<IndexModule | undefined> {
    const text = await this.source(url);
    const found = await reexportIndex(this.#lib, text, url);
    if (found === undefined) return undefined;
    await this.addInput(url, text);
    // What registers as it loads runs, as it would with the whole index.
    const order = await Promise.all(found.order.map(async (entry) => ({
      url: entry.url,
      effect: entry.effect ||
        (entry.url.startsWith("file:") && keepsEffects(await this.source(entry.url))),
    })));
    return { index: found.index, order };
  }

  // What an actor module imports, by specifier (parsed once per build).
  #actorImports(importer: string): Promise<ImportedNames | undefined> {
    let imports = this.#imports.get(importer);
    if (imports === undefined) {
      const source = this.#sources.get(importer);
      imports = source === undefined
        ? Promise.resolve(undefined)
        : importedNames(this.#lib, source, /\.m?ts$/.test(importer) ? "ts" : "js");
      this.#imports.set(importer, imports);
    }
    return imports;
  }
}
