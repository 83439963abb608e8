// The runtime inside every actor worker: inbound links and the mailbox,
// one-at-a-time processing, replies, snapshots and acknowledgements, outbound
// links, and the status words the host's watchdog reads. Internal.
import type { ActorBehavior } from "../actor/behavior.ts";
import type { ActorContext, ActorLogger, AskOptions } from "../actor/actor_context.ts";
import type { MessageMeta } from "../actor/envelope.ts";
import { OutboundLink } from "../actor/_outbound_link.ts";
import { findUncloneable } from "../actor/_cloneable.ts";
import {
  type ActorSnapshotData,
  type BatchFrame,
  type HostToWorker,
  type LinkFrame,
  type LinkReply,
  type OutboxState,
  type PoisonEntry,
  SAB_BUSY,
  SAB_HEARTBEAT,
  SAB_LINK,
  SAB_SEQ,
  SAB_STARTED,
  SAB_TICK,
  type WorkerLogRecord,
  type WorkerRequest,
  type WorkerToHost,
} from "../actor/_protocol.ts";
import {
  ActorFailedError,
  ActorStoppedError,
  AskTimeoutError,
  type ErrorInfo,
  fromErrorInfo,
  MailboxFullError,
  MessageNotCloneableError,
  toErrorInfo,
} from "../errors.ts";
import type { SpawnOptions } from "../actor/spawn_options.ts";
import { type Span, Tracer } from "../tracing/tracer.ts";
import { receiveSpanName, ReceiveSpanRecorder } from "../tracing/_receive_span_recorder.ts";
import type { SpanData } from "../tracing/span_data.ts";
import {
  formatTraceparent,
  newTraceContext,
  parseTraceparent,
  type TraceContext,
} from "../tracing/trace_context.ts";
import { Inbox } from "./_inbox.ts";

type Init = Extract<HostToWorker, { k: "init" }>;

// Largest telemetry posts: half the host's default limits (DEFAULT_LIMITS).
const SPANS_PER_POST = 5_000;
const LOGS_PER_POST = 500;

interface InboundLink {
  key: string;
  from: string;
  linkId: number;
  port: MessagePort;
  done: number | undefined; // every seq <= done is complete
  ahead: Set<number>; // completed seqs above done
  received: number; // highest seq queued in this incarnation
  ackSent: number;
  acks: Int32Array | undefined; // shared acknowledgement word from the sender's hello
}

// The message being handled.
interface Item {
  link: InboundLink;
  seq: number;
  body: unknown;
  tp: string;
  ts: string | undefined;
  ask: number | undefined;
  redelivered: boolean;
}

interface Pending {
  resolve(value: unknown): void;
  reject(error: Error): void;
  timer?: ReturnType<typeof setTimeout>;
  link?: OutboundLink;
}

const YIELD_AFTER_MS = 20;
const MAX_SEALED_CHUNKS = 16; // packed receive spans held before they are sent at once
const EAGER_SPANS = 64; // spans sent as soon as the actor is idle; more wait for the timer

/** The span of the message being handled; `suspend` when its handler goes asynchronous. */
type MessageSpan = Span & { suspend?(): void };
const QUICK_MESSAGE_MS = 0.05;
const MAX_STRIDE = 32;
const SHARED_ACK_EVERY = 128;
// How long a sender waits for the last word of a receiver that stopped
// gracefully (it is already on its way) before failing what is unanswered.
const LAST_WORD_WAIT_MS = 1_000;

