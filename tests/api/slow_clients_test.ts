// The TCP front of the API server (src/api/_connection_guard.ts), over real
// sockets: slow or silent clients get 408 when their headers are late,
// silent kept-alive connections are closed, the connection cap answers 503,
// and whatever a well-behaved client sends passes through unchanged.
import assert from "node:assert/strict";
import { startTestServer } from "./_server.ts";
import { startApiServer } from "../../src/api/server.ts";
import {
  ConnectionGuard,
  type ConnectionGuardOptions,
  MAX_SERVED_HEAD_BYTES,
} from "../../src/api/_connection_guard.ts";
import { LocalBackend } from "../../src/orchestrator/local_backend.ts";
import { Orchestrator } from "../../src/orchestrator/orchestrator.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

function connect(url: string): Promise<Deno.TcpConn> {
  return Deno.connect({ hostname: "127.0.0.1", port: Number(new URL(url).port) });
}

/** Reads until the peer closes (or `ms` pass): the text and whether it closed. */
async function readToClose(
  conn: Deno.Conn,
  ms: number,
): Promise<{ text: string; closed: boolean }> {
  let text = "";
  const buffer = new Uint8Array(4096);
  const timer = setTimeout(() => conn.close(), ms);
  try {
    for (;;) {
      const n = await conn.read(buffer);
      if (n === null) return { text, closed: true };
      text += decoder.decode(buffer.subarray(0, n));
    }
  } catch {
    return { text, closed: false }; // closed by the timer: the server kept it open
  } finally {
    clearTimeout(timer);
    try {
      conn.close();
    } catch {
      // closed already
    }
  }
}

/** Reads one whole answer with a Content-Length body from a kept-alive connection. */
async function readAnswer(conn: Deno.Conn): Promise<string> {
  let text = "";
  const buffer = new Uint8Array(4096);
  for (;;) {
    const head = text.indexOf("\r\n\r\n");
    const length = /content-length: (\d+)/i.exec(text)?.[1];
    if (head >= 0 && length !== undefined && text.length >= head + 4 + Number(length)) return text;
    const n = await conn.read(buffer);
    if (n === null) throw new Error(`connection closed after ${JSON.stringify(text)}`);
    text += decoder.decode(buffer.subarray(0, n));
  }
}

Deno.test("a client that trickles its headers gets 408 when the time is up, however often it sends", async () => {
  await using api = await startTestServer({ front: { headersTimeoutMs: 400 } });
  const conn = await connect(api.url);
  const started = Date.now();
  await conn.write(encoder.encode("GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n"));
  const trickle = setInterval(() => conn.write(encoder.encode("X-A: b\r\n")).catch(() => {}), 50);
  const { text, closed } = await readToClose(conn, 5_000);
  clearInterval(trickle);
  const elapsed = Date.now() - started;
  assert.ok(closed, "the server closed the connection");
  assert.match(text, /^HTTP\/1\.1 408 /);
  assert.match(text, /"code":"header_timeout"/);
  assert.ok(elapsed >= 380 && elapsed < 2_000, `closed after ${elapsed} ms`);
});

Deno.test("a client that connects and sends nothing is closed when the header time is up", async () => {
  await using api = await startTestServer({ front: { headersTimeoutMs: 300 } });
  const conn = await connect(api.url);
  const { text, closed } = await readToClose(conn, 5_000);
  assert.ok(closed);
  assert.match(text, /^HTTP\/1\.1 408 /);
});

Deno.test("300 slowloris connections are all closed on time, and a normal client is served meanwhile", async () => {
  await using api = await startTestServer({ front: { headersTimeoutMs: 1_000 } });
  const conns = await Promise.all(Array.from({ length: 300 }, () => connect(api.url)));
  await Promise.all(
    conns.map((c) =>
      c.write(encoder.encode("GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-")).catch(() => {})
    ),
  );
  const trickle = setInterval(() => {
    for (const c of conns) c.write(encoder.encode("a")).catch(() => {});
  }, 200);
  const served = await api.call("GET", "/healthz");
  assert.equal(served.status, 200, "a well-behaved client is not held up");
  const started = Date.now();
  const results = await Promise.all(conns.map((c) => readToClose(c, 6_000)));
  clearInterval(trickle);
  assert.equal(results.filter((r) => r.closed).length, 300, "every slow connection was closed");
  assert.ok(Date.now() - started < 4_000, `all closed within ${Date.now() - started} ms`);
  assert.ok(
    api.server.connections! <= 1,
    "none is left open (but the normal client's kept-alive one)",
  );
});

