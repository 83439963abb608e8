// The host's record of one actor: it survives restarts and owns the current
// worker, its status words, snapshots, poison-message counts and links.
// Internal: users hold an ActorRef.
import type { Clock, TimerId } from "../clock.ts";
import { ActorSpawnError, ActorStoppedError, ProtocolViolationError } from "./actor_errors.ts";
import { type ErrorInfo, toErrorInfo } from "../oao_error.ts";
import { boundErrorInfo, type Limits } from "../limits.ts";
import type { PersistenceAdapter, Snapshot } from "../persistence/persistence_adapter.ts";
import type { FailureReason, RuntimeEventData, RuntimeEventType } from "../observability/events.ts";
import type { LinkBroker, ReceiverEndpoint, SenderEndpoint } from "./_link_broker.ts";
import {
  type ActorSnapshotData,
  type HostToWorker,
  type LinkIn,
  type PoisonEntry,
  SAB_BUSY,
  SAB_HEARTBEAT,
  SAB_LINK,
  SAB_SEQ,
  SAB_STARTED,
  SAB_WORDS,
  type WorkerToHost,
} from "./_protocol.ts";
import type { ResolvedSpawnOptions } from "./spawn_options.ts";
import { invalidWorkerMessage } from "./_protocol_guard.ts";
import type { GuestPort, WorkerPool } from "./_worker_pool.ts";
import { PARK_AFTER_READY_MS, PARKED_ON, ParkedWorker, releasePark } from "./_parked_worker.ts";
import { runtimeEntry } from "./_runtime_bundle.ts";

/** How an actor's run ended. */
export type Exit =
  | { kind: "normal" }
  | { kind: "shutdown" }
  | {
    kind: "failed";
    reason: FailureReason | "escalated";
    error: ErrorInfo;
    /** One failure of a shared worker, the same for each actor it held (`GuestPort.failure`). */
    group?: object;
  };

/** Who is told when a child exits: its supervisor. */
export interface ChildOwner {
  childExited(child: object, exit: Exit): void;
}

/** What a cell needs from its actor system. */
export interface CellHost {
  readonly clock: Clock;
  readonly persistence: PersistenceAdapter;
  readonly broker: LinkBroker;
  readonly tracing: boolean;
  readonly heartbeatMs: number;
  readonly heartbeatTimeoutMs: number;
  readonly spawnTimeoutMs: number;
  readonly limits: Limits;
  /** Warm workers shared by actors of one module and permissions (`isolation: "shared"`). */
  readonly pool: WorkerPool;
  /** A worker was terminated while it ran code without yielding; its thread may go on. */
  onSpinningWorker?(path: string): void;
  emit<T extends RuntimeEventType>(
    type: T,
    data: RuntimeEventData[T],
    executionId?: string,
  ): Promise<void>;
  onWorkerMessage(cell: ActorCell, message: WorkerToHost): void;
  onDeadLetter(cell: ActorCell, message: Extract<WorkerToHost, { k: "dead-letter" }>): void;
}

type Status = "new" | "starting" | "running" | "stopping" | "failed" | "stopped";

// Delay before a warm spare is started after the actor (re)started.
const SPARE_DELAY_MS = 100;

// `entry` is the actor's verified bundle (src/actor/_module_sandbox.ts), never
// the module itself: the module's own imports were decided by the host. The
// worker side of the runtime comes first (src/actor/_runtime_bundle.ts): it
// hardens the global scope as it evaluates (src/worker/_guest_hardening.ts),
// before any of the actor's code runs.
function bootstrapUrl(entry: string, pooled = false): string {
  const runtime = runtimeImport();
  const source = pooled
    ? `import { AsyncLocalStorage } from "node:async_hooks";\n` +
      `import { startPooledActorWorker } from ${runtime};\n` +
      `import * as actorModule from ${JSON.stringify(entry)};\n` +
      `startPooledActorWorker(actorModule, AsyncLocalStorage);\n`
    : `import { startActorWorker } from ${runtime};\n` +
      `import * as actorModule from ${JSON.stringify(entry)};\n` +
      `startActorWorker(actorModule);\n`;
  return `data:application/javascript;base64,${btoa(source)}`;
}

