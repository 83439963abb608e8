/**
 * Options of an actor: name, permissions, mailbox, snapshots, time limits and
 * restart type — merged with defaults, then validated field by field.
 *
 * @example
 * ```ts
 * import { resolveSpawnOptions } from "./spawn_options.ts";
 * const o = resolveSpawnOptions({ name: "counter", snapshot: { everyMessages: 10 } }, "counter");
 * console.assert(o.messageTimeoutMs === 30_000 && o.restart === "permanent");
 * ```
 *
 * @module
 */
import { showValue } from "../_show_value.ts";
import type { MailboxOptions } from "./mailbox.ts";
import {
  type NormalizedPermissions,
  normalizePermissions,
  type PermissionsSpec,
} from "./permissions.ts";

/** When an actor's state is snapshotted. */
export type SnapshotPolicy =
  | "every-message"
  | "never"
  | { everyMessages: number }
  | { everyMs: number };

/** OTP restart types. */
export type RestartType = "permanent" | "transient" | "temporary";

/** Options of an actor. */
export interface SpawnOptions {
  /** Name, unique among siblings; the path is `<parent>/<name>`. @default {"<module basename>-<n>"} */
  name?: string;
  /** Value passed to `initialState(args)`. Must be cloneable. */
  args?: unknown;
  /** Deno permissions of the worker. @default {"none"} */
  permissions?: PermissionsSpec;
  /** Mailbox bound and overflow policy. @default {unbounded} */
  mailbox?: MailboxOptions;
  /**
   * Snapshot policy; a message is acknowledged (never redelivered) only once
   * a snapshot that includes it is durable. @default {"every-message"}
   */
  snapshot?: SnapshotPolicy;
  /** Time limit per message; exceeding it fails the actor. @default {30000} */
  messageTimeoutMs?: number;
  /** OTP restart type. @default {"permanent"} */
  restart?: RestartType;
  /** Graceful stop timeout, after which the worker is terminated. @default {5000} */
  shutdownMs?: number;
  /** Deliveries of one message before it is dead-lettered. @default {3} */
  maxDeliveries?: number;
  /** Persistence key of the snapshots. @default {"<system scope>/actor:<path>"} */
  snapshotKey?: string;
  /** Execution the actor works for; its runtime events go to that execution's log. */
  executionId?: string;
  /**
   * Keep a pre-started spare worker with the module loaded, so that a restart
   * does not pay for a new worker's start-up. Costs one idle worker. @default {false}
   */
  warmSpare?: boolean;
  /**
   * Where the actor runs: `"worker"`, a worker of its own; `"shared"`, a
   * place in a pooled worker that hosts many actors of the same module and
   * permissions (each with its own mailbox, ordering, state and snapshots;
   * module-level globals are shared). Only the host may choose it.
   * @default {"worker"}
   */
  isolation?: Isolation;
  /**
   * With `isolation: "shared"`, the pool whose workers host the actor: actors
   * of different pools never share a worker, even of the same module and
   * permissions (the orchestrator gives each agent definition its own). Only
   * the host may choose it.
   * @default {the module and permissions alone}
   */
  pool?: string;
}

/** Where an actor runs: a worker of its own, or a place in a pooled worker. */
export type Isolation = "worker" | "shared";

/** Options after defaults and validation. */
export interface ResolvedSpawnOptions {
  name: string;
  args: unknown;
  permissions: NormalizedPermissions;
  mailbox: { capacity: number; overflow: "reject" | "drop-newest" | "drop-oldest" };
  snapshot: { mode: "never" } | { mode: "messages"; every: number } | {
    mode: "interval";
    ms: number;
  };
  messageTimeoutMs: number;
  restart: RestartType;
  shutdownMs: number;
  maxDeliveries: number;
  snapshotKey: string | undefined;
  executionId: string | undefined;
  warmSpare: boolean;
  isolation: Isolation;
  pool: string | undefined;
}

const NAME = /^[A-Za-z0-9_.:@-]+$/;

/**
 * Merges defaults into spawn options and validates every field.
 *
 * @param options User options.
 * @param defaultName Name used when none is given.
 * @returns Complete, valid options.
 * @throws {TypeError | RangeError} Naming the field and the bad value.
 *
 * @example
 * ```ts
 * import { resolveSpawnOptions } from "./spawn_options.ts";
 * try {
 *   resolveSpawnOptions({ messageTimeoutMs: -1 }, "a");
 * } catch (e) {
 *   console.assert(e instanceof RangeError);
 * }
 * ```
 */