Deno.test("kept-alive connections: each request's headers have their own time, from their first byte", async () => {
  await using api = await startTestServer({
    front: { headersTimeoutMs: 400, idleTimeoutMs: 5_000 },
  });
  const conn = await connect(api.url);
  const request = "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
  await conn.write(encoder.encode(request));
  assert.match(await readAnswer(conn), /^HTTP\/1\.1 200 /);
  // Quiet for longer than the header time: a kept-alive connection may wait.
  await new Promise((r) => setTimeout(r, 700));
  await conn.write(encoder.encode(request));
  assert.match(await readAnswer(conn), /^HTTP\/1\.1 200 /, "the second request is served");
  // A third request whose headers trickle is cut off (without a 408: an
  // answer could still be on its way on a kept-alive connection).
  const started = Date.now();
  await conn.write(encoder.encode("GET /healthz HTTP/1.1\r\n"));
  const trickle = setInterval(() => conn.write(encoder.encode("X-A: b\r\n")).catch(() => {}), 50);
  const { text, closed } = await readToClose(conn, 5_000);
  clearInterval(trickle);
  assert.ok(closed);
  assert.equal(text, "");
  assert.ok(Date.now() - started < 2_000, `closed after ${Date.now() - started} ms`);
});

Deno.test("a request head over 60 KiB gets 431 naming the limit; one just under it is served; a later one on a kept-alive connection is closed", async () => {
  await using api = await startTestServer();
  const head = (bytes: number) => {
    const start = "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: ";
    return `${start}${"a".repeat(bytes - start.length - 4)}\r\n\r\n`;
  };
  for (const bytes of [MAX_SERVED_HEAD_BYTES + 1, 63 * 1024, 200 * 1024]) {
    const conn = await connect(api.url);
    void conn.write(encoder.encode(head(bytes))).catch(() => {});
    const { text } = await readToClose(conn, 5_000);
    assert.match(
      text,
      /^HTTP\/1\.1 431 Request Header Fields Too Large\r\n/,
      `${bytes} bytes: ${text.slice(0, 200)}`,
    );
    const body = JSON.parse(text.slice(text.indexOf("\r\n\r\n") + 4));
    assert.equal(body.error.code, "header_too_large");
    assert.match(body.error.message, /longer than 61440 bytes/);
  }
  const conn = await connect(api.url);
  await conn.write(encoder.encode(head(MAX_SERVED_HEAD_BYTES)));
  assert.match(await readAnswer(conn), /^HTTP\/1\.1 200 /, "a head of exactly the limit is served");
  void conn.write(encoder.encode(head(MAX_SERVED_HEAD_BYTES + 1))).catch(() => {});
  const { text, closed } = await readToClose(conn, 5_000);
  assert.ok(closed);
  assert.equal(text, "", "no 431 after an answer: it could cut into one");
});

Deno.test("a kept-alive connection silent for the idle time is closed", async () => {
  await using api = await startTestServer({
    front: { headersTimeoutMs: 5_000, idleTimeoutMs: 300 },
  });
  const conn = await connect(api.url);
  await conn.write(encoder.encode("GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"));
  const started = Date.now();
  const { text, closed } = await readToClose(conn, 5_000);
  assert.ok(closed, "closed by the server");
  assert.match(text, /^HTTP\/1\.1 200 /, "after its answer");
  assert.ok(Date.now() - started < 2_000);
});

Deno.test("connections beyond the cap get 503 with Retry-After; closing one makes room", async () => {
  await using api = await startTestServer({ front: { maxConnections: 3 } });
  const held = await Promise.all([connect(api.url), connect(api.url), connect(api.url)]);
  while (api.server.connections! < 3) await new Promise((r) => setTimeout(r, 10));
  const refused = await readToClose(await connect(api.url), 5_000);
  assert.match(refused.text, /^HTTP\/1\.1 503 /);
  assert.match(refused.text, /retry-after: 1/i);
  assert.match(refused.text, /too_many_connections/);
  held.pop()!.close();
  while (api.server.connections! > 2) await new Promise((r) => setTimeout(r, 10));
  assert.equal((await api.call("GET", "/healthz")).status, 200);
  for (const c of held) c.close();
});