// The runtime's import specifier, made again only when the runtime's entry
// changes (once, when its bundle is ready).
let imports: { entry: string; runtime: string } | undefined;
function runtimeImport(): string {
  const entry = runtimeEntry();
  if (imports?.entry !== entry) imports = { entry, runtime: JSON.stringify(entry) };
  return imports.runtime;
}

// Worker load errors carry ANSI colours and a stack line into the bootstrap data URL.
function cleanWorkerError(message: string): string {
  // deno-lint-ignore no-control-regex
  const plain = message.replace(/\x1b\[[0-9;]*m/g, "");
  return plain.split("\n").filter((line) => !line.includes("data:application/javascript")).join(
    "\n",
  ).trim();
}

/**
 * Starts a worker for an actor's verified bundle with the actor's permissions:
 * its own worker, or (`pooled`) a worker that hosts many actors of that bundle.
 */
export function createActorWorker(
  entry: string,
  permissions: ResolvedSpawnOptions["permissions"],
  name: string,
  pooled = false,
): Worker {
  return new Worker(bootstrapUrl(entry, pooled), {
    type: "module",
    name,
    deno: { permissions },
  } as WorkerOptions);
}

export class ActorCell implements SenderEndpoint, ReceiverEndpoint {
  readonly path: string;
  readonly module: string;
  /** URL of the module the worker loads: the verified bundle of `module`. */
  readonly entry: string;
  readonly options: ResolvedSpawnOptions;
  readonly snapshotKey: string;
  readonly inbound: Map<string, SenderEndpoint> = new Map();
  readonly children: ActorCell[] = [];
  parent: ActorCell | undefined;
  owner: ChildOwner | undefined;
  incarnation = 0;
  #status: Status = "new";
  #host: CellHost;
  #worker: GuestPort | undefined;
  #spare: Worker | undefined; // warm spare: a started worker for the next start
  #parked: ParkedWorker | undefined; // the failed incarnation's worker (_parked_worker.ts)
  #readyAt = 0;
  #spareTimer: TimerId | undefined;
  #sab: Int32Array | undefined;
  #poison = new Map<string, PoisonEntry>();
  #pendingSnapshot: { version: number; data: ActorSnapshotData; incarnation: number } | undefined;
  #saving = false;
  #durableVersion = 0;
  #restoredSeq = 0;
  #ready: { resolve(): void; reject(error: Error): void } | undefined;
  #startingLinks: LinkIn[] | undefined; // while start() relinks: they go with the init
  #stopped: (() => void) | undefined;
  #lastStarted = -1;
  #busySince = 0;
  #lastBeat = -1;
  #lastBeatAt = 0;

  constructor(
    host: CellHost,
    module: string,
    path: string,
    options: ResolvedSpawnOptions,
    snapshotKey: string,
    entry: string,
  ) {
    this.#host = host;
    this.module = module;
    this.path = path;
    this.options = options;
    this.snapshotKey = snapshotKey;
    this.entry = entry;
  }

  get status(): Status {
    return this.#status;
  }

  get alive(): boolean {
    return this.#status === "starting" || this.#status === "running" || this.#status === "stopping";
  }

  get acceptsLinks(): boolean {
    return this.#worker !== undefined && this.alive;
  }

  /** Version of the last snapshot known durable. */
  get durableVersion(): number {
    return this.#durableVersion;
  }

  /** Loads the latest snapshot, if the actor keeps any. */
  async loadSnapshot(): Promise<Snapshot<ActorSnapshotData> | undefined> {
    if (this.options.snapshot.mode === "never") return undefined;
    return await this.#host.persistence.load<ActorSnapshotData>(this.snapshotKey);
  }

  /**
   * Starts a worker from `snapshot` (or fresh) and resolves when it is ready.
   * A load failure rejects with ActorSpawnError.
   */
  start(snapshot: Snapshot<ActorSnapshotData> | undefined): Promise<void> {
    this.incarnation = Math.max(this.incarnation, snapshot?.fencingToken ?? 0) + 1;
    this.#status = "starting";
    this.#restoredSeq = snapshot?.version ?? 0;
    this.#durableVersion = snapshot?.version ?? 0;
    this.#pendingSnapshot = undefined;
    const sab = new SharedArrayBuffer(SAB_WORDS * 4);
    this.#sab = new Int32Array(sab);
    const worker: GuestPort = this.options.isolation === "shared"
      ? this.#host.pool.lease(this.entry, this.path, this.options)
      : this.#takeSpare() ?? this.#createWorker();
    this.#worker = worker;
    const incarnation = this.incarnation;
    worker.onmessage = (event: MessageEvent<unknown>) => {
      if (this.#worker === worker && this.incarnation === incarnation) this.#receive(event.data);
    };
    if (this.options.isolation === "shared") {
      worker.onexit = (reason, message) => {
        if (this.#worker !== worker) return;
        if (reason === "protocol_violation") this.violation(message);
        else this.fail(reason, { name: "Error", message });
      };
    }
    worker.onerror = (event: ErrorEvent) => {
      event.preventDefault();
      if (this.#worker !== worker) return;
      const reason = this.#status === "starting" ? "load_failed" : "worker_error";
      this.fail(reason, {
        name: "Error",
        message: cleanWorkerError(event.message ?? "worker error"),
      });
    };
    const poison = [...this.#poison.values()].filter((p) =>
      p.attempts >= this.options.maxDeliveries
    );
    const init: HostToWorker = {
      k: "init",
      path: this.path,
      module: this.module,
      incarnation,
      args: this.options.args,
      snapshot: snapshot ? { version: snapshot.version, data: snapshot.data } : undefined,
      options: {
        mailbox: this.options.mailbox,
        snapshot: this.options.snapshot,
        maxDeliveries: this.options.maxDeliveries,
      },
      tracing: this.#host.tracing,
      sab,
      heartbeatMs: this.#host.heartbeatMs,
      poison,
      links: [],
    };
    const ready = new Promise<void>((resolve, reject) => {
      this.#ready = { resolve, reject };
    });
    // The last incarnation runs nothing once this one may: its worker is
    // parked, or it is ended now.
    if (this.#parked && !this.#parked.waiting) this.#endParked();
    // Every sender registered with the actor gets a fresh link; the receiving
    // ends go with the init (see postLinkIn).
    this.#startingLinks = init.links;
    this.#host.broker.relinkAll(this);
    this.#startingLinks = undefined;
    try {
      if (init.links.length === 0) worker.postMessage(init);
      else worker.postMessage(init, init.links.map((link) => link.port));
    } catch (error) {
      // The senders keep what they sent unacknowledged, for the next link.
      for (const link of init.links) link.port.close();
      this.#terminate();
      this.#status = "failed";
      return Promise.reject(
        new ActorSpawnError(
          this.module,
          `its args cannot be cloned: ${toErrorInfo(error).message}`,
        ),
      );
    }
    const clock = this.#host.clock;
    const timer = clock.setTimeout(() => {
      if (this.#status === "starting" && this.incarnation === incarnation) {
        this.fail("load_failed", {
          name: "Error",
          message: `the worker did not become ready within ${this.#host.spawnTimeoutMs} ms`,
        });
      }
    }, this.#host.spawnTimeoutMs);
    return ready.finally(() => clock.clearTimeout(timer));
  }

  /** Stops the actor: graceful (drain, final snapshot) with a timeout, or immediate. */
  async shutdown(mode: "graceful" | "immediate", reason = "stopped"): Promise<void> {
    if (this.#status === "stopped") return;
    if (this.#status === "running" && mode === "graceful" && this.#worker) {
      this.#status = "stopping";
      const done = new Promise<void>((resolve) => (this.#stopped = resolve));
      // Messages sent before the stop are handled first, even those still on their way.
      const expect: Record<string, number> = {};
      for (const [key, sender] of this.inbound) {
        const seq = sender.sentTo?.(this.path) ?? 0;
        if (seq > 0) expect[key] = seq;
      }
      this.#worker.postMessage(
        { k: "stop", mode: "graceful", reason, expect } satisfies HostToWorker,
      );
      let timedOut = false;
      let timer: TimerId = 0;
      await Promise.race([
        done,
        new Promise<void>((resolve) => {
          timer = this.#host.clock.setTimeout(() => {
            timedOut = true;
            resolve();
          }, this.options.shutdownMs);
        }),
      ]);
      this.#host.clock.clearTimeout(timer);
      if (timedOut) {
        reason = `${reason}; killed after the shutdown timeout of ${this.options.shutdownMs} ms`;
      }
      // A snapshot write may still be in flight: let it land before the worker goes.
      while (this.#saving) await new Promise((r) => setTimeout(r, 1));
      return this.#finalize(reason, !timedOut);
    }
    this.#finalize(reason);
  }

  /** Marks the actor failed, terminates its worker and notifies its owner. */
  fail(reason: FailureReason, error: ErrorInfo, message?: { key: string; seq: number }): void {
    if (this.#status === "failed" || this.#status === "stopped") return;
    const wasStarting = this.#status === "starting";
    this.#status = "failed";
    const culprit = message ?? this.#messageInProgress();
    if (culprit) {
      const id = `${culprit.key}:${culprit.seq}`;
      const entry = this.#poison.get(id) ??
        { key: culprit.key, seq: culprit.seq, attempts: 0, error };
      entry.attempts++;
      entry.error = error;
      this.#poison.set(id, entry);
    }
    // A silent worker is ended whole, not only this actor's place in it; one
    // whose actor overran its time limit must prove it is not stuck in it.
    const worker = this.#worker;
    this.#terminate(reason === "worker_died", PARKED_ON.has(reason) && !wasStarting);
    // Read after the end: a pooled worker this actor's failure ended whole
    // (a hang) is one failure with its other actors'.
    const group = worker?.failure;
    if (reason === "timeout") worker?.probe?.(`actor "${this.path}" overran its time limit`);
    this.#host.broker.senderGone(this);
    const data: RuntimeEventData["ACTOR_FAILED"] = {
      actor: this.path,
      incarnation: this.incarnation,
      reason,
      error,
    };
    if (culprit) data.message = { from: culprit.key.split("#")[0]!, seq: culprit.seq };
    void this.#host.emit("ACTOR_FAILED", data, this.options.executionId);
    if (wasStarting && this.#ready) {
      const ready = this.#ready;
      this.#ready = undefined;
      ready.reject(new ActorSpawnError(this.module, error.message));
      return;
    }
    this.owner?.childExited(
      this,
      group ? { kind: "failed", reason, error, group } : { kind: "failed", reason, error },
    );
  }

  /** Checks the worker's status words: message time limit and heartbeat. */
  watch(now: number): void {
    // A parked worker is ended on a tick once the next incarnation has been
    // up a moment (its teardown would slow the start, then the first messages).
    if (this.#parked && this.#status === "running" && now - this.#readyAt >= PARK_AFTER_READY_MS) {
      this.#endParked();
    }
    const sab = this.#sab;
    if (!sab || (this.#status !== "running" && this.#status !== "stopping")) return;
    // Liveness: the idle heartbeat, or any progress (a busy worker's timers
    // can starve, its message counter cannot).
    const beat = Atomics.load(sab, SAB_HEARTBEAT) + Atomics.load(sab, SAB_STARTED);
    if (beat !== this.#lastBeat) {
      this.#lastBeat = beat;
      this.#lastBeatAt = now;
    }
    if (Atomics.load(sab, SAB_BUSY) === 1) {
      const started = Atomics.load(sab, SAB_STARTED);
      if (started !== this.#lastStarted) {
        this.#lastStarted = started;
        this.#busySince = now;
      } else if (now - this.#busySince > this.options.messageTimeoutMs) {
        const seq = Atomics.load(sab, SAB_SEQ);
        this.fail("timeout", {
          name: "TimeoutError",
          message:
            `Actor "${this.path}" exceeded its time limit of ${this.options.messageTimeoutMs} ms on message ${seq}`,
        });
      }
    } else if (now - this.#lastBeatAt > this.#host.heartbeatTimeoutMs) {
      this.fail("worker_died", {
        name: "Error",
        message:
          `Actor "${this.path}" worker stopped answering (no heartbeat for ${this.#host.heartbeatTimeoutMs} ms)`,
      });
    }
  }

  /** Terminates the worker at once (brutal kill) and reports the exit as a failure. */
  kill(reason = "killed on request"): void {
    this.fail("killed", { name: "Error", message: reason });
  }

  // ---- SenderEndpoint / ReceiverEndpoint ----------------------------------

  attachOutbound(target: string, port: MessagePort): void {
    if (!this.#worker || !this.alive) return port.close();
    this.#worker.postMessage({ k: "link-out", target, port } satisfies HostToWorker, [port]);
  }

  failOutbound(target: string, error: ErrorInfo, drained?: boolean): void {
    if (this.#worker && this.alive) {
      const message: HostToWorker = { k: "link-error", target, error };
      if (drained) message.drained = true;
      this.#worker.postMessage(message);
    }
  }

  postLinkIn(key: string, from: string, linkId: number, port: MessagePort): void {
    const link: LinkIn = { k: "link-in", key, from, linkId, port };
    if (this.#startingLinks) this.#startingLinks.push(link);
    else this.#worker!.postMessage(link, [port]);
  }

  postLinkClose(key: string): void {
    this.#worker?.postMessage({ k: "link-close", key } satisfies HostToWorker);
  }

  /** Sends a control message to the current worker. */
  post(message: HostToWorker): void {
    this.#worker?.postMessage(message);
  }

  /** Fails the actor because its worker broke the protocol. */
  violation(detail: string): void {
    this.fail("protocol_violation", toErrorInfo(new ProtocolViolationError(this.path, detail)));
  }

  /** Targets this actor's worker was linked to (it may report them undeliverable). */
  readonly targets: Set<string> = new Set();

  // ---- internals -----------------------------------------------------------

  // Everything a worker posts is checked before the host acts on it, and
  // nothing it posts can throw out of here into the host's event loop.
  #receive(data: unknown): void {
    let message: WorkerToHost | undefined;
    try {
      const bad = invalidWorkerMessage(data, this.#host.limits);
      if (bad) return this.violation(bad);
      message = data as WorkerToHost;
      this.#onMessage(message);
    } catch (error) {
      if (message === undefined) {
        return this.violation(`a message the host could not read: ${toErrorInfo(error).name}`);
      }
      this.violation(
        `the host could not handle a "${message.k}" message: ${toErrorInfo(error).message}`,
      );
    }
  }

  #onMessage(message: WorkerToHost): void {
    switch (message.k) {
      case "ready": {
        // Once per incarnation: each one forged would record an ACTOR_STARTED.
        if (this.#status === "running") return this.violation("ready sent twice");
        this.#status = "running";
        this.#lastBeatAt = this.#readyAt = this.#host.clock.now();
        this.#lastStarted = -1;
        const ready = this.#ready;
        this.#ready = undefined;
        ready?.resolve();
        if (this.options.warmSpare && this.options.isolation === "worker") this.#scheduleSpare();
        void this.#host.emit("ACTOR_STARTED", {
          actor: this.path,
          incarnation: this.incarnation,
          module: this.module,
          restoredSeq: this.#restoredSeq,
        }, this.options.executionId);
        return;
      }
      case "init-failed":
        return this.fail("load_failed", boundErrorInfo(message.error, this.#host.limits));
      case "failed": {
        // A culprit is counted toward dead-lettering only on a link the actor has.
        const culprit = message.key !== undefined && message.seq !== undefined &&
            this.inbound.has(message.key)
          ? { key: message.key, seq: message.seq }
          : undefined;
        return this.fail(message.reason, boundErrorInfo(message.error, this.#host.limits), culprit);
      }
      case "snapshot":
        // The runtime sends none for such an actor (an agent's state lives in
        // its execution's record): one is forged, to store what it likes.
        if (this.options.snapshot.mode === "never") {
          return this.violation("snapshot from an actor whose snapshots are off");
        }
        if (message.incarnation !== this.incarnation) return; // fenced: a replaced incarnation
        this.#pendingSnapshot = message;
        if (!this.#saving) void this.#saveSnapshots();
        return;
      case "dead-letter": {
        // Only a message that came on one of its links, from that link's sender.
        if (message.key.slice(0, message.key.lastIndexOf("#")) !== message.from) {
          return this.violation(`dead letter whose sender does not match its link`);
        }
        // A worker dead-letters only the messages the host told it are poison.
        if (!this.#poison.has(`${message.key}:${message.seq}`)) {
          return this.violation(`dead letter of a message the host did not declare poison`);
        }
        this.#poison.delete(`${message.key}:${message.seq}`);
        return this.#host.onDeadLetter(this, {
          ...message,
          error: boundErrorInfo(message.error, this.#host.limits),
        });
      }
      case "stopped":
        this.#stopped?.();
        return;
      default:
        return this.#host.onWorkerMessage(this, message);
    }
  }

  async #saveSnapshots(): Promise<void> {
    this.#saving = true;
    try {
      while (this.#pendingSnapshot) {
        const snap = this.#pendingSnapshot;
        this.#pendingSnapshot = undefined;
        try {
          await this.#host.persistence.save(this.snapshotKey, snap.data, {
            version: snap.version,
            fencingToken: snap.incarnation,
          });
        } catch (error) {
          if (snap.incarnation === this.incarnation && this.alive) {
            this.fail("snapshot_failed", toErrorInfo(error));
          }
          return;
        }
        this.#durableVersion = Math.max(this.#durableVersion, snap.version);
        if (snap.incarnation === this.incarnation && this.#worker && this.alive) {
          this.#worker.postMessage(
            { k: "snapshot-ack", version: snap.version } satisfies HostToWorker,
          );
        }
      }
    } finally {
      this.#saving = false;
    }
  }

  #messageInProgress(): { key: string; seq: number } | undefined {
    const sab = this.#sab;
    if (!sab || Atomics.load(sab, SAB_BUSY) !== 1) return undefined;
    const info = this.#host.broker.lookup(Atomics.load(sab, SAB_LINK));
    return info ? { key: info.key, seq: Atomics.load(sab, SAB_SEQ) } : undefined;
  }

  #createWorker(): Worker {
    const worker = createActorWorker(this.entry, this.options.permissions, this.path);
    worker.onerror = (event: ErrorEvent) => {
      event.preventDefault();
      if (this.#spare === worker) this.#spare = undefined;
      worker.terminate();
    };
    return worker;
  }

  // `new Worker` blocks the host thread for the whole start-up of the worker
  // (Deno 2.9): the spare is made once the new incarnation has got going.
  #scheduleSpare(): void {
    if (this.#spare || this.#spareTimer !== undefined) return;
    this.#spareTimer = this.#host.clock.setTimeout(() => {
      this.#spareTimer = undefined;
      if (this.alive && !this.#spare) this.#spare = this.#createWorker();
    }, SPARE_DELAY_MS);
  }

  /**
   * Starts the next incarnation's worker now (it loads its modules while the
   * supervisor reads the snapshot and waits out the backoff); the next
   * `start` takes it. A stop terminates it.
   */
  prewarm(): void {
    if (this.#status === "stopped" || this.#spare || this.options.isolation === "shared") return;
    if (this.#spareTimer !== undefined) {
      this.#host.clock.clearTimeout(this.#spareTimer);
      this.#spareTimer = undefined;
    }
    this.#spare = this.#createWorker();
  }

  #takeSpare(): Worker | undefined {
    const spare = this.#spare;
    this.#spare = undefined;
    return spare;
  }

  // `whole`: end the worker even when it is a pooled one that hosts others;
  // `park`: a worker of its own may be parked and ended later (_parked_worker.ts).
  #terminate(whole = false, park = false): void {
    const worker = this.#worker;
    const sab = this.#sab;
    this.#worker = undefined;
    this.#sab = undefined;
    if (worker) {
      worker.onmessage = null;
      // Deno 2.9 does not stop a thread that runs code without yielding
      // (`while (true) {}` keeps its core after terminate). A busy worker
      // whose heartbeat stood still is presumed to be one: the host is told.
      const spinning = sab !== undefined && Atomics.load(sab, SAB_BUSY) === 1 &&
        this.#status !== "starting" && this.#spinning(sab);
      const parkable = park && !spinning && sab !== undefined &&
        this.options.isolation !== "shared";
      if (parkable) this.#endParked();
      if (parkable && ParkedWorker.room) {
        this.#parked = new ParkedWorker(worker, sab, this.#host.clock);
        return;
      }
      // A worker that parks as it is ended (its actor failed meanwhile) must not wait.
      if (sab) releasePark(sab);
      if ((spinning || whole) && worker.abort) {
        worker.abort(
          spinning
            ? `actor "${this.path}" ran without yielding`
            : `actor "${this.path}" went silent`,
        );
      } else worker.terminate();
      if (spinning) this.#host.onSpinningWorker?.(this.path);
    }
  }

  #endParked(): void {
    this.#parked?.end();
    this.#parked = undefined;
  }

  #spinning(sab: Int32Array): boolean {
    const beat = Atomics.load(sab, SAB_HEARTBEAT) + Atomics.load(sab, SAB_STARTED);
    const still = beat === this.#lastBeat ? this.#host.clock.now() - this.#lastBeatAt : 0;
    return still > 2 * this.#host.heartbeatMs;
  }

  // `drained`: the worker finished a graceful stop (its last words are on its links).
  #finalize(reason: string, drained = false): void {
    this.#terminate();
    this.#endParked();
    this.#spare?.terminate();
    this.#spare = undefined;
    if (this.#spareTimer !== undefined) this.#host.clock.clearTimeout(this.#spareTimer);
    this.#spareTimer = undefined;
    const wasStarting = this.#status === "starting";
    this.#status = "stopped";
    this.#host.broker.senderGone(this);
    // Without the stack: formatting it cost a tenth of the host's time per
    // stopped activation.
    const error = toErrorInfo(new ActorStoppedError(this.path, reason), { stack: false });
    this.#host.broker.receiverGone(this, error, drained);
    if (wasStarting && this.#ready) {
      this.#ready.reject(new ActorStoppedError(this.path, reason));
      this.#ready = undefined;
    }
    this.#stopped?.();
    this.#stopped = undefined;
    void this.#host.emit("ACTOR_STOPPED", {
      actor: this.path,
      incarnation: this.incarnation,
      reason,
    }, this.options.executionId);
  }

  /** Restored sequence of the current incarnation. */
  get restoredSeq(): number {
    return this.#restoredSeq;
  }
}
