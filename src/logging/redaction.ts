/**
 * Keeps secrets out of logs. Applied to every record by the sink wrapper
 * {@linkcode redactingSink} (messages, properties, nested objects and
 * errors), and once more to every formatted line by
 * {@linkcode redactText}. What is redacted:
 *
 * - the password in any `scheme://user:password@host` URL, and the whole
 *   user-info of a `redis://` / `rediss://` URL without a colon (ioredis reads
 *   it as the password);
 * - `Bearer <token>` and `Authorization: <scheme> <credentials>`;
 * - `password=…`, `token=…`, `secret=…`, `api_key=…` and their JSON forms;
 * - every value given to {@linkcode registerSecret} (and its URL-encoded form);
 * - properties named like password, token, secret, authorization, API key,
 *   cookie or credential, unless their value is a number or a boolean (so
 *   `maxTokens: 5000` stays readable).
 *
 * @example
 * ```ts
 * import { redactText, registerSecret, unregisterSecret } from "./redaction.ts";
 * console.assert(redactText("redis://app:hunter22@db:6379/0") === "redis://app:[REDACTED]@db:6379/0");
 * registerSecret("tok-1234567");
 * console.assert(redactText("sent tok-1234567") === "sent [REDACTED]");
 * unregisterSecret("tok-1234567");
 * ```
 *
 * @module
 */
import type { LogRecord, Sink } from "@logtape/logtape";

/** What a redacted value is replaced with. */
export const REDACTED = "[REDACTED]";

const MIN_SECRET_LENGTH = 4;
const MAX_DEPTH = 10;
const SENSITIVE_KEY =
  /passw(?:or)?d|passphrase|^pass$|^pwd$|secret|token|authori[sz]ation|^auth$|api[-_]?key|access[-_]?key|private[-_]?key|cookie|credential/i;
const URL_USERINFO = /\b([a-z][a-z0-9+.-]*:\/\/)([^\s/@:]*)(:[^\s@]*)?@/gi;
const BEARER = /\b(Bearer)\s+[A-Za-z0-9\-._~+/]+=*/gi;
const AUTH_HEADER =
  /\b(authorization\s*[:=]\s*"?)(?:((?:Basic|Bearer|Digest|Token|Negotiate)\s+))?[^\s",;]+/gi;
const KEY_VALUE =
  /\b((?:password|passwd|pwd|secret|token|api[-_]?key|access[-_]?token|refresh[-_]?token)\s*=\s*)(?!\d+(?:[\s&,;]|$))("[^"]*"|[^\s&,;"]+)/gi;
const JSON_PAIR =
  /("[^"]*(?:passw(?:or)?d|secret|token|authori[sz]ation|api[-_]?key)[^"]*"\s*:\s*)"(?:[^"\\]|\\.)*"/gi;

const secrets = new Set<string>();
let secretPattern: RegExp | undefined;

function _escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

function _rebuild(): void {
  const variants = new Set<string>();
  for (const s of secrets) variants.add(s).add(encodeURIComponent(s));
  const sorted = [...variants].sort((a, b) => b.length - a.length).map(_escape);
  secretPattern = sorted.length ? new RegExp(sorted.join("|"), "g") : undefined;
}

/**
 * Registers a value that must never appear in logs (an API token, a
 * password read from a file). Applies to records logged afterwards.
 *
 * @param value The secret, at least 4 characters.
 * @throws {TypeError} When `value` is not a string.
 * @throws {RangeError} When it is shorter than 4 characters (it would redact ordinary text).
 *
 * @example
 * ```ts
 * import { redactText, registerSecret, unregisterSecret } from "./redaction.ts";
 * registerSecret("s3cr3t-api-token");
 * console.assert(!redactText("token s3cr3t-api-token").includes("s3cr3t"));
 * unregisterSecret("s3cr3t-api-token");
 * ```
 */
export function registerSecret(value: string): void {
  if (typeof value !== "string") {
    throw new TypeError("Cannot register a secret: it is not a string");
  }
  if (value.length < MIN_SECRET_LENGTH) {
    throw new RangeError(
      `Cannot register a secret shorter than ${MIN_SECRET_LENGTH} characters: it would redact ordinary text`,
    );
  }
  secrets.add(value);
  _rebuild();
}