Deno.test("bodies, streams and answers pass through the front byte for byte", async () => {
  await using api = await startTestServer({ maxBodyBytes: 4 * 1024 * 1024 });
  // A large body is read whole (the task is far beyond one 16 KiB chunk).
  const task = { blob: "x".repeat(1_000_000) + "é€😀" };
  const submitted = await api.call("POST", "/executions", {
    body: JSON.stringify({ agent: "tester", task }),
  });
  assert.equal(submitted.status, 202, submitted.text);
  const id = submitted.body.executionId;
  await api.waitFor(id, (s) => s.status !== "RUNNING" && s.status !== "QUEUED");
  // The live stream of a finished execution ends with its final event.
  const stream = await fetch(`${api.url}/executions/${id}/stream`);
  const text = await stream.text();
  assert.match(text, /EXECUTION_(COMPLETED|FAILED)/);
  const events = await api.call("GET", `/executions/${id}/events?limit=1`);
  assert.equal(events.status, 200);
  assert.deepEqual(events.body.events[0].data.task, task, "the task arrived unchanged");
});

Deno.test("out-of-range front limits are refused naming the option; headersTimeoutMs 0 serves directly", async () => {
  const orchestrator = new Orchestrator();
  try {
    const backend = new LocalBackend(orchestrator);
    for (const bad of [{ headersTimeoutMs: -1 }, { idleTimeoutMs: 0 }, { maxConnections: 1.5 }]) {
      assert.throws(
        () => startApiServer({ backend, eventStore: orchestrator.eventStore, port: 0, ...bad }),
        (e: Error) => e instanceof RangeError && e.message.includes(Object.keys(bad)[0]!),
      );
    }
    const direct = startApiServer({
      backend,
      eventStore: orchestrator.eventStore,
      port: 0,
      headersTimeoutMs: 0,
    });
    assert.equal(direct.connections, undefined, "no front");
    assert.equal((await fetch(`${direct.url}/healthz`).then((r) => r.text())).length > 0, true);
    await direct.shutdown();
  } finally {
    await orchestrator.close();
  }
});

Deno.test("a taken port is reported, and the inner server does not linger", async () => {
  const orchestrator = new Orchestrator();
  const taken = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  try {
    const backend = new LocalBackend(orchestrator);
    assert.throws(
      () => startApiServer({ backend, eventStore: orchestrator.eventStore, port: taken.addr.port }),
      Deno.errors.AddrInUse,
    );
  } finally {
    taken.close();
    await orchestrator.close();
  }
});

/** A guard before a small server whose `/slow` answers after `slowMs`; `/stream` streams. */
function guarded(
  limits: Partial<ConnectionGuardOptions>,
  slowMs = 0,
): { port: number; guard: ConnectionGuard } & AsyncDisposable {
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (request) => {
    const url = new URL(request.url);
    const body = request.body ? (await request.arrayBuffer()).byteLength : 0;
    if (url.pathname === "/slow") await new Promise((r) => setTimeout(r, slowMs));
    if (url.pathname === "/stream") {
      let n = 0;
      const stream = new ReadableStream<Uint8Array>({
        async pull(controller) {
          await new Promise((r) => setTimeout(r, 50));
          controller.enqueue(encoder.encode(`data: ${n++}\n\n`));
        },
      });
      return new Response(stream, { headers: { "content-type": "text/event-stream" } });
    }
    return new Response(`${request.method} ${url.pathname} ${body}`);
  });
  const guard = new ConnectionGuard({
    hostname: "127.0.0.1",
    port: 0,
    targetPort: (server.addr as Deno.NetAddr).port,
    headersTimeoutMs: 300,
    bodyTimeoutMs: 600,
    idleTimeoutMs: 600,
    maxConnections: 100,
    ...limits,
  });
  return {
    port: guard.addr.port,
    guard,
    async [Symbol.asyncDispose]() {
      await guard.stopAccepting();
      const stopped = server.shutdown();
      await guard.closeAll(2_000);
      await stopped;
    },
  };
}

