// End to end through real HTTP on 127.0.0.1: submit, poll, events, SSE with
// Last-Event-ID resume, cancel, idempotency, health.
import assert from "node:assert/strict";
import { PROBER, readSse, startTestServer } from "./_server.ts";

Deno.test("POST /executions answers 202 with the id, and polling reaches SUCCESS with the report", async () => {
  await using api = await startTestServer();
  const submit = await api.call("POST", "/executions", {
    body: JSON.stringify({ agent: "researcher", task: { topic: "actors", sources: 1 } }),
  });
  assert.equal(submit.status, 202);
  const id = submit.body.executionId;
  assert.match(id, /^exec-/);
  assert.equal(submit.body.status, "RUNNING");
  assert.equal(submit.headers.get("location"), `/executions/${id}`);
  const first = await api.call("GET", `/executions/${id}`);
  assert.equal(first.status, 200);
  assert.equal(first.body.agent, "researcher");
  const done = await api.waitFor(id, (s) => s.status !== "RUNNING");
  assert.equal(done.status, "SUCCESS");
  assert.equal(done.state, "TERMINATE");
  assert.ok(done.step >= 5);
  assert.equal(done.totals.toolCalls, 2);
  assert.equal(done.report.status, "SUCCESS");
  assert.match(done.report.output.summary, /critic: /);
});

Deno.test("GET /executions/:id/events pages the timeline with ?after=", async () => {
  await using api = await startTestServer();
  const { body } = await api.call("POST", "/executions", {
    body: JSON.stringify({ agent: "flaky", task: { items: 2 } }),
  });
  await api.waitFor(body.executionId, (s) => s.status !== "RUNNING");
  const all = await api.call("GET", `/executions/${body.executionId}/events`);
  assert.equal(all.status, 200);
  assert.equal(all.body.events[0].type, "EXECUTION_STARTED");
  assert.equal(all.body.final, true);
  const types = all.body.events.map((e: { type: string }) => e.type);
  assert.ok(types.includes("RETRY_ATTEMPTED"), types.join(","));
  const page = await api.call("GET", `/executions/${body.executionId}/events?after=3&limit=2`);
  assert.deepEqual(page.body.events.map((e: { seq: number }) => e.seq), [4, 5]);
  assert.equal(page.body.nextAfter, 5);
  assert.equal(page.body.final, false);
});

Deno.test("the SSE stream sends the backlog then live events, and resumes after Last-Event-ID", async () => {
  await using api = await startTestServer();
  const { body } = await api.call("POST", "/executions", {
    body: JSON.stringify({
      agent: "tester",
      task: {
        calls: [{ tool: "sleep", args: { ms: 300 } }, { tool: "search", args: { query: "q" } }],
      },
    }),
  });
  const id = body.executionId;
  const streamUrl = `${api.url}/executions/${id}/stream`;
  const live = await readSse(streamUrl);
  assert.equal(live.status, 200);
  assert.match(live.contentType ?? "", /^text\/event-stream/);
  const end = live.messages.at(-1)!;
  assert.equal(end.event, "end");
  assert.equal(JSON.parse(end.data).status, "SUCCESS");
  const events = live.messages.filter((m) => m.event === undefined).map((m) => JSON.parse(m.data));
  assert.deepEqual(
    events.map((e) => e.seq),
    events.map((_, i) => i + 1),
    "every event once, in order",
  );
  assert.deepEqual(
    live.messages.filter((m) => m.id).map((m) => Number(m.id)),
    events.map((e) => e.seq),
  );
  assert.equal(events.at(-1).type, "EXECUTION_COMPLETED");
  // A client that saw up to seq 5 reconnects with Last-Event-ID: it gets 6, 7, … only.
  const resumed = await readSse(streamUrl, { "Last-Event-ID": "5" });
  const again = resumed.messages.filter((m) => m.event === undefined).map((m) =>
    JSON.parse(m.data)
  );
  assert.equal(again[0].seq, 6);
  assert.deepEqual(again.map((e) => e.seq), events.slice(5).map((e) => e.seq));
  assert.equal(resumed.messages.at(-1)!.event, "end");
});

