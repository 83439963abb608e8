/**
 * A handle on an actor, held outside it: send it messages, ask it
 * questions, stop or kill it. Refs stay valid across restarts of the actor.
 *
 * @module
 */
import type { AskOptions } from "./actor_context.ts";
import type { TraceContext } from "../tracing/trace_context.ts";

/** Options of {@linkcode ActorRef.tell} and {@linkcode ActorRef.ask} from the host. */
export interface HostSendOptions {
  /** Parent trace context of the message. @default {a new trace} */
  trace?: TraceContext;
}

/** The operations an {@linkcode ActorRef} delegates to its system. */
export interface ActorRefHost {
  tell(path: string, message: unknown, options?: HostSendOptions): void;
  ask<T>(path: string, message: unknown, options?: AskOptions & HostSendOptions): Promise<T>;
  stop(path: string, options?: { mode?: "graceful" | "immediate" }): Promise<void>;
  kill(path: string, reason?: string): void;
  whenAcknowledged(path: string): Promise<void>;
}

/**
 * A handle on one actor.
 *
 * @example
 * ```ts
 * import { ActorSystem } from "@oao/runtime";
 * import assert from "node:assert/strict";
 *
 * const system = new ActorSystem();
 * const ref = await system.spawn(new URL("../../actors/counter.ts", import.meta.url), { name: "counter" });
 * ref.tell({ type: "add", n: 2 });
 * const total = await ref.ask<number>({ type: "get" });
 * assert.equal(total, 2);
 * await system.shutdown();
 * ```
 */
export class ActorRef {
  /** The actor's path. */
  readonly path: string;
  #host: ActorRefHost;

  /**
   * @param host The system the actor lives in.
   * @param path The actor's path.
   */
  constructor(host: ActorRefHost, path: string) {
    this.#host = host;
    this.path = path;
  }

  /**
   * Sends a message, fire and forget.
   *
   * @param message Any structured-cloneable value.
   * @param options Trace parent.
   * @throws {ActorNotFoundError} When the actor no longer exists.
   * @throws {MessageNotCloneableError} When the message cannot be cloned.
   */
  tell(message: unknown, options?: HostSendOptions): void {
    this.#host.tell(this.path, message, options);
  }

  /**
   * Sends a message and waits for the reply.
   *
   * @param message Any structured-cloneable value.
   * @param options Timeout (default 5,000 ms) and trace parent.
   * @returns The reply.
   * @throws {AskTimeoutError} When no reply comes in time.
   */
  ask<T = unknown>(message: unknown, options?: AskOptions & HostSendOptions): Promise<T> {
    return this.#host.ask<T>(this.path, message, options);
  }

  /**
   * Stops the actor (and its children, in reverse start order).
   *
   * @param options `graceful` drains the mailbox first (default); `immediate` does not.
   * @returns A promise that settles once the actor has stopped.
   */
  stop(options?: { mode?: "graceful" | "immediate" }): Promise<void> {
    return this.#host.stop(this.path, options);
  }

  /**
   * Terminates the actor's worker at once, as a failure: its supervisor
   * restarts it according to its restart type.
   *
   * @param reason Recorded with the failure.
   */
  kill(reason?: string): void {
    this.#host.kill(this.path, reason);
  }

  /**
   * Resolves once every message sent to this actor from the host is
   * acknowledged (processed, and durable in a snapshot when the actor keeps them).
   *
   * @returns A promise that settles when nothing is left unacknowledged.
   */
  whenAcknowledged(): Promise<void> {
    return this.#host.whenAcknowledged(this.path);
  }
}
