// The sending side of an actor worker: its links to receivers (one
// OutboundLink per target, connected through the host on first use or
// restored from a snapshot's outbox), the asks that wait for a reply on
// them, and the links of receivers that stopped gracefully, kept a moment
// for their last word. Internal.
import { findUncloneable } from "../actor/_cloneable.ts";
import { OutboundLink } from "../actor/_outbound_link.ts";
import {
  askIdOf,
  type HostToWorker,
  type OutboxState,
  type WorkerToHost,
} from "../actor/_protocol.ts";
import type { ErrorInfo } from "../oao_error.ts";
import { AskTimeoutError, MessageNotCloneableError } from "../actor/actor_errors.ts";
import { fromErrorInfo, toErrorInfo } from "../oao_error.ts";
import type { GuestTelemetry } from "./_guest_telemetry.ts";

// How long a sender waits for the last word of a receiver that stopped
// gracefully (it is already on its way) before failing what is unanswered.
const LAST_WORD_WAIT_MS = 1_000;

/** An ask waiting for its reply. */
interface PendingAsk {
  resolve(value: unknown): void;
  reject(error: Error): void;
  timer?: ReturnType<typeof setTimeout>;
  link?: OutboundLink;
}

/** The links from one actor to its receivers, and the asks waiting on them. */
export class OutboundLinks {
  #post: (message: WorkerToHost) => void;
  #telemetry: GuestTelemetry;
  #links = new Map<string, OutboundLink>();
  // Links to receivers that stopped gracefully, waiting for their last word.
  #closing = new Map<OutboundLink, { error: ErrorInfo; timer: ReturnType<typeof setTimeout> }>();
  #asks = new Map<number, PendingAsk>();

  /**
   * @param post Sends a message to the host.
   * @param telemetry The trace context that messages sent carry.
   */
  constructor(post: (message: WorkerToHost) => void, telemetry: GuestTelemetry) {
    this.#post = post;
    this.#telemetry = telemetry;
  }

  /**
   * The highest ask id the frames of a restored outbox carry: asks of an
   * earlier incarnation, whose late replies must find no ask of this one.
   */
  lastRestoredAskId = 0;

  /** Takes the links of a restored snapshot, to be connected (`connectAll`). */
  restore(outbox: Record<string, OutboxState>): void {
    for (const [target, state] of Object.entries(outbox)) {
      this.#links.set(target, this.#newLink(target, state));
      for (const frame of state.frames) {
        for (let i = 0; i < frame.m.length; i++) {
          const ask = askIdOf(frame, i);
          if (ask !== undefined && ask > this.lastRestoredAskId) this.lastRestoredAskId = ask;
        }
      }
    }
  }

  /** Runs before every send: the runtime parks there when the host gave it up. */
  checkpoint: () => void = () => {};

  /** Asks the host to connect every link. */
  connectAll(): void {
    for (const [target, link] of this.#links) {
      this.#post({ k: "connect", target, space: link.space });
    }
  }

  /** Attaches the port the host connected to `target`. */
  attach(target: string, port: MessagePort): void {
    this.#link(target).attach(port);
  }

  /**
   * Gives up the link the host reports failed: the asks its receiver will
   * not answer fail (once its last word arrived, if it stopped gracefully).
   *
   * @param linkError The host's `link-error` message.
   */
  linkError(linkError: Extract<HostToWorker, { k: "link-error" }>): void {
    const { target, error } = linkError;
    const link = this.#links.get(target);
    if (!link) return;
    this.#links.delete(target);
    if (linkError.drained === true && link.attached && !link.receiverClosed) {
      // Replies to what the receiver handled are still on the link, ahead of its last word.
      const timer = setTimeout(() => this.#close(link, error), LAST_WORD_WAIT_MS);
      this.#closing.set(link, { error, timer });
      return;
    }
    this.#close(link, error);
  }

  /**
   * Sends `body` to `target` with the handled message's trace context.
   *
   * @param askId The ask it belongs to, if any.
   * @returns The link it went on.
   * @throws {TypeError} When `target` is not an actor path.
   * @throws {MessageNotCloneableError} When `body` cannot be cloned.
   */
  send(target: string, body: unknown, askId?: number): OutboundLink {
    this.checkpoint();
    if (typeof target !== "string" || target.length === 0) {
      throw new TypeError(`Invalid target ${JSON.stringify(target)}: expected an actor path`);
    }
    const bad = findUncloneable(body);
    if (bad) throw new MessageNotCloneableError(target, { cause: new TypeError(bad) });
    const link = this.#connected(target);
    const telemetry = this.#telemetry;
    link.send(body, telemetry.traceparent(), telemetry.trace().tracestate, askId);
    return link;
  }

  /**
   * Sends `message` to `target` as ask `id`.
   *
   * @returns The reply, or a rejection: an `AskTimeoutError` after
   *   `timeoutMs`, the error of a reply that failed, or why the message
   *   could not be sent or delivered.
   */
  ask<T>(id: number, target: string, message: unknown, timeoutMs: number): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const pending: PendingAsk = { resolve: resolve as (v: unknown) => void, reject };
      if (Number.isFinite(timeoutMs)) {
        pending.timer = setTimeout(
          () => this.#rejectAsk(id, new AskTimeoutError(target, timeoutMs)),
          timeoutMs,
        );
      }
      this.#asks.set(id, pending);
      try {
        pending.link = this.send(target, message, id);
      } catch (error) {
        this.#rejectAsk(id, error as Error);
      }
    });
  }

  /** Posts every link's open batch. */
  flush(): void {
    for (const link of this.#links.values()) link.flush();
  }

  /** What a snapshot keeps of the links: those that sent anything, with their unacknowledged frames. */
  outbox(): Record<string, OutboxState> {
    const outbox: Record<string, OutboxState> = {};
    for (const [target, link] of this.#links) {
      const state = link.state();
      if (state.frames.length > 0 || state.nextSeq > 1) outbox[target] = state;
    }
    return outbox;
  }

  /** Closes every link and forgets every ask (the runtime is discarded). */
  dispose(): void {
    for (const link of this.#links.values()) link.close();
    this.#links.clear();
    for (const { timer } of this.#closing.values()) clearTimeout(timer);
    this.#closing.clear();
    for (const pending of this.#asks.values()) {
      if (pending.timer !== undefined) clearTimeout(pending.timer);
    }
    this.#asks.clear();
  }

  #link(target: string): OutboundLink {
    let link = this.#links.get(target);
    if (!link) {
      link = this.#newLink(target);
      this.#links.set(target, link);
    }
    return link;
  }

  #newLink(target: string, restored?: OutboxState): OutboundLink {
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
        this.#close(link, parked.error);
      },
    }, restored);
    return link;
  }

  #connected(target: string): OutboundLink {
    let link = this.#links.get(target);
    if (!link) {
      link = this.#link(target);
      this.#post({ k: "connect", target, space: link.space });
    }
    return link;
  }

  // Fails the asks the link's receiver will never answer, and closes the link.
  #close(link: OutboundLink, error: ErrorInfo): void {
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
}
