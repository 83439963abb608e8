// The runtime inside every actor worker: the actor's start, the host's
// control messages, the message loop (one message at a time, replies and
// acknowledgements, the status words the host's watchdog reads), failures
// and the stop. Its parts, a file each: inbound links (_inbound_links.ts)
// and the inbox (_inbox.ts), dead letters (_dead_letter.ts), outbound links
// and asks (_outbound_links.ts), requests to the host (_host_requests.ts),
// snapshots (_guest_snapshots.ts), spans and logs (_guest_telemetry.ts), the
// handlers' context (_actor_context.ts) and periodic work (_ticker.ts).
// Internal.
import type { ActorBehavior } from "../actor/behavior.ts";
import type { ActorContext } from "../actor/actor_context.ts";
import {
  type BatchFrame,
  type HostToWorker,
  type LinkFrame,
  type LinkIn,
  type LinkReply,
  PARK_REQUESTED,
  type PoisonEntry,
  SAB_BUSY,
  SAB_HEARTBEAT,
  SAB_LINK,
  SAB_PARK,
  SAB_SEQ,
  SAB_STARTED,
  type WorkerToHost,
} from "../actor/_protocol.ts";
import { ActorStoppedError } from "../actor/actor_errors.ts";
import { toErrorInfo } from "../oao_error.ts";
import { actorContext } from "./_actor_context.ts";
import { deadLetter } from "./_dead_letter.ts";
import { GuestTelemetry } from "./_guest_telemetry.ts";
import { Snapshots } from "./_guest_snapshots.ts";
import { HostRequests } from "./_host_requests.ts";
import { Inbox } from "./_inbox.ts";
import {
  complete,
  type Handling,
  type InboundLink,
  InboundLinks,
  type Item,
  recordAck,
  sendReply,
} from "./_inbound_links.ts";
import { OutboundLinks } from "./_outbound_links.ts";
import { Ticker } from "./_ticker.ts";

type Init = Extract<HostToWorker, { k: "init" }>;

const YIELD_AFTER_MS = 20;
const QUICK_MESSAGE_MS = 0.05;
const MAX_STRIDE = 32;
const SHARED_ACK_EVERY = 128;

/**
 * The runtime of one actor inside a worker: it runs the actor's behaviour
 * on the messages of its links, one at a time, and answers to the host.
 */
