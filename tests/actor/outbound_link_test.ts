// The sending half of a link, driven directly: the test plays the receiver on
// the other end of a real MessageChannel, reads the frames the link posts and
// answers with acknowledgements, replies, refusals and last words.
import assert from "node:assert/strict";
import { OutboundLink, type OutboundLinkHooks } from "../../src/actor/_outbound_link.ts";
import { askIdOf, MAX_BATCH } from "../../src/actor/_protocol.ts";
import type {
  BatchFrame,
  LinkFrame,
  LinkHello,
  LinkReply,
  OutboxState,
} from "../../src/actor/_protocol.ts";
import type { ErrorInfo } from "../../src/errors.ts";

const TP1 = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
const TP2 = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
const FULL: ErrorInfo = { name: "MailboxFullError", message: "Mailbox full" };
const STOPPED: ErrorInfo = { name: "ActorStoppedError", message: "Actor stopped" };

/** `promise`, or a failure naming `what` when it has not settled within a second. */
function within<T>(promise: Promise<T>, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`Timed out waiting for ${what}`)), 1_000);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

type HookName = "onReply" | "onRefused" | "onCloneFailure" | "onAck" | "onClosed" | "onViolation";

/** Hooks that record every call, and wait for the next call of one hook. */
class Recorder {
  readonly calls: [HookName, unknown[]][] = [];
  readonly hooks: OutboundLinkHooks;
  #waiting = new Map<HookName, ((args: unknown[]) => void)[]>();

  constructor(options: { untrusted?: boolean } = {}) {
    const hook = (name: HookName) => (...args: unknown[]) => {
      this.calls.push([name, args]);
      this.#waiting.get(name)?.shift()?.(args);
    };
    this.hooks = {
      onReply: hook("onReply"),
      onRefused: hook("onRefused"),
      onCloneFailure: hook("onCloneFailure"),
      onAck: hook("onAck"),
      onClosed: hook("onClosed"),
    };
    if (options.untrusted) this.hooks.onViolation = hook("onViolation");
  }

  /** Arguments of the next call of `name`. */
  next(name: HookName): Promise<unknown[]> {
    const call = new Promise<unknown[]>((resolve) => {
      const list = this.#waiting.get(name) ?? [];
      list.push(resolve);
      this.#waiting.set(name, list);
    });
    return within(call, `a call of ${name}`);
  }

  named(name: HookName): unknown[][] {
    return this.calls.filter(([n]) => n === name).map(([, args]) => args);
  }
}

const END = { k: "end" };

/** The receiver's end of a channel whose other end goes to the link. */
class Receiver {
  readonly port: MessagePort;
  readonly senderPort: MessagePort;
  #queue: unknown[] = [];
  #waiters: ((value: unknown) => void)[] = [];

  constructor() {
    const { port1, port2 } = new MessageChannel();
    this.senderPort = port1;
    this.port = port2;
    port2.onmessage = (event: MessageEvent<unknown>) => {
      const waiter = this.#waiters.shift();
      if (waiter) waiter(event.data);
      else this.#queue.push(event.data);
    };
  }

