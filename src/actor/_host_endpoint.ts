// The host process as a sender: `tell` and `ask` from outside any actor go
// through here, on one outbound link per target actor. Internal.
import { ActorNotFoundError, AskTimeoutError, MessageNotCloneableError } from "./actor_errors.ts";
import { type ErrorInfo, fromErrorInfo, toErrorInfo } from "../oao_error.ts";
import { boundErrorInfo, type Limits } from "../limits.ts";
import type { Clock, TimerId } from "../clock.ts";
import { findUncloneable } from "./_cloneable.ts";
import type { LinkBroker, ReceiverEndpoint, SenderEndpoint } from "./_link_broker.ts";
import { OutboundLink } from "./_outbound_link.ts";
import { HOST_SENDER } from "./envelope.ts";

interface PendingAsk {
  link: OutboundLink | undefined;
  resolve(value: unknown): void;
  reject(error: Error): void;
  deadline: number; // clock time; Infinity for none
  timeoutMs: number;
  target: string;
}

export interface HostEndpointOptions {
  broker: LinkBroker;
  clock: Clock;
  lookup(path: string): ReceiverEndpoint | undefined;
  onUndeliverable(target: string, error: ErrorInfo): void;
  /** A receiver broke the link protocol (its worker runs untrusted code). */
  onViolation(target: string, detail: string): void;
  /** Errors a receiver sends back are cut to these, as every error a worker sends is. */
  limits: Pick<Limits, "maxErrorChars" | "maxStackChars">;
}

// How long to wait for the last word of a receiver that stopped gracefully
// (it is already on its way) before failing the asks it did not answer.
const LAST_WORD_WAIT_MS = 1_000;

