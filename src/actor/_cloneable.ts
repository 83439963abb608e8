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

/** Returns a description of the first non-cloneable part, or `undefined`. */
export function findUncloneable(
  value: unknown,
  path = "message",
  seen?: Set<object>,
): string | undefined {
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

function checkEntries(items: unknown[], path: string, seen?: Set<object>): string | undefined {
  for (const item of items) {
    const bad = findUncloneable(item, `${path} entry`, seen);
    if (bad) return bad;
  }
  return undefined;
}
