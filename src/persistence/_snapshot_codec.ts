/**
 * Validation and encoding of snapshots, shared by the persistence adapters
 * so that they accept, store and return exactly the same things. Data is
 * stored as JSON (`JSON.stringify` semantics: `Date` becomes a string,
 * `undefined` properties are dropped).
 *
 * @module
 */
import { CorruptDataError } from "./store_errors.ts";
import { type SaveOptions, splitKey } from "./persistence_adapter.ts";

/** Validated save options (`ttlMs` instead of seconds). */
export interface _SaveRules {
  version: number | undefined;
  expectedVersion: number | undefined;
  fencingToken: number | undefined;
  ttlMs: number | undefined;
}

/** The rules of a save without options (one object for all: rules are never changed). */
const NO_RULES: _SaveRules = Object.freeze({
  version: undefined,
  expectedVersion: undefined,
  fencingToken: undefined,
  ttlMs: undefined,
});

/**
 * Validates save options.
 *
 * @throws {RangeError} When a field is out of range; the message names it.
 */
export function _saveRules(options: SaveOptions | undefined): _SaveRules {
  if (options === undefined) return NO_RULES;
  const { version, expectedVersion, fencingToken, ttlSeconds } = options;
  if (version !== undefined) _integer(version, "version", 1);
  if (expectedVersion !== undefined) _integer(expectedVersion, "expectedVersion", 0);
  if (fencingToken !== undefined) _integer(fencingToken, "fencingToken", 0);
  if (ttlSeconds !== undefined) _checkTtl(ttlSeconds, "ttlSeconds");
  return {
    version,
    expectedVersion,
    fencingToken,
    ttlMs: ttlSeconds === undefined ? undefined : Math.ceil(ttlSeconds * 1000),
  };
}

/**
 * Validates a scope name (no `/`).
 *
 * @throws {TypeError} When the scope is empty, not a string or contains `/`.
 */
export function _checkScope(scope: unknown): asserts scope is string {
  if (typeof scope !== "string" || scope.length === 0 || scope.includes("/")) {
    throw new TypeError(
      `Invalid snapshot scope ${
        JSON.stringify(scope) ?? String(scope)
      }: expected a non-empty string without "/"`,
    );
  }
}

/**
 * Validates a key and returns its scope.
 *
 * @throws {TypeError} When the key is invalid.
 */
export function _scopeOf(key: string): string {
  return splitKey(key).scope;
}

/** Throws a RangeError unless `seconds` is a positive finite number. */
export function _checkTtl(seconds: unknown, name: string): asserts seconds is number {
  if (typeof seconds !== "number" || !Number.isFinite(seconds) || seconds <= 0) {
    throw new RangeError(
      `Invalid ${name} ${String(seconds)}: expected a positive number of seconds`,
    );
  }
}

/**
 * Serializes snapshot data.
 *
 * @throws {CorruptDataError} When the data is not JSON-serializable (`where` is the key named).
 */
export function _encodeData(key: string, data: unknown, where: string): string {
  let json: string | undefined;
  try {
    json = JSON.stringify(data);
  } catch (error) {
    throw new CorruptDataError(
      where,
      `snapshot "${key}" cannot be serialized as JSON (${
        error instanceof Error ? error.message : String(error)
      })`,
      { cause: error },
    );
  }
  if (json === undefined) {
    throw new CorruptDataError(
      where,
      `snapshot "${key}" cannot be serialized as JSON (${typeof data} is not a JSON value)`,
    );
  }
  return json;
}

/**
 * Parses stored snapshot data.
 *
 * @throws {CorruptDataError} When the JSON is invalid.
 */
export function _decodeData(key: string, json: unknown, where: string): unknown {
  try {
    if (typeof json !== "string") throw new Error(`expected a string, got ${typeof json}`);
    return JSON.parse(json);
  } catch (error) {
    throw new CorruptDataError(
      where,
      `snapshot "${key}" is not valid JSON (${
        error instanceof Error ? error.message : String(error)
      })`,
      { cause: error },
    );
  }
}

function _integer(value: unknown, name: string, min: number): void {
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value < min) {
    throw new RangeError(`Invalid ${name} ${String(value)}: expected an integer ≥ ${min}`);
  }
}
