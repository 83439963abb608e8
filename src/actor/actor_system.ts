/**
 * The actor system: spawns actors into their own Web Workers, routes
 * messages, supervises failures, persists snapshots, and publishes runtime
 * events on one event bus.
 *
 * @example Spawn an actor, talk to it, survive a crash
 * ```ts
 * import { ActorSystem } from "@oao/runtime";
 * import assert from "node:assert/strict";
 *
 * const system = new ActorSystem();
 * // A module whose default export is `defineBehavior({ initialState, receive })`.
 * const counter = await system.spawn(new URL("../../actors/counter.ts", import.meta.url), {
 *   name: "counter",
 * });
 * counter.tell({ type: "add", n: 5 });
 * assert.equal(await counter.ask({ type: "get" }), 5);
 * counter.kill("let it crash"); // restarted by its supervisor from its last snapshot
 * assert.equal(await counter.ask({ type: "get" }), 5);
 * await system.shutdown();
 * ```
 *
 * @module
 */
import { getLogger } from "@logtape/logtape";
import { type Clock, systemClock, type TimerId } from "../clock.ts";
import {
  AccessDeniedError,
  ActorExistsError,
  ActorNotFoundError,
  ActorSpawnError,
  ActorStoppedError,
  type ErrorInfo,
  toErrorInfo,
} from "../errors.ts";
import type { EventStore } from "../events/event_store.ts";
import { storeJournal } from "../events/journal.ts";
import { boundErrorInfo, type Limits, resolveLimits, truncateText } from "../limits.ts";
import { EventBus } from "../observability/event_bus.ts";
import {
  type OaoEvent,
  RUNTIME_EVENT_LEVELS,
  type RuntimeEventData,
  type RuntimeEventType,
} from "../observability/events.ts";
import { InMemoryPersistenceAdapter } from "../persistence/in_memory_persistence_adapter.ts";
import type { PersistenceAdapter } from "../persistence/persistence_adapter.ts";
import {
  type ActorChildSpec,
  type ChildSpec,
  Supervisor,
  type SupervisorChildSpec,
  type SupervisorSpec,
} from "./supervisor.ts";
import type { SupervisorOptions } from "./supervisor_options.ts";
import { formatTraceparent, newTraceContext } from "../tracing/trace_context.ts";
import { Tracer } from "../tracing/tracer.ts";
import { exportWorkerSpans } from "../tracing/_packed_spans.ts";
import { ActorCell, type CellHost, createActorWorker } from "./_actor_cell.ts";
import { HostEndpoint } from "./_host_endpoint.ts";
import { LinkBroker } from "./_link_broker.ts";
import type { HostToWorker, WorkerToHost } from "./_protocol.ts";
import { WorkerPool, type WorkerPoolOptions } from "./_worker_pool.ts";
import { prepareRuntimeBundle } from "./_runtime_bundle.ts";
import type { AskOptions } from "./actor_context.ts";
import { ActorRef, type HostSendOptions } from "./actor_ref.ts";
import { exceedingPermission, normalizePermissions, type PermissionValue } from "./permissions.ts";
import {
  type SandboxOptions,
  verifiedActorModule,
  type VerifiedModule,
  verifyActorModule,
} from "./_module_sandbox.ts";
import { resolveSpawnOptions, type SpawnOptions } from "./spawn_options.ts";

/** Handles a service call made by an actor with `ctx.call(service, payload)`. */
export type ServiceHandler = (
  payload: unknown,
  caller: { path: string; executionId: string | undefined },
) => unknown | Promise<unknown>;

