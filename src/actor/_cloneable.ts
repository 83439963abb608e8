// A fast, conservative check that a message can be structured-cloned, so that
// `tell` can refuse it synchronously. Anything it lets through that still fails
// at `postMessage` time is caught there (see _outbound_link.ts).

const CLONEABLE_CTORS = new Set<unknown>([
  Date,
  RegExp,
  Map,
  Set,
  ArrayBuffer,
  DataView,
  Error,
  EvalError,
  RangeError,
  ReferenceError,
  SyntaxError,
  TypeError,
  URIError,
  Boolean,
  Number,
  String,
  BigInt,
]);
const TypedArray = Object.getPrototypeOf(Uint8Array);
// Deeper (or cyclic) data takes the full check, which tracks what it has seen.
const MAX_PLAIN_DEPTH = 8;

/** Returns a description of the first non-cloneable part, or `undefined`. */
export function findUncloneable(
  value: unknown,
  path = "message",
  seen?: Set<object>,
): string | undefined {
  if (seen === undefined && isPlainData(value, 0)) return undefined;
  switch (typeof value) {
    case "function":
      return `${path} is a function`;
    case "symbol":
      return `${path} is a symbol`;
    case "object":
      break;
    default:
      return undefined;
  }
  if (value === null) return undefined;
  const proto = Object.getPrototypeOf(value);
  if (Array.isArray(value)) {
    seen ??= new Set();
    if (seen.has(value)) return undefined;
    seen.add(value);
    for (let i = 0; i < value.length; i++) {
      const bad = findUncloneable(value[i], `${path}[${i}]`, seen);
      if (bad) return bad;
    }
    return undefined;
  }
  if (proto !== Object.prototype && proto !== null) {
    const ctor = proto?.constructor;
    if (CLONEABLE_CTORS.has(ctor) || value instanceof TypedArray || value instanceof Error) {
      if (value instanceof Map) return checkEntries([...value.entries()].flat(), path, seen);
      if (value instanceof Set) return checkEntries([...value], path, seen);
      return undefined;
    }
    if (value instanceof Promise) return `${path} is a Promise`;
    if (value instanceof WeakMap || value instanceof WeakSet || value instanceof WeakRef) {
      return `${path} is a ${ctor?.name}`;
    }
    if (typeof Blob !== "undefined" && value instanceof Blob) return undefined;
    if (typeof MessagePort !== "undefined" && value instanceof MessagePort) {
      return `${path} is a MessagePort`;
    }
  }
  seen ??= new Set();
  if (seen.has(value)) return undefined;
  seen.add(value);
  for (const key in value) {
    const bad = findUncloneable((value as Record<string, unknown>)[key], `${path}.${key}`, seen);
    if (bad) return bad;
  }
  return undefined;
}

// The hot path of every tell: true when `value` is certainly cloneable —
// primitives, and plain objects and arrays of them a few levels deep —
// without allocating. Anything else (false) goes through the full check,
// which also builds the path of the culprit.
function isPlainData(value: unknown, depth: number): boolean {
  if (typeof value !== "object") return typeof value !== "function" && typeof value !== "symbol";
  if (value === null) return true;
  if (depth > MAX_PLAIN_DEPTH) return false;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) if (!isPlainData(value[i], depth + 1)) return false;
    return true;
  }
  // `constructor`, read through an inline cache, costs a fraction of
  // `Object.getPrototypeOf` (a tell took ~17 ns less). A value that passes
  // with a spoofed `constructor` and cannot be cloned after all (as a Proxy
  // could before) fails at `postMessage`, where its link reports it.
  if (
    (value as { constructor?: unknown }).constructor !== Object &&
    Object.getPrototypeOf(value) !== null
  ) return false;
  for (const key in value) {
    const field = (value as Record<string, unknown>)[key];
    if (typeof field === "object") {
      if (field !== null && !isPlainData(field, depth + 1)) return false;
    } else if (typeof field === "function" || typeof field === "symbol") return false;
  }
  return true;
}

function checkEntries(items: unknown[], path: string, seen?: Set<object>): string | undefined {
  for (const item of items) {
    const bad = findUncloneable(item, `${path} entry`, seen);
    if (bad) return bad;
  }
  return undefined;
}
