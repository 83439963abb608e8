// What the HTTP edge gives on top of the routes: CORS from a setting,
// compression, ETags, HEAD, Accept negotiation, Retry-After on 503, request
// ids, secure headers, and the offline API reference page.
import assert from "node:assert/strict";
import { createApiApp } from "../../src/api/app.ts";
import { OaoMetrics } from "../../src/api/metrics.ts";
import { StoreUnavailableError } from "../../src/errors.ts";
import { InMemoryEventStore } from "../../src/events/in_memory_event_store.ts";
import { LocalBackend } from "../../src/orchestrator/local_backend.ts";
import { Orchestrator } from "../../src/orchestrator/orchestrator.ts";
import { startTestServer } from "./_server.ts";

const raw = (url: string, init: RequestInit = {}) =>
  fetch(url, init).then(async (r) => ({ r, bytes: new Uint8Array(await r.arrayBuffer()) }));

Deno.test("CORS is off by default: a cross-site preflight is refused; OPTIONS lists Allow", async () => {
  await using api = await startTestServer();
  const { r } = await raw(`${api.url}/executions`, {
    method: "OPTIONS",
    headers: { origin: "https://evil.example", "access-control-request-method": "POST" },
  });
  assert.equal(r.status, 403);
  assert.equal(r.headers.get("access-control-allow-origin"), null);
  const own = await raw(`${api.url}/executions`, { method: "OPTIONS" });
  assert.equal(own.r.status, 204);
  assert.equal(own.r.headers.get("allow"), "POST, GET, HEAD, OPTIONS");
  const unknown = await raw(`${api.url}/nowhere`, { method: "OPTIONS" });
  assert.equal(unknown.r.status, 404);
});

Deno.test("CORS from a setting: listed origins are allowed (preflight and request), others are not", async () => {
  await using api = await startTestServer({ corsOrigins: ["https://ops.example.com"] });
  const preflight = await raw(`${api.url}/executions`, {
    method: "OPTIONS",
    headers: {
      origin: "https://ops.example.com",
      "access-control-request-method": "POST",
      "access-control-request-headers": "authorization, content-type",
    },
  });
  assert.equal(preflight.r.status, 204);
  assert.equal(
    preflight.r.headers.get("access-control-allow-origin"),
    "https://ops.example.com",
  );
  assert.match(preflight.r.headers.get("access-control-allow-headers") ?? "", /authorization/);
  const get = await raw(`${api.url}/agents`, { headers: { origin: "https://ops.example.com" } });
  assert.equal(get.r.headers.get("access-control-allow-origin"), "https://ops.example.com");
  const other = await raw(`${api.url}/agents`, { headers: { origin: "https://evil.example" } });
  assert.equal(other.r.headers.get("access-control-allow-origin"), null);
});

