// The runtime inside every actor worker: inbound links and the mailbox,
// one-at-a-time processing, replies, snapshots and acknowledgements, outbound
// links, and the status words the host's watchdog reads. Internal.
import type { ActorBehavior } from "../actor/behavior.ts";
import type { ActorContext, ActorLogger, AskOptions } from "../actor/actor_context.ts";
import type { MessageMeta } from "../actor/envelope.ts";
import { Mailbox } from "../actor/mailbox.ts";
import { OutboundLink } from "../actor/_outbound_link.ts";
import { findUncloneable } from "../actor/_cloneable.ts";
import {
  type ActorSnapshotData,
  type BatchFrame,
  type HostToWorker,
  type LinkReply,
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
  AskTimeoutError,
  type ErrorInfo,
  fromErrorInfo,
  MailboxFullError,
  MessageNotCloneableError,
  toErrorInfo,
} from "../errors.ts";
import type { SpawnOptions } from "../actor/spawn_options.ts";
import { Tracer } from "../tracing/tracer.ts";
import type { SpanData } from "../tracing/span_data.ts";
import {
  formatTraceparent,
  newTraceContext,
  parseTraceparent,
  type TraceContext,
} from "../tracing/trace_context.ts";

type Init = Extract<HostToWorker, { k: "init" }>;

interface InboundLink {
  key: string;
  from: string;
  linkId: number;
  port: MessagePort;
  done: number | undefined; // every seq <= done is complete
  ahead: Set<number>; // completed seqs above done
  received: number; // highest seq queued in this incarnation
  ackSent: number;
}

interface Item {
  link: InboundLink;
  seq: number;
  body: unknown;
  tp: string;
  ts: string | undefined;
  ask: number | undefined;
  redelivered: boolean;
  poison: PoisonEntry | undefined;
}

interface Pending {
  resolve(value: unknown): void;
  reject(error: Error): void;
  timer?: ReturnType<typeof setTimeout>;
  target?: string;
}

const YIELD_AFTER_MS = 20;
const ACK_EVERY = 512;

export class WorkerRuntime {
  #post: (message: WorkerToHost, transfer?: Transferable[]) => void;
  #behavior: ActorBehavior;
  #init!: Init;
  #sab!: Int32Array;
  #state: unknown;
  #processed = 0;
  #mailbox!: Mailbox<Item>;
  #inbound = new Map<string, InboundLink>();
  #cursors = new Map<string, number>();
  #outbound = new Map<string, OutboundLink>();
  #asks = new Map<number, Pending>();
  #requests = new Map<number, Pending>();
  #poison = new Map<string, PoisonEntry>();
  #nextId = 1;
  #processing = false;
  #failed = false;
  #stopping = false;
  #current: Item | undefined;
  #replyValue: unknown;
  #sinceSnapshot = 0;
  #snapshotInFlight: number | undefined;
  #snapshotCursors = new Map<number, Map<string, number>>();
  #tracer = new Tracer();
  #currentTrace: TraceContext = newTraceContext(false);
  #spans: SpanData[] = [];
  #logs: WorkerLogRecord[] = [];
  #telemetryScheduled = false;
  #ticking = true;
  #yieldChannel: MessageChannel | undefined;
  #yieldResolve: (() => void) | undefined;
  #ctx: ActorContext;

  constructor(
    behavior: ActorBehavior,
    post: (message: WorkerToHost, transfer?: Transferable[]) => void,
  ) {
    this.#behavior = behavior;
    this.#post = post;
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
        return this.#linkError(message.target, message.error);
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
        if (!this.#processing) void this.#finishStop();
        return;
    }
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
    this.#flushTelemetry();
    this.#post(message);
  }

