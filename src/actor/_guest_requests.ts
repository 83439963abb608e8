// What an actor's worker may ask the host for — a link to another actor
// (`connect`), and `spawn`, `stop` and service `call` requests — and the
// rules that decide it. The host never trusts a guest: each request is
// authorized against what that actor may do before any lookup that would
// tell it what exists, and a refusal is recorded as ACCESS_DENIED.
// Internal: actors ask through their ActorContext.
import type { Logger } from "@logtape/logtape";
import type { Clock } from "../clock.ts";
import { _SecondBudgets, REPORT_BUDGET } from "./_second_budget.ts";
import { AccessDeniedError, ActorNotFoundError, ActorSpawnError } from "./actor_errors.ts";
import { toErrorInfo } from "../oao_error.ts";
import type { RuntimeEventData } from "../observability/events.ts";
import type { ActorCell } from "./_actor_cell.ts";
import { type ActorRegistry, isDescendant } from "./_actor_registry.ts";
import type { EventPublisher } from "./_event_publisher.ts";
import type { LinkBroker } from "./_link_broker.ts";
import type { HostToWorker, WorkerRequest, WorkerToHost } from "./_protocol.ts";
import { exceedingPermission } from "./permissions.ts";
import { resolveSpawnOptions, type SpawnOptions } from "./spawn_options.ts";
import type { ChildSpec, Supervisor } from "./supervisor.ts";

/**
 * Handles a service call made by an actor with `ctx.call(service, payload)`.
 *
 * @example
 * ```ts
 * import type { ServiceHandler } from "./actor_system.ts";
 * const clock: ServiceHandler = (_payload, caller) => ({ now: Date.now(), for: caller.path });
 * console.assert(typeof clock === "function");
 * ```
 */
export type ServiceHandler = (
  payload: unknown,
  caller: { path: string; executionId: string | undefined },
) => unknown | Promise<unknown>;

/** What {@linkcode GuestRequests} needs from its actor system. */
export interface GuestRequestsOptions {
  /** The actors, by path. */
  readonly registry: ActorRegistry;
  /** Opens the links an actor is allowed. */
  readonly broker: LinkBroker;
  /** Records refusals and undeliverable targets. */
  readonly publisher: EventPublisher;
  /** The host services actors may call, by name. */
  readonly services: ReadonlyMap<string, ServiceHandler>;
  /** Starts a child under the root supervisor, once its modules are verified. */
  startChild(spec: ChildSpec, parent: ActorCell): Promise<ActorCell | Supervisor>;
  /** Reads the time of the actors' report budgets. */
  readonly clock: Clock;
  /** Warns that an actor's reports are dropped. */
  readonly log: Logger;
}

/** Authorizes and carries out what actors' workers ask the host for. */
export class GuestRequests {
  readonly #options: GuestRequestsOptions;
  readonly #reports: _SecondBudgets<ActorCell>;
  // The paths of the spawns asked for and not yet answered, by tree: those not
  // registered yet count too (a spawn verifies its module before it registers).
  readonly #spawning = new WeakMap<ActorCell, Set<string>>();

  /** @param options The system's registry, link broker, events, services and spawner. */
  constructor(options: GuestRequestsOptions) {
    this.#options = options;
    this.#reports = new _SecondBudgets(options.clock, REPORT_BUDGET);
  }