export function resolveSpawnOptions(
  options: SpawnOptions,
  defaultName: string,
): ResolvedSpawnOptions {
  if (typeof options !== "object" || options === null) {
    throw new TypeError(`Invalid spawn options ${JSON.stringify(options)}: expected an object`);
  }
  const name = options.name ?? defaultName;
  if (typeof name !== "string" || !NAME.test(name)) {
    throw new TypeError(
      `Invalid name ${JSON.stringify(name)}: expected letters, digits, "_", ".", ":", "@" or "-"`,
    );
  }
  const capacity = options.mailbox?.capacity ?? Infinity;
  if (capacity !== Infinity && (!Number.isInteger(capacity) || capacity < 1)) {
    throw new RangeError(`Invalid mailbox.capacity ${capacity}: expected a positive integer`);
  }
  const overflow = options.mailbox?.overflow ?? "reject";
  if (!["reject", "drop-newest", "drop-oldest"].includes(overflow)) {
    throw new TypeError(
      `Invalid mailbox.overflow ${
        JSON.stringify(overflow)
      }: expected "reject", "drop-newest" or "drop-oldest"`,
    );
  }
  const restart = options.restart ?? "permanent";
  if (!["permanent", "transient", "temporary"].includes(restart)) {
    throw new TypeError(
      `Invalid restart ${
        JSON.stringify(restart)
      }: expected "permanent", "transient" or "temporary"`,
    );
  }
  return {
    name,
    args: options.args,
    permissions: normalizePermissions(options.permissions, "permissions"),
    mailbox: { capacity, overflow },
    snapshot: resolveSnapshotPolicy(options.snapshot ?? "every-message"),
    messageTimeoutMs: positive(options.messageTimeoutMs ?? 30_000, "messageTimeoutMs", true),
    restart,
    shutdownMs: positive(options.shutdownMs ?? 5_000, "shutdownMs", true),
    maxDeliveries: positiveInteger(options.maxDeliveries ?? 3, "maxDeliveries"),
    snapshotKey: optionalString(options.snapshotKey, "snapshotKey"),
    executionId: optionalString(options.executionId, "executionId"),
    warmSpare: flag(options.warmSpare, "warmSpare"),
    isolation: resolveIsolation(options.isolation),
    pool: resolvePool(options),
  };
}

function resolvePool(options: SpawnOptions): string | undefined {
  const pool = optionalString(options.pool, "pool");
  if (pool !== undefined && options.isolation !== "shared") {
    throw new TypeError(
      `Invalid pool ${JSON.stringify(pool)}: a pool applies only to isolation "shared" (got ${
        showValue(options.isolation)
      })`,
    );
  }
  return pool;
}

function resolveIsolation(value: unknown): Isolation {
  if (value === undefined) return "worker";
  if (value !== "worker" && value !== "shared") {
    throw new TypeError(
      `Invalid isolation ${showValue(value)}: expected "worker" or "shared"`,
    );
  }
  return value;
}

function resolveSnapshotPolicy(policy: SnapshotPolicy): ResolvedSpawnOptions["snapshot"] {
  if (policy === "never") return { mode: "never" };
  if (policy === "every-message") return { mode: "messages", every: 1 };
  if (typeof policy === "object" && policy !== null) {
    if ("everyMessages" in policy) {
      return {
        mode: "messages",
        every: positiveInteger(policy.everyMessages, "snapshot.everyMessages"),
      };
    }
    if ("everyMs" in policy) {
      return { mode: "interval", ms: positive(policy.everyMs, "snapshot.everyMs", false) };
    }
  }
  throw new TypeError(
    `Invalid snapshot ${
      JSON.stringify(policy)
    }: expected "every-message", "never", { everyMessages: n } or { everyMs: t }`,
  );
}

function positive(value: number, field: string, allowInfinity: boolean): number {
  if (
    typeof value !== "number" || Number.isNaN(value) || value <= 0 ||
    (!allowInfinity && !Number.isFinite(value))
  ) {
    throw new RangeError(`Invalid ${field} ${JSON.stringify(value)}: expected a positive number`);
  }
  return value;
}

function positiveInteger(value: number, field: string): number {
  if (!Number.isInteger(value) || value < 1) {
    throw new RangeError(`Invalid ${field} ${JSON.stringify(value)}: expected a positive integer`);
  }
  return value;
}

function optionalString(value: string | undefined, field: string): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== "string" || value.length === 0) {
    throw new TypeError(`Invalid ${field} ${JSON.stringify(value)}: expected a non-empty string`);
  }
  return value;
}

function flag(value: boolean | undefined, field: string): boolean {
  if (value === undefined) return false;
  if (typeof value !== "boolean") {
    throw new TypeError(`Invalid ${field} ${JSON.stringify(value)}: expected a boolean`);
  }
  return value;
}
