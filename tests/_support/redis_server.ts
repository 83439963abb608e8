/**
 * A test-owned `redis-server` on a free loopback port in a temporary
 * directory, for tests that must stop, kill (`SIGKILL`) or restart Redis, or
 * need a particular configuration (password, AOF, eviction policy, Cluster
 * mode) — never the suite's shared Redis (tests/_support/test_redis.ts).
 *
 * ```ts
 * import { RedisServer } from "./redis_server.ts";
 *
 * await using server = await RedisServer.start({ appendonly: true, requirepass: "s3cret" });
 * const url = server.url({ password: "s3cret", db: 2 }); // redis://:s3cret@127.0.0.1:<port>/2
 * await server.kill();     // SIGKILL, like a crash
 * await server.restart();  // same port, same directory (the AOF is replayed)
 * ```
 *
 * `await using` (or {@linkcode RedisServer.dispose}) stops the server and
 * removes the directory, so Deno's leak sanitizers stay quiet. Requires
 * `redis-server` on the PATH and `--allow-run --allow-net --allow-read
 * --allow-write`.
 *
 * @module
 */

/** Options of {@linkcode RedisServer.start}. */
export interface RedisServerOptions {
  /** Turn the append-only file on. @default {false} */
  appendonly?: boolean;
  /** `appendfsync` when `appendonly` is on. @default {"always"} */
  appendfsync?: "always" | "everysec" | "no";
  /** Password of the `default` user. @default {no password} */
  requirepass?: string;
  /** Further `redis-server` arguments, e.g. `["--maxmemory-policy", "allkeys-lru"]`. @default {[]} */
  args?: string[];
  /** Port to listen on. @default {a free port} */
  port?: number;
  /**
   * Run as a one-node Redis Cluster owning all 16384 slots (announcing
   * 127.0.0.1), so that cross-slot mistakes fail as they would in production.
   * @default {false}
   */
  cluster?: boolean;
  /** Data directory. @default {a new temporary directory, removed by dispose} */
  dir?: string;
  /** How long to wait for the server to answer `PING`, in ms. @default {10000} */
  readyTimeoutMs?: number;
}

/** A running (or stopped) test-owned Redis server. */
export class RedisServer {
  /** Always the loopback address. */
  readonly host = "127.0.0.1";
  /** The port, kept across restarts. */
  readonly port: number;
  /** The data directory (AOF, RDB, `redis.log`), kept across restarts. */
  readonly dir: string;
  #args: string[];
  #password: string | undefined;
  #readyTimeoutMs: number;
  #ownsDir: boolean;
  #cluster: boolean;
  #child: Deno.ChildProcess | undefined;

