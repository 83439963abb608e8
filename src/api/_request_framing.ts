/**
 * Where requests begin and end in the bytes a client sends on one HTTP/1.1
 * connection, without touching them: the TCP front of the API server
 * (`_connection_guard.ts`) needs it to give each request's head and body a
 * deadline of its own on kept-alive connections.
 *
 * It reads just enough of HTTP/1.1 (RFC 9112) for that: the head starts with
 * a request line `<method> <target> HTTP/1.<digit>` and ends at an empty
 * line (CRLF or a bare LF, as the server accepts); the body is
 * `Content-Length` bytes, or chunks up to the last one and its trailers when
 * `Transfer-Encoding` ends in `chunked` (with CRLF line ends only, as the
 * server requires there), or nothing. What it cannot frame — another
 * protocol (the HTTP/2 preface), a head over {@linkcode MAX_HEAD_BYTES}, a
 * malformed length, an unknown transfer coding, a malformed chunk — puts it
 * in the `unframed` phase for good: where the server could see the bytes
 * differently, the front must not believe a request ended, so it gives the
 * connection one deadline that nothing extends.
 *
 * @example
 * ```ts
 * import { RequestFraming } from "./_request_framing.ts";
 *
 * const framing = new RequestFraming();
 * const bytes = new TextEncoder().encode("POST / HTTP/1.1\r\nContent-Length: 2\r\n\r\n{}GET /");
 * framing.consume(bytes);
 * console.assert(framing.phase === "head" && framing.requests === 1 && framing.headBytes === 5);
 * ```
 *
 * @module
 */

/** Longest request head it reads (above the server's own limit, about 64 KiB). */
export const MAX_HEAD_BYTES = 96 * 1024;

/**
 * Where the client is in its request stream:
 *
 * - `head`: between requests (`headBytes` 0) or in a request's head;
 * - `body`: in a request's body;
 * - `unframed`: after something it cannot frame (see the module).
 */
export type FramingPhase = "head" | "body" | "unframed";

const LF = 10;
const CR = 13;

type _Body =
  | { kind: "length"; left: number }
  | _ChunkSize
  | { kind: "chunk-data"; left: number }
  | { kind: "chunk-end"; cr: boolean }
  | { kind: "trailers"; lineStart: boolean; cr: boolean };

interface _ChunkSize {
  kind: "chunk-size";
  size: number;
  /** Digits read, and those after leading zeros (at most 12: 256 TiB). */
  digits: number;
  significant: number;
  ext: boolean;
  cr: boolean;
}

const CHUNK_SIZE = (): _ChunkSize => ({
  kind: "chunk-size",
  size: 0,
  digits: 0,
  significant: 0,
  ext: false,
  cr: false,
});

/** The request framing of one connection. */
export class RequestFraming {
  /** Where the client is. */
  phase: FramingPhase = "head";
  /** Bytes of the current head so far (0 between requests). */
  headBytes = 0;
  /** Requests received whole. */
  requests = 0;
  /** Bytes of the longest head so far, whole or in progress. */
  longestHead = 0;
  /** The head's bytes when it spans reads (one buffer, grown by doubling). */
  #head = new Uint8Array(0);

  /** Bytes held for a head that spans reads: at most twice its size, or 1 KiB. */
  get heldBytes(): number {
    return this.#head.length;
  }
  /** 0: in a line; 1: just after a LF; 2: after a LF and a CR. */
  #lineEnd = 0;
  #body: _Body | undefined;

  /**
   * Reads the next bytes of the client's stream.
   *
   * @param chunk The bytes, in order; not kept (the head's are copied).
   */
  consume(chunk: Uint8Array): void {
    let at = 0;
    while (at < chunk.length && this.phase !== "unframed") {
      at = this.phase === "head" ? this.#readHead(chunk, at) : this.#readBody(chunk, at);
    }
  }