  #start(init: Init): void {
    this.#init = init;
    this.#sab = new Int32Array(init.sab);
    this.#mailbox = new Mailbox(init.options.mailbox);
    for (const entry of init.poison) this.#poison.set(`${entry.key}:${entry.seq}`, entry);
    if (init.tracing) this.#tracer = new Tracer(this.#spanSink());
    try {
      const snap = init.snapshot?.data;
      if (snap) {
        this.#state = this.#behavior.restore ? this.#behavior.restore(snap.state) : snap.state;
        this.#processed = snap.processed;
        for (const [key, seq] of Object.entries(snap.cursors)) this.#cursors.set(key, seq);
        for (const [target, outbox] of Object.entries(snap.outbox)) {
          this.#outbound.set(target, new OutboundLink(target, this.#linkHooks(target), outbox));
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
    this.#every(init.heartbeatMs, () => Atomics.add(this.#sab, SAB_HEARTBEAT, 1));
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
    this.#inbound.get(key)?.port.close();
    const link: InboundLink = {
      key,
      from,
      linkId,
      port,
      done: this.#cursors.get(key),
      ahead: new Set(),
      received: 0,
      ackSent: 0,
    };
    link.ackSent = link.done ?? 0;
    this.#inbound.set(key, link);
    for (const other of this.#cursors.keys()) {
      if (other !== key && other.startsWith(`${from}#`) && !this.#inbound.has(other)) {
        this.#cursors.delete(other);
      }
    }
    port.onmessage = (event: MessageEvent<BatchFrame>) => this.#onBatch(link, event.data);
  }

  #linkClose(key: string): void {
    const link = this.#inbound.get(key);
    if (!link) return;
    link.port.close();
    this.#inbound.delete(key);
  }

  #onBatch(link: InboundLink, frame: BatchFrame): void {
    if (this.#failed || this.#inbound.get(link.key) !== link) return;
    Atomics.add(this.#sab, SAB_HEARTBEAT, 1);
    if (link.done === undefined || (link.received === 0 && frame.s > link.done + 1)) {
      // Everything before the first seq we are sent was acknowledged earlier.
      link.done = Math.max(link.done ?? 0, frame.s - 1);
      this.#cursors.set(link.key, link.done);
    }
    const refused: number[] = [];
    const refusedAsks: number[] = [];
    for (let i = 0; i < frame.m.length; i++) {
      const seq = frame.s + i;
      if (seq <= link.done! || seq <= link.received || link.ahead.has(seq)) continue;
      link.received = seq;
      const extra = frame.x?.[i];
      if (extra?.g) {
        this.#complete(link, seq);
        continue;
      }
      const item: Item = {
        link,
        seq,
        body: frame.m[i],
        tp: extra?.tp ?? frame.tp ?? "",
        ts: extra?.ts ?? frame.ts,
        ask: extra?.a,
        redelivered: frame.r === 1,
        poison: this.#poison.get(`${link.key}:${seq}`),
      };
      const result = this.#mailbox.offer(item);
      if (result.dropped) {
        const dropped = result.dropped;
        this.#complete(dropped.link, dropped.seq);
        if (this.#mailbox.overflow === "reject") {
          refused.push(dropped.seq);
          if (dropped.ask !== undefined) refusedAsks.push(dropped.ask);
        } else {
          this.#post({
            k: "dropped",
            key: dropped.link.key,
            from: dropped.link.from,
            seq: dropped.seq,
            policy: this.#mailbox.overflow,
          });
          if (dropped.ask !== undefined) {
            this.#sendReply(
              dropped,
              false,
              toErrorInfo(new MailboxFullError(this.#init.path, this.#mailbox.capacity)),
            );
          }
        }
      }
    }
    if (refused.length > 0) {
      const error = toErrorInfo(new MailboxFullError(this.#init.path, this.#mailbox.capacity));
      link.port.postMessage(
        { k: "x", seqs: refused, asks: refusedAsks, e: error } satisfies LinkReply,
      );
      this.#post({
        k: "dropped",
        key: link.key,
        from: link.from,
        seq: refused[0]!,
        policy: `reject:${refused.length}`,
      });
    }
    if (!this.#processing && this.#mailbox.length > 0) void this.#drain();
    else if (!this.#processing) this.#afterDrain();
  }

  #complete(link: InboundLink, seq: number): void {
    if (link.done === undefined) link.done = seq - 1;
    if (seq === link.done + 1) {
      link.done = seq;
      while (link.ahead.delete(link.done + 1)) link.done++;
      this.#cursors.set(link.key, link.done);
    } else if (seq > link.done) {
      link.ahead.add(seq);
    }
  }

  // ---- processing ----------------------------------------------------------

  async #drain(): Promise<void> {
    this.#processing = true;
    let sliceStart = performance.now();
    let sinceAck = 0;
    const sab = this.#sab;
    const behavior = this.#behavior;
    const tracing = this.#tracer.enabled;
    while (!this.#failed) {
      const item = this.#mailbox.shift();
      if (!item) break;
      if (item.poison) {
        this.#deadLetter(item);
        continue;
      }
      this.#current = item;
      this.#replyValue = undefined;
      const span = tracing ? this.#startMessageSpan(item) : undefined;
      Atomics.store(sab, SAB_LINK, item.link.linkId);
      Atomics.store(sab, SAB_SEQ, item.seq);
      Atomics.add(sab, SAB_STARTED, 1);
      Atomics.store(sab, SAB_BUSY, 1);
      try {
        let next = behavior.receive(this.#state, item.body, this.#ctx);
        if (next instanceof Promise) next = await next;
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
          key: item.link.key,
          seq: item.seq,
        });
        return;
      }
      Atomics.store(sab, SAB_BUSY, 0);
      span?.end();
      this.#current = undefined;
      if (item.ask !== undefined) this.#sendReply(item, true, this.#replyValue);
      this.#complete(item.link, item.seq);
      this.#processed++;
      this.#sinceSnapshot++;
      this.#maybeSnapshot(false);
      if (++sinceAck >= ACK_EVERY) {
        sinceAck = 0;
        this.#ackStateless();
      }
      if (performance.now() - sliceStart > YIELD_AFTER_MS) {
        await this.#yield();
        sliceStart = performance.now();
      }
    }
    this.#processing = false;
    this.#afterDrain();
  }