  private constructor(port: number, dir: string, ownsDir: boolean, options: RedisServerOptions) {
    this.port = port;
    this.dir = dir;
    this.#ownsDir = ownsDir;
    this.#cluster = options.cluster ?? false;
    this.#password = options.requirepass;
    this.#readyTimeoutMs = options.readyTimeoutMs ?? 10_000;
    this.#args = [
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
      "--daemonize",
      "no",
      "--appendonly",
      options.appendonly ? "yes" : "no",
      ...(options.appendonly ? ["--appendfsync", options.appendfsync ?? "always"] : []),
      ...(options.requirepass === undefined ? [] : ["--requirepass", options.requirepass]),
      ...(options.cluster
        ? [
          "--cluster-enabled",
          "yes",
          "--cluster-config-file",
          "nodes.conf",
          "--cluster-announce-ip",
          "127.0.0.1",
        ]
        : []),
      ...(options.args ?? []),
    ];
  }

  /**
   * Starts a server and waits until it answers `PING`.
   *
   * @param options Configuration.
   * @returns The running server.
   * @throws {Error} When it does not become ready in time (the log is quoted).
   */
  static async start(options: RedisServerOptions = {}): Promise<RedisServer> {
    const dir = options.dir ?? await Deno.makeTempDir({ prefix: "oao-redis-" });
    const server = new RedisServer(options.port ?? freePort(), dir, !options.dir, options);
    await server.#spawn();
    if (server.#cluster) {
      await server.command("CLUSTER", "ADDSLOTSRANGE", "0", "16383");
      await server.#until(async () =>
        (await server.command("CLUSTER", "INFO")).includes("cluster_state:ok")
      );
    }
    return server;
  }

  /** True while the process runs. */
  get running(): boolean {
    return this.#child !== undefined;
  }

  /**
   * A URL for this server.
   *
   * @param options Credentials and database index to put in the URL.
   * @returns `redis://[user][:password@]127.0.0.1:<port>[/db]`.
   */
  url(options: { username?: string; password?: string; db?: number } = {}): string {
    const user = options.username ? encodeURIComponent(options.username) : "";
    const auth = options.password !== undefined
      ? `${user}:${encodeURIComponent(options.password)}@`
      : user
      ? `${user}@`
      : "";
    const db = options.db === undefined ? "" : `/${options.db}`;
    return `redis://${auth}${this.host}:${this.port}${db}`;
  }

  /**
   * Kills the server with `SIGKILL` (no AOF rewrite, no shutdown save).
   *
   * @returns Once the process has exited.
   */
  async kill(): Promise<void> {
    await this.#terminate("SIGKILL");
  }

  /**
   * Stops the server with `SIGTERM` (a clean shutdown).
   *
   * @returns Once the process has exited.
   */
  async stop(): Promise<void> {
    await this.#terminate("SIGTERM");
  }

  /**
   * Starts the server again on the same port and directory (kills it first
   * if it still runs).
   *
   * @returns Once it answers `PING` (after loading its AOF).
   */
  async restart(): Promise<void> {
    if (this.#child) await this.kill();
    await this.#spawn();
  }

  /**
   * Stops the server and removes a directory it created.
   *
   * @returns Once done.
   */
  async dispose(): Promise<void> {
    await this.stop();
    if (this.#ownsDir) await Deno.remove(this.dir, { recursive: true }).catch(() => {});
  }

  /** Same as {@linkcode RedisServer.dispose}. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.dispose();
  }

  /**
   * Sends one command over a fresh connection (authenticated when a password
   * is set) and returns the raw RESP reply, e.g. `"+OK\r\n"`.
   *
   * @param args The command and its arguments.
   * @returns The raw reply text.
   */
  async command(...args: string[]): Promise<string> {
    const conn = await Deno.connect({ hostname: this.host, port: this.port });
    try {
      const auth = this.#password === undefined ? "" : encodeCommand("AUTH", this.#password);
      await conn.write(new TextEncoder().encode(auth + encodeCommand(...args)));
      return await readReplies(conn, this.#password === undefined ? 1 : 2);
    } finally {
      conn.close();
    }
  }

  /**
   * Reads the server log (`redis.log` in the directory).
   *
   * @returns The log text, or "" when absent.
   */
  async log(): Promise<string> {
    return await Deno.readTextFile(`${this.dir}/redis.log`).catch(() => "");
  }

  async #terminate(signal: Deno.Signal): Promise<void> {
    const child = this.#child;
    if (!child) return;
    this.#child = undefined;
    try {
      child.kill(signal);
    } catch {
      // already exited
    }
    await child.status;
  }

  async #spawn(): Promise<void> {
    const child = new Deno.Command("redis-server", {
      args: this.#args,
      stdin: "null",
      stdout: "null",
      stderr: "null",
    }).spawn();
    this.#child = child;
    let exited = false;
    child.status.then(() => exited = true);
    try {
      await this.#until(async () => {
        if (exited) throw new Error("it exited");
        return (await this.command("PING").catch(() => "")).includes("+PONG");
      });
    } catch (error) {
      await this.#terminate("SIGKILL");
      throw new Error(
        `redis-server on port ${this.port} did not become ready (${
          (error as Error).message
        }):\n${await this.log()}`,
      );
    }
  }

  async #until(condition: () => Promise<boolean>): Promise<void> {
    const deadline = Date.now() + this.#readyTimeoutMs;
    while (!(await condition())) {
      if (Date.now() > deadline) throw new Error(`timed out after ${this.#readyTimeoutMs} ms`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }
}

/**
 * A TCP port that was free a moment ago.
 *
 * @returns The port number.
 */
export function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr as Deno.NetAddr;
  listener.close();
  return port;
}

function encodeCommand(...args: string[]): string {
  const encoder = new TextEncoder();
  return `*${args.length}\r\n${
    args.map((a) => `$${encoder.encode(a).length}\r\n${a}\r\n`).join("")
  }`;
}

/** Reads until `count` complete top-level replies (simple, error, integer or bulk) arrived. */
async function readReplies(conn: Deno.Conn, count: number): Promise<string> {
  const buffer = new Uint8Array(64 * 1024);
  let text = "";
  while (completeReplies(text) < count) {
    const n = await conn.read(buffer);
    if (n === null) break;
    text += new TextDecoder().decode(buffer.subarray(0, n));
  }
  return text;
}

function completeReplies(text: string): number {
  let at = 0;
  let replies = 0;
  while (at < text.length) {
    const end = text.indexOf("\r\n", at);
    if (end < 0) break;
    if (text[at] === "$") {
      const size = Number(text.slice(at + 1, end));
      const next = size < 0 ? end + 2 : end + 2 + size + 2;
      if (next > text.length) break;
      at = next;
    } else {
      at = end + 2;
    }
    replies++;
  }
  return replies;
}