  /** The next message posted to the receiver. */
  next(): Promise<unknown> {
    if (this.#queue.length > 0) return Promise.resolve(this.#queue.shift());
    return within(new Promise((resolve) => this.#waiters.push(resolve)), "a frame");
  }

  /**
   * Every message posted on the sender's port up to the end of the current
   * microtasks (the link flushes its batch in one): a marker posted after
   * them on the same port arrives last.
   */
  async drain(): Promise<LinkFrame[]> {
    await Promise.resolve();
    this.senderPort.postMessage(END);
    const frames: LinkFrame[] = [];
    while (true) {
      const message = await this.next();
      if ((message as { k: string }).k === "end") return frames;
      frames.push(message as LinkFrame);
    }
  }

  reply(reply: LinkReply): void {
    this.port.postMessage(reply);
  }

  [Symbol.dispose](): void {
    this.port.close();
  }
}

function batches(frames: LinkFrame[]): BatchFrame[] {
  return frames.filter((f): f is BatchFrame => f.k === "b");
}

function hello(frames: LinkFrame[]): LinkHello {
  const first = frames[0];
  assert.equal(first?.k, "h", "a link opens with its hello");
  return first as LinkHello;
}

/** The trace context a receiver gives message `index` of a frame (as the worker runtime reads it). */
function traceOf(frame: BatchFrame, index: number): { tp?: string; ts?: string } {
  const extra = frame.x?.[index];
  const out: { tp?: string; ts?: string } = {};
  const tp = extra?.tp ?? frame.tp;
  const ts = extra?.ts ?? frame.ts;
  if (tp !== undefined) out.tp = tp;
  if (ts) out.ts = ts; // "" is "none", as the worker reads it
  return out;
}

Deno.test("outbound link numbers messages from 1 and posts those sent in one task as one frame, after its hello", async () => {
  using receiver = new Receiver();
  const link = new OutboundLink("r", new Recorder().hooks);
  link.attach(receiver.senderPort);
  assert.deepEqual([link.send("a", TP1, undefined), link.send("b", TP1, undefined)], [1, 2]);
  assert.equal(link.send("c", TP1, undefined), 3);
  assert.equal(link.lastSeq, 3);
  const frames = await receiver.drain();
  assert.ok(hello(frames).acks instanceof SharedArrayBuffer);
  assert.deepEqual(frames.slice(1), [{ k: "b", s: 1, m: ["a", "b", "c"], tp: TP1 }]);
  link.close();
});

Deno.test("outbound link starts a new frame for messages sent after its batch was posted", async () => {
  using receiver = new Receiver();
  const link = new OutboundLink("r", new Recorder().hooks);
  link.attach(receiver.senderPort);
  link.send("a", TP1, undefined);
  await receiver.next(); // hello
  assert.deepEqual(await receiver.next(), { k: "b", s: 1, m: ["a"], tp: TP1 });
  link.send("b", TP1, undefined);
  link.send("c", TP1, undefined);
  assert.deepEqual(await receiver.next(), { k: "b", s: 2, m: ["b", "c"], tp: TP1 });
  link.close();
});

Deno.test("outbound link posts a frame as soon as it holds MAX_BATCH messages", async () => {
  using receiver = new Receiver();
  const link = new OutboundLink("r", new Recorder().hooks);
  link.attach(receiver.senderPort);
  for (let i = 0; i <= MAX_BATCH; i++) link.send(i, TP1, undefined);
  const sent = batches(await receiver.drain());
  assert.deepEqual(sent.map((f) => [f.s, f.m.length]), [[1, MAX_BATCH], [MAX_BATCH + 1, 1]]);
  link.close();
});

Deno.test("outbound link keeps one trace context per frame and records ask ids and other contexts per message", async () => {
  using receiver = new Receiver();
  const link = new OutboundLink("r", new Recorder().hooks);
  link.attach(receiver.senderPort);
  link.send("a", TP1, "v=1");
  link.send("b", TP1, "v=1", 7);
  link.send("c", TP2, "w=2");
  link.send("d", TP1, "v=1");
  const [frame] = batches(await receiver.drain());
  assert.deepEqual(frame, {
    k: "b",
    s: 1,
    m: ["a", "b", "c", "d"],
    tp: TP1,
    ts: "v=1",
    x: { 1: { a: 7 }, 2: { tp: TP2, ts: "w=2" } },
  });
  link.close();
});

Deno.test({
  name: "outbound link does not lend a frame's tracestate to a message sent without one",
  // The receiver reads `extra.ts ?? frame.ts`: a message without tracestate in
  // a frame that has one says so with "" (it once inherited the frame's).
  fn: async () => {
    using receiver = new Receiver();
    const link = new OutboundLink("r", new Recorder().hooks);
    link.attach(receiver.senderPort);
    link.send("a", TP1, "v=1");
    link.send("b", TP2, undefined);
    const [frame] = batches(await receiver.drain());
    assert.deepEqual(traceOf(frame!, 0), { tp: TP1, ts: "v=1" });
    assert.deepEqual(traceOf(frame!, 1), { tp: TP2 });
    link.close();
  },
});

Deno.test("outbound link counts messages as unacknowledged until a cumulative acknowledgement releases their frames", async () => {
  using receiver = new Receiver();
  const recorder = new Recorder();
  const link = new OutboundLink("r", recorder.hooks);
  link.attach(receiver.senderPort);
  link.send(1, TP1, undefined);
  link.send(2, TP1, undefined);
  assert.equal(link.unacked, 2, "the open batch counts");
  link.flush();
  link.send(3, TP1, undefined);
  link.flush();
  link.send(4, TP1, undefined);
  link.send(5, TP1, undefined);
  link.flush();
  assert.equal(link.unacked, 5);
  receiver.reply({ k: "a", upTo: 3 });
  await recorder.next("onAck");
  assert.equal(link.unacked, 2);
  assert.deepEqual(link.state().frames.map((f) => f.s), [4]);
  assert.equal(link.state().acked, 3);
  link.close();
});

Deno.test("outbound link keeps a partly acknowledged frame and ignores an acknowledgement behind its cursor", async () => {
  using receiver = new Receiver();
  const recorder = new Recorder();
  const link = new OutboundLink("r", recorder.hooks);
  link.attach(receiver.senderPort);
  for (const n of [1, 2, 3]) link.send(n, TP1, undefined);
  link.flush();
  receiver.reply({ k: "a", upTo: 2 });
  await recorder.next("onAck");
  assert.equal(link.unacked, 1);
  assert.deepEqual(link.state().frames.map((f) => f.s), [1]);
  receiver.reply({ k: "a", upTo: 1 });
  await recorder.next("onAck");
  assert.equal(link.unacked, 1);
  assert.equal(link.state().acked, 2);
  link.close();
});

Deno.test("outbound link hands each ask reply to its own ask, after applying the acknowledgement it carries", async () => {
  using receiver = new Receiver();
  const recorder = new Recorder();
  let unackedAtReply = -1;
  const hooks: OutboundLinkHooks = {
    ...recorder.hooks,
    onReply: (askId, reply) => {
      unackedAtReply = link.unacked;
      recorder.hooks.onReply(askId, reply);
    },
  };
  const link: OutboundLink = new OutboundLink("r", hooks);
  link.attach(receiver.senderPort);
  link.send("tell", TP1, undefined);
  link.send("ask 7", TP1, undefined, 7);
  link.send("ask 8", TP1, undefined, 8);
  link.flush();
  receiver.reply({ k: "r", a: 7, ok: true, v: "pong", upTo: 2 });
  await recorder.next("onAck");
  assert.equal(unackedAtReply, 1, "the acknowledgement is applied before the reply is handed over");
  assert.deepEqual(recorder.calls, [
    ["onReply", [7, { ok: true, value: "pong" }]],
    ["onAck", []],
  ]);
  const error: ErrorInfo = { name: "Error", message: "boom" };
  receiver.reply({ k: "r", a: 8, ok: false, e: error });
  assert.deepEqual(await recorder.next("onReply"), [8, { ok: false, error }]);
  assert.equal(recorder.named("onAck").length, 1, "a reply without upTo acknowledges nothing");
  assert.equal(link.unacked, 1);
  link.close();
});

Deno.test("outbound link reports messages refused by a full mailbox and never sends them again", async () => {
  using first = new Receiver();
  const recorder = new Recorder();
  const link = new OutboundLink("r", recorder.hooks);
  link.attach(first.senderPort);
  link.send("a", TP1, undefined);
  link.send("b", TP1, undefined, 5);
  link.send("c", TP1, undefined);
  link.flush();
  first.reply({ k: "x", seqs: [2, 3], asks: [5], e: FULL });
  assert.deepEqual(await recorder.next("onRefused"), [[2, 3], [5], FULL]);
  link.detach();
  using second = new Receiver();
  link.attach(second.senderPort);
  const [resent] = batches(await second.drain());
  assert.deepEqual(resent, {
    k: "b",
    s: 1,
    m: ["a", null, null],
    tp: TP1,
    x: { 1: { g: 1 }, 2: { g: 1 } },
    r: 1,
  });
  link.close();
});

Deno.test("outbound link carries the id of an ask that opens a frame in the frame itself, a later one among its exceptions", async () => {
  using receiver = new Receiver();
  const link = new OutboundLink("r", new Recorder().hooks);
  link.attach(receiver.senderPort);
  link.send("a", TP1, undefined, 3);
  link.send("b", TP1, undefined, 4);
  const [frame] = batches(await receiver.drain());
  assert.deepEqual(frame, { k: "b", s: 1, m: ["a", "b"], tp: TP1, a: 3, x: { 1: { a: 4 } } });
  assert.deepEqual([askIdOf(frame!, 0), askIdOf(frame!, 1)], [3, 4]);
  link.close();
});

Deno.test("outbound link never sends again an ask that opened a frame once it is refused or cannot be cloned", async () => {
  using first = new Receiver();
  const recorder = new Recorder();
  const link = new OutboundLink("r", recorder.hooks);
  link.attach(first.senderPort);
  link.send("a", TP1, undefined, 5);
  link.flush();
  first.reply({ k: "x", seqs: [1], asks: [5], e: FULL });
  assert.deepEqual(await recorder.next("onRefused"), [[1], [5], FULL]);
  link.send(() => {}, TP1, undefined, 6);
  link.flush();
  link.detach();
  using second = new Receiver();
  link.attach(second.senderPort);
  const resent = batches(await second.drain());
  assert.deepEqual(resent, [
    { k: "b", s: 1, m: [null], tp: TP1, x: { 0: { g: 1 } }, r: 1 },
    { k: "b", s: 2, m: [null], tp: TP1, x: { 0: { g: 1 } }, r: 1 },
  ]);
  assert.deepEqual(resent.map((f) => askIdOf(f, 0)), [undefined, undefined]);
  assert.deepEqual(recorder.named("onCloneFailure").map(([seq, askId]) => [seq, askId]), [[2, 6]]);
  link.close();
});

Deno.test("outbound link learns the receiver's last word on a graceful stop, until a new port is attached", async () => {
  using first = new Receiver();
  const recorder = new Recorder();
  const link = new OutboundLink("r", recorder.hooks);
  link.attach(first.senderPort);
  assert.equal(link.receiverClosed, false);
  first.reply({ k: "z", e: STOPPED });
  assert.deepEqual(await recorder.next("onClosed"), [STOPPED]);
  assert.equal(link.receiverClosed, true);
  using second = new Receiver();
  link.attach(second.senderPort);
  assert.equal(link.receiverClosed, false);
  link.close();
});

Deno.test("outbound link keeps what it sends while detached and retransmits every unacknowledged frame on a new port", async () => {
  using first = new Receiver();
  const recorder = new Recorder();
  const link = new OutboundLink("r", recorder.hooks);
  link.attach(first.senderPort);
  for (const frame of [[1, 2], [3, 4], [5]]) {
    for (const n of frame) link.send(n, TP1, undefined);
    link.flush();
  }
  first.reply({ k: "a", upTo: 3 });
  await recorder.next("onAck");
  link.detach();
  assert.equal(link.attached, false);
  link.send(6, TP1, undefined);
  link.flush();
  assert.equal(link.unacked, 3);
  using second = new Receiver();
  link.attach(second.senderPort);
  assert.equal(link.attached, true);
  const frames = await second.drain();
  assert.equal(
    new Int32Array(hello(frames).acks)[0],
    3,
    "the hello carries the acknowledged cursor",
  );
  assert.deepEqual(frames.slice(1), [
    { k: "b", s: 3, m: [3, 4], tp: TP1, r: 1 },
    { k: "b", s: 5, m: [5], tp: TP1, r: 1 },
    { k: "b", s: 6, m: [6], tp: TP1, r: 1 },
  ]);
  link.close();
});

Deno.test("outbound link attached to a new port stops listening to the old one", async () => {
  using first = new Receiver();
  using second = new Receiver();
  const recorder = new Recorder();
  const link = new OutboundLink("r", recorder.hooks);
  link.attach(first.senderPort);
  link.send(1, TP1, undefined);
  link.flush();
  link.attach(second.senderPort); // a relink: no detach first
  first.reply({ k: "z", e: STOPPED }); // the old incarnation's last word
  first.reply({ k: "a", upTo: 1 });
  second.reply({ k: "a", upTo: 0 });
  await recorder.next("onAck");
  await second.drain(); // a round trip on the new port
  assert.deepEqual(recorder.calls, [["onAck", []]]);
  assert.equal(link.receiverClosed, false);
  assert.equal(link.unacked, 1);
  link.close();
});

Deno.test("outbound link restored with frames it had acknowledged does not send them again", async () => {
  const restored: OutboxState = {
    space: "space-1",
    nextSeq: 4,
    acked: 2,
    frames: [
      { k: "b", s: 1, m: ["a", "b"], tp: TP1 },
      { k: "b", s: 3, m: ["c"], tp: TP1 },
    ],
  };
  using receiver = new Receiver();
  const link = new OutboundLink("r", new Recorder().hooks, restored);
  assert.equal(link.unacked, 1);
  link.attach(receiver.senderPort);
  assert.deepEqual(batches(await receiver.drain()), [{ k: "b", s: 3, m: ["c"], tp: TP1, r: 1 }]);
  link.close();
});

Deno.test("outbound link releases frames acknowledged in the shared word at its next flush, without a message", async () => {
  using receiver = new Receiver();
  const recorder = new Recorder();
  const link = new OutboundLink("r", recorder.hooks);
  link.attach(receiver.senderPort);
  const word = new Int32Array(((await receiver.next()) as LinkHello).acks);
  for (const n of [1, 2, 3]) link.send(n, TP1, undefined);
  link.flush();
  Atomics.store(word, 0, 3);
  assert.equal(link.unacked, 3, "the word is read when a frame is flushed");
  link.send(4, TP1, undefined);
  link.flush();
  assert.equal(link.unacked, 1);
  assert.deepEqual(link.state().frames.map((f) => f.s), [4]);
  assert.deepEqual(recorder.calls, []);
  link.close();
});

Deno.test("outbound link ignores a shared acknowledgement of messages it never sent", async () => {
  using receiver = new Receiver();
  const link = new OutboundLink("r", new Recorder().hooks);
  link.attach(receiver.senderPort);
  const word = new Int32Array(((await receiver.next()) as LinkHello).acks);
  link.send(1, TP1, undefined);
  link.flush();
  for (const bogus of [3, -1]) {
    Atomics.store(word, 0, bogus);
    link.send(bogus, TP1, undefined);
    link.flush();
  }
  assert.equal(link.unacked, 3);
  assert.equal(link.state().acked, 0);
  link.close();
});

Deno.test("outbound link widens the 32-bit shared acknowledgement against the sequence numbers it has outstanding", async () => {
  const base = 2 ** 32 - 1; // the frame's messages straddle 2^32
  const restored: OutboxState = {
    space: "space-1",
    nextSeq: base + 4,
    acked: base - 1,
    frames: [{ k: "b", s: base, m: ["a", "b", "c", "d"], tp: TP1 }],
  };
  using receiver = new Receiver();
  const link = new OutboundLink("r", new Recorder().hooks, restored);
  link.attach(receiver.senderPort);
  const frames = await receiver.drain();
  const word = new Int32Array(hello(frames).acks);
  assert.equal(word[0], (base - 1) | 0);
  Atomics.store(word, 0, (base + 2) | 0); // the low 32 bits of base + 2, which is 1
  link.send("e", TP1, undefined);
  link.flush();
  assert.equal(link.state().acked, base + 2);
  assert.equal(link.unacked, 2);
  link.close();
});

Deno.test("outbound link restored from its state keeps its sequence space and retransmits what was unacknowledged", async () => {
  const before = new OutboundLink("r", new Recorder().hooks);
  before.send("a", TP1, undefined);
  before.send("b", TP1, undefined);
  before.flush();
  before.send("c", TP2, undefined); // still open: state() flushes it
  const state = before.state();
  assert.equal(state.nextSeq, 4);
  assert.equal(state.frames.length, 2);
  using receiver = new Receiver();
  const after = new OutboundLink("r", new Recorder().hooks, state);
  assert.equal(after.space, before.space);
  assert.equal(after.lastSeq, 3);
  assert.equal(after.unacked, 3);
  after.attach(receiver.senderPort);
  assert.equal(after.send("d", TP1, undefined), 4);
  assert.deepEqual(batches(await receiver.drain()), [
    { k: "b", s: 1, m: ["a", "b"], tp: TP1, r: 1 },
    { k: "b", s: 3, m: ["c"], tp: TP2, r: 1 },
    { k: "b", s: 4, m: ["d"], tp: TP1 },
  ]);
  assert.notEqual(new OutboundLink("r", new Recorder().hooks).space, before.space);
  before.close();
  after.close();
});

Deno.test("outbound link turns a message that cannot be cloned into a gap, reports it and still delivers its neighbours", async () => {
  using receiver = new Receiver();
  const recorder = new Recorder();
  const link = new OutboundLink("r", recorder.hooks);
  link.attach(receiver.senderPort);
  link.send("a", TP1, undefined);
  link.send(() => {}, TP2, "w=2", 9);
  link.send("c", TP1, undefined);
  assert.deepEqual(batches(await receiver.drain()), [
    { k: "b", s: 1, m: ["a"], tp: TP1 },
    { k: "b", s: 2, m: [null], tp: TP2, ts: "w=2", x: { 0: { g: 1 } } },
    { k: "b", s: 3, m: ["c"], tp: TP1 },
  ]);
  const failures = recorder.named("onCloneFailure");
  assert.equal(failures.length, 1);
  const [seq, askId, error] = failures[0]!;
  assert.deepEqual([seq, askId], [2, 9]);
  assert.ok(error instanceof DOMException && error.name === "DataCloneError");
  assert.deepEqual(link.state().frames.map((f) => f.s), [1, 2, 3]);
  link.close();
});

Deno.test("outbound link splits a retransmitted frame that cannot be cloned and still retransmits the frames after it", async () => {
  const recorder = new Recorder();
  const link = new OutboundLink("r", recorder.hooks);
  link.send("a", TP1, undefined);
  link.send(Symbol("not cloneable"), TP1, undefined);
  link.flush();
  link.send("c", TP1, undefined);
  link.flush();
  using receiver = new Receiver();
  link.attach(receiver.senderPort);
  assert.deepEqual(batches(await receiver.drain()), [
    { k: "b", s: 1, m: ["a"], tp: TP1, r: 1 },
    { k: "b", s: 2, m: [null], tp: TP1, x: { 0: { g: 1 } }, r: 1 },
    { k: "b", s: 3, m: ["c"], tp: TP1, r: 1 },
  ]);
  assert.deepEqual(recorder.named("onCloneFailure").map(([seq, askId]) => [seq, askId]), [
    [2, undefined],
  ]);
  link.close();
});

Deno.test("outbound link closed for good drops its open batch and every kept frame", async () => {
  using receiver = new Receiver();
  const link = new OutboundLink("r", new Recorder().hooks);
  link.attach(receiver.senderPort);
  link.send("a", TP1, undefined);
  link.flush();
  link.send("b", TP1, undefined);
  link.close();
  assert.equal(link.attached, false);
  assert.equal(link.unacked, 0);
  await Promise.resolve(); // the scheduled flush finds nothing to post
  assert.deepEqual(link.state().frames, []);
});

Deno.test("outbound link to an untrusted receiver reports a reply that breaks the protocol and acts on nothing in it", async () => {
  using receiver = new Receiver();
  const recorder = new Recorder({ untrusted: true });
  const link = new OutboundLink("r", recorder.hooks);
  link.attach(receiver.senderPort);
  link.send("a", TP1, undefined, 1);
  link.send("b", TP1, undefined);
  link.flush();
  receiver.reply({ k: "a", upTo: 3 });
  assert.deepEqual(await recorder.next("onViolation"), [
    "acknowledgement of messages that were never sent",
  ]);
  receiver.reply({ k: "r", a: 1, ok: true, v: "late", upTo: 99 });
  await recorder.next("onViolation");
  assert.equal(link.unacked, 2);
  receiver.reply({ k: "a", upTo: 2 });
  await recorder.next("onAck");
  assert.equal(link.unacked, 0);
  assert.deepEqual(recorder.calls.map(([name]) => name), ["onViolation", "onViolation", "onAck"]);
  link.close();
});