/** Options of an {@linkcode ActorSystem}. */
export interface ActorSystemOptions {
  /** Name; also the scope of actor snapshots. @default {"oao"} */
  name?: string;
  /** Where snapshots go. @default {a new InMemoryPersistenceAdapter} */
  persistence?: PersistenceAdapter;
  /** Journal of runtime events. @default {none: events reach listeners only} */
  eventStore?: EventStore;
  /** Log id in the event store for events of actors outside any execution. @default {"system-<name>"} */
  systemLogId?: string;
  /** Event bus to publish on (share one with an orchestrator). @default {a new bus} */
  bus?: EventBus;
  /** Time source. @default {systemClock} */
  clock?: Clock;
  /** Tracer; actors record spans only when it is enabled. @default {disabled} */
  tracer?: Tracer;
  /** Options of the root supervisor of `spawn`ed actors. @default {one_for_one, 3 in 5 s} */
  root?: Omit<SupervisorOptions, "id">;
  /** Heartbeat period of workers, in ms. @default {250} */
  heartbeatMs?: number;
  /** A worker silent this long (while not busy) is considered dead, in ms. @default {5000} */
  heartbeatTimeoutMs?: number;
  /** How often time limits and heartbeats are checked, in ms. @default {50} */
  watchdogIntervalMs?: number;
  /** Time a worker has to load and restore, in ms. @default {30000} */
  spawnTimeoutMs?: number;
  /** Size limits on what workers send the host. @default {DEFAULT_LIMITS} */
  limits?: Partial<Limits>;
  /**
   * Bounds of the pooled workers that host actors spawned with
   * `isolation: "shared"`. @default {256 actors per worker, 4 workers per module, idle after 30 s}
   */
  pool?: WorkerPoolOptions;
  /** Log runtime events (a sandbox process leaves that to its orchestrator). @default {true} */
  logEvents?: boolean;
  /**
   * Called when a worker is terminated while it runs code without yielding:
   * Deno does not stop such a thread, so it keeps a core busy until the
   * process ends. A sandbox process reports it so that it is replaced.
   */
  onSpinningWorker?: (actor: string) => void;
}

/** A message set aside after failing on every delivery. */
export interface DeadLetter {
  /** The actor that could not handle it. */
  actor: string;
  /** The sender. */
  from: string;
  /** Its sequence number on the sender's link. */
  seq: number;
  /** The message. */
  message: unknown;
  /** Deliveries that failed. */
  attempts: number;
  /** The last error. */
  error: ErrorInfo;
  /** Epoch ms. */
  time: number;
}

/** Spawns, addresses, supervises and stops actors. */
export class ActorSystem {
  /** The event stream: runtime events of every actor. */
  readonly events: EventBus;
  /** The system's name. */
  readonly name: string;
  readonly #clock: Clock;
  readonly #persistence: PersistenceAdapter;
  readonly #tracer: Tracer;
  readonly #cells = new Map<string, ActorCell>();
  readonly #broker = new LinkBroker();
  readonly #host: HostEndpoint;
  readonly #root: Supervisor;
  readonly #services = new Map<string, ServiceHandler>();
  readonly #deadLetters: DeadLetter[] = [];
  readonly #cellHost: CellHost;
  readonly #watchdogMs: number;
  readonly #log = getLogger(["oao", "actor"]);
  #watchdog: TimerId | undefined;
  #stopped = false;
  #terminated: Promise<{ reason: string; error?: ErrorInfo }>;
  #resolveTerminated!: (value: { reason: string; error?: ErrorInfo }) => void;
  #spawnCounter = 0;
  readonly #fences = new Map<string, number>();
  readonly #verified = new WeakMap<ActorCell, VerifiedModule>();
  readonly #pool: WorkerPool;
  #watchCursor: Iterator<ActorCell> | undefined;