/**
 * Forgets a secret registered with {@linkcode registerSecret}; unknown values are ignored.
 *
 * @param value The secret.
 *
 * @example
 * ```ts
 * import { registerSecret, unregisterSecret } from "./redaction.ts";
 * registerSecret("temporary-secret");
 * unregisterSecret("temporary-secret");
 * ```
 */
export function unregisterSecret(value: string): void {
  if (secrets.delete(value)) _rebuild();
}

function _userinfo(match: string, scheme: string, user: string, password?: string): string {
  if (password !== undefined) return `${scheme}${user}:${REDACTED}@`;
  return /^rediss?:\/\/$/i.test(scheme) && user !== "" ? `${scheme}${REDACTED}@` : match;
}

/**
 * Redacts URL passwords, bearer tokens, `key=value` credentials and
 * registered secrets in a string.
 *
 * @param text Any text.
 * @returns The text with secrets replaced by `[REDACTED]`.
 *
 * @example
 * ```ts
 * import { redactText } from "./redaction.ts";
 * console.assert(redactText("Authorization: Bearer abc.def") === "Authorization: Bearer [REDACTED]");
 * ```
 */
export function redactText(text: string): string {
  let out = text;
  if (secretPattern) out = out.replace(secretPattern, REDACTED);
  return out
    .replace(URL_USERINFO, _userinfo)
    .replace(BEARER, `$1 ${REDACTED}`)
    .replace(
      AUTH_HEADER,
      (_m, head: string, scheme?: string) => `${head}${scheme ?? ""}${REDACTED}`,
    )
    .replace(KEY_VALUE, `$1${REDACTED}`)
    .replace(JSON_PAIR, `$1"${REDACTED}"`);
}

/**
 * Tells whether a property name denotes a credential.
 *
 * @param key A property name.
 * @returns Whether string or object values under it are redacted.
 *
 * @example
 * ```ts
 * import { isSensitiveKey } from "./redaction.ts";
 * console.assert(isSensitiveKey("apiToken") && !isSensitiveKey("actor"));
 * ```
 */
export function isSensitiveKey(key: string): boolean {
  return SENSITIVE_KEY.test(key);
}

function _keyed(key: string, value: unknown, seen: WeakMap<object, unknown>, depth: number) {
  if (
    isSensitiveKey(key) && value !== null && value !== undefined &&
    typeof value !== "number" && typeof value !== "boolean"
  ) {
    return REDACTED;
  }
  return _redact(value, seen, depth);
}

function _redactError(error: Error, seen: WeakMap<object, unknown>, depth: number): Error {
  const copy = new Error(redactText(error.message));
  Object.setPrototypeOf(copy, Object.getPrototypeOf(error));
  seen.set(error, copy);
  if (Object.hasOwn(error, "name")) copy.name = redactText(String(error.name));
  if (error.stack !== undefined) copy.stack = redactText(error.stack);
  else delete copy.stack;
  if ("cause" in error) copy.cause = _redact(error.cause, seen, depth + 1);
  if (error instanceof AggregateError) {
    (copy as AggregateError).errors = _redact(error.errors, seen, depth + 1) as unknown[];
  }
  for (const [key, value] of Object.entries(error)) {
    if (key === "name" || key === "message" || key === "stack" || key === "cause") continue;
    (copy as unknown as Record<string, unknown>)[key] = _keyed(key, value, seen, depth + 1);
  }
  return copy;
}

function _redact(value: unknown, seen: WeakMap<object, unknown>, depth: number): unknown {
  if (typeof value === "string") return redactText(value);
  if (value === null || typeof value !== "object") return value;
  const known = seen.get(value);
  if (known !== undefined) return known;
  if (depth > MAX_DEPTH) return "[Truncated]";
  if (value instanceof Error) return _redactError(value, seen, depth);
  if (value instanceof URL) return redactText(value.href);
  if (value instanceof Date || value instanceof RegExp || ArrayBuffer.isView(value)) return value;
  if (Array.isArray(value)) {
    const out: unknown[] = [];
    seen.set(value, out);
    for (const item of value) out.push(_redact(item, seen, depth + 1));
    return out;
  }
  if (value instanceof Map) {
    const out = new Map<unknown, unknown>();
    seen.set(value, out);
    for (const [k, v] of value) {
      out.set(
        k,
        typeof k === "string" ? _keyed(k, v, seen, depth + 1) : _redact(v, seen, depth + 1),
      );
    }
    return out;
  }
  if (value instanceof Set) {
    const out = new Set<unknown>();
    seen.set(value, out);
    for (const v of value) out.add(_redact(v, seen, depth + 1));
    return out;
  }
  const out: Record<string, unknown> = {};
  seen.set(value, out);
  for (const [key, v] of Object.entries(value)) out[key] = _keyed(key, v, seen, depth + 1);
  return out;
}

