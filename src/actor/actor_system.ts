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
import { systemClock } from "../clock.ts";
import { ActorExistsError, ActorNotFoundError, ActorStoppedError } from "./actor_errors.ts";
import type { ErrorInfo } from "../oao_error.ts";
import { storeJournal } from "../events/journal.ts";
import { resolveLimits } from "../limits.ts";
import { EventBus } from "../observability/event_bus.ts";
import type { RuntimeEventData } from "../observability/events.ts";
import { InMemoryPersistenceAdapter } from "../persistence/in_memory_persistence_adapter.ts";
import type { PersistenceAdapter } from "../persistence/persistence_adapter.ts";
import { formatTraceparent, newTraceContext } from "../tracing/trace_context.ts";
import { Tracer } from "../tracing/tracer.ts";
import { type ActorCell, createActorWorker } from "./_actor_cell.ts";
import { ActorRegistry } from "./_actor_registry.ts";
import { CellFactory, resolveModule } from "./_cell_factory.ts";
import { EventPublisher } from "./_event_publisher.ts";
import { type DeadLetter, GuestMessages } from "./_guest_messages.ts";
import { GuestRequests, type ServiceHandler } from "./_guest_requests.ts";
import { HostEndpoint } from "./_host_endpoint.ts";
import { LinkBroker } from "./_link_broker.ts";
import { Watchdog } from "./_watchdog.ts";
import { WorkerPool } from "./_worker_pool.ts";
import type { AskOptions } from "./actor_context.ts";
import { ActorRef, type HostSendOptions } from "./actor_ref.ts";
import { type ActorSystemOptions, resolveWorkerTiming } from "./actor_system_options.ts";
import { resolveSpawnOptions, type SpawnOptions } from "./spawn_options.ts";
import {
  type ChildSpec,
  Supervisor,
  type SupervisorChildSpec,
  type SupervisorSpec,
} from "./supervisor.ts";

export type { ActorSystemOptions } from "./actor_system_options.ts";
export type { DeadLetter } from "./_guest_messages.ts";
export type { ServiceHandler } from "./_guest_requests.ts";
export { resolveModule } from "./_cell_factory.ts";

// The system wires its parts and offers their public face: the cells by path
// (_actor_registry.ts) and the watchdog that checks them (_watchdog.ts); the
// factory that verifies actor modules and makes cells (_cell_factory.ts);
// what workers ask the host for and report (_guest_requests.ts,
// _guest_messages.ts); runtime events (_event_publisher.ts); the host's own
// sends (_host_endpoint.ts), the links (_link_broker.ts) and the pooled
// workers (_worker_pool.ts).

/** Spawns, addresses, supervises and stops actors. */
export class ActorSystem {
  /** The event stream: runtime events of every actor. */
  readonly events: EventBus;
  /** The system's name. */
  readonly name: string;
  readonly #persistence: PersistenceAdapter;
  readonly #tracer: Tracer;
  readonly #registry = new ActorRegistry();
  readonly #broker = new LinkBroker();
  readonly #publisher: EventPublisher;
  readonly #watchdog: Watchdog;
  readonly #pool: WorkerPool;
  readonly #host: HostEndpoint;
  readonly #guest: GuestMessages;
  readonly #root: Supervisor;
  readonly #factory: CellFactory;
  readonly #services = new Map<string, ServiceHandler>();
  #stopped = false;
  #terminated: Promise<{ reason: string; error?: ErrorInfo }>;
  #resolveTerminated!: (value: { reason: string; error?: ErrorInfo }) => void;

