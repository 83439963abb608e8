// The link broker with recording endpoints: which links it opens, re-opens,
// closes and forgets, and what each side is told. Links are real
// MessageChannels: a message posted on the sender's port reaches the receiver's.
import assert from "node:assert/strict";
import {
  LinkBroker,
  type ReceiverEndpoint,
  type SenderEndpoint,
} from "../../src/actor/_link_broker.ts";
import type { ErrorInfo } from "../../src/errors.ts";

const STOPPED: ErrorInfo = { name: "ActorStoppedError", message: "Actor stopped" };

/** Every port the fakes were handed, closed when a test ends. */
class Ports {
  readonly all: MessagePort[] = [];
  [Symbol.dispose](): void {
    for (const port of this.all) port.close();
  }
}

class FakeSender implements SenderEndpoint {
  alive = true;
  readonly attached: { target: string; port: MessagePort }[] = [];
  readonly failed: { target: string; error: ErrorInfo; drained: boolean | undefined }[] = [];
  constructor(readonly path: string, readonly ports: Ports) {}
  attachOutbound(target: string, port: MessagePort): void {
    this.ports.all.push(port);
    this.attached.push({ target, port });
  }
  failOutbound(target: string, error: ErrorInfo, drained?: boolean): void {
    this.failed.push({ target, error, drained });
  }
}

class FakeReceiver implements ReceiverEndpoint {
  readonly inbound = new Map<string, SenderEndpoint>();
  acceptsLinks = true;
  readonly linkIns: { key: string; from: string; linkId: number; port: MessagePort }[] = [];
  readonly closed: string[] = [];
  constructor(readonly path: string, readonly ports: Ports) {}
  postLinkIn(key: string, from: string, linkId: number, port: MessagePort): void {
    this.ports.all.push(port);
    this.linkIns.push({ key, from, linkId, port });
  }
  postLinkClose(key: string): void {
    this.closed.push(key);
  }
}

/**
 * Resolves with the first message `to` receives after `from` posts one, or
 * fails when none has arrived within a second.
 */
function entangled(from: MessagePort, to: MessagePort): Promise<unknown> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const arrived = new Promise((resolve, reject) => {
    to.onmessage = (event: MessageEvent<unknown>) => resolve(event.data);
    timer = setTimeout(() => reject(new Error("The ports are not entangled")), 1_000);
  });
  from.postMessage("ping");
  return arrived.finally(() => clearTimeout(timer));
}

Deno.test("link broker registers a sender under <path>#<space> and opens a link to a receiver that is up", async () => {
  using ports = new Ports();
  const broker = new LinkBroker();
  const sender = new FakeSender("a", ports);
  const receiver = new FakeReceiver("r", ports);
  broker.connect(sender, receiver, "s1");
  assert.deepEqual([...receiver.inbound], [["a#s1", sender]]);
  assert.equal(receiver.linkIns.length, 1);
  const linkIn = receiver.linkIns[0]!;
  assert.deepEqual([linkIn.key, linkIn.from], ["a#s1", "a"]);
  assert.deepEqual(sender.attached.map((a) => a.target), ["r"]);
  assert.equal(await entangled(sender.attached[0]!.port, linkIn.port), "ping");
  assert.deepEqual(broker.lookup(linkIn.linkId), { receiver, key: "a#s1", from: "a" });
});

Deno.test("link broker only registers a sender to a receiver that is down, and links it when the receiver starts", async () => {
  using ports = new Ports();
  const broker = new LinkBroker();
  const sender = new FakeSender("a", ports);
  const receiver = new FakeReceiver("r", ports);
  receiver.acceptsLinks = false;
  broker.connect(sender, receiver, "s1");
  assert.deepEqual([...receiver.inbound.keys()], ["a#s1"]);
  assert.deepEqual([receiver.linkIns.length, sender.attached.length], [0, 0]);
  receiver.acceptsLinks = true;
  broker.relinkAll(receiver);
  assert.deepEqual(receiver.linkIns.map((l) => l.key), ["a#s1"]);
  assert.equal(await entangled(sender.attached[0]!.port, receiver.linkIns[0]!.port), "ping");
});

Deno.test("link broker relinks every live sender to a restarted receiver on a fresh channel with a new link id", async () => {
  using ports = new Ports();
  const broker = new LinkBroker();
  const a = new FakeSender("a", ports);
  const b = new FakeSender("b", ports);
  const receiver = new FakeReceiver("r", ports);
  broker.connect(a, receiver, "s1");
  broker.connect(b, receiver, "s2");
  const before = receiver.linkIns.map((l) => l.linkId);
  broker.relinkAll(receiver);
  const after = receiver.linkIns.slice(2);
  assert.deepEqual(after.map((l) => [l.key, l.from]), [["a#s1", "a"], ["b#s2", "b"]]);
  for (const { linkId } of after) assert.ok(!before.includes(linkId), "link ids are never reused");
  for (const id of before) assert.equal(broker.lookup(id), undefined, "the old link ids are gone");
  assert.equal(broker.lookup(after[0]!.linkId)?.key, "a#s1");
  assert.equal(a.attached.length, 2);
  assert.notEqual(a.attached[1]!.port, a.attached[0]!.port);
  assert.equal(await entangled(a.attached[1]!.port, after[0]!.port), "ping");
});

