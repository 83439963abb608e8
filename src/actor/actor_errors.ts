/**
 * The errors of the actor runtime: what callers of actors catch (an ask that
 * timed out, a full mailbox, a stopped or failed actor) and what the host
 * answers a worker that overstepped (a protocol violation, an access denied,
 * a refused module). These are the only named errors an actor worker carries.
 *
 * @example Catching a timeout
 * ```ts
 * import { AskTimeoutError } from "./actor_errors.ts";
 *
 * const error = new AskTimeoutError("planner", 250);
 * console.assert(error instanceof AskTimeoutError);
 * console.assert(error.code === "ASK_TIMEOUT");
 * ```
 *
 * @module
 */
import { OaoError, registerErrorClass } from "../oao_error.ts";

/** No actor is registered under the given path. */
export class ActorNotFoundError extends OaoError {
  /** The path that was looked up. */
  readonly path: string;
  /**
   * @param path The path that was looked up.
   * @param options Standard error options.
   */
  constructor(path: string, options?: ErrorOptions) {
    super("ACTOR_NOT_FOUND", `No actor is registered under "${path}"`, options);
    this.path = path;
  }
}

/** An actor with the same path is already running. */
export class ActorExistsError extends OaoError {
  /** The path that is taken. */
  readonly path: string;
  /**
   * @param path The path that is taken.
   */
  constructor(path: string) {
    super("ACTOR_EXISTS", `Cannot spawn "${path}": an actor with this path is already running`);
    this.path = path;
  }
}

/** An `ask` got no reply in time. */
export class AskTimeoutError extends OaoError {
  /** The actor that was asked. */
  readonly path: string;
  /** The timeout that elapsed, in milliseconds. */
  readonly timeoutMs: number;
  /**
   * @param path The actor that was asked.
   * @param timeoutMs The timeout that elapsed.
   */
  constructor(path: string, timeoutMs: number) {
    super("ASK_TIMEOUT", `Ask to "${path}" got no reply within ${timeoutMs} ms`);
    this.path = path;
    this.timeoutMs = timeoutMs;
  }
}

/** A bounded mailbox refused a message (overflow policy `"reject"`). */
export class MailboxFullError extends OaoError {
  /** The actor whose mailbox is full. */
  readonly path: string;
  /** The mailbox capacity. */
  readonly capacity: number;
  /**
   * @param path The actor whose mailbox is full.
   * @param capacity The mailbox capacity.
   */
  constructor(path: string, capacity: number) {
    super("MAILBOX_FULL", `Mailbox of "${path}" is full (capacity ${capacity})`);
    this.path = path;
    this.capacity = capacity;
  }
}

/** A message could not be structured-cloned across the worker boundary. */
export class MessageNotCloneableError extends OaoError {
  /** The actor the message was addressed to. */
  readonly path: string;
  /**
   * @param path The actor the message was addressed to.
   * @param options Standard error options; `cause` is the `DataCloneError`.
   */
  constructor(path: string, options?: ErrorOptions) {
    const reason = options?.cause instanceof Error ? options.cause.message : String(options?.cause);
    super(
      "MESSAGE_NOT_CLONEABLE",
      `Cannot send message to "${path}": it cannot be structured-cloned (${reason})`,
      options,
    );
    this.path = path;
  }
}

/** Spawning an actor failed: its module did not load or is not a valid behaviour. */
export class ActorSpawnError extends OaoError {
  /** The module that was loaded. */
  readonly module: string;
  /**
   * @param module The module URL or path.
   * @param reason Why the spawn failed.
   * @param options Standard error options.
   */
  constructor(module: string, reason: string, options?: ErrorOptions) {
    super("ACTOR_SPAWN_FAILED", `Cannot spawn actor from "${module}": ${reason}`, options);
    this.module = module;
  }
}

/** The actor stopped before it could handle or answer a message. */
export class ActorStoppedError extends OaoError {
  /** The actor that stopped. */
  readonly path: string;
  /**
   * @param path The actor that stopped.
   * @param reason Why it stopped.
   */
  constructor(path: string, reason: string) {
    super("ACTOR_STOPPED", `Actor "${path}" stopped: ${reason}`);
    this.path = path;
  }
}

