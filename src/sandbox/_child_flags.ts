// The command line and environment of a sandbox process: Deno permissions
// that are the union of what its agents were granted (each worker narrows
// them to its own grant), loopback to reach the orchestrator, an environment
// that holds only the variables an agent was granted, and a heap limit.
// Internal.
import {
  type NormalizedPermissions,
  PERMISSION_NAMES,
  type PermissionValue,
} from "../actor/permissions.ts";

function union(a: PermissionValue, b: PermissionValue): PermissionValue {
  if (a === true || b === true) return true;
  if (a === false) return b;
  if (b === false) return a;
  return [...new Set([...a, ...b])];
}

/** The union of several agents' permissions. */
export function unionPermissions(list: NormalizedPermissions[]): NormalizedPermissions {
  const out = Object.fromEntries(PERMISSION_NAMES.map((n) => [n, false])) as NormalizedPermissions;
  for (const p of list) for (const n of PERMISSION_NAMES) out[n] = union(out[n], p[n]);
  return out;
}

/** Deno flags for a sandbox process whose workers hold at most `granted`. */
export function childFlags(
  granted: NormalizedPermissions,
  options: { port: number; memoryMb: number; config: string },
): string[] {
  const flags = [
    "run",
    "--no-check",
    "--quiet",
    "--no-prompt",
    "--unstable-worker-options",
    `--config=${options.config}`,
    // The runtime and the agents' modules are read by the process itself
    // (a worker reads only what its own grant allows).
    "--allow-read",
    `--v8-flags=--max-old-space-size=${options.memoryMb}`,
  ];
  const net = union(granted.net, [`127.0.0.1:${options.port}`]);
  flags.push(net === true ? "--allow-net" : `--allow-net=${(net as string[]).join(",")}`);
  for (const name of ["write", "env", "run", "ffi", "sys", "import"] as const) {
    const value = granted[name];
    if (value === true) flags.push(`--allow-${name}`);
    else if (value !== false && value.length > 0) flags.push(`--allow-${name}=${value.join(",")}`);
  }
  return flags;
}

/**
 * The environment of a sandbox process: only what Deno itself needs to find
 * its cache, and the variables agents were granted.
 */
export function childEnv(granted: NormalizedPermissions): Record<string, string> {
  const env: Record<string, string> = {};
  const names = granted.env === true
    ? Object.keys(Deno.env.toObject())
    : ["HOME", "DENO_DIR", "XDG_CACHE_HOME", "NO_COLOR", ...(granted.env || [])];
  for (const name of names) {
    const value = Deno.env.get(name);
    if (value !== undefined) env[name] = value;
  }
  return env;
}