Deno.test("a malformed CORS origin or trace URL is refused when the app is built, naming it", async () => {
  const orchestrator = new Orchestrator();
  try {
    const cases: [Partial<Parameters<typeof createApiApp>[0]>, RegExp][] = [
      [
        { corsOrigins: ["https://ops.example.com/path"] },
        /Invalid CORS origin "https:\/\/ops\.example\.com\/path"/,
      ],
      // The console links trace ids to OAO_TRACE_URL: http(s) with {traceId} only.
      [{ traceUrl: "http://localhost:16686/trace/" }, /Invalid trace URL "http:.*{traceId}/],
      [{ traceUrl: "javascript:alert({traceId})" }, /Invalid trace URL "javascript:/],
    ];
    for (const [options, message] of cases) {
      assert.throws(
        () =>
          createApiApp({
            backend: new LocalBackend(orchestrator),
            eventStore: orchestrator.eventStore,
            metrics: new OaoMetrics(),
            ...options,
          }),
        message,
      );
    }
  } finally {
    await orchestrator.close();
  }
});

Deno.test("answers are compressed with brotli or gzip as the client accepts; streams are not", async () => {
  await using api = await startTestServer();
  const plain = await raw(`${api.url}/metrics`, { headers: { "accept-encoding": "identity" } });
  assert.equal(plain.r.headers.get("content-encoding"), null);
  const gzip = await raw(`${api.url}/metrics`, { headers: { "accept-encoding": "gzip" } });
  assert.equal(gzip.r.headers.get("content-encoding"), "gzip");
  assert.equal(gzip.r.headers.get("content-length"), null);
  assert.match(new TextDecoder().decode(gzip.bytes), /# TYPE oao_/, "fetch decodes it back");
  const br = await raw(`${api.url}/openapi.json`, {
    headers: { "accept-encoding": "gzip, deflate, br" },
  });
  assert.equal(br.r.headers.get("content-encoding"), "br");
  assert.match(br.r.headers.get("vary") ?? "", /accept-encoding/i);
  const { body } = await api.call("POST", "/executions", {
    body: JSON.stringify({ agent: "flaky", task: { items: 1 } }),
  });
  await api.waitFor(body.executionId, (s) => s.status !== "RUNNING");
  const stream = await fetch(`${api.url}/executions/${body.executionId}/stream`, {
    headers: { "accept-encoding": "gzip, br" },
  });
  assert.equal(stream.headers.get("content-encoding"), null);
  assert.match(await stream.text(), /event: end/);
});

Deno.test("status and events carry an ETag: If-None-Match gets 304 until the execution changes", async () => {
  await using api = await startTestServer();
  const { body } = await api.call("POST", "/executions", {
    body: JSON.stringify({ agent: "flaky", task: { items: 1 } }),
  });
  const id = body.executionId;
  await api.waitFor(id, (s) => s.status !== "RUNNING");
  const first = await api.call("GET", `/executions/${id}`);
  const tag = first.headers.get("etag");
  assert.ok(tag, "an ETag");
  const again = await api.call("GET", `/executions/${id}`, { headers: { "if-none-match": tag } });
  assert.equal(again.status, 304);
  assert.equal(again.text, "");
  const other = await api.call("GET", `/executions/${id}`, {
    headers: { "if-none-match": 'W/"stale"' },
  });
  assert.equal(other.status, 200);
  const events = await api.call("GET", `/executions/${id}/events`);
  assert.ok(events.headers.get("etag"));
});

Deno.test("HEAD is served wherever GET is, without a body", async () => {
  await using api = await startTestServer();
  for (const path of ["/healthz", "/agents", "/metrics", "/openapi.json"]) {
    const { r, bytes } = await raw(`${api.url}${path}`, { method: "HEAD" });
    assert.equal(r.status, 200, path);
    assert.equal(bytes.byteLength, 0, path);
  }
  const missing = await raw(`${api.url}/executions/exec-nope`, { method: "HEAD" });
  assert.equal(missing.r.status, 404);
});

Deno.test("an Accept the route cannot serve is 406; wildcards and q-values are honoured", async () => {
  await using api = await startTestServer();
  const html = await api.call("GET", "/agents", { headers: { accept: "text/html" } });
  assert.equal(html.status, 406);
  assert.equal(html.body.error.code, "not_acceptable");
  assert.match(html.body.error.message, /application\/json/);
  for (const accept of ["application/json", "application/*", "*/*", "text/html, */*;q=0.1"]) {
    assert.equal((await api.call("GET", "/agents", { headers: { accept } })).status, 200, accept);
  }
  const refused = await api.call("GET", "/agents", {
    headers: { accept: "application/json;q=0, text/html" },
  });
  assert.equal(refused.status, 406, "q=0 refuses the type");
  const metrics = await api.call("GET", "/metrics", { headers: { accept: "application/json" } });
  assert.equal(metrics.status, 406);
});

Deno.test("every 503 carries Retry-After (not ready, shutting down, stores unreachable)", async () => {
  await using api = await startTestServer({ ready: () => Promise.resolve(false) });
  const notReady = await api.call("GET", "/readyz");
  assert.equal(notReady.status, 503);
  assert.match(notReady.headers.get("retry-after") ?? "", /^\d+$/);

  const orchestrator = new Orchestrator();
  const broken = new InMemoryEventStore();
  broken.readRange = () =>
    Promise.reject(new StoreUnavailableError("Store unavailable: connection refused"));
  const metrics = new OaoMetrics();
  const app = createApiApp({
    backend: new LocalBackend(orchestrator),
    eventStore: broken,
    metrics,
  });
  try {
    const response = await app.request("/executions/exec-1");
    assert.equal(response.status, 503);
    assert.match(response.headers.get("retry-after") ?? "", /^\d+$/);
    assert.equal((await response.json()).error.code, "store_unavailable");
  } finally {
    await orchestrator.close();
  }
});

Deno.test("request ids are echoed when valid and made up otherwise; secure headers are set", async () => {
  await using api = await startTestServer();
  const given = await api.call("GET", "/healthz", { headers: { "x-request-id": "req-42" } });
  assert.equal(given.headers.get("x-request-id"), "req-42");
  const made = await api.call("GET", "/healthz", {
    headers: { "x-request-id": "bad id;<script>" },
  });
  assert.notEqual(made.headers.get("x-request-id"), "bad id;<script>");
  assert.ok(made.headers.get("x-request-id"));
  assert.equal(made.headers.get("x-content-type-options"), "nosniff");
  assert.ok(made.headers.get("server-timing"));
});

Deno.test("hostile methods and paths do not grow the metrics' label sets", async () => {
  await using api = await startTestServer();
  for (let i = 0; i < 40; i++) {
    const { r } = await raw(`${api.url}/random-${i}/${crypto.randomUUID()}`, {
      method: `M${i}X`,
    });
    assert.ok(r.status === 404 || r.status === 405 || r.status === 400, String(r.status));
  }
  const text = (await api.call("GET", "/metrics")).text;
  const series = text.split("\n").filter((l) => l.startsWith("oao_http_requests_total{"));
  assert.ok(series.length <= 6, `bounded series:\n${series.join("\n")}`);
  assert.ok(!/random-|M\d+X/.test(text), "no path or method of a client became a label");
});

Deno.test("a 405 and an OPTIONS are counted under the route they matched, not as unmatched", async () => {
  await using api = await startTestServer();
  assert.equal((await api.call("PATCH", "/executions/abc")).status, 405);
  assert.equal((await api.call("OPTIONS", "/executions/abc")).status, 204);
  assert.equal((await api.call("PATCH", "/nowhere")).status, 404);
  const text = (await api.call("GET", "/metrics")).text;
  const line = (method: string, route: string, status: number) =>
    text.split("\n").find((l) =>
      l.startsWith("oao_http_requests_total{") && l.includes(`method="${method}"`) &&
      l.includes(`route="${route}"`) && l.includes(`status="${status}"`)
    );
  assert.ok(line("PATCH", "/executions/:id", 405), text);
  assert.ok(line("OPTIONS", "/executions/:id", 204), text);
  assert.ok(line("PATCH", "unmatched", 404), text);
});

Deno.test("/docs serves the API reference offline: no URL outside the server, a strict CSP", async () => {
  await using api = await startTestServer({ token: "s3cret-token" });
  const page = await api.call("GET", "/docs");
  assert.equal(page.status, 200, "public, like the health checks");
  assert.match(page.headers.get("content-type") ?? "", /text\/html/);
  assert.match(page.headers.get("content-security-policy") ?? "", /default-src 'self'/);
  const urls = [...page.text.matchAll(/(?:src|href)="([^"]+)"/g)].map((m) => m[1]!);
  assert.ok(urls.length >= 3);
  for (const url of urls) assert.ok(url.startsWith("/docs/"), `local: ${url}`);
  for (const url of urls) {
    const asset = await api.call("GET", url);
    assert.equal(asset.status, 200, url);
    assert.ok(asset.text.length > 100, url);
  }
  const bundle = await api.call("GET", "/docs/swagger-ui-bundle.js");
  assert.ok(bundle.text.includes("SwaggerUIBundle"));
  const doc = await api.call("GET", "/openapi.json");
  assert.equal(doc.status, 401, "the document itself stays behind the token");
});

Deno.test("an Idempotency-Key header that is too long is refused naming the header", async () => {
  await using api = await startTestServer();
  const response = await api.call("POST", "/executions", {
    body: JSON.stringify({ agent: "flaky", task: {} }),
    headers: { "content-type": "application/json", "idempotency-key": "k".repeat(201) },
  });
  assert.equal(response.status, 400);
  assert.equal(response.body.error.code, "invalid_header");
  assert.match(response.body.error.message, /idempotency-key/i);
  assert.equal(api.orchestrator.running.length, 0);
});

Deno.test("a body without Content-Type is refused with 415 (no cross-site simple requests)", async () => {
  await using api = await startTestServer();
  const response = await fetch(`${api.url}/executions`, {
    method: "POST",
    body: new TextEncoder().encode(JSON.stringify({ agent: "flaky", task: {} })),
  });
  assert.equal(response.status, 415);
  assert.equal((await response.json()).error.code, "unsupported_media_type");
  assert.equal(api.orchestrator.running.length, 0);
});

Deno.test("bodies nested deeper than 64 levels, huge values and time limits past 2^31 are clear 400s", async () => {
  await using api = await startTestServer();
  const deep = await api.call("POST", "/executions", {
    body: `{"agent":"flaky","task":${"[".repeat(5000)}${"]".repeat(5000)}}`,
  });
  assert.equal(deep.status, 400);
  assert.equal(deep.body.error.code, "invalid_json");
  assert.match(deep.body.error.message, /deeper than 64 levels/);
  const long = await api.call("POST", "/executions", {
    body: JSON.stringify({ agent: "flaky", task: {}, ["x".repeat(10_000)]: 1 }),
  });
  assert.equal(long.status, 400);
  assert.ok(long.body.error.message.length < 400, "long values are truncated in messages");
  const timeout = await api.call("POST", "/executions", {
    body: JSON.stringify({ agent: "flaky", task: {}, policy: { timeoutMs: 2 ** 31 } }),
  });
  assert.equal(timeout.status, 400);
  assert.match(timeout.body.error.message, /policy\.timeoutMs/);
  assert.equal(api.orchestrator.running.length, 0);
});

Deno.test("an error no route expects is a 500 with the request id, and no stack or path", async () => {
  const orchestrator = new Orchestrator();
  const broken = new InMemoryEventStore();
  broken.readRange = () => Promise.reject(new TypeError("boom at /srv/secret/path.ts:1"));
  const app = createApiApp({
    backend: new LocalBackend(orchestrator),
    eventStore: broken,
    metrics: new OaoMetrics(),
  });
  try {
    const response = await app.request("/executions/exec-1", {
      headers: { "x-request-id": "req-500" },
    });
    assert.equal(response.status, 500);
    const body = await response.json();
    assert.equal(body.error.code, "internal_error");
    assert.match(body.error.message, /req-500/);
    assert.doesNotMatch(JSON.stringify(body), /secret|boom|\.ts/);
  } finally {
    await orchestrator.close();
  }
});

Deno.test("a stream resumed at or after the final event is 204, so EventSource stops", async () => {
  await using api = await startTestServer();
  const { body } = await api.call("POST", "/executions", {
    body: JSON.stringify({ agent: "flaky", task: { items: 1 } }),
  });
  await api.waitFor(body.executionId, (s) => s.status !== "RUNNING");
  const events = await api.call("GET", `/executions/${body.executionId}/events`);
  const finals = ["EXECUTION_COMPLETED", "EXECUTION_FAILED", "EXECUTION_CANCELLED"];
  const final = events.body.events.find((e: { type: string }) => finals.includes(e.type));
  const after = await fetch(`${api.url}/executions/${body.executionId}/stream`, {
    headers: { "last-event-id": String(final.seq) },
  });
  assert.equal(after.status, 204);
  await after.body?.cancel();
});

Deno.test("a page on another site cannot start executions on a server without a token", async () => {
  await using api = await startTestServer();
  const body = JSON.stringify({ agent: "flaky", task: {} });
  for (
    const headers of [
      { origin: "https://evil.example", "content-type": "application/json" },
      { "sec-fetch-site": "cross-site", "content-type": "application/json" },
      { origin: "null", "content-type": "application/json" },
    ]
  ) {
    const response = await api.call("POST", "/executions", { body, headers });
    assert.equal(response.status, 403, JSON.stringify(headers));
    assert.equal(response.body.error.code, "cross_site_refused");
  }
  const same = await api.call("POST", "/executions", {
    body,
    headers: {
      origin: api.url,
      "sec-fetch-site": "same-origin",
      "content-type": "application/json",
    },
  });
  assert.equal(same.status, 202, "the server's own pages may");
  await api.waitFor(same.body.executionId, (s) => s.status !== "RUNNING");
});

Deno.test("a loopback server answers only for loopback host names (DNS rebinding)", async () => {
  await using api = await startTestServer();
  const port = new URL(api.url).port;
  const ask = async (host: string) => {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port: Number(port) });
    await conn.write(
      new TextEncoder().encode(
        `GET /agents HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`,
      ),
    );
    const text = new TextDecoder().decode(await new Response(conn.readable).arrayBuffer());
    return text;
  };
  assert.match(await ask("rebind.evil.example"), /^HTTP\/1\.1 403[\s\S]*host_not_allowed/);
  assert.match(await ask(`localhost:${port}`), /^HTTP\/1\.1 200/);
  assert.match(await ask(`127.0.0.1:${port}`), /^HTTP\/1\.1 200/);
  assert.match(await ask(`[::1]:${port}`), /^HTTP\/1\.1 200/);
});

Deno.test("no stack trace or server path in a status, an event page or a stream", async () => {
  await using api = await startTestServer();
  const { body } = await api.call("POST", "/executions", {
    body: JSON.stringify({ agent: "runaway", task: {}, policy: { maxSteps: 3 } }),
  });
  const status = await api.waitFor(body.executionId, (s) => s.status !== "RUNNING");
  assert.equal(status.status, "FAILED");
  const root = new URL("../../", import.meta.url).pathname;
  const events = await api.call("GET", `/executions/${body.executionId}/events`);
  const stream = await fetch(`${api.url}/executions/${body.executionId}/stream`);
  for (const text of [JSON.stringify(status), events.text, await stream.text()]) {
    assert.doesNotMatch(text, /"stack"/);
    assert.ok(!text.includes(root), "no server path");
  }
  const started = events.body.events.find((e: { type: string }) => e.type === "EXECUTION_STARTED");
  assert.equal(started.data.module, "runaway_agent.ts");
  const stored = await api.orchestrator.eventStore.readRange(body.executionId);
  assert.ok(JSON.stringify(stored).includes(root), "the log itself keeps the module's path");
  assert.match(JSON.stringify(stored), /"stack"/, "and the stacks: the API drops them");
});

Deno.test("with a token, a browser opens a stream with a short-lived stream token, for that execution only", async () => {
  const auth = { authorization: "Bearer s3cret-token" };
  await using api = await startTestServer({ token: "s3cret-token" });
  const submit = async () =>
    (await api.call("POST", "/executions", {
      body: JSON.stringify({ agent: "flaky", task: { items: 1 } }),
      headers: { ...auth, "content-type": "application/json" },
    })).body.executionId as string;
  const [id, other] = [await submit(), await submit()];
  const issued = await api.call("POST", `/executions/${id}/stream-token`, { headers: auth });
  assert.equal(issued.status, 200, issued.text);
  assert.ok(issued.body.expiresAt > Date.now());
  assert.ok(!issued.body.stream.includes("s3cret-token"), "the API token is never in a URL");
  const opened = await fetch(`${api.url}${issued.body.stream}`);
  assert.equal(opened.status, 200);
  assert.match(await opened.text(), /event: end/);
  const elsewhere = await fetch(
    `${api.url}/executions/${other}/stream?token=${encodeURIComponent(issued.body.token)}`,
  );
  assert.equal(elsewhere.status, 401, "it opens only its own execution");
  await elsewhere.body?.cancel();
  const forged = await fetch(
    `${api.url}/executions/${id}/stream?token=9999999999999.${"A".repeat(43)}`,
  );
  assert.equal(forged.status, 401);
  await forged.body?.cancel();
  const events = await fetch(
    `${api.url}/executions/${id}/events?token=${encodeURIComponent(issued.body.token)}`,
  );
  assert.equal(events.status, 401, "and only the stream");
  await events.body?.cancel();
  const anonymous = await api.call("POST", `/executions/${id}/stream-token`);
  assert.equal(anonymous.status, 401, "issuing one needs the bearer token");
});

Deno.test("a client that sends its body too slowly gets 408 when the time is up", async () => {
  await using api = await startTestServer({ bodyTimeoutMs: 300 });
  const { port } = new URL(api.url);
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: Number(port) });
  const started = Date.now();
  await conn.write(new TextEncoder().encode(
    `POST /executions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"agent":`,
  ));
  let text = "";
  const buffer = new Uint8Array(4096);
  while (!text.includes("body_timeout") && Date.now() - started < 5000) {
    const n = await conn.read(buffer);
    if (n === null) break;
    text += new TextDecoder().decode(buffer.subarray(0, n));
  }
  conn.close();
  assert.match(text, /^HTTP\/1\.1 408/);
  assert.match(text, /body_timeout/);
  assert.ok(Date.now() - started < 3000, "answered when the time was up");
  assert.equal(api.orchestrator.running.length, 0);
});

Deno.test("a polled status is served from the last event it was read at, and changes with the next event", async () => {
  await using api = await startTestServer();
  const { body } = await api.call("POST", "/executions", {
    body: JSON.stringify({ agent: "waiter", task: { signal: { name: "go" } } }),
  });
  const id = body.executionId;
  await api.waitFor(id, (s) => s.waitingFor?.kind === "signal");
  const first = await api.call("GET", `/executions/${id}`);
  const second = await api.call("GET", `/executions/${id}`);
  assert.equal(second.text, first.text);
  assert.equal(second.headers.get("etag"), first.headers.get("etag"));
  // Any event appended since (here by another writer of the store) is seen by the next poll.
  await api.orchestrator.eventStore.appendEvent(id, { type: "NOTE", data: {} });
  const third = await api.call("GET", `/executions/${id}`);
  assert.equal(third.body.eventCount, first.body.eventCount + 1);
  assert.notEqual(third.headers.get("etag"), first.headers.get("etag"));
  await api.call("POST", `/executions/${id}/signals/go`, { body: "1" });
  const done = await api.waitFor(id, (s) => s.status === "SUCCESS");
  assert.deepEqual(done.report.output.payloads, [1]);
});