Deno.test("link broker forgets senders that died when it relinks their receiver", () => {
  using ports = new Ports();
  const broker = new LinkBroker();
  const live = new FakeSender("live", ports);
  const dead = new FakeSender("dead", ports);
  const receiver = new FakeReceiver("r", ports);
  broker.connect(live, receiver, "s1");
  broker.connect(dead, receiver, "s2");
  dead.alive = false;
  broker.relinkAll(receiver);
  assert.deepEqual([...receiver.inbound.keys()], ["live#s1"]);
  assert.deepEqual(receiver.linkIns.slice(2).map((l) => l.key), ["live#s1"]);
  assert.equal(dead.attached.length, 1);
});

Deno.test("link broker replaces a sender's link when it connects in a new sequence space, and closes the old one", () => {
  using ports = new Ports();
  const broker = new LinkBroker();
  const sender = new FakeSender("a", ports);
  const receiver = new FakeReceiver("r", ports);
  broker.connect(sender, receiver, "s1");
  broker.connect(sender, receiver, "s1");
  assert.deepEqual(receiver.closed, [], "the same space keeps its key");
  broker.connect(sender, receiver, "s2");
  assert.deepEqual(receiver.closed, ["a#s1"]);
  assert.deepEqual([...receiver.inbound.keys()], ["a#s2"]);
  assert.deepEqual(receiver.linkIns.map((l) => l.key), ["a#s1", "a#s1", "a#s2"]);
});

Deno.test("link broker replaces a link with a new space at a receiver that is down, without telling it", () => {
  using ports = new Ports();
  const broker = new LinkBroker();
  const sender = new FakeSender("a", ports);
  const receiver = new FakeReceiver("r", ports);
  receiver.acceptsLinks = false;
  broker.connect(sender, receiver, "s1");
  broker.connect(sender, receiver, "s2");
  assert.deepEqual(receiver.closed, []);
  assert.deepEqual([...receiver.inbound.keys()], ["a#s2"]);
});

Deno.test("link broker tells every live sender that a receiver is gone, drained or not, and forgets its links", () => {
  using ports = new Ports();
  const broker = new LinkBroker();
  const a = new FakeSender("a", ports);
  const b = new FakeSender("b", ports);
  const dead = new FakeSender("dead", ports);
  const receiver = new FakeReceiver("r", ports);
  const other = new FakeReceiver("o", ports);
  for (const [sender, space] of [[a, "1"], [b, "2"], [dead, "3"]] as const) {
    broker.connect(sender, receiver, space);
  }
  broker.connect(a, other, "4");
  dead.alive = false;
  broker.receiverGone(receiver, STOPPED, true);
  assert.deepEqual(a.failed, [{ target: "r", error: STOPPED, drained: true }]);
  assert.deepEqual(b.failed, [{ target: "r", error: STOPPED, drained: true }]);
  assert.deepEqual(dead.failed, []);
  assert.equal(receiver.inbound.size, 0);
  for (const { linkId } of receiver.linkIns) assert.equal(broker.lookup(linkId), undefined);
  assert.equal(broker.lookup(other.linkIns[0]!.linkId)?.receiver, other, "other links stay");
  broker.senderGone(a);
  assert.deepEqual(receiver.closed, [], "a gone receiver is not asked to close links");
  assert.deepEqual(other.closed, ["a#4"]);

  const again = new FakeReceiver("again", ports);
  broker.connect(b, again, "5");
  broker.receiverGone(again, STOPPED);
  assert.deepEqual(b.failed.at(-1), { target: "again", error: STOPPED, drained: false });
});

Deno.test("link broker closes a gone sender's links at its receivers and leaves them out of later relinks", () => {
  using ports = new Ports();
  const broker = new LinkBroker();
  const sender = new FakeSender("a", ports);
  const stay = new FakeSender("b", ports);
  const up = new FakeReceiver("up", ports);
  const down = new FakeReceiver("down", ports);
  down.acceptsLinks = false;
  broker.connect(sender, up, "1");
  broker.connect(stay, up, "2");
  broker.connect(sender, down, "3");
  broker.senderGone(sender);
  assert.deepEqual(up.closed, ["a#1"]);
  assert.deepEqual(down.closed, [], "a receiver that is down has no link to close");
  assert.deepEqual([...up.inbound.keys()], ["b#2"]);
  assert.equal(down.inbound.size, 0);
  down.acceptsLinks = true;
  broker.relinkAll(down);
  assert.equal(down.linkIns.length, 0);
  assert.equal(sender.attached.length, 1);
});

Deno.test("link broker leaves a link key that another sender of the same path holds now", () => {
  using ports = new Ports();
  const broker = new LinkBroker();
  const old = new FakeSender("a", ports);
  const restarted = new FakeSender("a", ports); // same path, restored sequence space
  const receiver = new FakeReceiver("r", ports);
  broker.connect(old, receiver, "s1");
  broker.connect(restarted, receiver, "s1");
  assert.equal(receiver.inbound.get("a#s1"), restarted);
  broker.senderGone(old);
  assert.equal(receiver.inbound.get("a#s1"), restarted);
  assert.deepEqual(receiver.closed, []);
});

Deno.test({
  name: "link broker forgets the link ids of a gone sender once their receiver restarts",
  // `senderGone` and a connect in a new space keep the old link's id while
  // the receiver may still be handling its messages (the watchdog names the
  // message in progress by link id); a restart empties the inbox.
  fn: () => {
    using ports = new Ports();
    const broker = new LinkBroker();
    const sender = new FakeSender("a", ports);
    const receiver = new FakeReceiver("r", ports);
    broker.connect(sender, receiver, "s1");
    broker.connect(sender, receiver, "s2");
    const [first, second] = receiver.linkIns.map((l) => l.linkId);
    broker.senderGone(sender);
    broker.relinkAll(receiver);
    assert.equal(broker.lookup(first!), undefined);
    assert.equal(broker.lookup(second!), undefined);
  },
});
