/**
 * The TCP front of the API server: it bounds how long a client may take to
 * send each request and how many connections are open at once.
 *
 * `Deno.serve` has no header-read timeout (denoland/deno#3515): a client
 * that opens a connection and sends its headers one byte every few seconds
 * (slowloris) holds that connection for ever, and a few hundred of them
 * hold the server's sockets. No maintained library fills the gap for Deno's
 * server, so the front is written here: it accepts each connection, pipes
 * its bytes both ways to the HTTP server on a loopback port, and follows
 * the client's requests as they pass (`_request_framing.ts`: where each
 * head and body ends) to give each part a deadline:
 *
 * - a request's head: `headersTimeoutMs`, from the connection's opening for
 *   the first request (a client that connects and sends nothing), from its
 *   first byte for the next ones of a kept-alive connection;
 * - a request's body: `bodyTimeoutMs` from the end of its head (the API's
 *   own body timeout answers 408 before, for the bodies it reads);
 * - between requests, once the server's answer began: `idleTimeoutMs` of
 *   silence both ways (a live event stream sends a comment every 15 s).
 *   While the server has not begun to answer, five minutes: a slow handler
 *   is not cut (with pipelined requests, the answer to the first starts the
 *   idle time of the next: a pipelining client whose later request takes
 *   longer than `idleTimeoutMs` is cut);
 * - bytes it cannot frame as HTTP/1.1 (the HTTP/2 preface, a malformed
 *   chunk): `bodyTimeoutMs`, once, never extended.
 *
 * A request head longer than {@linkcode MAX_SERVED_HEAD_BYTES} is not piped
 * on: the first request of a connection gets a 431 naming the limit (the
 * server would answer a bare 400), a later one a closed connection (an
 * answer may still be on its way). A connection past a deadline is closed; a late first head gets a 408
 * first (later ones are closed without one: an answer may still be on its
 * way, and a 408 would cut into it). Connections beyond `maxConnections`
 * get a 503. Each connection holds three descriptors (the client's, the
 * loopback connection and the server's end of it): keep `maxConnections`
 * under a third of the process's descriptor limit (`ulimit -n`).
 *
 * Its cost, measured with `bench/http_bench.ts --baseline no-front` on 2
 * cores: one copy of each byte and about 20 µs of CPU per request (a status
 * `GET` at 18,300 requests/s against 28,600 without the front). A Web
 * Worker of its own did not help there (both cores are busy either way);
 * a Unix socket instead of the loopback port neither.
 *
 * @module
 */
import { RequestFraming } from "./_request_framing.ts";

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
  /** How long a request's body may take to arrive, from the end of its head. */
  bodyTimeoutMs: number;
  /** How long a kept-alive connection may stay silent after an answer began. */
  idleTimeoutMs: number;
  /** Connections open at once; beyond, a connection gets 503 and is closed. */
  maxConnections: number;
}

/** Size of each direction's read buffer: one per direction per connection. */
const CHUNK_BYTES = 16 * 1024;
/** How long a request may wait for the first byte of its answer. */
const ANSWER_TIMEOUT_MS = 5 * 60_000;
/**
 * Longest request head piped to the server: under the server's own limit
 * (Deno answers a head of 64 KiB with a bare 400).
 */
