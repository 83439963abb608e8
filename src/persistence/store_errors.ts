/**
 * The errors of the stores (snapshots, event logs, queues, on any adapter):
 * a conditional write that found another version, a write of a fenced-out
 * owner, a store that cannot be reached, data that cannot be decoded, a lost
 * job lease.
 *
 * @example
 * ```ts
 * import { StoreUnavailableError } from "./store_errors.ts";
 * const error = new StoreUnavailableError("appendEvent(\"exec-1\")");
 * console.assert(error.code === "STORE_UNAVAILABLE");
 * ```
 *
 * @module
 */
import { OaoError, registerErrorClass } from "../oao_error.ts";

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

// Registered, so that fromErrorInfo rebuilds them and instanceof matches copies.
registerErrorClass("STALE_VERSION", StaleVersionError);
registerErrorClass("FENCED", FencedError);
registerErrorClass("STORE_UNAVAILABLE", StoreUnavailableError);
registerErrorClass("CORRUPT_DATA", CorruptDataError);
registerErrorClass("LEASE_LOST", LeaseLostError);