Deno.test("an SSE client that disconnects mid-stream and resumes misses nothing", async () => {
  await using api = await startTestServer();
  const { body } = await api.call("POST", "/executions", {
    body: JSON.stringify({
      agent: "tester",
      task: { calls: [{ tool: "sleep", args: { ms: 400 } }, { tool: "sleep", args: { ms: 10 } }] },
    }),
  });
  const url = `${api.url}/executions/${body.executionId}/stream`;
  const part = await readSse(url, {}, 3);
  assert.equal(part.messages.length, 3);
  const lastId = part.messages.at(-1)!.id!;
  const rest = await readSse(url, { "Last-Event-ID": lastId });
  const seqs = [...part.messages, ...rest.messages].filter((m) => m.id).map((m) => Number(m.id));
  assert.deepEqual(seqs, seqs.map((_, i) => i + 1));
  assert.equal(rest.messages.at(-1)!.event, "end");
});

Deno.test("an SSE stream resumed with a Last-Event-ID past the log's end carries the later events and ends", async () => {
  await using api = await startTestServer();
  const { body } = await api.call("POST", "/executions", {
    body: JSON.stringify({ agent: "waiter", task: { signal: { name: "go" } } }),
  });
  const id = body.executionId;
  await api.waitFor(id, (s) => s.state === "EXECUTE");
  const response = await fetch(`${api.url}/executions/${id}/stream`, {
    headers: { "Last-Event-ID": "99999999" },
    signal: AbortSignal.timeout(10_000),
  });
  assert.equal(response.status, 200);
  // The stream is open (its log read): the execution goes on and finishes.
  const signal = await api.call("POST", `/executions/${id}/signals/go`, { body: "{}" });
  assert.equal(signal.status, 202);
  let text = "";
  try {
    for await (const chunk of response.body!.pipeThrough(new TextDecoderStream())) text += chunk;
  } catch (error) {
    assert.fail(`The stream did not end within 10 s (${error}); it sent: ${text}`);
  }
  const ids = [...text.matchAll(/^id: (\d+)$/gm)].map((m) => Number(m[1]));
  assert.ok(ids.includes(signal.body.seq), `SIGNAL_RECEIVED (seq ${signal.body.seq}) in ${ids}`);
  assert.match(text, /"type":"EXECUTION_COMPLETED"/);
  assert.match(text, /event: end\ndata: \{"executionId":"[^"]+","status":"SUCCESS"/);
});

Deno.test("POST /executions/:id/cancel cancels a running execution; a second cancel is 409", async () => {
  await using api = await startTestServer();
  const { body } = await api.call("POST", "/executions", {
    body: JSON.stringify({
      agent: "tester",
      task: { calls: [{ tool: "sleep", args: { ms: 30_000 } }] },
    }),
  });
  const id = body.executionId;
  await api.waitFor(id, (s) => s.state === "EXECUTE");
  const cancel = await api.call("POST", `/executions/${id}/cancel`, {
    body: JSON.stringify({ reason: "changed my mind" }),
  });
  assert.equal(cancel.status, 202);
  assert.deepEqual(cancel.body, { executionId: id, cancelRequested: true });
  const status = await api.waitFor(id, (s) => s.status !== "RUNNING");
  assert.equal(status.status, "CANCELLED");
  assert.match(status.report.error.message, /changed my mind/);
  const again = await api.call("POST", `/executions/${id}/cancel`);
  assert.equal(again.status, 409);
  assert.equal(again.body.error.code, "already_finished");
});

Deno.test("a submit whose Idempotency-Key header and body idempotencyKey differ is refused with 400 naming both", async () => {
  await using api = await startTestServer();
  const submit = (key: string) =>
    api.call("POST", "/executions", {
      body: JSON.stringify({ agent: "flaky", task: { items: 1 }, idempotencyKey: key }),
      headers: { "content-type": "application/json", "idempotency-key": "hk1" },
    });
  const differ = await submit("bk1");
  assert.equal(differ.status, 400, differ.text);
  assert.equal(differ.body.error.code, "invalid_field");
  assert.match(differ.body.error.message, /"idempotencyKey".*"bk1".*Idempotency-Key "hk1"/);
  assert.equal(api.orchestrator.running.length, 0, "nothing was started");
  const same = await submit("hk1");
  assert.equal(same.status, 202, same.text);
  await api.waitFor(same.body.executionId, (s) => s.status !== "RUNNING");
});

Deno.test("a repeated submit with the same idempotency key returns the first execution", async () => {
  await using api = await startTestServer();
  const request = { agent: "flaky", task: { items: 1 }, idempotencyKey: "order-42" };
  const first = await api.call("POST", "/executions", { body: JSON.stringify(request) });
  const second = await api.call("POST", "/executions", { body: JSON.stringify(request) });
  const header = await api.call("POST", "/executions", {
    body: JSON.stringify({ agent: "flaky", task: { items: 1 } }),
    headers: { "content-type": "application/json", "idempotency-key": "order-42" },
  });
  assert.equal(first.body.duplicate, false);
  assert.equal(second.body.duplicate, true);
  assert.equal(second.body.executionId, first.body.executionId);
  assert.equal(header.body.executionId, first.body.executionId);
  await api.waitFor(first.body.executionId, (s) => s.status !== "RUNNING");
});

Deno.test("policy overrides in the request stop a runaway agent", async () => {
  await using api = await startTestServer();
  const { body } = await api.call("POST", "/executions", {
    body: JSON.stringify({ agent: "runaway", task: {}, policy: { maxToolCalls: 2 } }),
  });
  const status = await api.waitFor(body.executionId, (s) => s.status !== "RUNNING");
  assert.equal(status.status, "FAILED");
  assert.equal(status.policy.maxToolCalls, 2);
  assert.equal(status.report.error.code, "POLICY_VIOLATION");
});

Deno.test("health checks: /healthz is up, /readyz follows the store check", async () => {
  let ready = true;
  await using api = await startTestServer({ ready: () => Promise.resolve(ready) });
  assert.deepEqual((await api.call("GET", "/healthz")).body, { status: "ok" });
  assert.equal((await api.call("GET", "/readyz")).status, 200);
  ready = false;
  const down = await api.call("GET", "/readyz");
  assert.equal(down.status, 503);
  assert.equal(down.body.error.code, "not_ready");
});

Deno.test("GET /agents lists the agents POST /executions accepts", async () => {
  await using api = await startTestServer();
  const { body } = await api.call("GET", "/agents");
  assert.equal(body.mode, "local");
  for (const name of ["researcher", "critic", "flaky", "runaway", "tester"]) {
    assert.ok(body.agents.includes(name), name);
  }
});

Deno.test("GET /agents details each agent's tools, peers, permissions, isolation and limit", async () => {
  await using api = await startTestServer({ agents: [PROBER] });
  const { body } = await api.call("GET", "/agents");
  const details = new Map(body.details.map((d: { name: string }) => [d.name, d]));
  const { module: _module, ...shown } = PROBER;
  assert.deepEqual(details.get("prober"), shown);
  assert.deepEqual(details.get("researcher"), {
    name: "researcher",
    version: "1.0.0",
    description: body.details.find((d: { name: string }) => d.name === "researcher").description,
    peers: ["critic"],
    permissions: "none",
  });
  // The module's path on the server is not shown.
  assert.doesNotMatch(JSON.stringify(body), /permission_probe|\.ts"/);
});

Deno.test("shutting the server down ends open SSE streams with a server_stopping end, and finishes", async () => {
  await using api = await startTestServer();
  const { body } = await api.call("POST", "/executions", {
    body: JSON.stringify({
      agent: "tester",
      task: { calls: [{ tool: "sleep", args: { ms: 30_000 } }] },
    }),
  });
  const response = await fetch(`${api.url}/executions/${body.executionId}/stream`);
  const reader = response.body!.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  while (!text.includes("EXECUTION_STARTED")) text += (await reader.read()).value ?? "";
  const stopping = api.server.shutdown();
  while (true) {
    const { done, value } = await reader.read();
    if (done) break;
    text += value;
  }
  await stopping;
  assert.match(
    text,
    /event: end\ndata: \{"executionId":"[^"]+","status":"RUNNING","reason":"server_stopping"\}/,
    "the stream says the server stops, not that the execution ended",
  );
  api.orchestrator.cancel(body.executionId, "test over");
});
