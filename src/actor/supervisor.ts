/**
 * A supervisor in the OTP sense: it starts its children in order, stops them
 * in reverse order, restarts failed ones according to its strategy and their
 * restart types, restores them from their last snapshot, waits a backoff delay
 * before each restart, and gives up — escalating to its own parent — when
 * restarts exceed its intensity within its period.
 *
 * Supervisors are created through `ActorSystem.supervise`.
 *
 * @module
 */
import { backoffDelay } from "../backoff.ts";
import type { Clock } from "../clock.ts";
import { SupervisorEscalationError } from "./actor_errors.ts";
import { type ErrorInfo, toErrorInfo } from "../oao_error.ts";
import type { RuntimeEventData, RuntimeEventType } from "../observability/events.ts";
import type { ActorCell, ChildOwner, Exit } from "./_actor_cell.ts";
import type { RestartType, SpawnOptions } from "./spawn_options.ts";
import { RestartIntensity } from "./restart_intensity.ts";
import {
  type ResolvedSupervisorOptions,
  resolveSupervisorOptions,
  type SupervisorOptions,
} from "./supervisor_options.ts";

/** A supervised actor. */
export interface ActorChildSpec extends Omit<SpawnOptions, "name"> {
  /** Child id; the actor's path is `<supervisor path>/<id>` (or `<id>` under the root). */
  id: string;
  /** The actor module (URL or path). */
  module: string | URL;
}

/** A supervised supervisor (a subtree). */
export interface SupervisorChildSpec {
  /** Child id. */
  id: string;
  /** The subtree. */
  supervisor: Omit<SupervisorSpec, "id">;
  /** Restart type of the subtree. @default {"permanent"} */
  restart?: RestartType;
}

/** Any child. */
export type ChildSpec = ActorChildSpec | SupervisorChildSpec;

/** A supervisor and its children. */
export interface SupervisorSpec extends SupervisorOptions {
  /** Children, started in this order and stopped in reverse. @default {[]} */
  children?: ChildSpec[];
  /** Restart type of this supervisor under its parent. @default {"permanent"} */
  restart?: RestartType;
}

/** What a supervisor needs from the actor system. */
export interface SupervisorHost {
  readonly clock: Clock;
  createCell(spec: ActorChildSpec, path: string, parent?: ActorCell): ActorCell;
  removeCell(cell: ActorCell): void;
  emit<T extends RuntimeEventType>(
    type: T,
    data: RuntimeEventData[T],
    executionId?: string,
  ): Promise<void>;
}

interface Child {
  id: string;
  spec: ChildSpec;
  restart: RestartType;
  cell?: ActorCell;
  sup?: Supervisor;
  attempt: number;
  upSince: number;
  terminating: boolean;
  dynamic: boolean;
}

// Why a restart's backoff ended early: the supervisor stopped (no stack to capture).
const STOPPED = "supervisor stopped";

/** Status of a supervisor. */
export type SupervisorStatus = "new" | "running" | "stopping" | "stopped" | "failed";

/** Supervises actors and other supervisors. */
export class Supervisor implements ChildOwner {
  readonly options: ResolvedSupervisorOptions;
  readonly path: string;
  #host: SupervisorHost;
  #owner: ChildOwner | undefined;
  #children: Child[] = [];
  #intensity: RestartIntensity;
  /**
   * Failures of shared workers already counted, each with the children its
   * restarts restarted (see `#handleExit`).
   */
  #groups = new WeakMap<object, Set<Child>>();
  #status: SupervisorStatus = "new";
  #queue: Promise<void> = Promise.resolve();
  // Made by a restart that waits out a backoff, aborted by `stop`: the
  // restart gives up at once (its timer kept a stopped system's process alive
  // for the whole delay). Made only then: a supervisor of every execution
  // stops, and an abort with its default reason (a DOMException, stack and
  // all) cost ~27 µs an execution.
  #backoffs: AbortController | undefined;
  #childSpecs: ChildSpec[];