export class WorkerRuntime {
  #post: (message: WorkerToHost, transfer?: Transferable[]) => void;
  // What the parts post through: silenced with the runtime by `dispose`.
  #toHost = (message: WorkerToHost, transfer?: Transferable[]) => this.#post(message, transfer);
  #behavior: ActorBehavior;
  #init!: Init;
  #sab!: Int32Array;
  #state: unknown;
  #processed = 0;
  #started = 0;
  #inbox!: Inbox<InboundLink>;
  #poison = new Map<string, PoisonEntry>();
  #handling: Handling = { current: undefined, reply: undefined };
  #telemetry = new GuestTelemetry(this.#toHost, this.#handling);
  #inbound = new InboundLinks(this.#toHost);
  #outbound = new OutboundLinks(this.#toHost, this.#telemetry);
  #requests = new HostRequests(this.#toHost);
  #snapshots!: Snapshots;
  #ticker!: Ticker;
  #ctx!: ActorContext;
  #processing = false;
  #failed = false;
  #stopping = false;
  #stopReason = "stopped";
  #stopExpect: Record<string, number> = {};
  #stopSent = false;
  #item: Item = {
    link: undefined as unknown as InboundLink,
    seq: 0,
    body: undefined,
    tp: "",
    ts: undefined,
    ask: undefined,
    redelivered: false,
  };

  #ownHeartbeat: boolean;
  #park: ((sab: Int32Array) => void) | undefined;

  /**
   * @param behavior The actor's behaviour.
   * @param post Sends a message to the host.
   * @param options `ownHeartbeat`: beat the heartbeat word on a timer of its
   *   own (default); a pooled worker beats every runtime it hosts from one
   *   timer instead (`beat`). `park`: blocks the worker, in the task in which
   *   its actor failed or the host gave it up, until the host releases it
   *   (`SAB_PARK` in _protocol.ts), then ends it; a worker of its own only.
   */
  constructor(
    behavior: ActorBehavior,
    post: (message: WorkerToHost, transfer?: Transferable[]) => void,
    options: { ownHeartbeat?: boolean; park?: (sab: Int32Array) => void } = {},
  ) {
    this.#behavior = behavior;
    this.#post = post;
    this.#ownHeartbeat = options.ownHeartbeat ?? true;
    this.#park = options.park;
  }

  /** Handles one control message from the host. */
  onControl(message: HostToWorker): void {
    if (this.#sab) {
      if (this.#parkRequested()) return this.#parkNow();
      Atomics.add(this.#sab, SAB_HEARTBEAT, 1);
    }
    switch (message.k) {
      case "init":
        return this.#start(message);
      case "link-in":
        return this.#linkIn(message);
      case "link-out":
        return this.#outbound.attach(message.target, message.port);
      case "link-error":
        return this.#outbound.linkError(message);
      case "link-close":
        return this.#inbound.close(message.key);
      case "snapshot-ack":
        return this.#snapshotAcked(message.version);
      case "reply":
        return this.#requests.settle(message);
      case "park":
        return this.#parkNow();
      case "stop":
        this.#stopping = true;
        this.#stopReason = message.reason;
        this.#stopExpect = message.expect;
        if (!this.#processing) void this.#finishStop();
        return;
    }
  }

  /** Tells the host's watchdog this worker is alive. */
  beat(): void {
    if (this.#sab && this.#ticker.ticking) Atomics.add(this.#sab, SAB_HEARTBEAT, 1);
  }

  /** The heartbeat period the host asked for (0 before `init`). */
  get heartbeatMs(): number {
    return this.#init?.heartbeatMs ?? 0;
  }

  /**
   * Discards this runtime while its worker goes on hosting other actors (a
   * pooled worker): its links close, its timers stop, and nothing it still
   * does (a handler that goes on awaiting) reaches the host any more.
   */
  dispose(): void {
    this.#failed = true;
    this.#stopping = true;
    this.#post = () => {};
    this.#ticker?.dispose();
    this.#inbound.dispose();
    this.#outbound.dispose();
    this.#requests.dispose();
    this.#telemetry.dispose();
  }

  /** Reports a failure that escaped every handler (uncaught error, unhandled rejection). */
  fail(reason: "unhandled_rejection" | "worker_error", error: unknown): void {
    if (this.#failed) return;
    this.#failed = true;
    const message: WorkerToHost = { k: "failed", reason, error: toErrorInfo(error) };
    const current = this.#handling.current;
    if (current) {
      message.key = current.link.key;
      message.seq = current.seq;
    }
    this.#telemetry.fail(error);
    this.#post(message);
    this.#parkNow();
  }

  // Nothing of this incarnation runs after its failure: the worker blocks
  // here, in the failing task, until the host ends it (a worker of its own;
  // a pooled worker's runtime is disposed of instead).
  #parkNow(): void {
    this.#failed = true;
    if (this.#sab) this.#park?.(this.#sab);
  }

  // The host gave this incarnation up (a kill): a plain read, checked before
  // each frame, control message, handled message, reply and send.
  #parkRequested(): boolean {
    return this.#sab[SAB_PARK] === PARK_REQUESTED;
  }

  #start(init: Init): void {
    this.#init = init;
    this.#sab = new Int32Array(init.sab);
    this.#ticker = new Ticker(this.#sab);
    this.#outbound.checkpoint = () => {
      if (this.#parkRequested()) this.#parkNow();
    };
    this.#inbox = new Inbox(init.options.mailbox);
    this.#inbound.start(init.path, this.#inbox);
    for (const entry of init.poison) this.#poison.set(`${entry.key}:${entry.seq}`, entry);
    this.#telemetry.start(init);
    this.#snapshots = new Snapshots(init, {
      behavior: this.#behavior,
      inbound: this.#inbound,
      outbound: this.#outbound,
      post: this.#toHost,
      fail: (error) => {
        this.#failed = true;
        this.#post({ k: "failed", reason: "exception", error: toErrorInfo(error) });
        this.#parkNow();
      },
    });
    this.#ctx = actorContext(init, {
      handling: this.#handling,
      telemetry: this.#telemetry,
      outbound: this.#outbound,
      requests: this.#requests,
    });
    try {
      const start = this.#snapshots.restore();
      this.#state = start.state;
      this.#processed = start.processed;
    } catch (error) {
      this.#failed = true;
      this.#post({ k: "init-failed", error: toErrorInfo(error) });
      return;
    }
    if (this.#ownHeartbeat) this.#ticker.every(init.heartbeatMs, () => this.beat());
    const policy = init.options.snapshot;
    if (policy.mode === "interval") this.#ticker.every(policy.ms, () => this.#maybeSnapshot(true));
    // The links' frames are handled from the next task on, after the ready.
    for (const link of init.links) this.#linkIn(link);
    this.#post({ k: "ready", restoredSeq: this.#processed });
    this.#outbound.connectAll();
  }

  // ---- inbound -------------------------------------------------------------

  #linkIn(message: LinkIn): void {
    const link = this.#inbound.open(message);
    message.port.onmessage = (event: MessageEvent<LinkFrame>) => {
      const frame = event.data;
      if (frame.k === "b") this.#onBatch(link, frame);
      else link.acks = new Int32Array(frame.acks);
    };
    if (this.#stopSent) this.#sayLastWord(message.port);
  }

  #onBatch(link: InboundLink, frame: BatchFrame): void {
    if (this.#failed || !this.#inbound.isOpen(link)) return;
    if (this.#parkRequested()) return this.#parkNow();
    Atomics.add(this.#sab, SAB_HEARTBEAT, 1);
    this.#inbound.accept(link, frame);
    if (this.#processing) return;
    if (this.#inbox.length > 0) void this.#drain();
    else this.#afterDrain();
  }

  // ---- processing ----------------------------------------------------------

  async #drain(): Promise<void> {
    this.#processing = true;
    let sliceStart = performance.now();
    let lastCheck = sliceStart;
    let stride = 1;
    let untilCheck = 1;
    let sinceAck = 0;
    const sab = this.#sab;
    const behavior = this.#behavior;
    const inbox = this.#inbox;
    const handling = this.#handling;
    const telemetry = this.#telemetry;
    const tracing = telemetry.enabled;
    const stateless = this.#init.options.snapshot.mode === "never";
    // One Item, rewritten for each message: nothing keeps it past its message.
    const item = this.#item;
    runs: while (!this.#failed) {
      const run = inbox.peek();
      if (!run) break;
      // What the messages of a run share is set once for the run; after an
      // await the run is peeked again (a full inbox may have dropped from it).
      const { link, frame } = run;
      const extras = frame.x;
      const frameTp = frame.tp ?? "";
      item.link = link;
      item.tp = frameTp;
      item.ts = frame.ts;
      item.redelivered = frame.r === 1;
      sab[SAB_LINK] = link.linkId;
      while (run.next < run.end && !this.#failed) {
        if (sab[SAB_PARK] === PARK_REQUESTED) return this.#parkNow();
        const index = inbox.take(run);
        const seq = frame.s + index;
        item.seq = seq;
        item.body = frame.m[index];
        if (extras === undefined) item.ask = index === 0 ? frame.a : undefined;
        else {
          const extra = extras[index];
          item.tp = extra?.tp ?? frameTp;
          item.ts = extra?.ts ?? frame.ts;
          item.ask = extra ? extra.a : index === 0 ? frame.a : undefined; // askIdOf, inlined
        }
        if (this.#poison.size > 0) {
          const poison = this.#poison.get(`${link.key}:${seq}`);
          if (poison) {
            deadLetter(item, poison, { path: this.#init.path, post: this.#post });
            this.#poison.delete(`${link.key}:${seq}`);
            complete(link, seq);
            this.#processed++;
            this.#snapshots.count();
            continue;
          }
        }
        handling.current = item;
        handling.reply = undefined;
        const span = tracing ? telemetry.startMessageSpan(item) : undefined;
        // Only this thread writes the status words, with plain stores (an
        // atomic one cost ~5 ns a message). The host reads them when they
        // have stood still (a handler past its time limit), or once the
        // worker's failure reached it on a channel, which orders them; which
        // message was in progress at the instant of a kill is a race anyway.
        sab[SAB_SEQ] = seq;
        sab[SAB_STARTED] = this.#started = (this.#started + 1) | 0;
        sab[SAB_BUSY] = 1;
        let awaited = false;
        try {
          let next = behavior.receive(this.#state, item.body, this.#ctx);
          if (next instanceof Promise) {
            span?.suspend?.();
            awaited = true;
            next = await next;
          }
          this.#state = next;
        } catch (error) {
          telemetry.fail(error);
          this.#failed = true;
          this.#post({
            k: "failed",
            reason: "exception",
            error: toErrorInfo(error),
            key: link.key,
            seq,
          });
          this.#parkNow();
          return;
        }
        sab[SAB_BUSY] = 0;
        // Given up while it ran: neither completed nor answered, the message
        // goes to the next incarnation.
        if (sab[SAB_PARK] === PARK_REQUESTED) return this.#parkNow();
        span?.end();
        handling.current = undefined;
        complete(link, seq);
        this.#processed++;
        if (stateless) {
          if (item.ask !== undefined) {
            // The reply carries the acknowledgement: one message back, not two.
            sendReply(link, item.ask, true, handling.reply, link.done);
            if (link.done! > link.ackSent) recordAck(link, link.done!);
          } else if (++sinceAck >= SHARED_ACK_EVERY && link.acks) {
            // Mid-drain, only the shared word: a message per ack would cost the
            // receiver more than the handling; the ack message follows the drain.
            sinceAck = 0;
            Atomics.store(link.acks, 0, link.done! | 0);
          }
        } else {
          if (item.ask !== undefined) sendReply(link, item.ask, true, handling.reply);
          this.#snapshots.count();
          this.#maybeSnapshot(false);
        }
        // Reading the time costs more than a small handler: read it every
        // \`stride\` messages, a stride that grows while messages are quick.
        if (--untilCheck === 0) {
          const now = performance.now();
          if (now - sliceStart > YIELD_AFTER_MS) {
            await this.#ticker.yield();
            sliceStart = lastCheck = performance.now();
            stride = untilCheck = 1;
            continue runs;
          }
          stride = now - lastCheck < stride * QUICK_MESSAGE_MS
            ? Math.min(stride * 2, MAX_STRIDE)
            : 1;
          lastCheck = now;
          untilCheck = stride;
        }
        if (awaited) continue runs;
      }
    }
    this.#processing = false;
    this.#afterDrain();
  }

  #afterDrain(): void {
    if (this.#failed) return;
    this.#telemetry.idle();
    this.#outbound.flush();
    if (this.#init.options.snapshot.mode === "never") this.#inbound.ackCompleted();
    this.#maybeSnapshot(true);
    if (this.#stopping) void this.#finishStop();
  }

  // ---- snapshots and the stop ----------------------------------------------

  #maybeSnapshot(endOfDrain: boolean): void {
    if (this.#snapshots.due(endOfDrain, this.#processing)) {
      this.#snapshots.take(this.#state, this.#processed);
    }
  }

  #snapshotAcked(version: number): void {
    this.#snapshots.acked(version);
    if (this.#failed) return;
    if (!this.#processing) this.#maybeSnapshot(true);
    else this.#maybeSnapshot(false);
    if (this.#stopping && !this.#processing) void this.#finishStop();
  }

  async #finishStop(): Promise<void> {
    if (this.#processing || this.#failed) return;
    if (this.#inbox.length > 0) return void this.#drain();
    // Resumes when every message sent before the stop arrived (#afterDrain).
    if (!this.#inbound.arrived(this.#stopExpect)) return;
    this.#outbound.flush();
    if (this.#init.options.snapshot.mode !== "never") {
      const snapshots = this.#snapshots;
      if (snapshots.dirty && !snapshots.inFlight) snapshots.take(this.#state, this.#processed);
      if (snapshots.inFlight) return; // resumes in #snapshotAcked
    }
    this.#telemetry.flush();
    this.#ticker.stop();
    await Promise.resolve();
    if (this.#stopSent) return;
    this.#stopSent = true;
    // Every reply went out on its link before this last word; the host learns
    // of the stop on another channel, so senders wait for it on the link.
    for (const link of this.#inbound.values()) this.#sayLastWord(link.port);
    this.#post({ k: "stopped" });
  }

  #sayLastWord(port: MessagePort): void {
    const error = toErrorInfo(new ActorStoppedError(this.#init.path, this.#stopReason), {
      stack: false,
    });
    port.postMessage({ k: "z", e: error } satisfies LinkReply);
  }
}