  /**
   * @param options Persistence, event store, clock, tracer and timing options.
   * @throws {TypeError | RangeError} Naming an invalid option.
   */
  constructor(options: ActorSystemOptions = {}) {
    this.name = options.name ?? "oao";
    this.#clock = options.clock ?? systemClock;
    this.#persistence = options.persistence ??
      new InMemoryPersistenceAdapter({ clock: this.#clock });
    this.#tracer = options.tracer ?? new Tracer();
    this.events = options.bus ?? new EventBus();
    const systemLogId = options.systemLogId ?? `system-${this.name}`;
    if (options.eventStore) {
      this.events.setJournal(storeJournal(options.eventStore, systemLogId));
    }
    const positive = (value: number | undefined, fallback: number, field: string) => {
      const v = value ?? fallback;
      if (!Number.isFinite(v) || v <= 0) {
        throw new RangeError(`Invalid ${field} ${JSON.stringify(v)}: expected a positive number`);
      }
      return v;
    };
    const heartbeatMs = positive(options.heartbeatMs, 250, "heartbeatMs");
    const heartbeatTimeoutMs = positive(options.heartbeatTimeoutMs, 5_000, "heartbeatTimeoutMs");
    if (heartbeatTimeoutMs <= heartbeatMs) {
      throw new RangeError(
        `Invalid heartbeatTimeoutMs ${heartbeatTimeoutMs}: must exceed heartbeatMs (${heartbeatMs})`,
      );
    }
    this.#watchdogMs = positive(options.watchdogIntervalMs, 50, "watchdogIntervalMs");
    const spawnTimeoutMs = positive(options.spawnTimeoutMs, 30_000, "spawnTimeoutMs");
    this.#pool = new WorkerPool({
      clock: this.#clock,
      probeTimeoutMs: heartbeatTimeoutMs,
      create: (entry, permissions, name) => createActorWorker(entry, permissions, name, true),
      ...(options.onSpinningWorker ? { onStuckWorker: options.onSpinningWorker } : {}),
    }, options.pool);
    this.#cellHost = {
      clock: this.#clock,
      persistence: this.#persistence,
      broker: this.#broker,
      tracing: this.#tracer.enabled,
      heartbeatMs,
      heartbeatTimeoutMs,
      spawnTimeoutMs,
      limits: resolveLimits(options.limits),
      pool: this.#pool,
      ...(options.onSpinningWorker ? { onSpinningWorker: options.onSpinningWorker } : {}),
      emit: (type, data, executionId) => this.#emit(type, data, executionId),
      onWorkerMessage: (cell, message) => this.#onWorkerMessage(cell, message),
      onDeadLetter: (cell, message) => this.#onDeadLetter(cell, message),
    };
    this.#host = new HostEndpoint({
      broker: this.#broker,
      clock: this.#clock,
      lookup: (path) => this.#liveCell(path),
      onUndeliverable: (target, error) =>
        void this.#emit("MESSAGE_UNDELIVERABLE", { actor: target, from: this.#host.path, error }),
      onViolation: (target, detail) => this.#liveCell(target)?.violation(detail),
    });
    this.#root = new Supervisor(
      {
        clock: this.#clock,
        createCell: (spec, path, parent) => this.#createCell(spec, path, parent),
        removeCell: (cell) => this.#removeCell(cell),
        emit: (type, data, executionId) => this.#emit(type, data, executionId),
      },
      { strategy: "one_for_one", ...options.root, id: "root" },
      {
        parentPath: "",
        root: true,
        owner: {
          childExited: (_child, exit) =>
            void this.#terminate(
              "the root supervisor gave up",
              exit.kind === "failed" ? exit.error : undefined,
            ),
        },
      },
    );
    this.#terminated = new Promise((resolve) => (this.#resolveTerminated = resolve));
    if (options.logEvents !== false) this.events.subscribe((event) => this.#logEvent(event));
    void this.#root.start();
  }

  /** Settles when the system has stopped: on `shutdown()` or when the root supervisor gives up. */
  get terminated(): Promise<{ reason: string; error?: ErrorInfo }> {
    return this.#terminated;
  }

  /** Paths of the actors alive now. */
  get actors(): string[] {
    return [...this.#cells.values()].filter((c) => c.alive).map((c) => c.path);
  }

  /** Pooled workers alive now (each hosts actors spawned with `isolation: "shared"`). */
  get pooledWorkers(): number {
    return this.#pool.workers;
  }

  /** Messages set aside after failing on every delivery, oldest first. */
  get deadLetters(): readonly DeadLetter[] {
    return this.#deadLetters;
  }

  /** The persistence adapter snapshots go to. */
  get persistence(): PersistenceAdapter {
    return this.#persistence;
  }

  /** The tracer actors report to. */
  get tracer(): Tracer {
    return this.#tracer;
  }

  /**
   * Spawns an actor from a module into its own worker, under the root
   * supervisor, and resolves once it is ready (state restored).
   *
   * @param module URL or path (relative to the working directory) of the module.
   * @param options Name, permissions, mailbox, snapshots, limits, restart type.
   * @returns A ref to the actor.
   * @throws {ActorSpawnError} When the module fails to load or exports no valid behaviour.
   * @throws {ActorExistsError} When the name is taken.
   * @throws {TypeError | RangeError} Naming an invalid option.
   */
  async spawn(module: string | URL, options: SpawnOptions = {}): Promise<ActorRef> {
    this.#assertRunning();
    const url = resolveModule(module);
    const name = options.name ?? this.#defaultName(url);
    resolveSpawnOptions(options, name);
    if (this.#cells.get(name)?.alive) throw new ActorExistsError(name);
    const { name: _name, ...rest } = options;
    await this.#startChild({ ...rest, id: name, module: url });
    return new ActorRef(this.#refHost(), name);
  }

  /**
   * Starts a supervisor subtree under the root supervisor.
   *
   * @param spec Supervisor options and children (started in order).
   * @returns The running supervisor.
   * @throws {TypeError | RangeError} Naming an invalid option.
   * @throws {ActorSpawnError} When a child fails to start (the started ones are stopped).
   */
  async supervise(spec: SupervisorSpec): Promise<Supervisor> {
    this.#assertRunning();
    const { id, restart, ...supervisor } = spec;
    const child: SupervisorChildSpec = { id, supervisor };
    if (restart) child.restart = restart;
    return await this.#startChild(child) as Supervisor;
  }

  /**
   * Makes the runtime events of an execution's actors (restarts, failures,
   * stops) carry the execution's fencing token, so that a replaced owner's
   * late events are rejected like its other writes.
   *
   * @param executionId The execution.
   * @param token The owner's fencing token, or `undefined` to forget it.
   */
  setFencingToken(executionId: string, token: number | undefined): void {
    if (token === undefined) this.#fences.delete(executionId);
    else this.#fences.set(executionId, token);
  }

  /**
   * Stops a supervisor subtree started with {@linkcode ActorSystem.supervise}
   * (children in reverse start order) and removes it; it is not restarted.
   *
   * @param supervisor The supervisor.
   * @param mode `graceful` (default) or `immediate`.
   */
  async unsupervise(
    supervisor: Supervisor,
    mode: "graceful" | "immediate" = "graceful",
  ): Promise<void> {
    await this.#root.terminateChild(supervisor, mode);
  }

  /**
   * A ref to the actor at `path`.
   *
   * @param path The actor's path.
   * @returns The ref.
   * @throws {ActorNotFoundError} When no actor has that path.
   */
  ref(path: string): ActorRef {
    if (!this.#liveCell(path)) throw new ActorNotFoundError(path);
    return new ActorRef(this.#refHost(), path);
  }

  /**
   * Sends a message, fire and forget.
   *
   * @param path The receiver.
   * @param message Any structured-cloneable value.
   * @param options Trace parent.
   * @throws {ActorNotFoundError} When no actor has that path.
   * @throws {MessageNotCloneableError} When the message cannot be cloned.
   */
  tell(path: string, message: unknown, options: HostSendOptions = {}): void {
    const trace = options.trace ?? newTraceContext(this.#tracer.enabled);
    this.#host.tell(path, message, formatTraceparent(trace), trace.tracestate);
  }

  /**
   * Sends a message and waits for the reply.
   *
   * @param path The receiver.
   * @param message Any structured-cloneable value.
   * @param options Timeout (default 5,000 ms) and trace parent.
   * @returns The reply.
   * @throws {AskTimeoutError} When no reply comes within the timeout.
   * @throws {ActorNotFoundError} When no actor has that path.
   */
  ask<T = unknown>(
    path: string,
    message: unknown,
    options: AskOptions & HostSendOptions = {},
  ): Promise<T> {
    const timeoutMs = options.timeoutMs ?? 5_000;
    const trace = options.trace ?? newTraceContext(this.#tracer.enabled);
    return this.#host.ask(path, message, {
      timeoutMs,
      traceparent: formatTraceparent(trace),
      tracestate: trace.tracestate,
    }) as Promise<T>;
  }

  /**
   * Stops an actor and its children (reverse start order).
   *
   * @param path The actor.
   * @param options `graceful` (default) drains the mailbox and takes a final snapshot.
   * @throws {ActorNotFoundError} When no actor has that path.
   */
  async stop(path: string, options: { mode?: "graceful" | "immediate" } = {}): Promise<void> {
    const cell = this.#cells.get(path);
    if (!cell) throw new ActorNotFoundError(path);
    await this.#stopTree(cell, options.mode ?? "graceful");
  }

  /**
   * Terminates an actor's worker at once, as a failure (its supervisor decides what follows).
   *
   * @param path The actor.
   * @param reason Recorded with the failure.
   * @throws {ActorNotFoundError} When no actor has that path.
   */
  kill(path: string, reason?: string): void {
    const cell = this.#liveCell(path);
    if (!cell) throw new ActorNotFoundError(path);
    cell.kill(reason);
  }

  /**
   * Registers a host service that actors call with `ctx.call(name, payload)`.
   *
   * @param name Service name.
   * @param handler The handler; its result (or error) is sent back.
   * @returns A function that unregisters it.
   */
  registerService(name: string, handler: ServiceHandler): () => void {
    this.#services.set(name, handler);
    return () => this.#services.delete(name);
  }

  /**
   * Resolves once every message the host sent to `path` is acknowledged.
   *
   * @param path The actor.
   * @returns A promise that settles when nothing is left unacknowledged.
   */
  whenAcknowledged(path: string): Promise<void> {
    return this.#host.whenAcknowledged(path);
  }

  /** Checks the workers' time limits and heartbeats now (the watchdog does it periodically). */
  checkWorkers(): void {
    const now = this.#clock.now();
    for (const cell of this.#cells.values()) cell.watch(now);
  }

  /**
   * Stops every actor (children before parents, reverse start order) and
   * releases the system's resources. Idempotent.
   *
   * @param reason Recorded in `SYSTEM_STOPPED`.
   */
  async shutdown(reason = "shutdown requested"): Promise<void> {
    await this.#terminate(reason);
  }

  // ---- internals -----------------------------------------------------------

  async #terminate(reason: string, error?: ErrorInfo): Promise<void> {
    if (this.#stopped) return await this.#terminated.then(() => {});
    this.#stopped = true;
    if (this.#watchdog !== undefined) this.#clock.clearTimeout(this.#watchdog);
    this.#watchdog = undefined;
    await this.#root.stop();
    for (const cell of this.#cells.values()) await cell.shutdown("immediate", reason);
    this.#pool.close();
    this.#host.close(new ActorStoppedError("$host", reason));
    const data: RuntimeEventData["SYSTEM_STOPPED"] = { reason };
    if (error) data.error = error;
    await this.#emit("SYSTEM_STOPPED", data);
    const result: { reason: string; error?: ErrorInfo } = { reason };
    if (error) result.error = error;
    this.#resolveTerminated(result);
  }

  #assertRunning(): void {
    if (this.#stopped) {
      throw new ActorStoppedError("$system", `the actor system "${this.name}" has stopped`);
    }
  }

  #refHost() {
    return {
      tell: (path: string, message: unknown, options?: HostSendOptions) =>
        this.tell(path, message, options),
      ask: <T>(path: string, message: unknown, options?: AskOptions & HostSendOptions) =>
        this.ask<T>(path, message, options),
      stop: (path: string, options?: { mode?: "graceful" | "immediate" }) =>
        this.stop(path, options),
      kill: (path: string, reason?: string) => this.kill(path, reason),
      whenAcknowledged: (path: string) => this.whenAcknowledged(path),
    };
  }

  #liveCell(path: string): ActorCell | undefined {
    const cell = this.#cells.get(path);
    return cell && cell.status !== "stopped" ? cell : undefined;
  }

  #defaultName(url: string): string {
    const base = url.split("/").pop()!.replace(/\.[^.]*$/, "").replace(/[^A-Za-z0-9_.:@-]/g, "_") ||
      "actor";
    return `${base}-${++this.#spawnCounter}`;
  }

  #createCell(spec: ActorChildSpec, path: string, parent?: ActorCell): ActorCell {
    const { id, module, ...options } = spec;
    const resolved = resolveSpawnOptions({ ...options, name: id }, id);
    const existing = this.#cells.get(path);
    if (existing && existing.status !== "stopped") throw new ActorExistsError(path);
    const url = resolveModule(module);
    const sandbox = this.#sandboxOptions(spec, resolved.permissions.import, parent);
    const verified = verifiedActorModule(url, sandbox);
    if (!verified) {
      throw new ActorSpawnError(url, "its module was not verified before the actor was created");
    }
    const key = resolved.snapshotKey ?? `${this.name}/actor:${path}`;
    const cell = new ActorCell(this.#cellHost, url, path, resolved, key, verified.url);
    this.#verified.set(cell, verified);
    if (parent) {
      cell.parent = parent;
      parent.children.push(cell);
    }
    this.#cells.set(path, cell);
    this.#ensureWatchdog();
    return cell;
  }

  // Starts a child of the root supervisor once the verified bundle of every
  // actor module in it is ready: cells and their workers are made
  // synchronously, the bundling (src/actor/_module_sandbox.ts) is not.
  async #startChild(spec: ChildSpec, parent?: ActorCell): Promise<ActorCell | Supervisor> {
    await this.#verifyModules(spec, parent);
    return await this.#root.startChild(spec, parent);
  }

  async #verifyModules(spec: ChildSpec, parent?: ActorCell): Promise<void> {
    await prepareRuntimeBundle();
    if ("supervisor" in spec) {
      const children = spec.supervisor?.children;
      if (Array.isArray(children)) {
        await Promise.all(children.map((child) => this.#verifyModules(child, parent)));
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

  #removeCell(cell: ActorCell): void {
    if (this.#cells.get(cell.path) === cell) this.#cells.delete(cell.path);
    if (cell.parent) {
      const siblings = cell.parent.children;
      const i = siblings.indexOf(cell);
      if (i >= 0) siblings.splice(i, 1);
    }
  }

  async #stopTree(cell: ActorCell, mode: "graceful" | "immediate"): Promise<void> {
    for (const child of [...cell.children].reverse()) await this.#stopTree(child, mode);
    const owner = cell.owner;
    if (owner instanceof Supervisor) await owner.terminateChild(cell, mode);
    else await cell.shutdown(mode);
    this.#removeCell(cell);
  }

  // One watchdog tick: every cell of a small system; a slice of a large one,
  // so that each cell is still checked about every WATCH_ROUND_TICKS ticks
  // and 100,000 idle actors do not cost a core. Returns whether any cell lives.
  #watchSome(now: number): boolean {
    const slice = Math.max(WATCH_ALL_BELOW, Math.ceil(this.#cells.size / WATCH_ROUND_TICKS));
    let live = false;
    for (let i = 0; i < slice; i++) {
      let next = this.#watchCursor?.next();
      if (!next || next.done) {
        if (i >= this.#cells.size) break;
        this.#watchCursor = this.#cells.values();
        next = this.#watchCursor.next();
        if (next.done) break;
      }
      next.value.watch(now);
      if (next.value.status !== "stopped") live = true;
    }
    // Part of a large system was not looked at: presumed live until a round sees it.
    return live || slice < this.#cells.size;
  }

  #ensureWatchdog(): void {
    if (this.#watchdog !== undefined || this.#stopped) return;
    const tick = () => {
      this.#watchdog = undefined;
      if (this.#stopped) return;
      const live = this.#watchSome(this.#clock.now());
      if (live) this.#watchdog = this.#clock.setTimeout(tick, this.#watchdogMs);
    };
    this.#watchdog = this.#clock.setTimeout(tick, this.#watchdogMs);
  }

  async #emit<T extends RuntimeEventType>(
    type: T,
    data: RuntimeEventData[T],
    executionId?: string,
  ): Promise<void> {
    const event: OaoEvent = {
      type,
      time: this.#clock.now(),
      data: data as unknown as Record<string, unknown>,
    };
    if (executionId) event.executionId = executionId;
    const fencingToken = executionId === undefined ? undefined : this.#fences.get(executionId);
    try {
      await this.events.publish(event, fencingToken === undefined ? {} : { fencingToken });
    } catch (error) {
      this.#log.error("Cannot record runtime event {type}: {error}", {
        type,
        error: toErrorInfo(error).message,
      });
      this.events.emitLocal(event);
    }
  }

  #logEvent(event: OaoEvent): void {
    let level = RUNTIME_EVENT_LEVELS[event.type as RuntimeEventType];
    // An execution's own events (they carry totals) are logged by its orchestrator.
    if (!level || event.totals) return;
    if (event.type === "SYSTEM_STOPPED" && event.data.error) level = "error";
    const props: Record<string, unknown> = { ...event.data, event: event.type };
    if (event.executionId) props.executionId = event.executionId;
    // The details are the record's properties (text logs print them as key=value).
    this.#log[level === "warning" ? "warn" : level](event.type, props);
  }

  #onDeadLetter(cell: ActorCell, message: Extract<WorkerToHost, { k: "dead-letter" }>): void {
    const from = message.from;
    this.#deadLetters.push({
      actor: cell.path,
      from,
      seq: message.seq,
      message: message.body,
      attempts: message.attempts,
      error: message.error,
      time: this.#clock.now(),
    });
    void this.#emit("MESSAGE_DEAD_LETTERED", {
      actor: cell.path,
      from,
      seq: message.seq,
      attempts: message.attempts,
      error: message.error,
      message: message.body,
    }, cell.options.executionId);
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
    void this.#emit("ACCESS_DENIED", data, cell.options.executionId);
    return new AccessDeniedError(cell.path, action, reason);
  }

  #onWorkerMessage(cell: ActorCell, message: WorkerToHost): void {
    switch (message.k) {
      case "connect": {
        // An actor of an execution is refused anything outside it before any lookup.
        const execution = cell.options.executionId;
        const outside = execution !== undefined && !message.target.startsWith(`${execution}/`) &&
          !message.target.startsWith(`${cell.path}/`);
        const target = outside ? undefined : this.#liveCell(message.target);
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
          return this.#broker.connect(cell, target!, message.space);
        }
        const error = toErrorInfo(new ActorNotFoundError(message.target));
        cell.failOutbound(message.target, error);
        void this.#emit(
          "MESSAGE_UNDELIVERABLE",
          { actor: message.target, from: cell.path, error },
          cell.options.executionId,
        );
        return;
      }
      case "request":
        return void this.#handleRequest(cell, message.id, message.request);
      case "spans":
        // Spans are the actor's own: packed ones are attributed to it, whatever they claim.
        for (const chunk of message.packed ?? []) {
          if (chunk && typeof chunk === "object") chunk.actor = cell.path;
        }
        if (this.#tracer.sink) exportWorkerSpans(this.#tracer.sink, message.spans, message.packed);
        return;
      case "logs": {
        const max = this.#cellHost.limits.maxLogMessageChars;
        for (const record of message.records) {
          const props = boundProperties(record.properties, max);
          props.actor = cell.path;
          if (cell.options.executionId) props.executionId = cell.options.executionId;
          const logger = this.#log.with(props);
          const level = record.level === "warning" ? "warn" : record.level;
          const text = truncateText(record.message, max);
          logger[level](text.replaceAll("{", "{{").replaceAll("}", "}}"));
        }
        return;
      }
      case "undeliverable":
        if (!cell.targets.has(message.target)) {
          return cell.violation(
            `undeliverable report for "${message.target.slice(0, 200)}", which it never sent to`,
          );
        }
        void this.#emit("MESSAGE_UNDELIVERABLE", {
          actor: message.target,
          from: cell.path,
          error: boundErrorInfo(message.error, this.#cellHost.limits),
        }, cell.options.executionId);
        return;
      case "dropped":
        if (!cell.inbound.has(message.key)) return;
        this.events.emitLocal({
          type: "MESSAGE_DROPPED",
          time: this.#clock.now(),
          data: { actor: cell.path, from: message.from, seq: message.seq, policy: message.policy },
        });
        return;
      default:
        return;
    }
  }

  async #handleRequest(
    cell: ActorCell,
    id: number,
    request: Extract<WorkerToHost, { k: "request" }>["request"],
  ): Promise<void> {
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
          const name = options.name ?? this.#defaultName(request.module);
          const resolved = resolveSpawnOptions({ ...options, name }, name);
          const exceeding = exceedingPermission(resolved.permissions, cell.options.permissions);
          if (exceeding) {
            throw new ActorSpawnError(
              request.module,
              `permission "${exceeding}" exceeds what the parent "${cell.path}" was granted`,
            );
          }
          const { name: _name, ...rest } = options;
          const child = await this.#startChild(
            { ...rest, id: name, module: request.module },
            cell,
          );
          value = (child as ActorCell).path;
          break;
        }
        case "stop": {
          // Only itself and its own subtree, by path: a refusal tells nothing of what exists.
          const path = request.target === cell.path || request.target.includes("/")
            ? request.target
            : `${cell.path}/${request.target}`;
          const own = path === cell.path || path.startsWith(`${cell.path}/`);
          const target = own ? this.#cells.get(path) : undefined;
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
            void this.#stopTree(target, request.mode);
            return;
          }
          await this.#stopTree(target, request.mode);
          break;
        }
        case "call": {
          const handler = this.#services.get(request.service);
          if (!handler) {
            throw new TypeError(
              `No service "${request.service}" is registered (registered: ${
                [...this.#services.keys()].map((s) => `"${s}"`).join(", ") || "none"
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
        reply({ k: "reply", id, ok: false, error: toErrorInfo(error) });
      }
    } catch (error) {
      reply({ k: "reply", id, ok: false, error: toErrorInfo(error) });
    }
  }
}

// Spawn options a worker may not set: they choose whose data an actor reads and writes.
// Systems with fewer cells are checked whole on every watchdog tick.
const WATCH_ALL_BELOW = 1_000;
// A larger system is checked in this many ticks.
const WATCH_ROUND_TICKS = 5;

const HOST_ONLY_OPTIONS = ["snapshotKey", "executionId", "isolation"] as const;

function isDescendant(cell: ActorCell, ancestor: ActorCell): boolean {
  for (let p = cell.parent; p; p = p.parent) if (p === ancestor) return true;
  return false;
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

// Log properties from a worker: string values cut to the limit, at most 100 keys.
function boundProperties(
  properties: Record<string, unknown>,
  max: number,
): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  let n = 0;
  for (const [key, value] of Object.entries(properties)) {
    if (++n > 100) break;
    out[key.slice(0, 200)] = typeof value === "string" ? truncateText(value, max) : value;
  }
  return out;
}

/**
 * Turns a module URL or path into an absolute URL string.
 *
 * @param module A URL, an absolute URL string, or a path relative to the working directory.
 * @returns The absolute URL.
 * @throws {TypeError} When the value is neither.
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