export class HostEndpoint implements SenderEndpoint {
  readonly path = HOST_SENDER;
  readonly alive = true;
  #options: HostEndpointOptions;
  #links = new Map<string, OutboundLink>();
  #closing = new Map<OutboundLink, { error: ErrorInfo; timer: TimerId }>();
  #asks = new Map<number, PendingAsk>();
  #nextAsk = 1;
  #ackWaiters = new Map<string, (() => void)[]>();
  // One timer for every ask timeout, armed for the earliest deadline: a
  // platform timer per ask would cost more than the rest of the ask. It is
  // not disarmed when the asks settle (they settle at a high rate); when it
  // fires with nothing due, it re-arms for the next deadline, if any.
  #timer: TimerId | undefined;
  #timerAt = Infinity;

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
      const timeoutMs = options.timeoutMs;
      const deadline = Number.isFinite(timeoutMs)
        ? this.#options.clock.now() + timeoutMs
        : Infinity;
      const pending: PendingAsk = { link: undefined, resolve, reject, deadline, timeoutMs, target };
      this.#asks.set(id, pending);
      try {
        const link = this.#link(target, body);
        pending.link = link;
        link.send(body, options.traceparent, options.tracestate, id);
      } catch (error) {
        return this.#settle(id, { ok: false, error: error as Error });
      }
      if (deadline < this.#timerAt) this.#armTimer(deadline);
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

  sentTo(target: string): number {
    const link = this.#links.get(target);
    if (!link) return 0;
    link.flush();
    return link.lastSeq;
  }

  attachOutbound(target: string, port: MessagePort): void {
    const link = this.#links.get(target);
    if (link) link.attach(port);
    else port.close();
  }

  failOutbound(target: string, error: ErrorInfo, drained?: boolean): void {
    const link = this.#links.get(target);
    this.#links.delete(target);
    for (const resolve of this.#ackWaiters.get(target) ?? []) resolve();
    this.#ackWaiters.delete(target);
    if (!link) return;
    if (drained && link.attached && !link.receiverClosed) {
      // Replies to what the receiver handled are still on the link, ahead of its last word.
      const timer = this.#options.clock.setTimeout(
        () => this.#closeLink(link, error),
        LAST_WORD_WAIT_MS,
      );
      this.#closing.set(link, { error, timer });
      return;
    }
    this.#closeLink(link, error);
  }

  /** Rejects every pending ask and closes every link (system shutdown). */
  close(error: Error): void {
    for (const id of [...this.#asks.keys()]) this.#settle(id, { ok: false, error });
    for (const link of this.#links.values()) link.close();
    this.#links.clear();
    for (const [link, { timer }] of this.#closing) {
      this.#options.clock.clearTimeout(timer);
      link.close();
    }
    this.#closing.clear();
    for (const list of this.#ackWaiters.values()) for (const resolve of list) resolve();
    this.#ackWaiters.clear();
    this.#disarmTimer();
  }

  #link(target: string, body: unknown): OutboundLink {
    let link = this.#links.get(target);
    if (link) {
      const bad = findUncloneable(body);
      if (bad) throw new MessageNotCloneableError(target, { cause: new TypeError(bad) });
      return link;
    }
    const receiver = this.#options.lookup(target);
    if (!receiver) throw new ActorNotFoundError(target);
    const bad = findUncloneable(body);
    if (bad) throw new MessageNotCloneableError(target, { cause: new TypeError(bad) });
    link = this.#newLink(target);
    this.#links.set(target, link);
    this.#options.broker.connect(this, receiver, link.space);
    return link;
  }

  #newLink(target: string): OutboundLink {
    // A receiver answers only the asks sent to it, on this link.
    const mine = (askId: number) => this.#asks.get(askId)?.link === link;
    const bound = (error: ErrorInfo) => boundErrorInfo(error, this.#options.limits);
    const link: OutboundLink = new OutboundLink(target, {
      onReply: (askId, reply) => {
        if (!mine(askId)) return;
        this.#settle(
          askId,
          reply.ok ? reply : { ok: false, error: fromErrorInfo(bound(reply.error)) },
        );
      },
      onRefused: (_seqs, asks, untrusted) => {
        const error = bound(untrusted);
        for (const id of asks) {
          if (mine(id)) this.#settle(id, { ok: false, error: fromErrorInfo(error) });
        }
        this.#options.onUndeliverable(target, error);
      },
      onViolation: (detail) => this.#options.onViolation(target, detail),
      onCloneFailure: (_seq, askId, error) => {
        const failure = new MessageNotCloneableError(target, { cause: error });
        if (askId !== undefined) this.#settle(askId, { ok: false, error: failure });
        this.#options.onUndeliverable(target, toErrorInfo(failure));
      },
      onAck: () => this.#checkAckWaiters(target),
      onClosed: () => {
        const parked = this.#closing.get(link);
        if (!parked) return;
        this.#options.clock.clearTimeout(parked.timer);
        this.#closeLink(link, parked.error);
      },
    });
    return link;
  }

  // Fails the asks the link's receiver will never answer, and closes the link.
  #closeLink(link: OutboundLink, error: ErrorInfo): void {
    this.#closing.delete(link);
    for (const [id, pending] of this.#asks) {
      if (pending.link === link) this.#settle(id, { ok: false, error: fromErrorInfo(error) });
    }
    link.close();
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
    if (outcome.ok) pending.resolve(outcome.value);
    else pending.reject(outcome.error);
  }

  #armTimer(deadline: number): void {
    const clock = this.#options.clock;
    if (this.#timer !== undefined) clock.clearTimeout(this.#timer);
    this.#timerAt = deadline;
    this.#timer = clock.setTimeout(() => this.#onTimer(), Math.max(0, deadline - clock.now()));
  }

  #disarmTimer(): void {
    if (this.#timer !== undefined) this.#options.clock.clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#timerAt = Infinity;
  }

  #onTimer(): void {
    this.#timer = undefined;
    this.#timerAt = Infinity;
    const now = this.#options.clock.now();
    let next = Infinity;
    for (const [id, pending] of this.#asks) {
      if (pending.deadline <= now) {
        const error = new AskTimeoutError(pending.target, pending.timeoutMs);
        this.#settle(id, { ok: false, error });
      } else if (pending.deadline < next) {
        next = pending.deadline;
      }
    }
    if (next < Infinity) this.#armTimer(next);
  }
}