  /**
   * Links `cell` to the actor it wants to send to, if it may reach it; else
   * fails its outbound link with why.
   *
   * @param cell The sender.
   * @param message Its request for a link.
   */
  connect(cell: ActorCell, message: Extract<WorkerToHost, { k: "connect" }>): void {
    // An actor of an execution is refused anything outside it before any lookup.
    const execution = cell.options.executionId;
    const outside = execution !== undefined && !message.target.startsWith(`${execution}/`) &&
      !message.target.startsWith(`${cell.path}/`);
    const target = outside ? undefined : this.#options.registry.live(message.target);
    if (outside || target) {
      const refusal = target ? mayReach(cell, target) : "it is not part of its execution";
      if (refusal) {
        const denied = this.#deny(
          cell,
          "connect",
          `send to "${message.target}"`,
          refusal,
          message.target,
        );
        return cell.failOutbound(message.target, toErrorInfo(denied));
      }
      cell.targets.add(message.target);
      return this.#options.broker.connect(cell, target!, message.space);
    }
    const error = toErrorInfo(new ActorNotFoundError(message.target));
    cell.failOutbound(message.target, error);
    this.report(cell, "MESSAGE_UNDELIVERABLE", { actor: message.target, from: cell.path, error });
  }

  /**
   * Records an event of what `cell`'s worker did (a refusal, an undeliverable
   * send) in its execution's log, within the actor's budget of reports a
   * second; past it, the event is dropped and a warning says so once.
   *
   * @param cell The actor.
   * @param type The event's type.
   * @param data The event's data.
   */
  report<T extends "ACCESS_DENIED" | "MESSAGE_UNDELIVERABLE">(
    cell: ActorCell,
    type: T,
    data: RuntimeEventData[T],
  ): void {
    const taken = this.#reports.take(cell);
    if (taken === "over") {
      this.#options.log.with({ actor: cell.path }).warn(
        `Actor {actor} was refused or sent to missing actors more than ${REPORT_BUDGET.count} times within a second: the events of the rest of that second are not recorded`,
      );
    }
    if (taken !== "ok") return;
    void this.#options.publisher.emit(type, data, cell.options.executionId);
  }

  /**
   * Carries out a request of `cell`'s worker, if allowed, and replies to the
   * incarnation that asked (never to a restarted one).
   *
   * @param cell The actor that asks.
   * @param id The request's id, echoed in the reply.
   * @param request The request.
   * @returns A promise that settles once the reply is posted (it never rejects).
   */
  async handle(cell: ActorCell, id: number, request: WorkerRequest): Promise<void> {
    // The answer goes to the incarnation that asked, never to a restarted one:
    // its request ids start again at 1, and an old answer would settle a new request.
    const incarnation = cell.incarnation;
    const reply = (message: Extract<HostToWorker, { k: "reply" }>) => {
      if (cell.incarnation === incarnation) cell.post(message);
    };
    try {
      let value: unknown;
      switch (request.op) {
        case "spawn": {
          const options = { ...request.options } as SpawnOptions;
          for (const field of HOST_ONLY_OPTIONS) {
            if (options[field] === undefined) continue;
            if (field === "executionId" && options.executionId === cell.options.executionId) {
              continue;
            }
            // A guest's actors never share a worker with other executions' actors.
            if (field === "isolation" && options.isolation === "worker") continue;
            throw this.#deny(
              cell,
              "spawn",
              `spawn "${request.module.slice(0, 200)}" with option "${field}"`,
              "only the host sets it",
            );
          }
          // A child works for its parent's execution, whatever it was told.
          if (cell.options.executionId !== undefined) {
            options.executionId = cell.options.executionId;
          }
          const name = options.name ?? this.#options.registry.defaultName(request.module);
          const root = treeRoot(cell);
          let spawning = this.#spawning.get(root);
          if (!spawning) this.#spawning.set(root, spawning = new Set());
          let unregistered = 0;
          for (const path of spawning) if (!this.#options.registry.get(path)) unregistered++;
          if (unregistered + descendants(root, MAX_SPAWNED_PER_TREE) >= MAX_SPAWNED_PER_TREE) {
            throw new ActorSpawnError(
              request.module,
              `the actors under "${root.path}" spawned ${MAX_SPAWNED_PER_TREE} actors that are alive, the most they may (each has a worker of its own)`,
            );
          }
          const resolved = resolveSpawnOptions({ ...options, name }, name);
          const exceeding = exceedingPermission(resolved.permissions, cell.options.permissions);
          if (exceeding) {
            throw new ActorSpawnError(
              request.module,
              `permission "${exceeding}" exceeds what the parent "${cell.path}" was granted`,
            );
          }
          const { name: _name, ...rest } = options;
          const path = `${cell.path}/${name}`;
          spawning.add(path);
          let child: unknown;
          try {
            child = await this.#options.startChild(
              { ...rest, id: name, module: request.module },
              cell,
            );
          } finally {
            spawning.delete(path);
          }
          value = (child as ActorCell).path;
          break;
        }
        case "stop": {
          // Only itself and its own subtree, by path: a refusal tells nothing of what exists.
          const path = request.target === cell.path || request.target.includes("/")
            ? request.target
            : `${cell.path}/${request.target}`;
          const own = path === cell.path || path.startsWith(`${cell.path}/`);
          const target = own ? this.#options.registry.get(path) : undefined;
          if (!target || (target !== cell && !isDescendant(target, cell))) {
            throw this.#deny(
              cell,
              "stop",
              `stop "${path}"`,
              "an actor stops only itself and the children it spawned",
              path,
            );
          }
          if (target === cell) {
            // Stopping itself: answer first, the worker goes away with the stop.
            reply({ k: "reply", id, ok: true, value: undefined });
            void this.#options.registry.stopTree(target, request.mode);
            return;
          }
          await this.#options.registry.stopTree(target, request.mode);
          break;
        }
        case "call": {
          const services = this.#options.services;
          const handler = services.get(request.service);
          if (!handler) {
            throw new TypeError(
              `No service "${request.service}" is registered (registered: ${
                [...services.keys()].map((s) => `"${s}"`).join(", ") || "none"
              })`,
            );
          }
          value = await handler(request.payload, {
            path: cell.path,
            executionId: cell.options.executionId,
          });
          break;
        }
      }
      try {
        reply({ k: "reply", id, ok: true, value });
      } catch (error) {
        reply({ k: "reply", id, ok: false, error: toErrorInfo(error, { stack: false }) });
      }
    } catch (error) {
      // Without the stack: it names the host's files and functions, none of the actor's business.
      reply({ k: "reply", id, ok: false, error: toErrorInfo(error, { stack: false }) });
    }
  }

  // Records a refused request and returns the error that answers it.
  #deny(
    cell: ActorCell,
    op: string,
    action: string,
    reason: string,
    target?: string,
  ): AccessDeniedError {
    const data: RuntimeEventData["ACCESS_DENIED"] = { actor: cell.path, op, reason };
    if (target !== undefined) data.target = target;
    this.report(cell, "ACCESS_DENIED", data);
    return new AccessDeniedError(cell.path, action, reason);
  }
}