export class WorkerRuntime {
  #post: (message: WorkerToHost, transfer?: Transferable[]) => void;
  #behavior: ActorBehavior;
  #init!: Init;
  #sab!: Int32Array;
  #state: unknown;
  #processed = 0;
  #started = 0;
  #inbox!: Inbox<InboundLink>;
  #inbound = new Map<string, InboundLink>();
  #cursors = new Map<string, number>();
  #outbound = new Map<string, OutboundLink>();
  // Links to receivers that stopped gracefully, waiting for their last word.
  #closing = new Map<OutboundLink, { error: ErrorInfo; timer: ReturnType<typeof setTimeout> }>();
  #asks = new Map<number, Pending>();
  #requests = new Map<number, Pending>();
  #poison = new Map<string, PoisonEntry>();
  #nextId = 1;
  #processing = false;
  #failed = false;
  #stopping = false;
  #stopReason = "stopped";
  #stopExpect: Record<string, number> = {};
  #stopSent = false;
  #current: Item | undefined;
  #item: Item = {
    link: undefined as unknown as InboundLink,
    seq: 0,
    body: undefined,
    tp: "",
    ts: undefined,
    ask: undefined,
    redelivered: false,
  };
  #replyValue: unknown;
  #sinceSnapshot = 0;
  #snapshotInFlight: number | undefined;
  #snapshotCursors = new Map<number, Map<string, number>>();
  #tracer = new Tracer();
  // The handled message's span context; undefined while it is the recorder's (built on demand).
  #currentTrace: TraceContext | undefined = newTraceContext(false);
  #currentTp: string | undefined; // #currentTrace as a traceparent, formatted on first use
  #receive: ReceiveSpanRecorder | undefined; // receive spans of messages, packed (tracing only)
  #spans: SpanData[] = [];
  #span: MessageSpan | undefined; // the latest message span, ended with the error when the worker fails
  #logs: WorkerLogRecord[] = [];
  #telemetryScheduled = false;
  #ticking = true;
  #yieldChannel: MessageChannel | undefined;
  #yieldResolve: (() => void) | undefined;
  #ctx: ActorContext;

  #ownHeartbeat: boolean;

  /**
   * @param behavior The actor's behaviour.
   * @param post Sends a message to the host.
   * @param ownHeartbeat Beat the heartbeat word on a timer of its own; a pooled
   *   worker beats every runtime it hosts from one timer instead (`beat`).
   */
  constructor(
    behavior: ActorBehavior,
    post: (message: WorkerToHost, transfer?: Transferable[]) => void,
    ownHeartbeat = true,
  ) {
    this.#behavior = behavior;
    this.#post = post;
    this.#ownHeartbeat = ownHeartbeat;
    this.#ctx = this.#makeContext();
  }

  /** Handles one control message from the host. */
  onControl(message: HostToWorker): void {
    if (this.#sab) Atomics.add(this.#sab, SAB_HEARTBEAT, 1);
    switch (message.k) {
      case "init":
        return this.#start(message);
      case "link-in":
        return this.#linkIn(message.key, message.from, message.linkId, message.port);
      case "link-out":
        return this.#linkOut(message.target).attach(message.port);
      case "link-error":
        return this.#linkError(message.target, message.error, message.drained === true);
      case "link-close":
        return this.#linkClose(message.key);
      case "snapshot-ack":
        return this.#snapshotAcked(message.version);
      case "reply": {
        const pending = this.#requests.get(message.id);
        if (!pending) return;
        this.#requests.delete(message.id);
        if (message.ok) pending.resolve(message.value);
        else pending.reject(fromErrorInfo(message.error));
        return;
      }
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
    if (this.#sab && this.#ticking) Atomics.add(this.#sab, SAB_HEARTBEAT, 1);
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
    this.#ticking = false;
    this.#post = () => {};
    this.#yieldChannel?.port1.close();
    this.#yieldChannel?.port2.close();
    for (const link of this.#inbound.values()) link.port.close();
    this.#inbound.clear();
    for (const link of this.#outbound.values()) link.close();
    this.#outbound.clear();
    for (const { timer } of this.#closing.values()) clearTimeout(timer);
    this.#closing.clear();
    for (const pending of [...this.#asks.values(), ...this.#requests.values()]) {
      if (pending.timer !== undefined) clearTimeout(pending.timer);
    }
    this.#asks.clear();
    this.#requests.clear();
    this.#spans = [];
    this.#logs = [];
  }

  /** Reports a failure that escaped every handler (uncaught error, unhandled rejection). */
  fail(reason: "unhandled_rejection" | "worker_error", error: unknown): void {
    if (this.#failed) return;
    this.#failed = true;
    const message: WorkerToHost = { k: "failed", reason, error: toErrorInfo(error) };
    if (this.#current) {
      message.key = this.#current.link.key;
      message.seq = this.#current.seq;
    }
    this.#span?.recordException(error);
    this.#span?.end();
    this.#flushTelemetry();
    this.#post(message);
  }

  #start(init: Init): void {
    this.#init = init;
    this.#sab = new Int32Array(init.sab);
    this.#inbox = new Inbox(init.options.mailbox);
    for (const entry of init.poison) this.#poison.set(`${entry.key}:${entry.seq}`, entry);
    if (init.tracing) {
      this.#tracer = new Tracer(this.#spanSink());
      this.#receive = new ReceiveSpanRecorder(init.path, init.incarnation, (span) => {
        this.#spans.push(span);
        this.#scheduleTelemetry();
      });
    }
    try {
      const snap = init.snapshot?.data;
      if (snap) {
        this.#state = this.#behavior.restore ? this.#behavior.restore(snap.state) : snap.state;
        this.#processed = snap.processed;
        for (const [key, seq] of Object.entries(snap.cursors)) this.#cursors.set(key, seq);
        for (const [target, outbox] of Object.entries(snap.outbox)) {
          this.#outbound.set(target, this.#newOutbound(target, outbox));
        }
      } else {
        const initial = this.#behavior.initialState;
        this.#state = typeof initial === "function"
          ? (initial as (args: unknown) => unknown)(init.args)
          : initial;
      }
    } catch (error) {
      this.#failed = true;
      this.#post({ k: "init-failed", error: toErrorInfo(error) });
      return;
    }
    if (this.#ownHeartbeat) this.#every(init.heartbeatMs, () => this.beat());
    const policy = init.options.snapshot;
    if (policy.mode === "interval") this.#every(policy.ms, () => this.#maybeSnapshot(true));
    this.#post({ k: "ready", restoredSeq: this.#processed });
    for (const [target, link] of this.#outbound) {
      this.#post({ k: "connect", target, space: link.space });
    }
  }

  // Periodic work without platform timers: the first timer of a fresh worker
  // costs milliseconds of start-up, Atomics.waitAsync on a quiet word does not.
  #every(ms: number, fn: () => void): void {
    const loop = () => {
      if (!this.#ticking) return;
      const wait = Atomics.waitAsync(this.#sab, SAB_TICK, 0, ms);
      if (wait.async) {
        void wait.value.then(() => {
          if (!this.#ticking) return;
          fn();
          loop();
        });
      }
    };
    loop();
  }

  // Lets queued events (incoming frames, host control messages) run.
  #yield(): Promise<void> {
    if (!this.#yieldChannel) {
      this.#yieldChannel = new MessageChannel();
      this.#yieldChannel.port1.onmessage = () => this.#yieldResolve?.();
    }
    return new Promise<void>((resolve) => {
      this.#yieldResolve = resolve;
      this.#yieldChannel!.port2.postMessage(null);
    });
  }

  // ---- inbound -------------------------------------------------------------

  #linkIn(key: string, from: string, linkId: number, port: MessagePort): void {
    const previous = this.#inbound.get(key);
    if (previous) {
      this.#saveCursor(previous);
      previous.port.close();
    }
    const link: InboundLink = {
      key,
      from,
      linkId,
      port,
      done: this.#cursors.get(key),
      ahead: new Set(),
      received: 0,
      ackSent: 0,
      acks: undefined,
    };
    link.ackSent = link.done ?? 0;
    this.#inbound.set(key, link);
    for (const other of this.#cursors.keys()) {
      if (other !== key && other.startsWith(`${from}#`) && !this.#inbound.has(other)) {
        this.#cursors.delete(other);
      }
    }
    port.onmessage = (event: MessageEvent<LinkFrame>) => {
      const frame = event.data;
      if (frame.k === "b") this.#onBatch(link, frame);
      else link.acks = new Int32Array(frame.acks);
    };
    if (this.#stopSent) this.#sayLastWord(port);
  }

  #linkClose(key: string): void {
    const link = this.#inbound.get(key);
    if (!link) return;
    this.#saveCursor(link);
    link.port.close();
    this.#inbound.delete(key);
  }

  // A link's `done` is its live cursor; `#cursors` catches up on demand.
  #saveCursor(link: InboundLink): void {
    if (link.done !== undefined) this.#cursors.set(link.key, link.done);
  }

  #onBatch(link: InboundLink, frame: BatchFrame): void {
    if (this.#failed || this.#inbound.get(link.key) !== link) return;
    Atomics.add(this.#sab, SAB_HEARTBEAT, 1);
    if (link.done === undefined || (link.received === 0 && frame.s > link.done + 1)) {
      // Everything before the first seq we are sent was acknowledged earlier.
      link.done = Math.max(link.done ?? 0, frame.s - 1);
    }
    const count = frame.m.length;
    // Messages up to `done` and `received` were seen already (a retransmission).
    const from = Math.max(0, Math.max(link.done, link.received) + 1 - frame.s);
    if (from >= count) return this.#afterBatch();
    if (frame.x === undefined && link.ahead.size === 0) {
      link.received = frame.s + count - 1;
      this.#enqueue(link, frame, from, count);
      return this.#afterBatch();
    }
    // Gaps (messages the sender could not send) and messages completed out
    // of order split the frame into several runs.
    let start = from;
    for (let i = from; i < count; i++) {
      const seq = frame.s + i;
      const gap = frame.x?.[i]?.g === 1;
      if (!gap && !link.ahead.has(seq) && seq > link.done) continue;
      this.#enqueue(link, frame, start, i);
      start = i + 1;
      if (seq > link.received) link.received = seq;
      if (gap && seq > link.done) this.#complete(link, seq);
    }
    link.received = Math.max(link.received, frame.s + count - 1);
    this.#enqueue(link, frame, start, count);
    this.#afterBatch();
  }

  #enqueue(link: InboundLink, frame: BatchFrame, from: number, to: number): void {
    if (to <= from) return;
    const removed = this.#inbox.offer(link, frame, from, to);
    if (!removed) return;
    const inbox = this.#inbox;
    const error = toErrorInfo(new MailboxFullError(this.#init.path, inbox.capacity));
    if (inbox.overflow === "reject") {
      const seqs: number[] = [];
      const asks: number[] = [];
      for (const { index } of removed) {
        const seq = frame.s + index;
        this.#complete(link, seq);
        seqs.push(seq);
        const ask = frame.x?.[index]?.a;
        if (ask !== undefined) asks.push(ask);
      }
      link.port.postMessage({ k: "x", seqs, asks, e: error } satisfies LinkReply);
      this.#post({
        k: "dropped",
        key: link.key,
        from: link.from,
        seq: seqs[0]!,
        policy: `reject:${seqs.length}`,
      });
      return;
    }
    for (const slot of removed) {
      const seq = slot.frame.s + slot.index;
      this.#complete(slot.link, seq);
      this.#post({
        k: "dropped",
        key: slot.link.key,
        from: slot.link.from,
        seq,
        policy: inbox.overflow,
      });
      const ask = slot.frame.x?.[slot.index]?.a;
      if (ask !== undefined) this.#sendReply(slot.link, ask, false, error);
    }
  }

  #afterBatch(): void {
    if (this.#processing) return;
    if (this.#inbox.length > 0) void this.#drain();
    else this.#afterDrain();
  }

  #complete(link: InboundLink, seq: number): void {
    if (link.done === undefined) link.done = seq - 1;
    if (seq === link.done + 1) {
      link.done = seq;
      if (link.ahead.size > 0) { while (link.ahead.delete(link.done + 1)) link.done++; }
    } else if (seq > link.done) {
      link.ahead.add(seq);
    }
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
    const tracing = this.#tracer.enabled;
    const stateless = this.#init.options.snapshot.mode === "never";
    while (!this.#failed) {
      const run = inbox.peek();
      if (!run) break;
      const index = inbox.take(run);
      const { link, frame } = run;
      const extra = frame.x === undefined ? undefined : frame.x[index];
      // One Item, rewritten for each message: nothing keeps it past its message.
      const item = this.#item;
      item.link = link;
      item.seq = frame.s + index;
      item.body = frame.m[index];
      item.tp = extra?.tp ?? frame.tp ?? "";
      item.ts = extra?.ts ?? frame.ts;
      item.ask = extra?.a;
      item.redelivered = frame.r === 1;
      if (this.#poison.size > 0) {
        const poison = this.#poison.get(`${link.key}:${item.seq}`);
        if (poison) {
          this.#deadLetter(item, poison);
          continue;
        }
      }
      this.#current = item;
      this.#replyValue = undefined;
      const span = tracing ? this.#startMessageSpan(item) : undefined;
      // Only this thread writes the status words: plain stores, published
      // to the host's watchdog by the atomic store of the busy flag.
      sab[SAB_LINK] = link.linkId;
      sab[SAB_SEQ] = item.seq;
      sab[SAB_STARTED] = this.#started = (this.#started + 1) | 0;
      Atomics.store(sab, SAB_BUSY, 1);
      try {
        let next = behavior.receive(this.#state, item.body, this.#ctx);
        if (next instanceof Promise) {
          span?.suspend?.();
          next = await next;
        }
        this.#state = next;
      } catch (error) {
        span?.recordException(error);
        span?.end();
        this.#failed = true;
        this.#flushTelemetry();
        this.#post({
          k: "failed",
          reason: "exception",
          error: toErrorInfo(error),
          key: link.key,
          seq: item.seq,
        });
        return;
      }
      sab[SAB_BUSY] = 0;
      span?.end();
      this.#current = undefined;
      this.#complete(link, item.seq);
      this.#processed++;
      if (stateless) {
        if (item.ask !== undefined) {
          // The reply carries the acknowledgement: one message back, not two.
          this.#sendReply(link, item.ask, true, this.#replyValue, link.done);
          if (link.done! > link.ackSent) this.#acked(link, link.done!);
        } else if (++sinceAck >= SHARED_ACK_EVERY && link.acks) {
          // Mid-drain, only the shared word: a message per ack would cost the
          // receiver more than the handling; the ack message follows the drain.
          sinceAck = 0;
          Atomics.store(link.acks, 0, link.done! | 0);
        }
      } else {
        if (item.ask !== undefined) this.#sendReply(link, item.ask, true, this.#replyValue);
        this.#sinceSnapshot++;
        this.#maybeSnapshot(false);
      }
      // Reading the time costs more than a small handler: read it every
      // \`stride\` messages, a stride that grows while messages are quick.
      if (--untilCheck === 0) {
        const now = performance.now();
        if (now - sliceStart > YIELD_AFTER_MS) {
          await this.#yield();
          sliceStart = lastCheck = performance.now();
          stride = 1;
        } else {
          stride = now - lastCheck < stride * QUICK_MESSAGE_MS
            ? Math.min(stride * 2, MAX_STRIDE)
            : 1;
          lastCheck = now;
        }
        untilCheck = stride;
      }
    }
    this.#processing = false;
    this.#afterDrain();
  }

  #afterDrain(): void {
    if (this.#failed) return;
    // Idle: hand logs and a few spans to the host now, before it may stop
    // this worker; many spans wait for the timer (fewer, larger posts).
    const held = this.#receive?.idle() ?? 0;
    if (this.#logs.length > 0 || this.#spans.length > 0 || (held > 0 && held <= EAGER_SPANS)) {
      this.#flushTelemetry();
    }
    for (const link of this.#outbound.values()) link.flush();
    this.#ackStateless();
    this.#maybeSnapshot(true);
    if (this.#stopping) void this.#finishStop();
  }

  #deadLetter(item: Item, entry: PoisonEntry): void {
    const { link, seq } = item;
    try {
      this.#post({
        k: "dead-letter",
        key: link.key,
        from: link.from,
        seq,
        body: item.body,
        error: entry.error,
        attempts: entry.attempts,
      });
    } catch {
      this.#post({
        k: "dead-letter",
        key: link.key,
        from: link.from,
        seq,
        body: null,
        error: entry.error,
        attempts: entry.attempts,
      });
    }
    if (item.ask !== undefined) {
      const error = new ActorFailedError(
        this.#init.path,
        `message dead-lettered after ${entry.attempts} failed deliveries: ${entry.error.message}`,
      );
      this.#sendReply(link, item.ask, false, toErrorInfo(error));
    }
    this.#poison.delete(`${link.key}:${seq}`);
    this.#complete(link, seq);
    this.#processed++;
    this.#sinceSnapshot++;
  }

  #sendReply(link: InboundLink, ask: number, ok: boolean, value: unknown, upTo?: number): void {
    const reply: LinkReply = ok
      ? { k: "r", a: ask, ok: true, v: value }
      : { k: "r", a: ask, ok: false, e: value as ErrorInfo };
    if (upTo !== undefined && upTo > link.ackSent) reply.upTo = upTo;
    try {
      link.port.postMessage(reply);
    } catch (error) {
      const info = toErrorInfo(new MessageNotCloneableError(link.from, { cause: error }));
      const failure: LinkReply = { k: "r", a: ask, ok: false, e: info };
      if (reply.upTo !== undefined) failure.upTo = reply.upTo;
      link.port.postMessage(failure);
    }
  }

  // ---- snapshots and acknowledgements -------------------------------------

  #ackStateless(): void {
    if (this.#init.options.snapshot.mode !== "never") return;
    for (const link of this.#inbound.values()) {
      if (link.done !== undefined && link.done > link.ackSent) {
        this.#acked(link, link.done);
        link.port.postMessage({ k: "a", upTo: link.done } satisfies LinkReply);
      }
    }
  }

  // Records an acknowledgement and publishes it in the link's shared word.
  #acked(link: InboundLink, upTo: number): void {
    link.ackSent = upTo;
    if (link.acks) Atomics.store(link.acks, 0, upTo | 0);
  }

  #maybeSnapshot(endOfDrain: boolean): void {
    const policy = this.#init.options.snapshot;
    if (
      policy.mode === "never" || this.#snapshotInFlight !== undefined || this.#sinceSnapshot === 0
    ) return;
    if (policy.mode === "messages" && this.#sinceSnapshot < policy.every) return;
    if (policy.mode === "interval" && !endOfDrain) return;
    if (policy.mode === "interval" && this.#processing) return;
    this.#takeSnapshot();
  }

  #takeSnapshot(): void {
    const outbox: ActorSnapshotData["outbox"] = {};
    for (const [target, link] of this.#outbound) {
      const state = link.state();
      if (state.frames.length > 0 || state.nextSeq > 1) outbox[target] = state;
    }
    let state: unknown;
    try {
      state = this.#behavior.snapshot ? this.#behavior.snapshot(this.#state) : this.#state;
    } catch (error) {
      this.#failed = true;
      this.#post({ k: "failed", reason: "exception", error: toErrorInfo(error) });
      return;
    }
    const version = this.#processed;
    for (const link of this.#inbound.values()) this.#saveCursor(link);
    this.#snapshotCursors.set(version, new Map(this.#cursors));
    this.#snapshotInFlight = version;
    this.#sinceSnapshot = 0;
    const data: ActorSnapshotData = {
      state,
      cursors: Object.fromEntries(this.#cursors),
      outbox,
      processed: version,
    };
    try {
      this.#post({ k: "snapshot", incarnation: this.#init.incarnation, version, data });
    } catch (error) {
      this.#failed = true;
      this.#post({ k: "failed", reason: "exception", error: toErrorInfo(error) });
    }
  }

  #snapshotAcked(version: number): void {
    const cursors = this.#snapshotCursors.get(version);
    for (const v of this.#snapshotCursors.keys()) if (v <= version) this.#snapshotCursors.delete(v);
    if (this.#snapshotInFlight !== undefined && this.#snapshotInFlight <= version) {
      this.#snapshotInFlight = undefined;
    }
    if (cursors) {
      for (const [key, upTo] of cursors) {
        const link = this.#inbound.get(key);
        if (link && upTo > link.ackSent) {
          this.#acked(link, upTo);
          link.port.postMessage({ k: "a", upTo } satisfies LinkReply);
        }
      }
    }
    if (this.#failed) return;
    if (!this.#processing) this.#maybeSnapshot(true);
    else this.#maybeSnapshot(false);
    if (this.#stopping && !this.#processing) void this.#finishStop();
  }

  async #finishStop(): Promise<void> {
    if (this.#processing || this.#failed) return;
    if (this.#inbox.length > 0) return void this.#drain();
    if (!this.#expectedArrived()) return; // resumes when they arrive (#afterDrain)
    for (const link of this.#outbound.values()) link.flush();
    if (this.#init.options.snapshot.mode !== "never") {
      if (this.#sinceSnapshot > 0 && this.#snapshotInFlight === undefined) this.#takeSnapshot();
      if (this.#snapshotInFlight !== undefined) return; // resumes in #snapshotAcked
    }
    this.#flushTelemetry();
    this.#ticking = false;
    this.#yieldChannel?.port1.close();
    await Promise.resolve();
    if (this.#stopSent) return;
    this.#stopSent = true;
    // Every reply went out on its link before this last word; the host learns
    // of the stop on another channel, so senders wait for it on the link.
    for (const link of this.#inbound.values()) this.#sayLastWord(link.port);
    this.#post({ k: "stopped" });
  }

  // Whether every message sent before the stop (as the host saw it) arrived.
  #expectedArrived(): boolean {
    for (const [key, seq] of Object.entries(this.#stopExpect)) {
      const link = this.#inbound.get(key);
      if (link && link.received < seq && (link.done ?? 0) < seq) return false;
    }
    return true;
  }

  #sayLastWord(port: MessagePort): void {
    const error = toErrorInfo(new ActorStoppedError(this.#init.path, this.#stopReason));
    port.postMessage({ k: "z", e: error } satisfies LinkReply);
  }

  // ---- outbound ------------------------------------------------------------

  #linkOut(target: string): OutboundLink {
    let link = this.#outbound.get(target);
    if (!link) {
      link = this.#newOutbound(target);
      this.#outbound.set(target, link);
    }
    return link;
  }

  #newOutbound(target: string, restored?: OutboxState): OutboundLink {
    const link: OutboundLink = new OutboundLink(target, {
      onReply: (askId, reply) => {
        const pending = this.#asks.get(askId);
        if (!pending) return;
        this.#asks.delete(askId);
        if (pending.timer !== undefined) clearTimeout(pending.timer);
        if (reply.ok) pending.resolve(reply.value);
        else pending.reject(fromErrorInfo(reply.error));
      },
      onRefused: (_seqs, asks, error) => {
        for (const id of asks) this.#rejectAsk(id, fromErrorInfo(error));
        this.#post({ k: "undeliverable", target, error });
      },
      onCloneFailure: (_seq, askId, error) => {
        const failure = new MessageNotCloneableError(target, { cause: error });
        if (askId !== undefined) this.#rejectAsk(askId, failure);
        this.#post({ k: "undeliverable", target, error: toErrorInfo(failure) });
      },
      onClosed: () => {
        const parked = this.#closing.get(link);
        if (!parked) return;
        clearTimeout(parked.timer);
        this.#closeOutbound(link, parked.error);
      },
    }, restored);
    return link;
  }

  #connected(target: string): OutboundLink {
    let link = this.#outbound.get(target);
    if (!link) {
      link = this.#linkOut(target);
      this.#post({ k: "connect", target, space: link.space });
    }
    return link;
  }

  #linkError(target: string, error: ErrorInfo, drained: boolean): void {
    const link = this.#outbound.get(target);
    if (!link) return;
    this.#outbound.delete(target);
    if (drained && link.attached && !link.receiverClosed) {
      // Replies to what the receiver handled are still on the link, ahead of its last word.
      const timer = setTimeout(() => this.#closeOutbound(link, error), LAST_WORD_WAIT_MS);
      this.#closing.set(link, { error, timer });
      return;
    }
    this.#closeOutbound(link, error);
  }

  // Fails the asks the link's receiver will never answer, and closes the link.
  #closeOutbound(link: OutboundLink, error: ErrorInfo): void {
    this.#closing.delete(link);
    const failure = fromErrorInfo(error);
    for (const [id, pending] of this.#asks) {
      if (pending.link === link) this.#rejectAsk(id, failure);
    }
    link.close();
  }

  #rejectAsk(id: number, error: Error): void {
    const pending = this.#asks.get(id);
    if (!pending) return;
    this.#asks.delete(id);
    if (pending.timer !== undefined) clearTimeout(pending.timer);
    pending.reject(error);
  }

  #send(target: string, body: unknown, askId?: number): OutboundLink {
    if (typeof target !== "string" || target.length === 0) {
      throw new TypeError(`Invalid target ${JSON.stringify(target)}: expected an actor path`);
    }
    const bad = findUncloneable(body);
    if (bad) throw new MessageNotCloneableError(target, { cause: new TypeError(bad) });
    const link = this.#connected(target);
    link.send(body, this.#currentTraceparent(), this.#trace().tracestate, askId);
    return link;
  }

  #currentTraceparent(): string {
    const item = this.#current;
    if (!this.#tracer.enabled && item?.tp) return item.tp;
    return this.#currentTp ??= formatTraceparent(this.#trace());
  }

  #trace(): TraceContext {
    return this.#currentTrace ??= this.#receive!.context;
  }

  #request(request: WorkerRequest): Promise<unknown> {
    const id = this.#nextId++;
    return new Promise((resolve, reject) => {
      this.#requests.set(id, { resolve, reject });
      this.#post({ k: "request", id, request });
    });
  }

  // ---- tracing and logs ----------------------------------------------------

  #startMessageSpan(item: Item): MessageSpan {
    const receive = this.#receive!;
    if (receive.begin(item.tp, item.ts, item.link.from, item.seq, item.redelivered)) {
      // Conditional stores: most messages change none of these fields.
      if (this.#currentTrace !== undefined) this.#currentTrace = this.#currentTp = undefined;
      if (this.#span !== receive) this.#span = receive;
      if (receive.sealedChunks >= MAX_SEALED_CHUNKS) this.#flushTelemetry();
      else if (!this.#telemetryScheduled) this.#scheduleTelemetry();
      return receive;
    }
    // Not sampled, or no valid parent: the general tracer.
    const parent = parseTraceparent(item.tp, item.ts);
    const span = this.#tracer.startSpan(receiveSpanName(this.#init.path), {
      parent,
      kind: "consumer",
      attributes: {
        "oao.actor": this.#init.path,
        "oao.message.from": item.link.from,
        "oao.message.seq": item.seq,
        "oao.actor.incarnation": this.#init.incarnation,
        "oao.message.redelivered": item.redelivered,
      },
    });
    this.#currentTrace = span.context;
    this.#currentTp = undefined;
    this.#span = span;
    return span;
  }

  #spanSink() {
    return {
      export: (spans: SpanData[]) => {
        for (const span of spans) this.#spans.push(span);
        this.#scheduleTelemetry();
      },
      flush: () => Promise.resolve(this.#flushTelemetry()),
      shutdown: () => Promise.resolve(this.#flushTelemetry()),
    };
  }

  #scheduleTelemetry(): void {
    if (this.#telemetryScheduled) return;
    this.#telemetryScheduled = true;
    setTimeout(() => this.#flushTelemetry(), 20);
  }

  #flushTelemetry(): void {
    this.#telemetryScheduled = false;
    const packed = this.#receive?.take();
    // Batches stay under the host's default limits (maxSpans, maxLogRecords).
    while (this.#spans.length > SPANS_PER_POST) {
      this.#post({ k: "spans", spans: this.#spans.splice(0, SPANS_PER_POST) });
    }
    if (this.#spans.length > 0 || (packed && packed.length > 0)) {
      const spans = this.#spans;
      this.#spans = [];
      const message: WorkerToHost = { k: "spans", spans };
      const transfer: Transferable[] = [];
      if (packed && packed.length > 0) {
        message.packed = packed;
        for (const c of packed) {
          for (const column of [c.ids, c.times, c.seqs, c.origin]) {
            transfer.push(column.buffer as ArrayBuffer);
          }
        }
      }
      this.#post(message, transfer);
    }
    while (this.#logs.length > 0) {
      this.#post({ k: "logs", records: this.#logs.splice(0, LOGS_PER_POST) });
    }
  }

  #log(
    level: WorkerLogRecord["level"],
    message: string,
    properties?: Record<string, unknown>,
  ): void {
    const props: Record<string, unknown> = { ...properties, actor: this.#init.path };
    // The handled message's trace (its own span's when tracing, else the sender's).
    if (this.#current) props.traceId = this.#ctx.trace.traceId;
    let record: WorkerLogRecord = { level, message: String(message), properties: props };
    if (findUncloneable(props)) {
      record = {
        level,
        message: String(message),
        properties: { actor: this.#init.path, note: "properties were not cloneable" },
      };
    }
    this.#logs.push(record);
    this.#scheduleTelemetry();
  }

  // ---- context -------------------------------------------------------------

  #makeContext(): ActorContext {
    // deno-lint-ignore no-this-alias
    const rt = this;
    const logger: ActorLogger = {
      debug: (m, p) => rt.#log("debug", m, p),
      info: (m, p) => rt.#log("info", m, p),
      warn: (m, p) => rt.#log("warning", m, p),
      error: (m, p) => rt.#log("error", m, p),
    };
    return {
      get self() {
        return rt.#init.path;
      },
      get args() {
        return rt.#init.args;
      },
      get incarnation() {
        return rt.#init.incarnation;
      },
      get message(): MessageMeta {
        const item = rt.#current;
        if (!item) throw new Error(`No message is being handled by "${rt.#init.path}"`);
        const meta: MessageMeta = {
          id: `${item.link.key}:${item.seq}`,
          from: item.link.from,
          seq: item.seq,
          traceparent: item.tp,
          redelivered: item.redelivered,
          isAsk: item.ask !== undefined,
        };
        if (item.ts) meta.tracestate = item.ts;
        return meta;
      },
      get trace() {
        const item = rt.#current;
        if (!rt.#tracer.enabled && item) {
          return parseTraceparent(item.tp, item.ts) ?? rt.#trace();
        }
        return rt.#trace();
      },
      log: logger,
      tell(target: string, message: unknown) {
        rt.#send(target, message);
      },
      ask<T>(target: string, message: unknown, options: AskOptions = {}): Promise<T> {
        const timeoutMs = options.timeoutMs ?? 5_000;
        const id = rt.#nextId++;
        return new Promise<T>((resolve, reject) => {
          const pending: Pending = { resolve: resolve as (v: unknown) => void, reject };
          if (Number.isFinite(timeoutMs)) {
            pending.timer = setTimeout(
              () => rt.#rejectAsk(id, new AskTimeoutError(target, timeoutMs)),
              timeoutMs,
            );
          }
          rt.#asks.set(id, pending);
          try {
            pending.link = rt.#send(target, message, id);
          } catch (error) {
            rt.#rejectAsk(id, error as Error);
          }
        });
      },
      reply(value: unknown) {
        if (!rt.#current) {
          throw new Error(`reply() called outside a message handler of "${rt.#init.path}"`);
        }
        rt.#replyValue = value;
      },
      async spawn(module: string | URL, options: SpawnOptions = {}): Promise<string> {
        const url = new URL(module, rt.#init.module).href;
        const bad = findUncloneable(options);
        if (bad) throw new TypeError(`Invalid spawn options: ${bad}`);
        return await rt.#request({
          op: "spawn",
          module: url,
          options: options as Record<string, unknown>,
        }) as string;
      },
      async stop(target: string, options: { mode?: "graceful" | "immediate" } = {}): Promise<void> {
        await rt.#request({ op: "stop", target, mode: options.mode ?? "graceful" });
      },
      async call<T>(service: string, payload: unknown): Promise<T> {
        const bad = findUncloneable(payload);
        if (bad) {
          throw new MessageNotCloneableError(`service:${service}`, { cause: new TypeError(bad) });
        }
        return await rt.#request({ op: "call", service, payload }) as T;
      },
    };
  }
}