  /**
   * Validates the spec; call {@linkcode Supervisor.start} to start children.
   *
   * @param host The actor system.
   * @param spec Options and children.
   * @param context Parent path and owner (the parent supervisor).
   * @throws {TypeError | RangeError} Naming the bad field.
   */
  constructor(
    host: SupervisorHost,
    spec: SupervisorSpec,
    context: { parentPath: string; owner?: ChildOwner; root?: boolean },
  ) {
    this.options = resolveSupervisorOptions(spec);
    this.path = context.root
      ? ""
      : context.parentPath
      ? `${context.parentPath}/${this.options.id}`
      : this.options.id;
    this.#host = host;
    this.#owner = context.owner;
    this.#intensity = new RestartIntensity(this.options.intensity, this.options.periodMs);
    const children = spec.children ?? [];
    if (!Array.isArray(children)) {
      throw new TypeError(`Invalid children of supervisor "${this.options.id}": expected an array`);
    }
    const ids = new Set<string>();
    for (const [i, child] of children.entries()) {
      validateChildSpec(child, `children[${i}] of supervisor "${this.options.id}"`);
      if (ids.has(child.id)) {
        throw new TypeError(`Duplicate child id "${child.id}" in supervisor "${this.options.id}"`);
      }
      ids.add(child.id);
    }
    this.#childSpecs = children;
  }

  /** Current status. */
  get status(): SupervisorStatus {
    return this.#status;
  }

  /** Paths of the children, in start order. */
  get childPaths(): string[] {
    return this.#children.map((c) => c.cell?.path ?? c.sup?.path ?? c.id);
  }

  /** Restarts counted in the current intensity window. */
  get recentRestarts(): number {
    return this.#intensity.count;
  }