Deno.test("a body that never ends after its answer does not hold the connection: the body's time closes it", async () => {
  await using front = guarded({});
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: front.port });
  // A GET announcing a body it never sends; then bytes that look like a head's end.
  await conn.write(encoder.encode("GET /x HTTP/1.1\r\nHost: a\r\nContent-Length: 1000000\r\n\r\n"));
  await new Promise((r) => setTimeout(r, 100));
  await conn.write(encoder.encode("\r\n\r\n"));
  const trickle = setInterval(() => conn.write(encoder.encode("a")).catch(() => {}), 100);
  const started = Date.now();
  const { closed } = await readToClose(conn, 5_000);
  clearInterval(trickle);
  assert.ok(closed, "closed by the front");
  assert.ok(Date.now() - started < 2_000, `after ${Date.now() - started} ms`);
  assert.equal(front.guard.connections, 0);
});

Deno.test("legitimate traffic is never cut: 100-continue uploads, slow handlers, bare-LF heads, chunked bodies, pipelining", async (t) => {
  await using front = guarded({}, 1_000);
  const send = async (bytes: string[], gapMs = 0): Promise<string> => {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port: front.port });
    for (const part of bytes) {
      await conn.write(encoder.encode(part));
      if (gapMs) await new Promise((r) => setTimeout(r, gapMs));
    }
    const { text } = await readToClose(conn, 3_000);
    return text;
  };
  await t.step("an upload slower than the header time, after Expect: 100-continue", async () => {
    const body = "x".repeat(40_000);
    const text = await send([
      "POST /up HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 40000\r\n\r\n",
      body.slice(0, 20_000),
      body.slice(20_000) + "GET /after HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
    ], 200);
    assert.match(text, /POST \/up 40000/);
    assert.match(text, /GET \/after 0/);
    assert.doesNotMatch(text, / 408 /);
  });
  await t.step("a handler slower than every deadline, its body sent apart", async () => {
    const text = await send([
      "POST /slow HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\nConnection: close\r\n\r\n",
      "{}",
    ], 100);
    assert.match(text, /200 OK[\s\S]*POST \/slow 2/);
  });
  await t.step("a head with bare LFs", async () => {
    const text = await send(["GET /lf HTTP/1.1\nHost: a\nConnection: close\n\n"]);
    assert.match(text, /GET \/lf 0/);
    assert.doesNotMatch(text, / 408 /);
  });
  await t.step(
    "a chunked body with extensions and trailers, then a pipelined request",
    async () => {
      const text = await send([
        "POST /c HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5;x=y\r\nhel",
        "lo\r\n0\r\nX-T: 1\r\n\r\nGET /next HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
      ], 100);
      assert.match(text, /POST \/c 5/);
      assert.match(text, /GET \/next 0/);
    },
  );
  await t.step(
    "a stray byte during a stream ends it on the head's deadline, no 408 cut into it",
    async () => {
      const conn = await Deno.connect({ hostname: "127.0.0.1", port: front.port });
      await conn.write(encoder.encode("GET /stream HTTP/1.1\r\nHost: a\r\n\r\n"));
      await new Promise((r) => setTimeout(r, 200));
      await conn.write(encoder.encode("G"));
      const { text } = await readToClose(conn, 1_500);
      assert.match(text, /data: 0/);
      assert.doesNotMatch(text, /408|header_timeout/, "nothing cut into the stream");
    },
  );
});

Deno.test("shutdown is bounded even when a client never finishes its request", async () => {
  const front = guarded({ bodyTimeoutMs: 60_000 });
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: front.port });
  await conn.write(encoder.encode("POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 100\r\n\r\n{"));
  await new Promise((r) => setTimeout(r, 100));
  const started = Date.now();
  await front[Symbol.asyncDispose]();
  assert.ok(Date.now() - started < 4_000, `stopped in ${Date.now() - started} ms`);
  conn.close();
});

Deno.test("an HTTP/2 client (prior knowledge) cannot escape the deadlines: its bytes are not framed", async () => {
  await using front = guarded({});
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: front.port });
  const frame = (type: number, flags: number, payload: number[]) =>
    Uint8Array.of(0, 0, payload.length, type, flags, 0, 0, 0, 0, ...payload);
  await conn.write(encoder.encode("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"));
  await conn.write(frame(4, 0, [])); // SETTINGS
  await conn.write(frame(4, 1, [])); // SETTINGS ack
  await conn.write(frame(8, 0, [0, 0, 10, 10])); // WINDOW_UPDATE ending in "\n\n"
  const started = Date.now();
  const { closed } = await readToClose(conn, 5_000);
  assert.ok(closed, "closed by the front");
  assert.ok(Date.now() - started < 2_000, `after ${Date.now() - started} ms`);
});