  /**
   * Creates an actor system and starts its root supervisor.
   *
   * @param options Persistence, event store, clock, tracer and timing options.
   * @throws {TypeError | RangeError} Naming an invalid option.
   */
  constructor(options: ActorSystemOptions = {}) {
    this.name = options.name ?? "oao";
    const clock = options.clock ?? systemClock;
    this.#persistence = options.persistence ?? new InMemoryPersistenceAdapter({ clock });
    this.#tracer = options.tracer ?? new Tracer();
    this.events = options.bus ?? new EventBus();
    const systemLogId = options.systemLogId ?? `system-${this.name}`;
    if (options.eventStore) {
      this.events.setJournal(storeJournal(options.eventStore, systemLogId));
    }
    const timing = resolveWorkerTiming(options);
    const log = getLogger(["oao", "actor"]);
    const publisher = this.#publisher = new EventPublisher(this.events, { clock, log });
    const registry = this.#registry;
    this.#watchdog = new Watchdog(registry, { clock, intervalMs: timing.watchdogIntervalMs });
    this.#pool = new WorkerPool({
      clock,
      probeTimeoutMs: timing.heartbeatTimeoutMs,
      create: (entry, permissions, name) => createActorWorker(entry, permissions, name, true),
      ...(options.onSpinningWorker ? { onStuckWorker: options.onSpinningWorker } : {}),
    }, options.pool);
    const limits = resolveLimits(options.limits);
    const requests = new GuestRequests({
      registry,
      broker: this.#broker,
      publisher,
      services: this.#services,
      startChild: (spec, parent) => this.#startChild(spec, parent),
      clock,
      log,
    });
    const guest = this.#guest = new GuestMessages({
      requests,
      publisher,
      bus: this.events,
      clock,
      tracer: this.#tracer,
      limits,
      log,
    });
    const factory = this.#factory = new CellFactory({
      systemName: this.name,
      registry,
      watchdog: this.#watchdog,
      cellHost: {
        clock,
        persistence: this.#persistence,
        broker: this.#broker,
        tracing: this.#tracer.enabled,
        heartbeatMs: timing.heartbeatMs,
        heartbeatTimeoutMs: timing.heartbeatTimeoutMs,
        spawnTimeoutMs: timing.spawnTimeoutMs,
        limits,
        pool: this.#pool,
        ...(options.onSpinningWorker ? { onSpinningWorker: options.onSpinningWorker } : {}),
        emit: (type, data, executionId) => publisher.emit(type, data, executionId),
        onWorkerMessage: (cell, message) => guest.onWorkerMessage(cell, message),
        onDeadLetter: (cell, message) => guest.onDeadLetter(cell, message),
      },
    });
    this.#host = new HostEndpoint({
      broker: this.#broker,
      clock,
      lookup: (path) => registry.live(path),
      onUndeliverable: (target, error) =>
        void publisher.emit("MESSAGE_UNDELIVERABLE", {
          actor: target,
          from: this.#host.path,
          error,
        }),
      onViolation: (target, detail) => registry.live(target)?.violation(detail),
      limits,
    });
    this.#root = new Supervisor(
      {
        clock,
        createCell: (spec, path, parent) => factory.create(spec, path, parent),
        removeCell: (cell) => registry.remove(cell),
        emit: (type, data, executionId) => publisher.emit(type, data, executionId),
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
    if (options.logEvents !== false) this.events.subscribe((event) => publisher.log(event));
    void this.#root.start();
  }

  /** Settles when the system has stopped: on `shutdown()` or when the root supervisor gives up. */
  get terminated(): Promise<{ reason: string; error?: ErrorInfo }> {
    return this.#terminated;
  }

  /** Paths of the actors alive now. */
  get actors(): string[] {
    return this.#registry.alivePaths();
  }

  /** Pooled workers alive now (each hosts actors spawned with `isolation: "shared"`). */
  get pooledWorkers(): number {
    return this.#pool.workers;
  }

  /** Messages set aside after failing on every delivery, oldest first. */
  get deadLetters(): readonly DeadLetter[] {
    return this.#guest.deadLetters;
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
    const name = options.name ?? this.#registry.defaultName(url);
    resolveSpawnOptions(options, name);
    if (this.#registry.get(name)?.alive) throw new ActorExistsError(name);
    const { name: _name, ...rest } = options;
    await this.#startChild({ ...rest, id: name, module: url });
    return new ActorRef(this, name);
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
    this.#publisher.setFencingToken(executionId, token);
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
    if (!this.#registry.live(path)) throw new ActorNotFoundError(path);
    return new ActorRef(this, path);
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
    const cell = this.#registry.get(path);
    if (!cell) throw new ActorNotFoundError(path);
    await this.#registry.stopTree(cell, options.mode ?? "graceful");
  }

  /**
   * Terminates an actor's worker at once, as a failure (its supervisor decides what follows).
   *
   * @param path The actor.
   * @param reason Recorded with the failure.
   * @throws {ActorNotFoundError} When no actor has that path.
   */
  kill(path: string, reason?: string): void {
    const cell = this.#registry.live(path);
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
    this.#watchdog.checkAll();
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
    this.#watchdog.stop();
    await this.#root.stop();
    for (const cell of this.#registry.values()) await cell.shutdown("immediate", reason);
    this.#pool.close();
    this.#host.close(new ActorStoppedError("$host", reason));
    const data: RuntimeEventData["SYSTEM_STOPPED"] = { reason };
    if (error) data.error = error;
    await this.#publisher.emit("SYSTEM_STOPPED", data);
    const result: { reason: string; error?: ErrorInfo } = { reason };
    if (error) result.error = error;
    this.#resolveTerminated(result);
  }

  #assertRunning(): void {
    if (this.#stopped) {
      throw new ActorStoppedError("$system", `the actor system "${this.name}" has stopped`);
    }
  }

  // Starts a child of the root supervisor once the verified bundle of every
  // actor module in it is ready: cells and their workers are made
  // synchronously, the bundling (src/actor/_module_sandbox.ts) is not.
  async #startChild(spec: ChildSpec, parent?: ActorCell): Promise<ActorCell | Supervisor> {
    await this.#factory.verify(spec, parent);
    return await this.#root.startChild(spec, parent);
  }
}