export const MAX_SERVED_HEAD_BYTES = 60 * 1024;
/** How long a refusal (408, 431) may take to be written before the connection is closed anyway. */
const REFUSAL_WRITE_MS = 1_000;

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
        // A connection that failed while being accepted (reset, out of
        // descriptors): try again a little later, not in a busy loop.
        await new Promise((resolve) => setTimeout(resolve, 50));
        continue;
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
  readonly #framing = new RequestFraming();
  #server: Deno.TcpConn | undefined;
  /** Where the client was when the deadline was last set (see #follow). */
  #part = 0;
  /** When (performance.now()) the connection is closed unless it moves on. */
  #deadline: number;
  /** The deadline is a head's. */
  #headDeadline = true;
  /** The server has written to the client since the last request ended. */
  #answering = false;
  /** The server has written to the client at all. */
  #answeredOnce = false;
  #closed = false;

  constructor(client: Deno.TcpConn, options: ConnectionGuardOptions) {
    this.#client = client;
    this.#options = options;
    this.#deadline = performance.now() + options.headersTimeoutMs; // the first head, from now
    this.done = this.#run();
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    _closeQuietly(this.#client);
    if (this.#server) _closeQuietly(this.#server);
  }

  /**
   * Closes the connection when its deadline has passed; a late first head
   * gets a 408 first. One timer of the guard calls it for every connection,
   * which costs less than a timer set and cleared for each chunk.
   *
   * @param now `performance.now()`.
   */
  sweep(now: number): void {
    if (this.#closed || now < this.#deadline) return;
    this.#deadline = Infinity;
    if (this.#headDeadline && this.#firstUnanswered()) {
      const ms = this.#options.headersTimeoutMs;
      this.#refuse(408, "header_timeout", `The request's headers did not arrive within ${ms} ms`);
    } else {
      this.close();
    }
  }

  /** Nothing was answered on the connection yet and no request is whole. */
  #firstUnanswered(): boolean {
    return !this.#answeredOnce && this.#framing.requests === 0;
  }

  /** Answers the client with an error and closes the connection. */
  #refuse(status: 408 | 431, code: string, message: string): void {
    this.#deadline = Infinity;
    const closing = setTimeout(() => this.close(), REFUSAL_WRITE_MS);
    // A 431 comes while the client still sends its head: what it sends is
    // read and dropped until it has read the answer (closing with unread
    // bytes would reset the connection, and the answer with it).
    _refuse(this.#client, status, code, message, status === 431).finally(() => {
      clearTimeout(closing);
      this.close();
    });
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

  /** Client → server: follows the requests. */
  async #upstream(server: Deno.TcpConn): Promise<void> {
    const buffer = new Uint8Array(CHUNK_BYTES);
    for (;;) {
      const n = await this.#client.read(buffer);
      if (n === null) {
        await server.closeWrite().catch(() => {});
        return;
      }
      const chunk = buffer.subarray(0, n);
      const framing = this.#framing;
      const before = framing.requests;
      framing.consume(chunk);
      if (framing.requests !== before) this.#answering = false;
      if (framing.longestHead > MAX_SERVED_HEAD_BYTES) {
        // The long head may have ended in this chunk: was it the first request?
        if (before > 0 || this.#answeredOnce) return this.close();
        return this.#refuse(
          431,
          "header_too_large",
          `The request's head is longer than ${MAX_SERVED_HEAD_BYTES} bytes (its headers and request line together); send large values in the body`,
        );
      }
      this.#follow();
      await _writeAll(server, chunk);
    }
  }

  /** Server → client: notes that an answer is on its way. */
  async #downstream(server: Deno.TcpConn): Promise<void> {
    const buffer = new Uint8Array(CHUNK_BYTES);
    for (;;) {
      const n = await server.read(buffer);
      if (n === null) return this.close();
      this.#answeredOnce = true;
      this.#answering = true;
      if (this.#between()) this.#arm(this.#options.idleTimeoutMs, false);
      await _writeAll(this.#client, buffer.subarray(0, n));
    }
  }

  #between(): boolean {
    const framing = this.#framing;
    return framing.phase === "head" && framing.headBytes === 0;
  }

  /** Sets the deadline of the part of a request the client is in, when it changed. */
  #follow(): void {
    const framing = this.#framing;
    // 0: between requests; 1: in a head; 2: in a body; 3: unframed — for each request.
    const part = framing.requests * 4 +
      (framing.phase === "head"
        ? (framing.headBytes > 0 ? 1 : 0)
        : framing.phase === "body"
        ? 2
        : 3);
    if (part === this.#part) return;
    const first = this.#part === 0 && part === 1; // the first head: timed from the opening
    this.#part = part;
    if (first) return;
    if (part % 4 === 1) {
      this.#arm(this.#options.headersTimeoutMs, true);
    } else if (part % 4 !== 0) {
      this.#arm(this.#options.bodyTimeoutMs, false);
    } else if (this.#answering) {
      this.#arm(this.#options.idleTimeoutMs, false);
    } else {
      // Waiting for the server's answer: the API's handlers answer well within
      // this (a live stream answers at once); it only bounds a stuck one.
      this.#arm(ANSWER_TIMEOUT_MS, false);
    }
  }

  #arm(ms: number, head: boolean): void {
    this.#deadline = performance.now() + ms;
    this.#headDeadline = head;
  }
}

const REASONS: Record<number, string> = {
  408: "Request Timeout",
  431: "Request Header Fields Too Large",
  503: "Service Unavailable",
};

/** Writes an error answer to a connection (`drain`: then reads until the client closes) and closes it. */
async function _refuse(
  conn: Deno.Conn,
  status: number,
  code: string,
  message: string,
  drain = false,
): Promise<void> {
  const encoder = new TextEncoder();
  const body = encoder.encode(JSON.stringify({ error: { code, message } }));
  const reason = REASONS[status] ?? "Error";
  const head = encoder.encode(
    `HTTP/1.1 ${status} ${reason}\r\ncontent-type: application/json; charset=utf-8\r\n` +
      `content-length: ${body.length}\r\nconnection: close\r\n` +
      (status === 503 ? "retry-after: 1\r\n" : "") + "\r\n",
  );
  try {
    await _writeAll(conn, head);
    await _writeAll(conn, body);
    if (drain) {
      await conn.closeWrite();
      const sink = new Uint8Array(CHUNK_BYTES);
      while (await conn.read(sink) !== null) {
        // dropped; the caller's timer bounds how long
      }
    }
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