  /**
   * Starts every child in order. If one fails to start, the started ones are
   * stopped in reverse order and the error is rethrown.
   *
   * @throws {ActorSpawnError} When a child fails to start.
   */
  async start(): Promise<void> {
    this.#status = "running";
    try {
      for (const spec of this.#childSpecs) await this.#startNew(spec, false);
    } catch (error) {
      await this.#stopChildren(this.#children);
      this.#status = "failed";
      throw error;
    }
  }

  /**
   * Adds and starts a child at the end of the start order.
   *
   * @param spec The child.
   * @param parent For actors spawned by an actor: the spawning actor.
   * @returns The started actor cell or supervisor.
   */
  async startChild(spec: ChildSpec, parent?: ActorCell): Promise<ActorCell | Supervisor> {
    validateChildSpec(spec, `child of supervisor "${this.options.id}"`);
    if (this.#status !== "running") {
      throw new SupervisorEscalationError(
        this.path,
        `cannot start "${spec.id}": the supervisor is ${this.#status}`,
      );
    }
    const child = await this.#startNew(spec, true, parent);
    return (child.cell ?? child.sup)!;
  }

  /**
   * Stops one child for good (it is not restarted) and forgets it.
   *
   * @param target The child's cell or supervisor.
   * @param mode Graceful (drain, with the child's shutdown timeout) or immediate.
   */
  async terminateChild(target: object, mode: "graceful" | "immediate" = "graceful"): Promise<void> {
    const child = this.#children.find((c) => c.cell === target || c.sup === target);
    if (!child) return;
    child.terminating = true;
    await this.#stopChild(child, mode);
    this.#children = this.#children.filter((c) => c !== child);
  }

  /**
   * Stops every child in reverse start order.
   *
   * @param mode `graceful` (default) lets each child drain within its shutdown timeout.
   */
  async stop(mode: "graceful" | "immediate" = "graceful"): Promise<void> {
    if (this.#status === "stopped") return;
    this.#status = "stopping";
    this.#backoffs?.abort(STOPPED);
    await this.#stopChildren(this.#children, mode);
    this.#status = "stopped";
  }

  /** Called by a child when it exits; applies the strategy. */
  childExited(target: object, exit: Exit): void {
    const child = this.#children.find((c) => c.cell === target || c.sup === target);
    if (!child || child.terminating || this.#status !== "running") return;
    this.#queue = this.#queue.then(() => this.#handleExit(child, exit)).catch((error) => {
      void this.#escalate(`restart of "${child.id}" failed: ${toErrorInfo(error).message}`);
    });
  }

  async #handleExit(child: Child, exit: Exit): Promise<void> {
    if (this.#status !== "running" || !this.#children.includes(child)) return;
    const abnormal = exit.kind === "failed";
    const restart = child.restart === "permanent" || (child.restart === "transient" && abnormal);
    if (!restart) {
      this.#children = this.#children.filter((c) => c !== child);
      if (child.cell) {
        await child.cell.shutdown(
          "immediate",
          abnormal ? `failed: ${exit.error.message}` : "exited",
        );
        this.#host.removeCell(child.cell);
      }
      return;
    }
    const now = this.#host.clock.now();
    // The actors of one failed shared worker count as one restart: one
    // stray error must not exhaust the intensity of their supervisor.
    // A child already restarted for this failure (by the restart of a
    // sibling's group, one_for_all or rest_for_one) is not restarted again.
    const failure = abnormal ? exit.group : undefined;
    const counted = failure === undefined ? undefined : this.#groups.get(failure);
    if (counted?.has(child)) return;
    const restartedFor = counted ?? (failure === undefined ? undefined : new Set<Child>());
    if (failure !== undefined && !counted) this.#groups.set(failure, restartedFor!);
    if (!counted && !this.#intensity.allow(now)) {
      await this.#escalate(
        `${this.#intensity.count} restarts within ${this.options.periodMs} ms exceed the intensity of ${this.options.intensity}`,
      );
      return;
    }
    const reason = abnormal
      ? `${exit.reason}: ${exit.error.message}`
      : "exited normally (permanent child)";
    const error = abnormal ? exit.error : undefined;
    let group: Child[];
    switch (this.options.strategy) {
      case "one_for_one":
        group = [child];
        break;
      case "one_for_all":
        group = [...this.#children];
        break;
      case "rest_for_one":
        group = this.#children.slice(this.#children.indexOf(child));
        break;
    }
    for (const member of group) restartedFor?.add(member);
    const others = group.filter((c) => c !== child);
    for (const sibling of [...others].reverse()) {
      sibling.terminating = true;
      await this.#stopChild(sibling, "graceful", false);
      sibling.terminating = false;
    }
    if (now - child.upSince > this.options.resetBackoffAfterMs) child.attempt = 0;
    child.attempt++;
    const delayMs = backoffDelay(child.attempt, this.options.backoff);
    for (const member of group) {
      if (this.#status !== "running") return;
      const why = member === child
        ? reason
        : `sibling "${child.id}" failed (${this.options.strategy})`;
      await this.#restart(
        member,
        member === child ? delayMs : 0,
        why,
        error,
        member === child ? child.attempt : 1,
      );
    }
  }

  async #restart(
    child: Child,
    delayMs: number,
    reason: string,
    error: ErrorInfo | undefined,
    attempt: number,
  ): Promise<void> {
    if (child.cell) {
      const cell = child.cell;
      // The read goes out first: `new Worker` (in prewarm) blocks this thread
      // while the worker starts, and the reply is waiting when it returns.
      const loading = cell.loadSnapshot();
      cell.prewarm();
      const snapshot = await loading;
      const data: RuntimeEventData["RETRY_ATTEMPTED"] = {
        actor: cell.path,
        attempt,
        delayMs,
        reason,
        snapshotSeq: snapshot?.version ?? 0,
      };
      if (error) data.error = error;
      await this.#host.emit("RETRY_ATTEMPTED", data, cell.options.executionId);
      if (!await this.#backoff(delayMs)) return;
      if (this.#status !== "running" || !this.#children.includes(child)) return;
      try {
        await cell.start(snapshot);
      } catch (startError) {
        // The new incarnation failed to load: counts as another failure.
        this.childExited(cell, {
          kind: "failed",
          reason: "load_failed",
          error: toErrorInfo(startError),
        });
        return;
      }
      child.upSince = this.#host.clock.now();
      await this.#host.emit("ACTOR_RESTARTED", {
        actor: cell.path,
        incarnation: cell.incarnation,
        restoredSeq: cell.restoredSeq,
      }, cell.options.executionId);
      return;
    }
    const data: RuntimeEventData["RETRY_ATTEMPTED"] = {
      actor: child.sup!.path,
      attempt,
      delayMs,
      reason,
    };
    if (error) data.error = error;
    await this.#host.emit("RETRY_ATTEMPTED", data);
    if (!await this.#backoff(delayMs)) return;
    await child.sup!.stop();
    const spec = child.spec as SupervisorChildSpec;
    const sup = new Supervisor(this.#host, { ...spec.supervisor, id: spec.id }, {
      parentPath: this.path,
      owner: this,
    });
    child.sup = sup;
    await sup.start();
    child.upSince = this.#host.clock.now();
  }

