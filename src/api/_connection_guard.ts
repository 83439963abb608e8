/**
 * The TCP front of the API server: it bounds how long a client may take to
 * send a request's head and how many connections are open at once.
 *
 * `Deno.serve` has no header-read timeout (denoland/deno#3515): a client
 * that opens a connection and sends its headers one byte every few seconds
 * (slowloris) holds that connection for ever, and a few hundred of them
 * hold the server's sockets. No maintained library fills the gap for Deno's
 * server, so the front is written here: it accepts each connection, pipes
 * its bytes both ways to the HTTP server on a loopback port, and reads the
 * client's bytes as they pass only to find where a request's head ends (the
 * blank line). A head that does not arrive in time gets a 408 and the
 * connection is closed:
 *
 * - the first head of a connection from the moment it is accepted (a
 *   client that connects and sends nothing);
 * - each later head of a kept-alive connection from its first byte, which
 *   is the first byte the client sends after the server began to answer.
 *
 * The front also closes a kept-alive connection on which nothing has
 * moved, either way, for `idleTimeoutMs` after an answer began (a live
 * event stream sends a keep-alive comment well within it), and answers 503
 * to connections beyond `maxConnections`.
 *
 * Its cost, measured with `bench/http_bench.ts --baseline no-front` on 2
 * cores: one copy of each byte and about 18 µs of CPU per request (a status
 * `GET` at 18,500 requests/s against 27,600 without the front). A Web
 * Worker of its own did not help there (both cores are busy either way);
 * a Unix socket instead of the loopback port neither.
 *
 * @module
 */

/** Options of {@linkcode ConnectionGuard}. */
export interface ConnectionGuardOptions {
  /** Interface to listen on. */
  hostname: string;
  /** TCP port; `0` picks a free one. */
  port: number;
  /** Port of the HTTP server on 127.0.0.1 the connections are piped to. */
  targetPort: number;
  /** How long a request's head may take to arrive. */
  headersTimeoutMs: number;
  /** How long a kept-alive connection may stay silent after an answer began. */
  idleTimeoutMs: number;
  /** Connections open at once; beyond, a connection gets 503 and is closed. */
  maxConnections: number;
}

/** Size of each direction's read buffer: one per direction per connection. */
const CHUNK_BYTES = 16 * 1024;
const HEAD_END = [13, 10, 13, 10]; // \r\n\r\n

/** The listener and the connections it pipes. */
export class ConnectionGuard {
  readonly #options: ConnectionGuardOptions;
  readonly #listener: Deno.Listener<Deno.TcpConn, Deno.NetAddr>;
  readonly #open = new Set<_Piped>();
  readonly #accepting: Promise<void>;
  readonly #sweeper: ReturnType<typeof setInterval>;
  #closed = false;