  #readHead(chunk: Uint8Array, from: number): number {
    const start = this.headBytes;
    for (let i = from; i < chunk.length; i++) {
      const byte = chunk[i];
      if (this.headBytes === 0) {
        if (byte === CR || byte === LF) continue; // empty lines before a request
        from = i; // the head starts here
      }
      this.headBytes++;
      if (byte === LF && this.#lineEnd !== 0) {
        this.#endHead(chunk.subarray(from, i + 1), start);
        return i + 1;
      }
      this.#lineEnd = byte === LF ? 1 : byte === CR && this.#lineEnd === 1 ? 2 : 0;
      if (this.headBytes > MAX_HEAD_BYTES) {
        this.phase = "unframed";
        this.longestHead = this.headBytes;
        return chunk.length;
      }
    }
    if (this.headBytes > start) this.#keep(chunk.subarray(from), start);
    if (this.headBytes > this.longestHead) this.longestHead = this.headBytes;
    return chunk.length;
  }

  /** Copies head bytes that span reads after the `at` kept so far. */
  #keep(bytes: Uint8Array, at: number): void {
    if (this.#head.length < at + bytes.length) {
      const grown = new Uint8Array(Math.max(1024, 2 * (at + bytes.length)));
      grown.set(this.#head.subarray(0, at));
      this.#head = grown;
    }
    this.#head.set(bytes, at);
  }

  /** The head is whole: its last part is `tail`, after the `kept` bytes of earlier reads. */
  #endHead(tail: Uint8Array, kept: number): void {
    let text: string;
    if (kept === 0) {
      text = LATIN1.decode(tail); // the usual case: a head in one read
    } else {
      this.#keep(tail, kept);
      text = LATIN1.decode(this.#head.subarray(0, kept + tail.length));
      if (this.#head.length > 4096) this.#head = new Uint8Array(0);
    }
    this.#lineEnd = 0;
    if (this.headBytes > this.longestHead) this.longestHead = this.headBytes;
    this.headBytes = 0;
    const body = REQUEST_LINE.test(text) ? _bodyOf(text) : "invalid";
    if (body === "invalid") {
      this.phase = "unframed";
    } else if (body === undefined) {
      this.requests++;
    } else {
      this.#body = body;
      this.phase = "body";
    }
  }

  #readBody(chunk: Uint8Array, from: number): number {
    const body = this.#body!;
    switch (body.kind) {
      case "length":
      case "chunk-data": {
        const taken = Math.min(body.left, chunk.length - from);
        body.left -= taken;
        if (body.left === 0) {
          if (body.kind === "length") this.#endBody();
          else this.#body = { kind: "chunk-end", cr: false };
        }
        return from + taken;
      }
      case "chunk-size":
        return this.#readChunkSize(body, chunk, from);
      case "chunk-end": { // exactly CRLF after a chunk's data
        const byte = chunk[from];
        if (!body.cr && byte === CR) body.cr = true;
        else if (body.cr && byte === LF) this.#body = CHUNK_SIZE();
        else this.phase = "unframed";
        return from + 1;
      }
      case "trailers": {
        // Trailer lines, each ending in CRLF, then an empty line.
        for (let i = from; i < chunk.length; i++) {
          const byte = chunk[i];
          if (body.cr) {
            if (byte !== LF) {
              this.phase = "unframed";
              return chunk.length;
            }
            if (body.lineStart) {
              this.#endBody();
              return i + 1;
            }
            body.cr = false;
            body.lineStart = true;
          } else if (byte === CR) {
            body.cr = true;
          } else if (byte === LF) {
            this.phase = "unframed";
            return chunk.length;
          } else {
            body.lineStart = false;
          }
        }
        return chunk.length;
      }
    }
  }

  #readChunkSize(body: _ChunkSize, chunk: Uint8Array, from: number): number {
    for (let i = from; i < chunk.length; i++) {
      const byte = chunk[i]!;
      if (body.cr) { // the line ends in CRLF, nothing else
        if (byte !== LF || body.digits === 0) {
          this.phase = "unframed";
          return chunk.length;
        }
        this.#body = body.size === 0
          ? { kind: "trailers", lineStart: true, cr: false }
          : { kind: "chunk-data", left: body.size };
        return i + 1;
      }
      if (byte === CR) {
        body.cr = true;
        continue;
      }
      if (body.ext) {
        if (byte === LF) {
          this.phase = "unframed";
          return chunk.length;
        }
        continue;
      }
      if (byte === 0x3b /* ; */ || byte === 0x20 || byte === 0x09) {
        body.ext = true;
        continue;
      }
      const digit = _hex(byte);
      if (digit < 0) {
        this.phase = "unframed";
        return chunk.length;
      }
      body.digits++;
      if (body.significant > 0 || digit > 0) body.significant++;
      if (body.significant > 12) {
        this.phase = "unframed";
        return chunk.length;
      }
      body.size = body.size * 16 + digit;
    }
    return chunk.length;
  }

  #endBody(): void {
    this.#body = undefined;
    this.phase = "head";
    this.requests++;
  }
}

const LATIN1 = new TextDecoder("latin1");
/** `<method> <target> HTTP/1.<digit>`: anything else (the HTTP/2 preface) is not framed here. */
const REQUEST_LINE = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+ [^ \r\n]+ HTTP\/1\.\d\r?\n/;
const FRAMING_FIELD = /\n[ \t]*(content-length|transfer-encoding)[ \t]*:[ \t]*([^\r\n]*)/gi;

/** The body a head announces: none, its framing, or `"invalid"`. */
function _bodyOf(head: string): _Body | undefined | "invalid" {
  let length: string | undefined;
  let coding: string | undefined;
  for (const [, name, raw] of head.matchAll(FRAMING_FIELD)) {
    const value = raw!.trim();
    if (name!.length === 14) { // content-length
      if (length !== undefined && length !== value) return "invalid";
      length = value;
    } else {
      coding = coding === undefined ? value : `${coding}, ${value}`;
    }
  }
  if (coding !== undefined) {
    const last = coding.split(",").at(-1)!.trim().toLowerCase();
    return last === "chunked" ? CHUNK_SIZE() : "invalid";
  }
  if (length === undefined) return undefined;
  const digits = /^0*(\d{0,15})$/.exec(length)?.[1];
  if (digits === undefined || length === "") return "invalid";
  const bytes = Number(digits || "0");
  return bytes === 0 ? undefined : { kind: "length", left: bytes };
}

function _hex(byte: number): number {
  if (byte >= 0x30 && byte <= 0x39) return byte - 0x30;
  if (byte >= 0x41 && byte <= 0x46) return byte - 0x37;
  if (byte >= 0x61 && byte <= 0x66) return byte - 0x57;
  return -1;
}
