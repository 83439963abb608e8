// How the actor system makes the cell of an actor: first, asynchronously,
// the verified bundle of every actor module in a child spec (its sandbox
// root is the parent's when an actor spawns it); then, synchronously when
// its supervisor starts it, the cell that loads that bundle, registered
// under its path and watched. Also resolveModule, which turns the module
// argument of a spawn into the URL the cell loads (public: re-exported by
// actor_system.ts). Internal otherwise.
import { ActorExistsError, ActorSpawnError } from "./actor_errors.ts";
import { toErrorInfo } from "../oao_error.ts";
import { ActorCell, type CellHost } from "./_actor_cell.ts";
import type { ActorRegistry } from "./_actor_registry.ts";
import {
  type SandboxOptions,
  verifiedActorModule,
  type VerifiedModule,
  verifyActorModule,
} from "./_module_sandbox.ts";
import { prepareRuntimeBundle } from "./_runtime_bundle.ts";
import type { Watchdog } from "./_watchdog.ts";
import { normalizePermissions, type PermissionValue } from "./permissions.ts";
import { resolveSpawnOptions } from "./spawn_options.ts";
import type { ActorChildSpec, ChildSpec } from "./supervisor.ts";

/** What a {@linkcode CellFactory} needs from its actor system. */
export interface CellFactoryOptions {
  /** The system's name: the scope of its actors' snapshot keys. */
  readonly systemName: string;
  /** What the cells need from the system. */
  readonly cellHost: CellHost;
  /** Where the cells are registered. */
  readonly registry: ActorRegistry;
  /** Told of every new cell. */
  readonly watchdog: Watchdog;
}

/** Verifies actor modules and makes the cells that run them. */
export class CellFactory {
  readonly #options: CellFactoryOptions;
  readonly #verified = new WeakMap<ActorCell, VerifiedModule>();

  /** @param options The system's name, cell host, registry and watchdog. */
  constructor(options: CellFactoryOptions) {
    this.#options = options;
  }

  /**
   * Makes ready the verified bundle of every actor module in `spec` (and in
   * the subtree of a supervisor spec). An invalid spec is left for its
   * supervisor to report.
   *
   * @param spec The child about to be started.
   * @param parent The actor that spawns it, if any.
   * @returns A promise that settles once every bundle is ready.
   * @throws {ActorSpawnError} When a module cannot be verified.
   */
  async verify(spec: ChildSpec, parent?: ActorCell): Promise<void> {
    await prepareRuntimeBundle();
    if ("supervisor" in spec) {
      const children = spec.supervisor?.children;
      if (Array.isArray(children)) {
        await Promise.all(children.map((child) => this.verify(child, parent)));
      }
      return;
    }
    let module: string, importHosts: PermissionValue;
    try {
      module = resolveModule(spec.module);
      importHosts = normalizePermissions(spec.permissions, "permissions").import;
    } catch {
      return; // an invalid spec: the supervisor says what is wrong with it
    }
    const sandbox = this.#sandboxOptions(spec, importHosts, parent);
    try {
      await verifyActorModule(module, sandbox);
    } catch (error) {
      throw new ActorSpawnError(module, toErrorInfo(error).message, { cause: error });
    }
  }

  /**
   * Makes and registers the cell of an actor whose module was verified.
   *
   * @param spec The actor's spec.
   * @param path Its path.
   * @param parent The actor that spawned it, if any.
   * @returns The new cell (its worker is not started yet).
   * @throws {TypeError | RangeError} Naming an invalid option.
   * @throws {ActorExistsError} When a live actor has that path.
   * @throws {ActorSpawnError} When its module was not verified first.
   */
  create(spec: ActorChildSpec, path: string, parent?: ActorCell): ActorCell {
    const { id, module, ...options } = spec;
    const resolved = resolveSpawnOptions({ ...options, name: id }, id);
    if (this.#options.registry.live(path)) throw new ActorExistsError(path);
    const url = resolveModule(module);
    const sandbox = this.#sandboxOptions(spec, resolved.permissions.import, parent);
    const verified = verifiedActorModule(url, sandbox);
    if (!verified) {
      throw new ActorSpawnError(url, "its module was not verified before the actor was created");
    }
    const key = resolved.snapshotKey ?? `${this.#options.systemName}/actor:${path}`;
    const cell = new ActorCell(this.#options.cellHost, url, path, resolved, key, verified.url);
    this.#verified.set(cell, verified);
    this.#options.registry.add(cell, parent);
    this.#options.watchdog.ensure();
    return cell;
  }

  // A child spawned by an actor lives under its parent's root, whatever it
  // asked for; `root` is read from the spec only when the host spawns.
  #sandboxOptions(
    spec: ActorChildSpec,
    importHosts: PermissionValue,
    parent: ActorCell | undefined,
  ): SandboxOptions {
    if (!parent) return { root: (spec as { root?: string | URL }).root, importHosts };
    const root = this.#verified.get(parent)?.root;
    if (root === undefined) {
      throw new ActorSpawnError(String(spec.module), `its parent "${parent.path}" has no root`);
    }
    return { root, importHosts };
  }
}

/**
 * Turns a module URL or path into an absolute URL string.
 *
 * @param module A URL, an absolute URL string, or a path relative to the working directory.
 * @returns The absolute URL.
 * @throws {TypeError} When the value is neither.
 *
 * @example
 * ```ts
 * import { resolveModule } from "./actor_system.ts";
 * console.assert(resolveModule("https://example.com/a.ts") === "https://example.com/a.ts");
 * console.assert(resolveModule("actors/counter.ts").startsWith("file:///"));
 * ```
 */
export function resolveModule(module: string | URL): string {
  if (module instanceof URL) return module.href;
  if (typeof module !== "string" || module.length === 0) {
    throw new TypeError(`Invalid module ${JSON.stringify(module)}: expected a URL or a path`);
  }
  if (/^[a-z][a-z0-9+.-]*:/i.test(module) && !/^[a-z]:[\\/]/i.test(module)) {
    return new URL(module).href;
  }
  const base = new URL(`file://${Deno.cwd().replace(/\/?$/, "/")}`);
  return new URL(module, base).href;
}
