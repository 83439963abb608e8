/**
 * Where requests begin and end in the bytes a client sends on one HTTP/1.1
 * connection, without touching them: the TCP front of the API server
 * (`_connection_guard.ts`) needs it to give each request's head and body a
 * deadline of its own on kept-alive connections.
 *
 * It reads just enough of HTTP/1.1 (RFC 9112) for that: the head ends at an
 * empty line (CRLF or a bare LF, as the server accepts); the body is
 * `Content-Length` bytes, or chunks up to the last one and its trailers when
 * `Transfer-Encoding` ends in `chunked`, or nothing. What it cannot frame (a
 * head over {@linkcode MAX_HEAD_BYTES}, a malformed length, an unknown
 * transfer coding, a bad chunk size) puts it in the `unframed` phase for
 * good: the server answers such a request with an error and closes the
 * connection, and the front gives it the body's deadline.
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

/** Longest request head it reads (the server's own limit is lower). */
export const MAX_HEAD_BYTES = 64 * 1024;

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
  | { kind: "chunk-size"; size: number; digits: number; ext: boolean }
  | { kind: "chunk-data"; left: number }
  | { kind: "chunk-end" }
  | { kind: "trailers" };

/** The request framing of one connection. */
export class RequestFraming {
  /** Where the client is. */
  phase: FramingPhase = "head";
  /** Bytes of the current head so far (0 between requests). */
  headBytes = 0;
  /** Requests received whole. */
  requests = 0;
  #head: Uint8Array[] = [];
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
    for (let i = from; i < chunk.length; i++) {
      const byte = chunk[i];
      if (this.headBytes === 0) {
        if (byte === CR || byte === LF) continue; // empty lines before a request
        from = i; // the head starts here
      }
      this.headBytes++;
      if (byte === LF && this.#lineEnd !== 0) {
        this.#endHead(chunk.subarray(from, i + 1));
        return i + 1;
      }
      this.#lineEnd = byte === LF ? 1 : byte === CR && this.#lineEnd === 1 ? 2 : 0;
      if (this.headBytes > MAX_HEAD_BYTES) {
        this.phase = "unframed";
        return chunk.length;
      }
    }
    if (this.headBytes > 0) this.#head.push(chunk.slice(from));
    return chunk.length;
  }

  /** The head is whole: its last part is `tail` (earlier ones were kept). */
  #endHead(tail: Uint8Array): void {
    let text: string;
    if (this.#head.length === 0) {
      text = LATIN1.decode(tail); // the usual case: a head in one read
    } else {
      text = this.#head.map((part) => LATIN1.decode(part)).join("") + LATIN1.decode(tail);
      this.#head = [];
    }
    this.#lineEnd = 0;
    this.headBytes = 0;
    const body = _bodyOf(text);
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
          else this.#body = { kind: "chunk-end" };
        }
        return from + taken;
      }
      case "chunk-size":
        return this.#readChunkSize(body, chunk, from);
      case "chunk-end": {
        const byte = chunk[from];
        if (byte === LF) this.#body = { kind: "chunk-size", size: 0, digits: 0, ext: false };
        else if (byte !== CR) this.phase = "unframed";
        return from + 1;
      }
      case "trailers": {
        // Trailer lines, then an empty line: the end of a head, in effect.
        for (let i = from; i < chunk.length; i++) {
          const byte = chunk[i];
          if (byte === LF && this.#lineEnd !== 0) {
            this.#lineEnd = 0;
            this.#endBody();
            return i + 1;
          }
          this.#lineEnd = byte === LF ? 1 : byte === CR && this.#lineEnd === 1 ? 2 : 0;
        }
        return chunk.length;
      }
    }
  }

  #readChunkSize(
    body: { kind: "chunk-size"; size: number; digits: number; ext: boolean },
    chunk: Uint8Array,
    from: number,
  ): number {
    for (let i = from; i < chunk.length; i++) {
      const byte = chunk[i]!;
      if (byte === LF) {
        if (body.digits === 0) {
          this.phase = "unframed";
          return chunk.length;
        }
        if (body.size === 0) {
          this.#lineEnd = 1; // the last chunk's line ended: an empty line now ends the trailers
          this.#body = { kind: "trailers" };
        } else {
          this.#body = { kind: "chunk-data", left: body.size };
        }
        return i + 1;
      }
      if (body.ext || byte === CR) continue;
      if (byte === 0x3b /* ; */ || byte === 0x20 || byte === 0x09) {
        body.ext = true;
        continue;
      }
      const digit = _hex(byte);
      if (digit < 0 || body.digits >= 12) {
        this.phase = "unframed";
        return chunk.length;
      }
      body.size = body.size * 16 + digit;
      body.digits++;
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
    return last === "chunked" ? { kind: "chunk-size", size: 0, digits: 0, ext: false } : "invalid";
  }
  if (length === undefined) return undefined;
  if (!/^\d{1,15}$/.test(length)) return "invalid";
  const bytes = Number(length);
  return bytes === 0 ? undefined : { kind: "length", left: bytes };
}

function _hex(byte: number): number {
  if (byte >= 0x30 && byte <= 0x39) return byte - 0x30;
  if (byte >= 0x41 && byte <= 0x46) return byte - 0x37;
  if (byte >= 0x61 && byte <= 0x66) return byte - 0x57;
  return -1;
}