  // Waits out a restart's backoff; false when the supervisor stopped meanwhile.
  async #backoff(delayMs: number): Promise<boolean> {
    if (delayMs <= 0) return true;
    if (this.#status !== "running") return false; // stopped before the backoff began
    const backoffs = this.#backoffs ??= new AbortController();
    try {
      await this.#host.clock.sleep(delayMs, backoffs.signal);
      return true;
    } catch (error) {
      if (backoffs.signal.aborted) return false;
      throw error;
    }
  }

  async #escalate(reason: string): Promise<void> {
    if (this.#status !== "running") return;
    this.#status = "failed";
    await this.#host.emit("SUPERVISOR_ESCALATED", {
      supervisor: this.path || "root",
      restarts: this.#intensity.count,
      periodMs: this.options.periodMs,
      reason,
    });
    await this.#stopChildren(this.#children);
    this.#owner?.childExited(this, {
      kind: "failed",
      reason: "escalated",
      error: toErrorInfo(new SupervisorEscalationError(this.path || "root", reason)),
    });
  }

  async #startNew(spec: ChildSpec, dynamic: boolean, parent?: ActorCell): Promise<Child> {
    if (this.#children.some((c) => c.id === spec.id)) {
      throw new TypeError(`Duplicate child id "${spec.id}" in supervisor "${this.options.id}"`);
    }
    const child: Child = {
      id: spec.id,
      spec,
      restart: spec.restart ?? "permanent",
      attempt: 0,
      upSince: this.#host.clock.now(),
      terminating: false,
      dynamic,
    };
    if ("supervisor" in spec) {
      const sup = new Supervisor(this.#host, { ...spec.supervisor, id: spec.id }, {
        parentPath: this.path,
        owner: this,
      });
      await sup.start();
      child.sup = sup;
    } else {
      const base = parent ? parent.path : this.path;
      const path = base ? `${base}/${spec.id}` : spec.id;
      const cell = this.#host.createCell(spec, path, parent);
      cell.owner = this;
      try {
        await cell.start(await cell.loadSnapshot());
      } catch (error) {
        this.#host.removeCell(cell);
        throw error;
      }
      child.cell = cell;
    }
    child.upSince = this.#host.clock.now();
    this.#children.push(child);
    return child;
  }

  async #stopChildren(
    children: Child[],
    mode: "graceful" | "immediate" = "graceful",
  ): Promise<void> {
    for (const child of [...children].reverse()) {
      child.terminating = true;
      await this.#stopChild(child, mode);
    }
  }

  // Stops a child; `forget` (stopping for good, not for a restart) also
  // removes its actors from the system.
  async #stopChild(child: Child, mode: "graceful" | "immediate", forget = true): Promise<void> {
    if (child.sup) return await child.sup.stop(mode);
    const cell = child.cell!;
    for (const sub of [...cell.children].reverse()) {
      if (sub.status !== "stopped" && sub.owner instanceof Supervisor) {
        await sub.owner.terminateChild(sub, mode);
      }
    }
    await cell.shutdown(mode, "stopped by its supervisor");
    if (forget) this.#host.removeCell(cell);
  }
}

function validateChildSpec(spec: ChildSpec, where: string): void {
  if (typeof spec !== "object" || spec === null) {
    throw new TypeError(`Invalid ${where} ${JSON.stringify(spec)}: expected an object`);
  }
  if (typeof spec.id !== "string" || !/^[A-Za-z0-9_.:@-]+$/.test(spec.id)) {
    throw new TypeError(
      `Invalid id ${
        JSON.stringify(spec.id)
      } of ${where}: expected letters, digits, "_", ".", ":", "@" or "-"`,
    );
  }
  if ("supervisor" in spec) {
    if (typeof spec.supervisor !== "object" || spec.supervisor === null) {
      throw new TypeError(`Invalid supervisor of ${where} "${spec.id}": expected an object`);
    }
    return;
  }
  if (
    !(typeof spec.module === "string" || spec.module instanceof URL) ||
    String(spec.module).length === 0
  ) {
    throw new TypeError(`Invalid module of ${where} "${spec.id}": expected a URL or a path`);
  }
}
