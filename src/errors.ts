/**
 * The named errors OAO throws for conditions callers are expected to catch.
 *
 * Bad arguments are reported with the built-in `TypeError` and `RangeError`;
 * everything here is a condition of the running system. Every error has a
 * stable `code` so that it survives a trip through `postMessage`, JSON or a
 * log line, and an optional `cause`.
 *
 * @example Catching a timeout
 * ```ts
 * import { AskTimeoutError } from "./errors.ts";
 *
 * const error = new AskTimeoutError("planner", 250);
 * console.assert(error instanceof AskTimeoutError);
 * console.assert(error.code === "ASK_TIMEOUT");
 * ```
 *
 * @module
 */

/** Base class of every OAO error: a stable `code` plus the standard `cause`. */
export class OaoError extends Error {
  /** Stable machine-readable code, e.g. `"ASK_TIMEOUT"`. */
  readonly code: string;

  /**
   * Creates an error with a code and a message.
   *
   * @param code Stable machine-readable code.
   * @param message Sentence-case message saying what failed and why.
   * @param options Standard error options (`cause`).
   */
  constructor(code: string, message: string, options?: ErrorOptions) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
  }

  /**
   * `instanceof` by prototype, or by code: an OAO error made by another copy
   * of this module (the bundled worker runtime, another version of the
   * library) is still an instance of the class of its code.
   *
   * @param value Anything.
   * @returns Whether `value` is an error of this class.
   */
  static override [Symbol.hasInstance](value: unknown): boolean {
    if (Function.prototype[Symbol.hasInstance].call(this, value)) return true;
    if (!(value instanceof Error)) return false;
    const code = (value as { code?: unknown }).code;
    if (typeof code !== "string") return false;
    if (this === OaoError) return Object.hasOwn(ERROR_CLASSES, code);
    return Object.hasOwn(ERROR_CLASSES, code) && ERROR_CLASSES[code] === this;
  }
}

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

/** A conditional write found a different version than the one it expected. */
export class StaleVersionError extends OaoError {
  /** The key that was written. */
  readonly key: string;
  /** The version the writer expected or wrote. */
  readonly expected: number;
  /** The version found in the store. */
  readonly actual: number;
  /**
   * @param key The key that was written.
   * @param expected The version the writer expected.
   * @param actual The version found in the store.
   */
  constructor(key: string, expected: number, actual: number) {
    super(
      "STALE_VERSION",
      `Cannot save "${key}": expected version ${expected} but the store holds version ${actual}`,
    );
    this.key = key;
    this.expected = expected;
    this.actual = actual;
  }
}

/** A write carried a fencing token older than the current owner's. */
export class FencedError extends OaoError {
  /** What was written (a snapshot key or an execution id). */
  readonly target: string;
  /** The token the writer presented. */
  readonly token: number;
  /** The current token. */
  readonly current: number;
  /**
   * @param target What was written.
   * @param token The token the writer presented.
   * @param current The current token.
   */
  constructor(target: string, token: number, current: number) {
    super(
      "FENCED",
      `Write to "${target}" rejected: fencing token ${token} is older than the current owner's ${current}`,
    );
    this.target = target;
    this.token = token;
    this.current = current;
  }
}

/** A store could not be reached within its retry budget. */
export class StoreUnavailableError extends OaoError {
  /**
   * @param operation What was attempted, e.g. `appendEvent("exec-1")`.
   * @param options Standard error options; `cause` is the last error.
   */
  constructor(operation: string, options?: ErrorOptions) {
    const reason = options?.cause instanceof Error ? `: ${options.cause.message}` : "";
    super("STORE_UNAVAILABLE", `Store unavailable for ${operation}${reason}`, options);
  }
}

