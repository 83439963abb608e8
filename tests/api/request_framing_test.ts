// RequestFraming (src/api/_request_framing.ts): where requests begin and end
// in a client's bytes, however the bytes are split into chunks.
import assert from "node:assert/strict";
import { MAX_HEAD_BYTES, RequestFraming } from "../../src/api/_request_framing.ts";

const encoder = new TextEncoder();

/** Feeds `text` whole, byte by byte and in 3-byte pieces: each way ends alike. */
function frame(text: string): { phase: string; requests: number; headBytes: number } {
  const bytes = encoder.encode(text);
  const results = [[bytes], [...bytes].map((b) => Uint8Array.of(b)), _pieces(bytes, 3)].map(
    (chunks) => {
      const framing = new RequestFraming();
      for (const chunk of chunks) framing.consume(chunk);
      return { phase: framing.phase, requests: framing.requests, headBytes: framing.headBytes };
    },
  );
  assert.deepEqual(results[1], results[0], "byte by byte");
  assert.deepEqual(results[2], results[0], "in pieces");
  return results[0]!;
}

function _pieces(bytes: Uint8Array, size: number): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let i = 0; i < bytes.length; i += size) out.push(bytes.slice(i, i + size));
  return out;
}

Deno.test("heads end at an empty line, with CRLF or bare LF; empty lines before a request are skipped", () => {
  assert.deepEqual(frame("GET / HTTP/1.1\r\nHost: a\r\n\r\n"), {
    phase: "head",
    requests: 1,
    headBytes: 0,
  });
  assert.equal(frame("GET / HTTP/1.1\nHost: a\n\n").requests, 1);
  assert.equal(frame("\r\n\r\nGET / HTTP/1.1\r\n\r\n").requests, 1);
  assert.deepEqual(frame("GET / HTTP/1.1\r\nHost: a\r\n"), {
    phase: "head",
    requests: 0,
    headBytes: 25,
  });
  // A CR alone is no line end.
  assert.equal(frame("GET / HTTP/1.1\r\nX: \r\r\n").requests, 0);
});

Deno.test("a Content-Length body is counted, its bytes never taken for a head", () => {
  const body = "\r\n\r\n".repeat(5);
  assert.deepEqual(frame(`POST / HTTP/1.1\r\ncontent-length: ${body.length}\r\n\r\n${body}`), {
    phase: "head",
    requests: 1,
    headBytes: 0,
  });
  assert.deepEqual(frame("POST / HTTP/1.1\r\nContent-Length: 10\r\n\r\n12345"), {
    phase: "body",
    requests: 0,
    headBytes: 0,
  });
  assert.equal(frame("POST / HTTP/1.1\r\nContent-Length: 0\r\n\r\n").requests, 1);
});

Deno.test("chunked bodies: sizes in hex with extensions, data with CRLFs inside, trailers", () => {
  const chunked = "POST / HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n" +
    "A;name=value\r\n\r\n\r\n\r\n\r\n\r\n\r\n0\r\nX-Trailer: 1\r\n\r\n";
  assert.deepEqual(frame(chunked), { phase: "head", requests: 1, headBytes: 0 });
  assert.deepEqual(frame(chunked.slice(0, -2)), { phase: "body", requests: 0, headBytes: 0 });
  assert.equal(frame("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n").requests, 1);
});

Deno.test("pipelined requests in one chunk are each counted", () => {
  const one = "GET /a HTTP/1.1\r\nHost: a\r\n\r\n";
  const two = "POST /b HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc";
  assert.deepEqual(frame(one + two + one + "GET"), { phase: "head", requests: 3, headBytes: 3 });
});

Deno.test("what cannot be framed is unframed for good", () => {
  for (
    const bad of [
      "POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
      "POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n",
      "POST / HTTP/1.1\r\nContent-Length: 99999999999999999999\r\n\r\n",
      "POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n",
      "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
      "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n\r\n",
      "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n1\r\naXY",
      "GET / HTTP/1.1\r\nX: " + "a".repeat(MAX_HEAD_BYTES),
    ]
  ) {
    assert.equal(
      frame(bad + "GET / HTTP/1.1\r\n\r\n").phase,
      "unframed",
      JSON.stringify(bad.slice(0, 80)),
    );
  }
});

Deno.test("chunked bodies end lines in CRLF only, as the server requires: a bare LF there is unframed", () => {
  const head = "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n";
  for (
    const bad of [
      "1\na\r\n0\r\n\r\n",
      "1\r\na\n0\r\n\r\n",
      "1\r\na\r\n0\r\n\n",
      "1\r\na\r\n0\r\nX: 1\n\r\n",
    ]
  ) {
    assert.equal(frame(head + bad).phase, "unframed", JSON.stringify(bad));
  }
});

Deno.test("leading zeros in a length or a chunk size are read as the server reads them", () => {
  assert.deepEqual(frame("POST / HTTP/1.1\r\nContent-Length: 0000000000000005\r\n\r\nhello"), {
    phase: "head",
    requests: 1,
    headBytes: 0,
  });
  const chunked = "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n" +
    "00000000000000000005\r\nhello\r\n0\r\n\r\n";
  assert.equal(frame(chunked).requests, 1);
  assert.equal(frame("POST / HTTP/1.1\r\nContent-Length: \r\n\r\n").phase, "unframed");
});

Deno.test("what is not an HTTP/1.x request line is unframed: the HTTP/2 preface, garbage", () => {
  assert.equal(frame("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n").phase, "unframed");
  assert.equal(frame("hello there\r\n\r\n").phase, "unframed");
  assert.equal(frame("GET / HTTP/1.0\r\n\r\n").requests, 1);
});

Deno.test("a head sent one byte at a time is kept in one buffer, not a piece per read", () => {
  const framing = new RequestFraming();
  const head = "GET / HTTP/1.1\r\nX: " + "a".repeat(60_000) + "\r\n\r\n";
  const bytes = encoder.encode(head);
  // One reused byte: a framing keeping views of its input would read garbage.
  const one = new Uint8Array(1);
  for (let i = 0; i < bytes.length - 1; i++) {
    one[0] = bytes[i]!;
    framing.consume(one);
  }
  // What is held is one buffer of at most twice the head (a piece per byte was 200x it).
  assert.ok(framing.heldBytes >= bytes.length - 1, `held ${framing.heldBytes}`);
  assert.ok(framing.heldBytes <= 2 * bytes.length, `held ${framing.heldBytes}`);
  one[0] = bytes.at(-1)!;
  framing.consume(one);
  assert.equal(framing.requests, 1);
  assert.equal(framing.heldBytes, 0, "let go once the head is whole");
});
