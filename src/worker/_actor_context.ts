// The context an actor's handlers are given inside its worker: the actor's
// identity, the message being handled with its trace context, a logger, and
// what a handler can do (tell, ask, reply, spawn, stop, call a host service).
// One object per actor, made at its start. Internal.
import { findUncloneable } from "../actor/_cloneable.ts";
import type { ActorContext, ActorLogger, AskOptions } from "../actor/actor_context.ts";
import type { MessageMeta } from "../actor/envelope.ts";
import type { HostToWorker } from "../actor/_protocol.ts";
import type { SpawnOptions } from "../actor/spawn_options.ts";
import { MessageNotCloneableError } from "../actor/actor_errors.ts";
import type { GuestTelemetry } from "./_guest_telemetry.ts";
import type { HostRequests } from "./_host_requests.ts";
import type { Handling } from "./_inbound_links.ts";
import type { OutboundLinks } from "./_outbound_links.ts";

type Init = Extract<HostToWorker, { k: "init" }>;

/** What the context of an actor reads and acts through. */
export interface ContextParts {
  /** The message being handled. */
  handling: Handling;
  /** Traces and logs. */
  telemetry: GuestTelemetry;
  /** Messages to other actors, and asks. */
  outbound: OutboundLinks;
  /** Requests to the host. */
  requests: HostRequests;
}

/**
 * The context given to every handler of the actor `init` starts.
 *
 * @param init The actor's `init` message.
 * @param parts What the context reads and acts through.
 * @returns The context.
 */
export function actorContext(init: Init, parts: ContextParts): ActorContext {
  const { handling, telemetry, outbound, requests } = parts;
  // One sequence for asks and requests. It goes on above the ask ids a
  // restored outbox carries: ids start again at 1 in every incarnation, and
  // a late reply to an earlier incarnation's ask must not settle a new one.
  let nextId = 1;
  const newId = () => {
    if (nextId <= outbound.lastRestoredAskId) nextId = outbound.lastRestoredAskId + 1;
    return nextId++;
  };
  const logger: ActorLogger = {
    debug: (m, p) => telemetry.log("debug", m, p),
    info: (m, p) => telemetry.log("info", m, p),
    warn: (m, p) => telemetry.log("warning", m, p),
    error: (m, p) => telemetry.log("error", m, p),
  };
  return {
    get self() {
      return init.path;
    },
    get args() {
      return init.args;
    },
    get incarnation() {
      return init.incarnation;
    },
    get message(): MessageMeta {
      const item = handling.current;
      if (!item) throw new Error(`No message is being handled by "${init.path}"`);
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
      return telemetry.messageTrace();
    },
    log: logger,
    tell(target: string, message: unknown) {
      outbound.send(target, message);
    },
    ask<T>(target: string, message: unknown, options: AskOptions = {}): Promise<T> {
      const timeoutMs = options.timeoutMs ?? 5_000;
      return outbound.ask<T>(newId(), target, message, timeoutMs);
    },
    reply(value: unknown) {
      if (!handling.current) {
        throw new Error(`reply() called outside a message handler of "${init.path}"`);
      }
      handling.reply = value;
    },
    async spawn(module: string | URL, options: SpawnOptions = {}): Promise<string> {
      const url = new URL(module, init.module).href;
      const bad = findUncloneable(options);
      if (bad) throw new TypeError(`Invalid spawn options: ${bad}`);
      return await requests.request(newId(), {
        op: "spawn",
        module: url,
        options: options as Record<string, unknown>,
      }) as string;
    },
    async stop(target: string, options: { mode?: "graceful" | "immediate" } = {}): Promise<void> {
      await requests.request(newId(), { op: "stop", target, mode: options.mode ?? "graceful" });
    },
    async call<T>(service: string, payload: unknown): Promise<T> {
      const bad = findUncloneable(payload);
      if (bad) {
        throw new MessageNotCloneableError(`service:${service}`, { cause: new TypeError(bad) });
      }
      return await requests.request(newId(), { op: "call", service, payload }) as T;
    },
  };
}