/** Data could not be serialized, or data read back could not be decoded. */
export class CorruptDataError extends OaoError {
  /** The key (or execution id and sequence) concerned. */
  readonly key: string;
  /**
   * @param key The key concerned.
   * @param reason Why the data is unusable.
   * @param options Standard error options.
   */
  constructor(key: string, reason: string, options?: ErrorOptions) {
    super("CORRUPT_DATA", `Data at "${key}" is unusable: ${reason}`, options);
    this.key = key;
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

/** A governance policy limit was reached. Never retried. */
export class PolicyViolationError extends OaoError {
  /** Which limit: `"maxSteps"`, `"maxTokens"`, `"maxCostUsd"`, `"maxToolCalls"` or `"timeoutMs"`. */
  readonly limit: string;
  /** The value that reached the limit. */
  readonly value: number;
  /** The configured maximum. */
  readonly max: number;
  /**
   * @param limit Which limit.
   * @param value The value that reached it.
   * @param max The configured maximum.
   */
  constructor(limit: string, value: number, max: number) {
    super(
      "POLICY_VIOLATION",
      `Policy limit "${limit}" reached: ${value} exceeds the maximum ${max}`,
    );
    this.limit = limit;
    this.value = value;
    this.max = max;
  }
}

/** Resuming an execution with a specification other than the one it started with. */
export class ExecutionHashMismatchError extends OaoError {
  /** The execution concerned. */
  readonly executionId: string;
  /**
   * @param executionId The execution concerned.
   * @param expected The hash recorded when the execution started.
   * @param actual The hash of the specification given now.
   */
  constructor(executionId: string, expected: string, actual: string) {
    super(
      "EXECUTION_HASH_MISMATCH",
      `Cannot resume execution "${executionId}": its specification hash "${actual}" differs from the recorded "${expected}"`,
    );
    this.executionId = executionId;
  }
}

/** No execution with the given id is known. */
export class ExecutionNotFoundError extends OaoError {
  /** The id that was looked up. */
  readonly executionId: string;
  /**
   * @param executionId The id that was looked up.
   */
  constructor(executionId: string) {
    super("EXECUTION_NOT_FOUND", `No execution "${executionId}" is recorded`);
    this.executionId = executionId;
  }
}

/** No agent is registered under the given name. */
export class UnknownAgentError extends OaoError {
  /** The agent name. */
  readonly agent: string;
  /**
   * @param agent The agent name.
   * @param known The registered names, listed in the message.
   */
  constructor(agent: string, known: readonly string[]) {
    super(
      "UNKNOWN_AGENT",
      `No agent is registered as "${agent}" (registered: ${
        known.length ? known.map((k) => `"${k}"`).join(", ") : "none"
      })`,
    );
    this.agent = agent;
  }
}

/** A tool call's intent was recorded without an outcome and the tool is not idempotent. */
export class ToolOutcomeUnknownError extends OaoError {
  /** The tool name. */
  readonly tool: string;
  /** The tool call key. */
  readonly key: string;
  /**
   * @param tool The tool name.
   * @param key The tool call key.
   */
  constructor(tool: string, key: string) {
    super(
      "TOOL_OUTCOME_UNKNOWN",
      `Tool "${tool}" (call ${
        key.slice(0, 12)
      }) was started before a crash and its outcome is unknown; ` +
        `it is not declared idempotent, so an operator must decide whether to re-run it`,
    );
    this.tool = tool;
    this.key = key;
  }
}

/**
 * Another runner holds the execution: only one process runs an execution at a
 * time, and the holder's lease must expire (or be released) first.
 */
export class ExecutionBusyError extends OaoError {
  /** The execution concerned. */
  readonly executionId: string;
  /** Who holds it, e.g. `"process 4242 on host-a"`. */
  readonly holder: string;
  /** Milliseconds until the holder's lease expires unless it renews it. */
  readonly expiresInMs: number;
  /**
   * @param executionId The execution concerned.
   * @param holder Who holds it.
   * @param expiresInMs Milliseconds until the holder's lease expires.
   */
  constructor(executionId: string, holder: string, expiresInMs: number) {
    super(
      "EXECUTION_BUSY",
      `Execution "${executionId}" is being run by ${holder}; its lease expires in ${
        Math.ceil(expiresInMs / 1000)
      } s unless renewed. Wait for that runner to finish, or stop it and retry after the lease expires`,
    );
    this.executionId = executionId;
    this.holder = holder;
    this.expiresInMs = expiresInMs;
  }
}

/** The execution already ended: what was asked of it (a signal, a decision) has no taker. */
export class ExecutionFinishedError extends OaoError {
  /** The execution. */
  readonly executionId: string;
  /** Its final status. */
  readonly status: string;
  /**
   * @param executionId The execution.
   * @param status Its final status.
   */
  constructor(executionId: string, status: string) {
    super(
      "EXECUTION_FINISHED",
      `Execution "${executionId}" already finished with status ${status}`,
    );
    this.executionId = executionId;
    this.status = status;
  }
}

/** The execution was cancelled on request. */
export class ExecutionCancelledError extends OaoError {
  /**
   * @param executionId The execution that was cancelled.
   * @param reason The reason given.
   */
  constructor(executionId: string, reason = "cancelled on request") {
    super("EXECUTION_CANCELLED", `Execution "${executionId}" was cancelled: ${reason}`);
  }
}

/** A job's lease was lost to another worker; its results are not recorded. */
export class LeaseLostError extends OaoError {
  /** The job concerned. */
  readonly jobId: string;
  /**
   * @param jobId The job concerned.
   * @param reason Why the lease is lost.
   */
  constructor(jobId: string, reason: string) {
    super("LEASE_LOST", `Lease on job "${jobId}" lost: ${reason}`);
    this.jobId = jobId;
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

/** Plain-data form of an error, safe to clone, log and store. */
export interface ErrorInfo {
  /** The error class name. */
  name: string;
  /** The message. */
  message: string;
  /** The OAO error code, when there is one. */
  code?: string;
  /** The stack trace, when there is one. */
  stack?: string;
}

/**
 * Converts any thrown value into plain data that survives `postMessage` and JSON.
 *
 * @param error Anything that was thrown.
 * @returns Name, message, code and stack.
 *
 * @example
 * ```ts
 * import { toErrorInfo } from "./errors.ts";
 * const info = toErrorInfo(new RangeError("bad"));
 * console.assert(info.name === "RangeError" && info.message === "bad");
 * ```
 */
export function toErrorInfo(error: unknown): ErrorInfo {
  if (error instanceof Error) {
    const info: ErrorInfo = { name: error.name, message: error.message };
    const code = (error as { code?: unknown }).code;
    if (typeof code === "string") info.code = code;
    if (error.stack) info.stack = error.stack;
    return info;
  }
  return { name: "Error", message: typeof error === "string" ? error : safeString(error) };
}

function safeString(value: unknown): string {
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return String(value);
  }
}

/**
 * Rebuilds an `Error` from {@linkcode ErrorInfo}. OAO errors come back as
 * instances of their own class (so `instanceof MailboxFullError` holds after
 * a trip through a worker); others as `OaoError` with the original name.
 *
 * @param info Plain error data.
 * @returns The error, with name, message, code and stack kept.
 *
 * @example
 * ```ts
 * import { AskTimeoutError, fromErrorInfo, toErrorInfo } from "./errors.ts";
 * const error = fromErrorInfo(toErrorInfo(new AskTimeoutError("a", 5)));
 * console.assert(error instanceof AskTimeoutError && error.message.includes("5 ms"));
 * ```
 */
export function fromErrorInfo(info: ErrorInfo): OaoError {
  const ctor = info.code && Object.hasOwn(ERROR_CLASSES, info.code)
    ? ERROR_CLASSES[info.code]
    : undefined;
  const error: OaoError = ctor
    ? Object.create(ctor.prototype)
    : new OaoError(info.code ?? "REMOTE_ERROR", info.message);
  Object.defineProperties(error, {
    message: { value: info.message, writable: true, configurable: true },
    name: { value: info.name, writable: true, configurable: true },
    code: { value: info.code ?? "REMOTE_ERROR", writable: true, configurable: true },
    stack: {
      value: info.stack ?? `${info.name}: ${info.message}`,
      writable: true,
      configurable: true,
    },
  });
  return error;
}

/**
 * Registers the class of an error code defined beside the layer that throws
 * it (the model layer's `ModelCallError`, …), so that {@linkcode fromErrorInfo}
 * rebuilds it as an instance of that class and `instanceof` matches copies
 * made by another copy of the module. Codes of this module cannot be replaced.
 *
 * @param code The stable code, e.g. `"MODEL_CALL_FAILED"`.
 * @param errorClass The class whose instances carry that code.
 * @throws {TypeError} When the code is registered for another class.
 *
 * @example
 * ```ts
 * import { fromErrorInfo, OaoError, registerErrorClass } from "./errors.ts";
 * class QuotaError extends OaoError {
 *   constructor(message: string) {
 *     super("EXAMPLE_QUOTA", message);
 *   }
 * }
 * registerErrorClass("EXAMPLE_QUOTA", QuotaError);
 * const copy = fromErrorInfo({ name: "QuotaError", message: "over quota", code: "EXAMPLE_QUOTA" });
 * console.assert(copy instanceof QuotaError);
 * ```
 */
export function registerErrorClass(code: string, errorClass: { prototype: OaoError }): void {
  const known = Object.hasOwn(ERROR_CLASSES, code) ? ERROR_CLASSES[code] : undefined;
  if (known === errorClass) return;
  if (known) {
    throw new TypeError(`Cannot register error code "${code}": it belongs to another class`);
  }
  ERROR_CLASSES[code] = errorClass;
}

const ERROR_CLASSES: Record<string, { prototype: OaoError }> = {
  ACTOR_NOT_FOUND: ActorNotFoundError,
  ACTOR_EXISTS: ActorExistsError,
  ASK_TIMEOUT: AskTimeoutError,
  MAILBOX_FULL: MailboxFullError,
  MESSAGE_NOT_CLONEABLE: MessageNotCloneableError,
  ACTOR_SPAWN_FAILED: ActorSpawnError,
  ACTOR_STOPPED: ActorStoppedError,
  ACTOR_FAILED: ActorFailedError,
  STALE_VERSION: StaleVersionError,
  FENCED: FencedError,
  STORE_UNAVAILABLE: StoreUnavailableError,
  CORRUPT_DATA: CorruptDataError,
  SUPERVISOR_ESCALATED: SupervisorEscalationError,
  POLICY_VIOLATION: PolicyViolationError,
  EXECUTION_HASH_MISMATCH: ExecutionHashMismatchError,
  EXECUTION_NOT_FOUND: ExecutionNotFoundError,
  UNKNOWN_AGENT: UnknownAgentError,
  TOOL_OUTCOME_UNKNOWN: ToolOutcomeUnknownError,
  EXECUTION_CANCELLED: ExecutionCancelledError,
  EXECUTION_BUSY: ExecutionBusyError,
  EXECUTION_FINISHED: ExecutionFinishedError,
  LEASE_LOST: LeaseLostError,
  PROTOCOL_VIOLATION: ProtocolViolationError,
  ACCESS_DENIED: AccessDeniedError,
  VALUE_TOO_LARGE: ValueTooLargeError,
  MODULE_REFUSED: ModuleRefusedError,
};
