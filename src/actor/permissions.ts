/**
 * Deno permissions granted to an actor's worker. An actor gets nothing
 * unless granted: no net, read, write, env, run, ffi, sys or import. A
 * denied operation inside the actor fails with Deno's `NotCapable` error; the
 * runtime is unaffected.
 *
 * @example
 * ```ts
 * import { normalizePermissions } from "./permissions.ts";
 * const p = normalizePermissions({ net: ["127.0.0.1:8080"] }, "permissions");
 * console.assert(p.read === false && Array.isArray(p.net));
 * ```
 *
 * @module
 */

/** One permission: all, none, or a list of allowed values (hosts, paths, names). */
export type PermissionValue = boolean | string[];

/** Permissions by name; unnamed ones are denied. */
export interface ActorPermissions {
  /** Network hosts (`"host:port"`). */
  net?: PermissionValue;
  /** File system read paths. */
  read?: PermissionValue;
  /** File system write paths. */
  write?: PermissionValue;
  /** Environment variable names. */
  env?: PermissionValue;
  /** Subprocess names. */
  run?: PermissionValue;
  /** Dynamic library paths. */
  ffi?: PermissionValue;
  /** System information APIs. */
  sys?: PermissionValue;
  /** Remote module hosts for dynamic import. */
  import?: PermissionValue;
}

/** A permission set: `"none"` (the default), or explicit grants. */
export type PermissionsSpec = "none" | ActorPermissions;

/** Every permission name, in a fixed order. */
export const PERMISSION_NAMES = [
  "net",
  "read",
  "write",
  "env",
  "run",
  "ffi",
  "sys",
  "import",
] as const;

/** A fully spelled-out permission set. */
export type NormalizedPermissions = Record<(typeof PERMISSION_NAMES)[number], PermissionValue>;

/**
 * Validates a permission spec and spells out every permission.
 *
 * @param spec `"none"`, `undefined` (same as `"none"`) or explicit grants.
 * @param field Name of the option, used in error messages.
 * @returns Every permission, `false` where not granted.
 * @throws {TypeError} Naming the bad permission and value.
 *
 * @example
 * ```ts
 * import { normalizePermissions } from "./permissions.ts";
 * console.assert(normalizePermissions("none", "permissions").net === false);
 * ```
 */
export function normalizePermissions(
  spec: PermissionsSpec | undefined,
  field: string,
): NormalizedPermissions {
  const out = Object.fromEntries(PERMISSION_NAMES.map((n) => [n, false])) as NormalizedPermissions;
  if (spec === undefined || spec === "none") return out;
  if (typeof spec !== "object" || spec === null || Array.isArray(spec)) {
    throw new TypeError(
      `Invalid ${field} ${JSON.stringify(spec)}: expected "none" or an object of permission grants`,
    );
  }
  for (const [name, value] of Object.entries(spec)) {
    if (!(PERMISSION_NAMES as readonly string[]).includes(name)) {
      throw new TypeError(
        `Invalid ${field}.${name}: unknown permission (known: ${PERMISSION_NAMES.join(", ")})`,
      );
    }
    const ok = typeof value === "boolean" ||
      (Array.isArray(value) && value.every((v) => typeof v === "string" && v.length > 0));
    if (!ok) {
      throw new TypeError(
        `Invalid ${field}.${name} ${
          JSON.stringify(value)
        }: expected a boolean or a list of non-empty strings`,
      );
    }
    out[name as keyof NormalizedPermissions] = Array.isArray(value) ? [...value] : value;
  }
  return out;
}

/**
 * Whether `child` grants nothing that `parent` does not.
 *
 * @param child The requested permissions.
 * @param parent The permissions of the requester.
 * @returns The first permission that exceeds the parent's, or `undefined`.
 *
 * @example
 * ```ts
 * import { exceedingPermission, normalizePermissions } from "./permissions.ts";
 * const none = normalizePermissions("none", "p");
 * const net = normalizePermissions({ net: true }, "p");
 * console.assert(exceedingPermission(net, none) === "net");
 * ```
 */
export function exceedingPermission(
  child: NormalizedPermissions,
  parent: NormalizedPermissions,
): string | undefined {
  for (const name of PERMISSION_NAMES) {
    const c = child[name], p = parent[name];
    if (c === false || p === true) continue;
    if (c === true || p === false) return name;
    if (!c.every((v) => p.includes(v))) return name;
  }
  return undefined;
}

/**
 * Whether any permission is granted.
 *
 * @param permissions Normalized permissions.
 * @returns `true` if none is granted.
 *
 * @example
 * ```ts
 * import { isNone, normalizePermissions } from "./permissions.ts";
 * console.assert(isNone(normalizePermissions("none", "p")));
 * ```
 */
export function isNone(permissions: NormalizedPermissions): boolean {
  return PERMISSION_NAMES.every((n) => permissions[n] === false);
}