/** The handler of an actor failed while handling a message (it threw or rejected). */
export class ActorFailedError extends OaoError {
  /** The actor that failed. */
  readonly path: string;
  /**
   * @param path The actor that failed.
   * @param reason What went wrong.
   * @param options Standard error options.
   */
  constructor(path: string, reason: string, options?: ErrorOptions) {
    super("ACTOR_FAILED", `Actor "${path}" failed: ${reason}`, options);
    this.path = path;
  }
}

/** A supervisor exceeded its restart intensity and gave up. */
export class SupervisorEscalationError extends OaoError {
  /** The supervisor that escalated. */
  readonly supervisor: string;
  /**
   * @param supervisor The supervisor that escalated.
   * @param reason Why it escalated.
   * @param options Standard error options.
   */
  constructor(supervisor: string, reason: string, options?: ErrorOptions) {
    super("SUPERVISOR_ESCALATED", `Supervisor "${supervisor}" escalated: ${reason}`, options);
    this.supervisor = supervisor;
  }
}

/** A worker sent the host a message that breaks the protocol; its actor is failed. */
export class ProtocolViolationError extends OaoError {
  /** The actor whose worker sent it. */
  readonly actor: string;
  /**
   * @param actor The actor whose worker sent the message.
   * @param detail What is wrong with the message.
   */
  constructor(actor: string, detail: string) {
    super("PROTOCOL_VIOLATION", `Actor "${actor}" broke the worker protocol: ${detail}`);
    this.actor = actor;
  }
}

/** A worker asked for something outside the capabilities it was given. */
export class AccessDeniedError extends OaoError {
  /** The actor that asked. */
  readonly actor: string;
  /**
   * @param actor The actor that asked.
   * @param action What it asked for, e.g. `stop "exec-1/planner"`.
   * @param reason Why it is refused.
   */
  constructor(actor: string, action: string, reason: string) {
    super("ACCESS_DENIED", `Actor "${actor}" may not ${action}: ${reason}`);
    this.actor = actor;
  }
}

/** A value is larger than the limit that applies to it. */
export class ValueTooLargeError extends OaoError {
  /** Size of the value, in the limit's unit. */
  readonly size: number;
  /** The limit. */
  readonly limit: number;
  /**
   * @param what Which value, e.g. `the result of step 3`.
   * @param size Its size.
   * @param limit The limit.
   * @param unit The unit of both. @default {"bytes"}
   */
  constructor(what: string, size: number, limit: number, unit = "bytes") {
    super("VALUE_TOO_LARGE", `${what} is ${size} ${unit}, over the limit of ${limit} ${unit}`);
    this.size = size;
    this.limit = limit;
  }
}

/** An actor module imports something outside what it may load; nothing of it was read. */
export class ModuleRefusedError extends OaoError {
  /** The actor module. */
  readonly module: string;
  /** The refused import specifier. */
  readonly specifier: string;
  /**
   * @param module The actor module.
   * @param specifier The refused import.
   * @param reason Why it is refused.
   */
  constructor(module: string, specifier: string, reason: string) {
    super("MODULE_REFUSED", `Cannot load "${module}": import "${specifier}" is refused: ${reason}`);
    this.module = module;
    this.specifier = specifier;
  }
}

// Registered, so that fromErrorInfo rebuilds them and instanceof matches copies.
registerErrorClass("ACTOR_NOT_FOUND", ActorNotFoundError);
registerErrorClass("ACTOR_EXISTS", ActorExistsError);
registerErrorClass("ASK_TIMEOUT", AskTimeoutError);
registerErrorClass("MAILBOX_FULL", MailboxFullError);
registerErrorClass("MESSAGE_NOT_CLONEABLE", MessageNotCloneableError);
registerErrorClass("ACTOR_SPAWN_FAILED", ActorSpawnError);
registerErrorClass("ACTOR_STOPPED", ActorStoppedError);
registerErrorClass("ACTOR_FAILED", ActorFailedError);
registerErrorClass("SUPERVISOR_ESCALATED", SupervisorEscalationError);
registerErrorClass("PROTOCOL_VIOLATION", ProtocolViolationError);
registerErrorClass("ACCESS_DENIED", AccessDeniedError);
registerErrorClass("VALUE_TOO_LARGE", ValueTooLargeError);
registerErrorClass("MODULE_REFUSED", ModuleRefusedError);
