/**
 * The base of OAO's named errors and the registry of their codes: an
 * {@linkcode OaoError} has a stable `code`, so that it survives a trip
 * through `postMessage`, JSON or a log line and comes back as an instance of
 * its class ({@linkcode toErrorInfo}, {@linkcode fromErrorInfo}). The errors
 * themselves live beside the layer that throws them and register their codes
 * here: the actor runtime's in `actor/actor_errors.ts` (the only ones an
 * actor worker carries), the stores' in `persistence/store_errors.ts`, the
 * orchestrator's in `orchestrator/execution_errors.ts`; `errors.ts` gathers
 * them for the host.
 *
 * @example
 * ```ts
 * import { fromErrorInfo, OaoError, toErrorInfo } from "./oao_error.ts";
 * const copy = fromErrorInfo(toErrorInfo(new OaoError("EXAMPLE", "Something failed")));
 * console.assert(copy instanceof OaoError && copy.code === "EXAMPLE");
 * ```
 *
 * @module
 */

/** Base class of every OAO error: a stable `code` plus the standard `cause`. */
import { truncateText } from "./limits.ts";
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
 * @param options `stack: false` leaves the stack out: for errors the runtime
 * makes itself on routine paths (an actor stopped, a mailbox full), whose
 * stack names only the runtime's own function and costs more to format
 * (source-mapped) than the rest of the path.
 * @returns Name, message, code and stack.
 *
 * @example
 * ```ts
 * import { toErrorInfo } from "./oao_error.ts";
 * const info = toErrorInfo(new RangeError("bad"));
 * console.assert(info.name === "RangeError" && info.message === "bad");
 * console.assert(toErrorInfo(new RangeError("bad"), { stack: false }).stack === undefined);
 * ```
 */
export function toErrorInfo(error: unknown, options?: { stack?: boolean }): ErrorInfo {
  if (error instanceof Error) {
    const info: ErrorInfo = {
      name: clip(String(error.name)),
      message: clip(String(error.message)),
    };
    const code = (error as { code?: unknown }).code;
    if (typeof code === "string") info.code = clip(code);
    if (options?.stack !== false && error.stack) info.stack = clip(String(error.stack));
    return info;
  }
  return { name: "Error", message: clip(typeof error === "string" ? error : safeString(error)) };
}

/**
 * The most characters of an error's name, message, code or stack that
 * `toErrorInfo` keeps. Whoever shows an error cuts it much shorter (the
 * orchestrator at 8,192 characters); this bound keeps a 50 MB message from
 * being copied between threads whole: a worker busy cloning it for seconds
 * missed its heartbeats on a loaded machine.
 */
const MAX_ERROR_TEXT = 1_048_576;

function clip(text: string): string {
  return truncateText(text, MAX_ERROR_TEXT);
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
 * import { fromErrorInfo, toErrorInfo } from "./oao_error.ts";
 * import { AskTimeoutError } from "./actor/actor_errors.ts";
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
 * made by another copy of the module. A code keeps its first class.
 *
 * @param code The stable code, e.g. `"MODEL_CALL_FAILED"`.
 * @param errorClass The class whose instances carry that code.
 * @throws {TypeError} When the code is registered for another class.
 *
 * @example
 * ```ts
 * import { fromErrorInfo, OaoError, registerErrorClass } from "./oao_error.ts";
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

const ERROR_CLASSES: Record<string, { prototype: OaoError }> = {};