// Spawn options a worker may not set: they choose whose data an actor reads and writes.
const HOST_ONLY_OPTIONS = ["snapshotKey", "executionId", "isolation", "pool"] as const;

/**
 * Live actors that the actors under one host-spawned actor may have spawned.
 * Each has a worker of its own (7–8 MB and a thread): without a bound, an
 * agent with no permissions spawning in a loop took its host to 1.2 GB and
 * 144 threads in 150 spawns.
 */
export const MAX_SPAWNED_PER_TREE = 64;

// The host-spawned actor at the top of the tree `cell` is in.
function treeRoot(cell: ActorCell): ActorCell {
  let root = cell;
  while (root.parent) root = root.parent;
  return root;
}

// The number of actors under `cell`, counted up to `atMost`.
function descendants(cell: ActorCell, atMost: number): number {
  let count = 0;
  const pending = [...cell.children];
  while (pending.length > 0 && count < atMost) {
    const next = pending.pop()!;
    count++;
    pending.push(...next.children);
  }
  return count;
}

// Whom an actor's worker may send to: the actors of its own execution (its
// peers and their children); an actor outside any execution, the other such
// actors and its own children. Returns why not, or undefined.
function mayReach(from: ActorCell, to: ActorCell): string | undefined {
  if (to === from || isDescendant(to, from)) return undefined;
  const execution = from.options.executionId;
  if (execution !== undefined) {
    return to.options.executionId === execution ? undefined : "it is not part of its execution";
  }
  return to.options.executionId === undefined
    ? undefined
    : "it works for an execution the sender is not part of";
}
