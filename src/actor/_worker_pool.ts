// Pooled workers: actors of one module and permissions share warm workers,
// many actors per worker, instead of one worker each. The host talks to an
// actor in a pooled worker through a GuestPort, exactly as it talks to an
// actor in its own worker. Internal: ActorSystem owns the pool.
//
// A worker is the unit of failure: an error that cannot be blamed on one
// actor (an unhandled rejection, a broken envelope, a load error, a hang)
// fails every actor it holds, and each is restarted by its own supervisor in
// another worker. Actors of other modules or permissions never share it.
import type { Clock, TimerId } from "../clock.ts";
import type { FailureReason } from "../observability/events.ts";
import type { NormalizedPermissions } from "./permissions.ts";
import type { HostToPool, HostToWorker } from "./_protocol.ts";
import { showValue } from "../_show_value.ts";

/** What a cell needs from the worker that hosts its actor. `Worker` is one. */
export interface GuestPort {
  postMessage(message: HostToWorker, transfer?: Transferable[]): void;
  onmessage: ((event: MessageEvent<unknown>) => void) | null;
  onerror: ((event: ErrorEvent) => void) | null;
  /** A pooled worker ended for a reason no single actor can be blamed for. */
  onexit?: ((reason: FailureReason, message: string) => void) | null;
  /** Ends the actor's place in its worker (its own worker: the worker). */
  terminate(): void;
  /** Ends the whole worker behind this port (a hang, a thread that does not yield). */
  abort?(reason: string): void;
  /**
   * The actor overran its time limit: its worker takes no more actors until
   * it answers a ping, and is ended (with its other actors) if it does not
   * answer in time — its thread is then presumed stuck in the actor's code.
   */
  probe?(reason: string): void;
  /**
   * Set once the worker behind this port fails as a whole (a pooled worker
   * whose error no one actor can be blamed for): the same object for each
   * of its actors, so that a supervisor of several of them counts the one
   * failure as one restart, not one per actor.
   */
  readonly failure?: object | undefined;
}

/** Bounds of the pools. */
export interface WorkerPoolOptions {
  /** Actors a pooled worker takes before the pool starts another worker. @default {256} */
  actorsPerWorker?: number;
  /** Workers per pool (module + permissions); beyond, workers take more actors. @default {4} */
  maxWorkers?: number;
  /** A pooled worker with no actor for this long is ended, in ms. @default {30000} */
  idleMs?: number;
}

/** What the pool needs from its actor system. */
export interface PoolHost {
  readonly clock: Clock;
  /** Time a probed worker has to answer, in ms (the system's heartbeat timeout). */
  readonly probeTimeoutMs: number;
  /** Makes a pooled worker. */
  create: WorkerFactory;
  /** A probed worker did not answer: it was ended, its thread may go on. */
  onStuckWorker?(reason: string): void;
}

/** How the pool makes a worker for an actor module. */
export type WorkerFactory = (
  entry: string,
  permissions: NormalizedPermissions,
  name: string,
) => Worker;

interface Member {
  readonly key: string;
  readonly worker: Worker;
  readonly slots: Map<number, Slot>;
  retired: boolean;
  /** An error escaped every handler: the worker's `retire` is on its way. */
  failing: boolean;
  idle: TimerId | undefined;
  probe: { n: number; timer: TimerId } | undefined; // unanswered ping
}

const DEFAULTS: Required<WorkerPoolOptions> = {
  actorsPerWorker: 256,
  maxWorkers: 4,
  idleMs: 30_000,
};

class Slot implements GuestPort {
  onmessage: ((event: MessageEvent<unknown>) => void) | null = null;
  onerror: ((event: ErrorEvent) => void) | null = null;
  onexit: ((reason: FailureReason, message: string) => void) | null = null;
  readonly #pool: WorkerPool;
  readonly #member: Member;
  readonly #id: number;
  #open = true;

  constructor(pool: WorkerPool, member: Member, id: number) {
    this.#pool = pool;
    this.#member = member;
    this.#id = id;
  }