  /**
   * Listens at once.
   *
   * @param options Address, target and limits.
   * @throws {Deno.errors.AddrInUse} When the port is taken.
   */
  constructor(options: ConnectionGuardOptions) {
    this.#options = options;
    this.#listener = Deno.listen({ hostname: options.hostname, port: options.port });
    this.#accepting = this.#accept();
    const tick = Math.min(
      Math.max(Math.min(options.headersTimeoutMs, options.idleTimeoutMs) / 10, 10),
      1_000,
    );
    this.#sweeper = setInterval(() => {
      const now = performance.now();
      for (const piped of this.#open) piped.sweep(now);
    }, tick);
  }

  /** The address the front listens on. */
  get addr(): Deno.NetAddr {
    return this.#listener.addr;
  }

  /** Connections open now. */
  get connections(): number {
    return this.#open.size;
  }

  /** Stops accepting connections; open ones go on until {@linkcode closeAll}. */
  async stopAccepting(): Promise<void> {
    if (!this.#closed) {
      this.#closed = true;
      this.#listener.close();
    }
    await this.#accepting;
  }

  /**
   * Lets open connections end by themselves (the server's last bytes still
   * on their way to the client) for up to `graceMs`, then closes the rest.
   *
   * @param graceMs How long to wait.
   */
  async closeAll(graceMs: number): Promise<void> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([
      Promise.all([...this.#open].map((piped) => piped.done)),
      new Promise((resolve) => timer = setTimeout(resolve, graceMs)),
    ]);
    clearTimeout(timer);
    for (const piped of this.#open) piped.close();
    clearInterval(this.#sweeper);
  }

  async #accept(): Promise<void> {
    for (;;) {
      let client: Deno.TcpConn;
      try {
        client = await this.#listener.accept();
      } catch (error) {
        if (this.#closed || error instanceof Deno.errors.BadResource) return;
        continue; // a connection that failed while being accepted (reset, out of descriptors)
      }
      if (this.#open.size >= this.#options.maxConnections) {
        _refuse(
          client,
          503,
          "too_many_connections",
          "The server holds as many connections as it may",
        );
        continue;
      }
      const piped = new _Piped(client, this.#options);
      this.#open.add(piped);
      piped.done.finally(() => this.#open.delete(piped));
    }
  }
}

/** One client connection piped to the server. */
class _Piped {
  readonly done: Promise<void>;
  readonly #client: Deno.TcpConn;
  readonly #options: ConnectionGuardOptions;
  #server: Deno.TcpConn | undefined;
  /** Bytes of the head's end matched so far (0–4), across reads. */
  #matched = 0;
  /** A head is being read (its deadline armed). */
  #inHead = true;
  /** The server began to answer since the last head ended. */
  #answered = false;
  /** When (performance.now()) the connection is closed unless it moves on; see {@linkcode sweep}. */
  #deadline = 0;
  /** The deadline is a head's (answered by 408), not an idle one. */
  #headDeadline = true;
  #closed = false;

  constructor(client: Deno.TcpConn, options: ConnectionGuardOptions) {
    this.#client = client;
    this.#options = options;
    this.#arm(options.headersTimeoutMs, true);
    this.done = this.#run();
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    _closeQuietly(this.#client);
    if (this.#server) _closeQuietly(this.#server);
  }

  async #run(): Promise<void> {
    try {
      this.#server = await Deno.connect({ hostname: "127.0.0.1", port: this.#options.targetPort });
      if (this.#closed) return _closeQuietly(this.#server);
      this.#server.setNoDelay(true);
      this.#client.setNoDelay(true);
      await Promise.all([this.#upstream(this.#server), this.#downstream(this.#server)]);
    } catch {
      // a reset or a closed socket ends the connection
    } finally {
      this.close();
    }
  }

  /** Client → server: finds where each head ends. */
  async #upstream(server: Deno.TcpConn): Promise<void> {
    const buffer = new Uint8Array(CHUNK_BYTES);
    for (;;) {
      const n = await this.#client.read(buffer);
      if (n === null) {
        await server.closeWrite().catch(() => {});
        return;
      }
      const chunk = buffer.subarray(0, n);
      if (!this.#inHead && this.#answered) { // the next request of a kept-alive connection
        this.#inHead = true;
        this.#answered = false;
        this.#matched = 0;
        this.#arm(this.#options.headersTimeoutMs, true);
      }
      if (this.#inHead && this.#endsHead(chunk)) {
        this.#inHead = false;
        this.#deadline = Infinity;
      } else if (!this.#inHead) {
        this.#arm(this.#options.idleTimeoutMs, false);
      }
      await _writeAll(server, chunk);
    }
  }

  /** Server → client: notes that an answer began. */
  async #downstream(server: Deno.TcpConn): Promise<void> {
    const buffer = new Uint8Array(CHUNK_BYTES);
    for (;;) {
      const n = await server.read(buffer);
      if (n === null) return this.close();
      if (!this.#inHead) {
        this.#answered = true;
        this.#arm(this.#options.idleTimeoutMs, false);
      }
      await _writeAll(this.#client, buffer.subarray(0, n));
    }
  }

  #endsHead(chunk: Uint8Array): boolean {
    for (let i = 0; i < chunk.length; i++) {
      const byte = chunk[i];
      if (byte === HEAD_END[this.#matched]) {
        if (++this.#matched === 4) return true;
      } else {
        this.#matched = byte === 13 ? 1 : 0;
      }
    }
    return false;
  }

  #arm(ms: number, head: boolean): void {
    this.#deadline = performance.now() + ms;
    this.#headDeadline = head;
  }

  /**
   * Closes the connection when its deadline has passed: a late head gets
   * 408 first. One timer of the guard calls it for every connection, which
   * costs less than a timer set and cleared for each chunk.
   *
   * @param now `performance.now()`.
   */
  sweep(now: number): void {
    if (this.#closed || now < this.#deadline) return;
    this.#deadline = Infinity;
    if (this.#headDeadline && !this.#answered) {
      const ms = this.#options.headersTimeoutMs;
      _refuse(
        this.#client,
        408,
        "header_timeout",
        `The request's headers did not arrive within ${ms} ms`,
      )
        .finally(() => this.close());
    } else {
      this.close();
    }
  }
}

/** Writes an error answer to a connection and closes it. */
async function _refuse(
  conn: Deno.Conn,
  status: number,
  code: string,
  message: string,
): Promise<void> {
  const body = JSON.stringify({ error: { code, message } });
  const reason = status === 408 ? "Request Timeout" : "Service Unavailable";
  const head = `HTTP/1.1 ${status} ${reason}\r\ncontent-type: application/json; charset=utf-8\r\n` +
    `content-length: ${new TextEncoder().encode(body).length}\r\nconnection: close\r\n` +
    (status === 503 ? "retry-after: 1\r\n" : "") + "\r\n";
  try {
    await _writeAll(conn, new TextEncoder().encode(head + body));
  } catch {
    // the client is gone
  } finally {
    _closeQuietly(conn);
  }
}

async function _writeAll(conn: Deno.Conn, bytes: Uint8Array): Promise<void> {
  let written = 0;
  while (written < bytes.length) written += await conn.write(bytes.subarray(written));
}

function _closeQuietly(conn: Deno.Conn): void {
  try {
    conn.close();
  } catch {
    // already closed
  }
}
