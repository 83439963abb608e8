// Snapshots of an actor, taken inside its worker when the policy says
// (every n messages; on an interval, at the end of a drain; before a stop):
// the behaviour's state, the cursors of the inbound links and the
// unacknowledged frames of the outbound ones, one in flight at a time. Once
// the host has stored one, the messages it covers are acknowledged to their
// senders. Internal.
import type { ActorBehavior } from "../actor/behavior.ts";
import type { ActorSnapshotData, HostToWorker, WorkerToHost } from "../actor/_protocol.ts";
import type { InboundLinks } from "./_inbound_links.ts";
import type { OutboundLinks } from "./_outbound_links.ts";

type Init = Extract<HostToWorker, { k: "init" }>;

/** What the snapshots of an actor are made from and reported to. */
export interface SnapshotParts {
  behavior: ActorBehavior;
  inbound: InboundLinks;
  outbound: OutboundLinks;
  /** Sends a message to the host. */
  post(message: WorkerToHost): void;
  /** Reports a snapshot that failed: the actor fails. */
  fail(error: unknown): void;
}

/** The snapshots of one actor: when one is due, the one in flight, and what each covers. */
export class Snapshots {
  #init: Init;
  #policy: Init["options"]["snapshot"];
  #parts: SnapshotParts;
  #since = 0; // messages handled since the last snapshot
  #inFlight: number | undefined;
  #covered = new Map<number, Map<string, number>>(); // cursors per version in flight

  /**
   * @param init The actor's `init` message: its snapshot policy and incarnation.
   * @param parts What snapshots are made from and reported to.
   */
  constructor(init: Init, parts: SnapshotParts) {
    this.#init = init;
    this.#policy = init.options.snapshot;
    this.#parts = parts;
  }

  /**
   * The state the actor starts from: that of the snapshot it is restored
   * from (whose cursors and outbox go to the links), else the behaviour's
   * initial state.
   *
   * @returns The state, and how many messages it has handled.
   * @throws What the behaviour's `restore` or `initialState` throws.
   */
  restore(): { state: unknown; processed: number } {
    const { behavior, inbound, outbound } = this.#parts;
    const snap = this.#init.snapshot?.data;
    if (snap) {
      const state = behavior.restore ? behavior.restore(snap.state) : snap.state;
      inbound.restore(snap.cursors);
      outbound.restore(snap.outbox);
      return { state, processed: snap.processed };
    }
    const initial = behavior.initialState;
    const state = typeof initial === "function"
      ? (initial as (args: unknown) => unknown)(this.#init.args)
      : initial;
    return { state, processed: 0 };
  }

  /** Counts a message handled (or dead-lettered) since the last snapshot. */
  count(): void {
    this.#since++;
  }

  /** Whether something was handled since the last snapshot. */
  get dirty(): boolean {
    return this.#since > 0;
  }

  /** Whether a snapshot waits for the host's acknowledgement. */
  get inFlight(): boolean {
    return this.#inFlight !== undefined;
  }

  /**
   * Whether the policy wants a snapshot now.
   *
   * @param endOfDrain Whether the inbox was just drained (or the interval elapsed).
   * @param processing Whether a drain is under way.
   */
  due(endOfDrain: boolean, processing: boolean): boolean {
    const policy = this.#policy;
    if (
      policy.mode === "never" || this.#inFlight !== undefined || this.#since === 0
    ) return false;
    if (policy.mode === "messages" && this.#since < policy.every) return false;
    if (policy.mode === "interval" && !endOfDrain) return false;
    if (policy.mode === "interval" && processing) return false;
    return true;
  }

  /**
   * Sends the host a snapshot of `state`, taken after `processed` messages
   * (its version); a failure goes to `fail`.
   */
  take(state: unknown, processed: number): void {
    const { behavior, inbound, outbound, post, fail } = this.#parts;
    const outbox = outbound.outbox();
    let data: unknown;
    try {
      data = behavior.snapshot ? behavior.snapshot(state) : state;
    } catch (error) {
      return fail(error);
    }
    const version = processed;
    const cursors = inbound.cursors();
    this.#covered.set(version, new Map(cursors));
    this.#inFlight = version;
    this.#since = 0;
    const snapshot: ActorSnapshotData = {
      state: data,
      cursors: Object.fromEntries(cursors),
      outbox,
      processed: version,
    };
    try {
      post({ k: "snapshot", incarnation: this.#init.incarnation, version, data: snapshot });
    } catch (error) {
      fail(error);
    }
  }

  /** The host stored snapshot `version`: acknowledges what it covers. */
  acked(version: number): void {
    const cursors = this.#covered.get(version);
    for (const v of this.#covered.keys()) if (v <= version) this.#covered.delete(v);
    if (this.#inFlight !== undefined && this.#inFlight <= version) {
      this.#inFlight = undefined;
    }
    if (cursors) this.#parts.inbound.ackCovered(cursors);
  }
}
