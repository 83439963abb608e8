// The host process as a sender: `tell` and `ask` from outside any actor go
// through here, on one outbound link per target actor. Internal.
import {
  ActorNotFoundError,
  AskTimeoutError,
  type ErrorInfo,
  fromErrorInfo,
  MessageNotCloneableError,
  toErrorInfo,
} from "../errors.ts";
import type { Clock, TimerId } from "../clock.ts";
import { findUncloneable } from "./_cloneable.ts";
import type { LinkBroker, ReceiverEndpoint, SenderEndpoint } from "./_link_broker.ts";
import { OutboundLink } from "./_outbound_link.ts";
import { HOST_SENDER } from "./envelope.ts";

interface PendingAsk {
  target: string;
  resolve(value: unknown): void;
  reject(error: Error): void;
  timer: TimerId | undefined;
}

export interface HostEndpointOptions {
  broker: LinkBroker;
  clock: Clock;
  lookup(path: string): ReceiverEndpoint | undefined;
  onUndeliverable(target: string, error: ErrorInfo): void;
}

export class HostEndpoint implements SenderEndpoint {
  readonly path = HOST_SENDER;
  readonly alive = true;
  #options: HostEndpointOptions;
  #links = new Map<string, OutboundLink>();
  #asks = new Map<number, PendingAsk>();
  #nextAsk = 1;
  #ackWaiters = new Map<string, (() => void)[]>();

  constructor(options: HostEndpointOptions) {
    this.#options = options;
  }

  tell(target: string, body: unknown, traceparent: string, tracestate?: string): void {
    this.#link(target, body).send(body, traceparent, tracestate);
  }

  ask(
    target: string,
    body: unknown,
    options: { timeoutMs: number; traceparent: string; tracestate?: string | undefined },
  ): Promise<unknown> {
    return new Promise((resolve, reject) => {
      const id = this.#nextAsk++;
      const pending: PendingAsk = { target, resolve, reject, timer: undefined };
      if (Number.isFinite(options.timeoutMs)) {
        pending.timer = this.#options.clock.setTimeout(
          () =>
            this.#settle(id, { ok: false, error: new AskTimeoutError(target, options.timeoutMs) }),
          options.timeoutMs,
        );
      }
      this.#asks.set(id, pending);
      try {
        this.#link(target, body).send(body, options.traceparent, options.tracestate, id);
      } catch (error) {
        this.#settle(id, { ok: false, error: error as Error });
      }
    });
  }

  /** Resolves once every message sent to `target` so far is acknowledged. */
  whenAcknowledged(target: string): Promise<void> {
    const link = this.#links.get(target);
    if (!link) return Promise.resolve();
    link.flush();
    if (link.unacked === 0) return Promise.resolve();
    return new Promise((resolve) => {
      const list = this.#ackWaiters.get(target) ?? [];
      list.push(resolve);
      this.#ackWaiters.set(target, list);
    });
  }

  attachOutbound(target: string, port: MessagePort): void {
    const link = this.#links.get(target);
    if (link) link.attach(port);
    else port.close();
  }

  failOutbound(target: string, error: ErrorInfo): void {
    const link = this.#links.get(target);
    this.#links.delete(target);
    link?.close();
    for (const [id, pending] of this.#asks) {
      if (pending.target === target) this.#settle(id, { ok: false, error: fromErrorInfo(error) });
    }
    for (const resolve of this.#ackWaiters.get(target) ?? []) resolve();
    this.#ackWaiters.delete(target);
  }

  /** Rejects every pending ask and closes every link (system shutdown). */
  close(error: Error): void {
    for (const id of [...this.#asks.keys()]) this.#settle(id, { ok: false, error });
    for (const link of this.#links.values()) link.close();
    this.#links.clear();
    for (const list of this.#ackWaiters.values()) for (const resolve of list) resolve();
    this.#ackWaiters.clear();
  }

  #link(target: string, body: unknown): OutboundLink {
    const receiver = this.#options.lookup(target);
    if (!receiver) throw new ActorNotFoundError(target);
    const bad = findUncloneable(body);
    if (bad) throw new MessageNotCloneableError(target, { cause: new TypeError(bad) });
    let link = this.#links.get(target);
    if (!link) {
      link = new OutboundLink(target, {
        onReply: (askId, reply) =>
          this.#settle(askId, reply.ok ? reply : { ok: false, error: fromErrorInfo(reply.error) }),
        onRefused: (_seqs, asks, error) => {
          for (const id of asks) this.#settle(id, { ok: false, error: fromErrorInfo(error) });
          this.#options.onUndeliverable(target, error);
        },
        onCloneFailure: (_seq, askId, error) => {
          const failure = new MessageNotCloneableError(target, { cause: error });
          if (askId !== undefined) this.#settle(askId, { ok: false, error: failure });
          this.#options.onUndeliverable(target, toErrorInfo(failure));
        },
        onAck: () => this.#checkAckWaiters(target),
      });
      this.#links.set(target, link);
      this.#options.broker.connect(this, receiver, link.space);
    }
    return link;
  }

  #checkAckWaiters(target: string): void {
    const waiters = this.#ackWaiters.get(target);
    if (!waiters || this.#links.get(target)?.unacked !== 0) return;
    this.#ackWaiters.delete(target);
    for (const resolve of waiters) resolve();
  }

  #settle(id: number, outcome: { ok: true; value: unknown } | { ok: false; error: Error }): void {
    const pending = this.#asks.get(id);
    if (!pending) return;
    this.#asks.delete(id);
    if (pending.timer !== undefined) this.#options.clock.clearTimeout(pending.timer);
    if (outcome.ok) pending.resolve(outcome.value);
    else pending.reject(outcome.error);
  }
}
