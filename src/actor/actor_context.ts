/**
 * What an actor's handler can do: reply, message other actors by path,
 * spawn and stop actors, call host services, log, and read the metadata and
 * trace context of the message being handled.
 *
 * @module
 */
import type { MessageMeta } from "./envelope.ts";
import type { SpawnOptions } from "./spawn_options.ts";
import type { TraceContext } from "../tracing/trace_context.ts";

/** Options of {@linkcode ActorContext.ask}. */
export interface AskOptions {
  /** Reject with `AskTimeoutError` after this long. @default {5000} */
  timeoutMs?: number;
}

/** A structured logger whose records carry the actor's path and trace id. */
export interface ActorLogger {
  /** Debug-level record. */
  debug(message: string, properties?: Record<string, unknown>): void;
  /** Info-level record. */
  info(message: string, properties?: Record<string, unknown>): void;
  /** Warning-level record. */
  warn(message: string, properties?: Record<string, unknown>): void;
  /** Error-level record. */
  error(message: string, properties?: Record<string, unknown>): void;
}

/** The handler's view of the runtime, valid during one `receive` call. */
export interface ActorContext {
  /** This actor's path. */
  readonly self: string;
  /** The value given as `args` when the actor was spawned. */
  readonly args: unknown;
  /** Metadata of the message being handled. */
  readonly message: MessageMeta;
  /** Trace context of the span handling this message; outgoing messages are its children. */
  readonly trace: TraceContext;
  /** Incarnation number: 1 at first start, +1 per restart. */
  readonly incarnation: number;
  /** Structured logger. */
  readonly log: ActorLogger;
  /**
   * Sends a message, fire and forget. Messages to one receiver arrive in
   * the order they were sent.
   *
   * @throws {MessageNotCloneableError} When the message cannot be structured-cloned.
   */
  tell(target: string, message: unknown): void;
  /**
   * Sends a message and waits for the reply.
   *
   * @throws {AskTimeoutError} After `timeoutMs` without a reply.
   * @throws {ActorNotFoundError} When no actor has that path.
   * @throws {MailboxFullError} When the target's bounded mailbox refuses it.
   */
  ask<T = unknown>(target: string, message: unknown, options?: AskOptions): Promise<T>;
  /** Answers the `ask` being handled (the last value wins). */
  reply(value: unknown): void;
  /**
   * Spawns a child actor; the module path is resolved against this actor's
   * module. The child's permissions cannot exceed this actor's.
   *
   * @returns The child's path.
   */
  spawn(module: string | URL, options?: SpawnOptions): Promise<string>;
  /** Stops an actor (default: this one's child by path). */
  stop(target: string, options?: { mode?: "graceful" | "immediate" }): Promise<void>;
  /** Calls a service registered on the host (used by agents for tools). */
  call<T = unknown>(service: string, payload: unknown): Promise<T>;
}
