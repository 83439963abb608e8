/**
 * The Redis of the test suite. Tests read one setting, `OAO_TEST_REDIS_URL`,
 * and never `REDIS_URL` (a developer's own Redis must not receive test keys):
 *
 * - when `OAO_TEST_REDIS_URL` is set, that server is used, after a bounded
 *   check that it answers `PING`;
 * - when it is unset, the first call starts a `redis-server` of this test
 *   file's own: a free loopback port, a temporary directory, no persistence.
 *   It is stopped when the file's tests end (`unload`), and a watchdog stops
 *   it within a second should the test process die without unloading.
 *
 * When no Redis can be had (no `redis-server`, or the configured one does not
 * answer), {@linkcode testRedisUrl} rejects at once with a
 * {@linkcode TestRedisUnavailableError} whose one line says why. `deno task
 * test` (tests/_support/test_command.ts) starts one server for the whole run
 * and passes it on in `OAO_TEST_REDIS_URL`.
 *
 * ```ts
 * import { testRedisUrl } from "./test_redis.ts";
 *
 * const url = await testRedisUrl(); // e.g. redis://127.0.0.1:41234
 * ```
 *
 * Starting it holds no resource of the calling test, so a test may call it
 * first (Deno's sanitizers stay quiet). Requires `--allow-run --allow-net
 * --allow-read --allow-write --allow-env`.
 *
 * @module
 */
import { freePort } from "./redis_server.ts";

/** The one setting the tests read. */
export const TEST_REDIS_ENV = "OAO_TEST_REDIS_URL";

/** No Redis can be had for the tests; the message is one line saying why. */
export class TestRedisUnavailableError extends Error {
  /**
   * @param reason Why, in one line.
   */
  constructor(reason: string) {
    super(`No Redis for the tests: ${reason}`);
    this.name = "TestRedisUnavailableError";
  }
}

/** A `redis-server` started by {@linkcode startTestRedis}. */
export interface StartedTestRedis {
  /** `redis://127.0.0.1:<port>`. */
  url: string;
  /** Kills the server (and its watchdog) and removes its directory; synchronous, for `unload`. */
  stop(): void;
}

let shared: Promise<string> | undefined;

/**
 * The URL of the suite's Redis: `OAO_TEST_REDIS_URL` when set (checked), else
 * a server of this test file's own, started on the first call.
 *
 * @returns The URL (the same one on every call).
 * @throws {TestRedisUnavailableError} When the configured server does not
 *   answer, `redis-server` is missing, or it does not start.
 */
export function testRedisUrl(): Promise<string> {
  shared ??= resolve();
  return shared;
}

async function resolve(): Promise<string> {
  const configured = Deno.env.get(TEST_REDIS_ENV);
  if (configured) {
    await checkRedis(configured);
    return configured;
  }
  const server = await startTestRedis();
  globalThis.addEventListener("unload", () => server.stop());
  return server.url;
}

/**
 * Checks that the Redis at `url` answers `PING`: at most 3 attempts of at most
 * 1 s each, 200 ms apart.
 *
 * @param url `redis://` or `rediss://` URL, with credentials if needed.
 * @returns Once it answered.
 * @throws {TestRedisUnavailableError} Naming the URL (password masked) and the last error.
 */
export async function checkRedis(url: string): Promise<void> {
  let target: URL;
  try {
    target = new URL(url);
  } catch {
    throw new TestRedisUnavailableError(`${TEST_REDIS_ENV} "${url}" is not a URL`);
  }
  if (target.protocol !== "redis:" && target.protocol !== "rediss:") {
    throw new TestRedisUnavailableError(
      `${TEST_REDIS_ENV} "${masked(target)}" is not a redis:// or rediss:// URL`,
    );
  }
  let last = "";
  for (let attempt = 1; attempt <= 3; attempt++) {
    try {
      const reply = await ping(target, 1_000);
      if (reply.startsWith("+PONG")) return;
      // An error reply (credentials, protected mode) does not get better by retrying.
      last = `it answered ${JSON.stringify(reply.trim())}`;
      break;
    } catch (error) {
      last = error instanceof Error ? error.message : String(error);
    }
    if (attempt < 3) await new Promise((resolve) => setTimeout(resolve, 200));
  }
  throw new TestRedisUnavailableError(
    `${TEST_REDIS_ENV}="${masked(target)}" does not answer PING (${last}); ` +
      `start Redis there, or unset ${TEST_REDIS_ENV} to let the tests start their own redis-server`,
  );
}

/**
 * Starts a `redis-server` on a free loopback port in a new temporary
 * directory, with no persistence, in a process group of its own, and waits
 * until it answers `PING` (at most 10 s). A watchdog in that group kills it
 * within a second once this process is gone.
 *
 * @returns The server; call `stop()` when done.
 * @throws {TestRedisUnavailableError} When `redis-server` is missing or does not start.
 */