  postMessage(message: HostToWorker, transfer?: Transferable[]): void {
    if (!this.#open || this.#member.retired) {
      for (const t of transfer ?? []) if (t instanceof MessagePort) t.close();
      return;
    }
    const envelope: HostToPool = { s: this.#id, m: message };
    if (transfer) this.#member.worker.postMessage(envelope, transfer);
    else this.#member.worker.postMessage(envelope);
  }

  terminate(): void {
    if (!this.#open) return;
    this.#open = false;
    this.onmessage = null;
    this.onerror = null;
    this.onexit = null;
    this.#pool.release(this.#member, this.#id);
  }

  abort(reason: string): void {
    if (!this.#open) return;
    this.terminate();
    this.#pool.retire(this.#member, reason);
  }

  get failure(): object | undefined {
    return this.#member.failing || this.#member.retired ? this.#member : undefined;
  }

  probe(reason: string): void {
    this.#pool.probe(this.#member, reason);
  }
}

/** Warm workers per actor module and permissions, lent to actors as slots. */
export class WorkerPool {
  readonly #host: PoolHost;
  readonly #options: Required<WorkerPoolOptions>;
  readonly #pools = new Map<string, Member[]>();
  #nextSlot = 1;
  #nextPing = 1;
  #closed = false;

  constructor(host: PoolHost, options: WorkerPoolOptions = {}) {
    this.#host = host;
    this.#options = resolvePoolOptions(options);
  }

  /** Workers the pools hold now. */
  get workers(): number {
    let n = 0;
    for (const members of this.#pools.values()) n += members.length;
    return n;
  }

  /**
   * A place for one actor in a worker of its module, permissions and pool: the
   * least loaded worker, or a new one while every worker holds
   * `actorsPerWorker` actors and the pool has fewer than `maxWorkers`.
   */
  lease(
    entry: string,
    name: string,
    options: { permissions: NormalizedPermissions; pool?: string | undefined },
  ): GuestPort {
    if (this.#closed) throw new Error("The worker pool is closed");
    const { permissions } = options;
    const key = `${JSON.stringify(permissions)} ${entry} ${JSON.stringify(options.pool ?? null)}`;
    const members = this.#pools.get(key) ?? [];
    this.#pools.set(key, members);
    let member: Member | undefined;
    for (const m of members) {
      if (!m.probe && !m.failing && (!member || m.slots.size < member.slots.size)) member = m;
    }
    const full = member !== undefined && member.slots.size >= this.#options.actorsPerWorker;
    // A worker being probed, or ending, takes no actor: with only such workers, a new one starts.
    if (!member || (full && members.length < this.#options.maxWorkers)) {
      member = this.#start(key, entry, permissions, name);
      members.push(member);
    }
    if (member.idle !== undefined) {
      this.#host.clock.clearTimeout(member.idle);
      member.idle = undefined;
    }
    const id = this.#nextSlot++;
    const slot = new Slot(this, member, id);
    member.slots.set(id, slot);
    return slot;
  }

  /** Ends every pooled worker. */
  close(): void {
    this.#closed = true;
    for (const members of [...this.#pools.values()]) {
      for (const member of [...members]) this.retire(member, "the actor system stopped");
    }
  }

  /** @internal A slot was given back: the worker forgets that actor. */
  release(member: Member, id: number): void {
    if (!member.slots.delete(id) || member.retired) return;
    member.worker.postMessage({ s: id, drop: 1 } satisfies HostToPool);
    if (member.slots.size === 0 && member.idle === undefined) {
      member.idle = this.#host.clock.setTimeout(() => {
        member.idle = undefined;
        if (member.slots.size === 0) this.retire(member, "idle");
      }, this.#options.idleMs);
    }
  }

  /** @internal Pings a worker; one that does not answer in time is ended. */
  probe(member: Member, reason: string): void {
    if (member.retired || member.probe) return;
    const n = this.#nextPing++;
    const timer = this.#host.clock.setTimeout(() => {
      if (member.probe?.n !== n) return;
      member.probe = undefined;
      const why = `${reason}, and its worker did not answer within ${this.#host.probeTimeoutMs} ms`;
      this.retire(member, why);
      this.#host.onStuckWorker?.(why);
    }, this.#host.probeTimeoutMs);
    member.probe = { n, timer };
    member.worker.postMessage({ ping: n } satisfies HostToPool);
  }

  /** @internal Ends a worker; every actor still in it is told its worker failed. */
  retire(member: Member, reason: string, failure: FailureReason = "worker_error"): void {
    if (member.retired) return;
    member.retired = true;
    if (member.idle !== undefined) this.#host.clock.clearTimeout(member.idle);
    member.idle = undefined;
    if (member.probe) this.#host.clock.clearTimeout(member.probe.timer);
    member.probe = undefined;
    const members = this.#pools.get(member.key);
    const i = members?.indexOf(member) ?? -1;
    if (i >= 0) members!.splice(i, 1);
    if (members?.length === 0) this.#pools.delete(member.key);
    member.worker.onmessage = null;
    member.worker.onerror = null;
    member.worker.terminate();
    const message = `its pooled worker ended: ${reason}`;
    for (const slot of [...member.slots.values()]) {
      const { onerror, onexit } = slot;
      slot.terminate();
      if (onexit) onexit(failure, message);
      else onerror?.({ message, preventDefault() {} } as ErrorEvent);
    }
    member.slots.clear();
  }

  #start(key: string, entry: string, permissions: NormalizedPermissions, name: string): Member {
    const worker = this.#host.create(entry, permissions, `pool:${name}`);
    const member: Member = {
      key,
      worker,
      slots: new Map(),
      retired: false,
      failing: false,
      idle: undefined,
      probe: undefined,
    };
    worker.onmessage = (event: MessageEvent<unknown>) => this.#dispatch(member, event.data);
    worker.onerror = (event: ErrorEvent) => {
      event.preventDefault();
      this.retire(member, event.message ?? "worker error");
    };
    return member;
  }

  // The envelope is checked here; the slot's message by its cell, as any worker's.
  #dispatch(member: Member, data: unknown, lastWord = false): void {
    if (member.retired) return;
    const envelope = data as { s?: unknown; m?: unknown; k?: unknown; pong?: unknown } | null;
    if (typeof envelope !== "object" || envelope === null) {
      return this.retire(member, "it sent a message that is not an object", "protocol_violation");
    }
    if (lastWord && (typeof envelope.s !== "number" || !("m" in envelope))) {
      return this.retire(member, "a last word without a slot", "protocol_violation");
    }
    if ("pong" in envelope) {
      const probe = member.probe;
      if (probe !== undefined && probe.n === envelope.pong) {
        this.#host.clock.clearTimeout(probe.timer);
        member.probe = undefined;
      }
      return;
    }
    if (envelope.k === "retire") {
      // Marked ending first: each actor's failure then names this worker's
      // one failure (`Slot.failure`), and no restart can be placed in it.
      member.failing = true;
      const { failures } = envelope as { failures?: unknown };
      if (!Array.isArray(failures) || failures.length > 4 * member.slots.size + 4) {
        return this.retire(member, "its last words are malformed", "protocol_violation");
      }
      for (const failure of failures) {
        if (member.retired) return;
        this.#dispatch(member, failure, true);
      }
      return this.retire(member, "an error escaped every actor's handlers");
    }
    if (typeof envelope.s !== "number" || !("m" in envelope)) {
      // The guest hardening's last word when an actor tries to end the worker.
      const failed = envelope as { k?: unknown; reason?: unknown };
      if (failed.k === "failed" && failed.reason === "worker_exited") {
        return this.retire(member, "an actor tried to end it", "worker_exited");
      }
      return this.retire(member, "it sent a message without a slot", "protocol_violation");
    }
    // A slot already given back may still have messages on their way: dropped.
    const slot = member.slots.get(envelope.s);
    slot?.onmessage?.({ data: envelope.m } as MessageEvent<unknown>);
  }
}

function resolvePoolOptions(options: WorkerPoolOptions): Required<WorkerPoolOptions> {
  if (typeof options !== "object" || options === null || Array.isArray(options)) {
    throw new TypeError(`Invalid pool ${showValue(options)}: expected an object`);
  }
  for (const key of Object.keys(options)) {
    if (!Object.hasOwn(DEFAULTS, key)) {
      throw new TypeError(
        `Unknown pool option ${showValue(key)}: expected ${
          Object.keys(DEFAULTS).map((k) => `"${k}"`).join(", ")
        }`,
      );
    }
  }
  const resolved = { ...DEFAULTS };
  for (const field of ["actorsPerWorker", "maxWorkers"] as const) {
    const value = options[field];
    if (value === undefined) continue;
    if (!Number.isInteger(value) || value < 1) {
      throw new RangeError(
        `Invalid pool.${field} ${showValue(value)}: expected a positive integer`,
      );
    }
    resolved[field] = value;
  }
  const idleMs = options.idleMs;
  if (idleMs !== undefined) {
    if (typeof idleMs !== "number" || !(idleMs >= 0)) {
      throw new RangeError(
        `Invalid pool.idleMs ${showValue(idleMs)}: expected a number of ms >= 0`,
      );
    }
    resolved.idleMs = idleMs;
  }
  return resolved;
}
