// Creates links (MessageChannels) between senders and receiver actors, keeps
// the registry of who sends to whom, re-links senders to a restarted receiver
// (which makes them retransmit what is unacknowledged), and tells senders
// when a receiver is gone for good. Internal.
//
// A link is identified by its key, `<sender path>#<space>`: the space is the
// id of the sender's sequence space for that receiver (see OutboundLink), so
// a new link never reuses sequence numbers the receiver has seen.
import type { ErrorInfo } from "../oao_error.ts";

/** Something that sends on links: the host, or an actor's worker. */
export interface SenderEndpoint {
  readonly path: string;
  readonly alive: boolean;
  /** Hands the sending port for `target` to the sender. */
  attachOutbound(target: string, port: MessagePort): void;
  /**
   * Tells the sender that `target` is gone. `drained`: it stopped gracefully
   * and sent, on the link, every reply and then a last word ("z").
   */
  failOutbound(target: string, error: ErrorInfo, drained?: boolean): void;
  /**
   * Flushes what is queued for `target` and returns the seq of the last
   * message sent to it (0 for none), when the sender can tell at once.
   */
  sentTo?(target: string): number;
}

/** The receiving side the broker needs from an actor cell. */
export interface ReceiverEndpoint {
  readonly path: string;
  /** Senders registered with this receiver, by link key. */
  readonly inbound: Map<string, SenderEndpoint>;
  /** True when the receiver's worker exists and takes link ports. */
  readonly acceptsLinks: boolean;
  postLinkIn(key: string, from: string, linkId: number, port: MessagePort): void;
  postLinkClose(key: string): void;
}

interface LinkInfo {
  receiver: ReceiverEndpoint;
  key: string;
  from: string;
}

export class LinkBroker {
  #nextId = 1;
  #links = new Map<number, LinkInfo>();
  // Link ids by receiver and key: no scan of every link when one opens or a receiver goes.
  #idsOf = new Map<ReceiverEndpoint, Map<string, number>>();
  #targetsOf = new Map<SenderEndpoint, Map<ReceiverEndpoint, string>>();

  /** Registers `sender` → `receiver` for sequence space `space`, and opens the link now if the receiver is up. */
  connect(sender: SenderEndpoint, receiver: ReceiverEndpoint, space: string): void {
    const key = `${sender.path}#${space}`;
    let targets = this.#targetsOf.get(sender);
    if (!targets) this.#targetsOf.set(sender, targets = new Map());
    const previous = targets.get(receiver);
    if (previous && previous !== key && receiver.inbound.get(previous) === sender) {
      receiver.inbound.delete(previous);
      if (receiver.acceptsLinks) receiver.postLinkClose(previous);
    }
    targets.set(receiver, key);
    receiver.inbound.set(key, sender);
    if (receiver.acceptsLinks) this.#open(sender, receiver, key);
  }

  /** Opens a fresh link from every live registered sender to a (re)started receiver. */
  relinkAll(receiver: ReceiverEndpoint): void {
    for (const [key, sender] of receiver.inbound) {
      if (sender.alive) this.#open(sender, receiver, key);
      else receiver.inbound.delete(key);
    }
    // Ids of links that were not reopened: the restarted receiver's inbox is
    // empty, so no status word can name them any more.
    const ids = this.#idsOf.get(receiver);
    for (const [key, id] of ids ?? []) {
      if (receiver.inbound.has(key)) continue;
      ids!.delete(key);
      this.#links.delete(id);
    }
  }

  /** The receiver stopped for good (`drained`: gracefully): every sender learns it. */
  receiverGone(receiver: ReceiverEndpoint, error: ErrorInfo, drained = false): void {
    for (const sender of receiver.inbound.values()) {
      this.#targetsOf.get(sender)?.delete(receiver);
      if (sender.alive) sender.failOutbound(receiver.path, error, drained);
    }
    receiver.inbound.clear();
    for (const id of this.#idsOf.get(receiver)?.values() ?? []) this.#links.delete(id);
    this.#idsOf.delete(receiver);
  }

  /** A sender's worker ended: its receivers close their side of its links. */
  senderGone(sender: SenderEndpoint): void {
    const targets = this.#targetsOf.get(sender);
    this.#targetsOf.delete(sender);
    if (!targets) return;
    for (const [receiver, key] of targets) {
      if (receiver.inbound.get(key) !== sender) continue;
      receiver.inbound.delete(key);
      if (receiver.acceptsLinks) receiver.postLinkClose(key);
    }
  }

  /** What a numeric link id (from a worker's status words) refers to. */
  lookup(linkId: number): LinkInfo | undefined {
    return this.#links.get(linkId);
  }

  #open(sender: SenderEndpoint, receiver: ReceiverEndpoint, key: string): void {
    const { port1, port2 } = new MessageChannel();
    const linkId = this.#nextId++;
    let ids = this.#idsOf.get(receiver);
    if (!ids) this.#idsOf.set(receiver, ids = new Map());
    const previous = ids.get(key);
    if (previous !== undefined) this.#links.delete(previous);
    ids.set(key, linkId);
    this.#links.set(linkId, { receiver, key, from: sender.path });
    receiver.postLinkIn(key, sender.path, linkId, port2);
    sender.attachOutbound(receiver.path, port1);
  }
}