/**
 * Returns a redacted copy of any value: strings through
 * {@linkcode redactText}, sensitive properties replaced, nested objects,
 * arrays, maps, sets and errors (message, stack, cause, own properties)
 * copied. Cycles are preserved; the input is never modified.
 *
 * @param value Anything.
 * @returns The redacted copy (primitives other than strings as they are).
 *
 * @example
 * ```ts
 * import { redactValue } from "./redaction.ts";
 * const out = redactValue({ db: { password: "pw", host: "h" } }) as { db: { password: string } };
 * console.assert(out.db.password === "[REDACTED]");
 * ```
 */
export function redactValue(value: unknown): unknown {
  return _redact(value, new WeakMap(), 0);
}

/** Placeholder names of a LogTape message template, in order. */
function _placeholders(template: string): string[] {
  const names: string[] = [];
  for (let i = 0; i < template.length; i++) {
    const c = template[i];
    if ((c === "{" || c === "}") && template[i + 1] === c) {
      i++;
      continue;
    }
    if (c !== "{") continue;
    const end = template.indexOf("}", i + 1);
    if (end < 0) break;
    names.push(template.slice(i + 1, end).trim());
    i = end;
  }
  return names;
}

/**
 * Returns a copy of a LogTape record with its message parts, raw message and
 * properties redacted; a placeholder naming a sensitive property
 * (`{password}`) renders as `[REDACTED]`.
 *
 * @param record The record.
 * @returns The redacted record.
 *
 * @example
 * ```ts
 * import { redactRecord } from "./redaction.ts";
 * import type { LogRecord } from "@logtape/logtape";
 * const record: LogRecord = {
 *   category: ["oao"], level: "info", timestamp: 0, rawMessage: "Using {password}",
 *   message: ["Using ", "pw", ""], properties: { password: "pw" },
 * };
 * console.assert(redactRecord(record).message[1] === "[REDACTED]");
 * ```
 */
export function redactRecord(record: LogRecord): LogRecord {
  const seen = new WeakMap<object, unknown>();
  const message = record.message.map((part) => _redact(part, seen, 0));
  if (typeof record.rawMessage === "string") {
    const names = _placeholders(record.rawMessage);
    if (names.length * 2 + 1 === message.length) {
      names.forEach((name, i) => {
        const value = message[i * 2 + 1];
        if (typeof value === "number" || typeof value === "boolean") return;
        if (name.split(/[.[\]]/).some(isSensitiveKey)) message[i * 2 + 1] = REDACTED;
      });
    }
  }
  const rawMessage = typeof record.rawMessage === "string"
    ? redactText(record.rawMessage)
    : Object.assign(record.rawMessage.map(redactText), {
      raw: record.rawMessage.raw.map(redactText),
    }) as unknown as TemplateStringsArray;
  const properties = _redact(record.properties, seen, 0) as Record<string, unknown>;
  return { ...record, message, rawMessage, properties };
}

/**
 * Wraps a LogTape sink so that every record it receives is redacted first.
 *
 * @param sink The sink to protect.
 * @returns A sink that redacts, then forwards.
 *
 * @example
 * ```ts
 * import { redactingSink } from "./redaction.ts";
 * import type { LogRecord } from "@logtape/logtape";
 * const seen: LogRecord[] = [];
 * const sink = redactingSink((record) => seen.push(record));
 * sink({ category: ["oao"], level: "info", timestamp: 0, rawMessage: "x", message: ["x"], properties: { token: "t" } });
 * console.assert(seen[0]?.properties.token === "[REDACTED]");
 * ```
 */
export function redactingSink(sink: Sink): Sink {
  return (record) => sink(redactRecord(record));
}