  #afterDrain(): void {
    if (this.#failed) return;
    for (const link of this.#outbound.values()) link.flush();
    this.#ackStateless();
    this.#maybeSnapshot(true);
    if (this.#stopping) void this.#finishStop();
  }

  #deadLetter(item: Item): void {
    const entry = item.poison!;
    try {
      this.#post({
        k: "dead-letter",
        key: item.link.key,
        from: item.link.from,
        seq: item.seq,
        body: item.body,
        error: entry.error,
        attempts: entry.attempts,
      });
    } catch {
      this.#post({
        k: "dead-letter",
        key: item.link.key,
        from: item.link.from,
        seq: item.seq,
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
      this.#sendReply(item, false, toErrorInfo(error));
    }
    this.#poison.delete(`${item.link.key}:${item.seq}`);
    this.#complete(item.link, item.seq);
    this.#processed++;
    this.#sinceSnapshot++;
  }

  #sendReply(item: Item, ok: boolean, value: unknown): void {
    const reply: LinkReply = ok
      ? { k: "r", a: item.ask!, ok: true, v: value }
      : { k: "r", a: item.ask!, ok: false, e: value as ErrorInfo };
    try {
      item.link.port.postMessage(reply);
    } catch (error) {
      const info = toErrorInfo(new MessageNotCloneableError(item.link.from, { cause: error }));
      item.link.port.postMessage({ k: "r", a: item.ask!, ok: false, e: info } satisfies LinkReply);
    }
  }

  // ---- snapshots and acknowledgements -------------------------------------

  #ackStateless(): void {
    if (this.#init.options.snapshot.mode !== "never") return;
    for (const link of this.#inbound.values()) {
      if (link.done !== undefined && link.done > link.ackSent) {
        link.ackSent = link.done;
        link.port.postMessage({ k: "a", upTo: link.done } satisfies LinkReply);
      }
    }
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
          link.ackSent = upTo;
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
    if (this.#mailbox.length > 0) return void this.#drain();
    for (const link of this.#outbound.values()) link.flush();
    if (this.#init.options.snapshot.mode !== "never") {
      if (this.#sinceSnapshot > 0 && this.#snapshotInFlight === undefined) this.#takeSnapshot();
      if (this.#snapshotInFlight !== undefined) return; // resumes in #snapshotAcked
    }
    this.#flushTelemetry();
    this.#ticking = false;
    this.#yieldChannel?.port1.close();
    await Promise.resolve();
    this.#post({ k: "stopped" });
  }

  // ---- outbound ------------------------------------------------------------

  #linkOut(target: string): OutboundLink {
    let link = this.#outbound.get(target);
    if (!link) {
      link = new OutboundLink(target, this.#linkHooks(target));
      this.#outbound.set(target, link);
    }
    return link;
  }

  #linkHooks(target: string) {
    return {
      onReply: (
        askId: number,
        reply: { ok: true; value: unknown } | { ok: false; error: ErrorInfo },
      ) => {
        const pending = this.#asks.get(askId);
        if (!pending) return;
        this.#asks.delete(askId);
        if (pending.timer !== undefined) clearTimeout(pending.timer);
        if (reply.ok) pending.resolve(reply.value);
        else pending.reject(fromErrorInfo(reply.error));
      },
      onRefused: (_seqs: number[], asks: number[], error: ErrorInfo) => {
        for (const id of asks) this.#rejectAsk(id, fromErrorInfo(error));
        this.#post({ k: "undeliverable", target, error });
      },
      onCloneFailure: (_seq: number, askId: number | undefined, error: unknown) => {
        const failure = new MessageNotCloneableError(target, { cause: error });
        if (askId !== undefined) this.#rejectAsk(askId, failure);
        this.#post({ k: "undeliverable", target, error: toErrorInfo(failure) });
      },
    };
  }

  #connected(target: string): OutboundLink {
    let link = this.#outbound.get(target);
    if (!link) {
      link = this.#linkOut(target);
      this.#post({ k: "connect", target, space: link.space });
    }
    return link;
  }

  #linkError(target: string, error: ErrorInfo): void {
    const link = this.#outbound.get(target);
    if (!link) return;
    this.#outbound.delete(target);
    const failure = fromErrorInfo(error);
    for (const id of link.pendingAskIds()) this.#rejectAsk(id, failure);
    for (const [id, pending] of this.#asks) {
      if (pending.target === target) this.#rejectAsk(id, failure);
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

  #send(target: string, body: unknown, askId?: number): void {
    if (typeof target !== "string" || target.length === 0) {
      throw new TypeError(`Invalid target ${JSON.stringify(target)}: expected an actor path`);
    }
    const bad = findUncloneable(body);
    if (bad) throw new MessageNotCloneableError(target, { cause: new TypeError(bad) });
    const trace = this.#currentTrace;
    this.#connected(target).send(body, this.#currentTraceparent(), trace.tracestate, askId);
  }

  #currentTraceparent(): string {
    const item = this.#current;
    if (!this.#tracer.enabled && item?.tp) return item.tp;
    return formatTraceparent(this.#currentTrace);
  }

  #request(request: WorkerRequest): Promise<unknown> {
    const id = this.#nextId++;
    return new Promise((resolve, reject) => {
      this.#requests.set(id, { resolve, reject });
      this.#post({ k: "request", id, request });
    });
  }

  // ---- tracing and logs ----------------------------------------------------

  #startMessageSpan(item: Item) {
    const parent = parseTraceparent(item.tp, item.ts);
    const span = this.#tracer.startSpan(`oao.actor.receive ${this.#init.path}`, {
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
    if (this.#spans.length > 0) {
      const spans = this.#spans;
      this.#spans = [];
      this.#post({ k: "spans", spans });
    }
    if (this.#logs.length > 0) {
      const records = this.#logs;
      this.#logs = [];
      this.#post({ k: "logs", records });
    }
  }

  #log(
    level: WorkerLogRecord["level"],
    message: string,
    properties?: Record<string, unknown>,
  ): void {
    const props: Record<string, unknown> = { ...properties, actor: this.#init.path };
    const trace = this.#currentTrace;
    if (this.#current) props.traceId = trace.traceId;
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
          return parseTraceparent(item.tp, item.ts) ?? rt.#currentTrace;
        }
        return rt.#currentTrace;
      },
      log: logger,
      tell(target: string, message: unknown) {
        rt.#send(target, message);
      },
      ask<T>(target: string, message: unknown, options: AskOptions = {}): Promise<T> {
        const timeoutMs = options.timeoutMs ?? 5_000;
        const id = rt.#nextId++;
        return new Promise<T>((resolve, reject) => {
          const pending: Pending = { resolve: resolve as (v: unknown) => void, reject, target };
          if (Number.isFinite(timeoutMs)) {
            pending.timer = setTimeout(
              () => rt.#rejectAsk(id, new AskTimeoutError(target, timeoutMs)),
              timeoutMs,
            );
          }
          rt.#asks.set(id, pending);
          try {
            rt.#send(target, message, id);
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
