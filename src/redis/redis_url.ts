/**
 * Parsing and redaction of `REDIS_URL`.
 *
 * Accepted forms (`rediss://` selects TLS):
 * - `redis://user:password@host:port/db`
 * - `redis://:password@host:port` (no user; the `default` user)
 * - `redis://user@host` (a user without password)
 * - `redis://host`, `redis://host:port`, `redis://host/3` (database 3)
 * - `redis://[::1]:6379` (IPv6)
 *
 * User and password may be percent-encoded (`p%40ss` for `p@ss`). A password
 * never appears in an error message: every message quotes the URL through
 * {@linkcode redactRedisUrl}.
 *
 * @module
 */

/** The parts of a `REDIS_URL`. */
export interface RedisUrlParts {
  /** True for `rediss://`. */
  tls: boolean;
  /** Host name or IP address (IPv6 without brackets). */
  host: string;
  /** TCP port. @default {6379} */
  port: number;
  /** ACL user name, when given. */
  username?: string;
  /** Password, when given. */
  password?: string;
  /** Database index. @default {0} */
  db: number;
}

const SCHEME = /^([A-Za-z][A-Za-z0-9+.-]*):\/\//;

/**
 * Replaces the secret part of a Redis URL with `***`, for logs and messages.
 *
 * `user:password@` becomes `user:***@`. A lone user-info part (`secret@host`)
 * is masked too, because `redis-cli` reads it as a password. Works on strings
 * that are not valid URLs.
 *
 * @param url A Redis URL, valid or not.
 * @returns The URL with its password masked.
 *
 * @example
 * ```ts
 * import { redactRedisUrl } from "./redis_url.ts";
 * const safe = redactRedisUrl("redis://app:s3cret@cache:6379/2");
 * console.assert(safe === "redis://app:***@cache:6379/2");
 * ```
 */
export function redactRedisUrl(url: string): string {
  const text = String(url);
  const scheme = SCHEME.exec(text);
  const start = scheme ? scheme[0].length : 0;
  // The last "@" anywhere: masking too much is safe, masking too little is not.
  const at = text.lastIndexOf("@");
  if (at < start) return text;
  const userinfo = text.slice(start, at);
  const colon = userinfo.indexOf(":");
  const user = colon < 0 ? "" : userinfo.slice(0, colon);
  const masked = colon < 0 ? "***" : `${user}:***`;
  return `${text.slice(0, start)}${masked}${text.slice(at)}`;
}

/**
 * Parses a `REDIS_URL`.
 *
 * @param url A `redis://` or `rediss://` URL.
 * @returns Host, port, credentials, database index and TLS flag.
 * @throws {TypeError} When the URL is malformed; the message names the bad
 * part and quotes the URL with its password redacted.
 *
 * @example
 * ```ts
 * import { parseRedisUrl } from "./redis_url.ts";
 * const parts = parseRedisUrl("rediss://app:s3cret@cache.example.com:6380/2");
 * console.assert(parts.tls && parts.host === "cache.example.com");
 * console.assert(parts.port === 6380 && parts.db === 2);
 * console.assert(parts.username === "app" && parts.password === "s3cret");
 * ```
 */
export function parseRedisUrl(url: string): RedisUrlParts {
  if (typeof url !== "string") {
    throw new TypeError(`Invalid REDIS_URL: expected a string, got ${typeof url}`);
  }
  const fail = (reason: string): never => {
    throw new TypeError(`Invalid REDIS_URL "${redactRedisUrl(url)}": ${reason}`);
  };
  const trimmed = url.trim();
  const scheme = SCHEME.exec(trimmed);
  if (!scheme) fail(`expected "redis://" or "rediss://" followed by a host`);
  const protocol = scheme![1]!.toLowerCase();
  if (protocol !== "redis" && protocol !== "rediss") {
    fail(`unsupported scheme "${protocol}:" (expected "redis:" or "rediss:")`);
  }
  const rest = trimmed.slice(scheme![0].length);
  // The last "@" ends the user info, so that an unencoded "@", "/", "?" or
  // "#" in a password is still read as part of the password.
  const at = rest.lastIndexOf("@");
  const userinfo = at < 0 ? undefined : rest.slice(0, at);
  const hostAndPath = at < 0 ? rest : rest.slice(at + 1);
  const queryAt = _indexOfAny(hostAndPath, "?#", 0);
  if (queryAt < hostAndPath.length) {
    fail(`query parameters and fragments are not supported ("${hostAndPath.slice(queryAt)}")`);
  }
  const slash = hostAndPath.indexOf("/");
  const hostPort = slash < 0 ? hostAndPath : hostAndPath.slice(0, slash);
  const path = slash < 0 ? "" : hostAndPath.slice(slash + 1);

  const parts: RedisUrlParts = { tls: protocol === "rediss", host: "", port: 6379, db: 0 };
  if (userinfo !== undefined) {
    const colon = userinfo.indexOf(":");
    const user = colon < 0 ? userinfo : userinfo.slice(0, colon);
    if (user) parts.username = _decode(user, "user name", fail);
    if (colon >= 0) parts.password = _decode(userinfo.slice(colon + 1), "password", fail);
  }

  let portText: string | undefined;
  if (hostPort.startsWith("[")) {
    const close = hostPort.indexOf("]");
    if (close < 0) fail(`the IPv6 host "${hostPort}" lacks its closing "]"`);
    parts.host = hostPort.slice(1, close);
    const after = hostPort.slice(close + 1);
    if (after && !after.startsWith(":")) fail(`unexpected "${after}" after the IPv6 host`);
    if (after) portText = after.slice(1);
  } else {
    const colon = hostPort.lastIndexOf(":");
    parts.host = colon < 0 ? hostPort : hostPort.slice(0, colon);
    if (colon >= 0) portText = hostPort.slice(colon + 1);
  }
  if (!parts.host) fail("the host is empty");
  if (/[\s/\\@]/.test(parts.host)) fail(`the host "${parts.host}" contains invalid characters`);
  if (portText !== undefined) {
    const port = /^\d{1,5}$/.test(portText) ? Number(portText) : NaN;
    if (!(port >= 1 && port <= 65535)) {
      fail(`the port "${portText}" is not an integer from 1 to 65535`);
    }
    parts.port = port;
  }

  const dbText = path.endsWith("/") ? path.slice(0, -1) : path;
  if (dbText) {
    if (!/^\d{1,9}$/.test(dbText)) {
      fail(`the database index "${dbText}" is not a non-negative integer`);
    }
    parts.db = Number(dbText);
  }
  return parts;
}

function _decode(text: string, what: string, fail: (reason: string) => never): string {
  try {
    return decodeURIComponent(text);
  } catch {
    // Never echo the value: it may be the password.
    return fail(`the ${what} contains an invalid percent-encoding`);
  }
}

function _indexOfAny(text: string, chars: string, from: number): number {
  for (let i = from; i < text.length; i++) {
    if (chars.includes(text[i]!)) return i;
  }
  return text.length;
}