export async function startTestRedis(): Promise<StartedTestRedis> {
  try {
    await new Deno.Command("redis-server", { args: ["--version"], stdout: "null", stderr: "null" })
      .output();
  } catch (error) {
    throw new TestRedisUnavailableError(
      error instanceof Deno.errors.NotFound
        ? `redis-server is not on the PATH; install it, or set ${TEST_REDIS_ENV} to a running Redis`
        : `cannot run redis-server (${(error as Error).message})`,
    );
  }
  let reason = "";
  for (let attempt = 1; attempt <= 3; attempt++) {
    const dir = await Deno.makeTempDir({ prefix: "oao-test-redis-" });
    const port = freePort();
    const group = await spawnGroup(dir, port).catch(async (error) => {
      await Deno.remove(dir, { recursive: true });
      throw error;
    });
    const stop = () => {
      try {
        Deno.kill(-group, "SIGKILL");
      } catch {
        // already gone
      }
      try {
        Deno.removeSync(dir, { recursive: true });
      } catch {
        // removed by the watchdog
      }
    };
    const url = `redis://127.0.0.1:${port}`;
    const deadline = Date.now() + 10_000;
    while (Date.now() < deadline) {
      if ((await ping(new URL(url), 500).catch(() => "")).startsWith("+PONG")) {
        return { url, stop };
      }
      // E.g. "# Failed listening on port 41234 (tcp), aborting." when another process took the port.
      const log = await Deno.readTextFile(`${dir}/redis.log`).catch(() => "");
      const fatal = log.split("\n").find((line) => FATAL.test(line));
      if (fatal) {
        reason = fatal.replace(/^.* [#*.-] /, "");
        break;
      }
      reason = `no answer on port ${port} within 10 s`;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    stop();
  }
  throw new TestRedisUnavailableError(`redis-server did not start: ${reason}`);
}

const FATAL = /failed listening|could not create server|fatal|can't open|aborting/i;

/** Starts the server and its watchdog in a new session; returns the process group id. */
async function spawnGroup(dir: string, port: number): Promise<number> {
  const script = `owner=$1; dir=$2; shift 2
(
  redis-server "$@" &
  redis=$!
  while kill -0 "$owner" 2>/dev/null && kill -0 "$redis" 2>/dev/null; do sleep 1; done
  kill -9 "$redis" 2>/dev/null
  rm -rf "$dir"
) </dev/null >/dev/null 2>&1 &
echo $$`;
  const args = [
    "--port",
    String(port),
    "--bind",
    "127.0.0.1",
    "--dir",
    dir,
    "--logfile",
    "redis.log",
    "--save",
    "",
    "--appendonly",
    "no",
    "--daemonize",
    "no",
  ];
  const output = await new Deno.Command("sh", {
    args: ["-c", script, "sh", String(Deno.pid), dir, ...args],
    detached: true, // setsid: its own process group, out of reach of the terminal's signals
    stdin: "null",
    stdout: "piped",
    stderr: "null",
  }).spawn().output();
  const group = Number(new TextDecoder().decode(output.stdout).trim());
  if (!Number.isInteger(group) || group <= 1) {
    throw new TestRedisUnavailableError("cannot start redis-server: sh printed no process group");
  }
  return group;
}

/** Sends `PING` (after `AUTH` when the URL has credentials); returns the raw reply. */
async function ping(url: URL, timeoutMs: number): Promise<string> {
  const abort = new AbortController();
  const timer = setTimeout(
    () => abort.abort(new Error(`no answer within ${timeoutMs} ms`)),
    timeoutMs,
  );
  const options = {
    hostname: url.hostname.replace(/^\[|\]$/g, ""),
    port: Number(url.port || 6379),
  };
  let conn: Deno.Conn | undefined;
  try {
    conn = url.protocol === "rediss:"
      ? await Deno.connectTls({ ...options })
      : await Deno.connect({ ...options, signal: abort.signal });
    const user = decodeURIComponent(url.username);
    const password = decodeURIComponent(url.password);
    const auth = password
      ? (user ? command("AUTH", user, password) : command("AUTH", password))
      : "";
    await conn.write(new TextEncoder().encode(auth + command("PING")));
    const replies = password ? 2 : 1;
    let text = "";
    const buffer = new Uint8Array(1024);
    const closed = new Promise<never>((_, reject) =>
      abort.signal.addEventListener("abort", () => reject(abort.signal.reason), { once: true })
    );
    while (text.split("\r\n").length - 1 < replies) {
      const n = await Promise.race([conn.read(buffer), closed]);
      if (n === null) throw new Error("the connection was closed");
      text += new TextDecoder().decode(buffer.subarray(0, n));
    }
    const lines = text.split("\r\n");
    // With AUTH, the first reply is AUTH's: report it when it is an error.
    return lines[0]!.startsWith("-") ? lines[0]! : lines[replies - 1]!;
  } catch (error) {
    throw abort.signal.aborted ? abort.signal.reason : error;
  } finally {
    clearTimeout(timer);
    conn?.close();
  }
}

function command(...args: string[]): string {
  const encoder = new TextEncoder();
  return `*${args.length}\r\n${
    args.map((a) => `$${encoder.encode(a).length}\r\n${a}\r\n`).join("")
  }`;
}

function masked(url: URL): string {
  if (!url.password) return url.href.replace(/\/$/, "");
  const copy = new URL(url.href);
  copy.password = "***";
  return copy.href.replace(/\/$/, "");
}
