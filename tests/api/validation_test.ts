// Every class of bad input gets its 4xx with a JSON error naming the
// problem — never a 500, never a crash.
import assert from "node:assert/strict";
import { startTestServer } from "./_server.ts";

const submit = (body: string, headers?: Record<string, string>) => ({
  body,
  ...(headers ? { headers } : {}),
});

Deno.test("bad submits are answered with a 4xx and a JSON error naming the problem", async () => {
  await using api = await startTestServer({ maxBodyBytes: 1024 });
  const cases: [
    string,
    { body: string; headers?: Record<string, string> },
    number,
    string,
    RegExp,
  ][] = [
    ["malformed JSON", submit("{agent:"), 400, "invalid_json", /not valid JSON/],
    ["empty body", submit(""), 400, "invalid_json", /empty/],
    ["an array", submit("[1,2]"), 400, "invalid_body", /JSON object/],
    ["agent missing", submit(`{"task":{}}`), 400, "invalid_field", /"agent"/],
    ["agent of the wrong type", submit(`{"agent":7,"task":{}}`), 400, "invalid_field", /"agent"/],
    ["task missing", submit(`{"agent":"flaky"}`), 400, "invalid_field", /"task"/],
    [
      "unknown field",
      submit(`{"agent":"flaky","task":{},"tasks":1}`),
      400,
      "unknown_field",
      /"tasks"/,
    ],
    [
      "unknown agent",
      submit(`{"agent":"nobody","task":{}}`),
      422,
      "unknown_agent",
      /"nobody".*"researcher"/,
    ],
    [
      "policy of the wrong type",
      submit(`{"agent":"flaky","task":{},"policy":5}`),
      400,
      "invalid_field",
      /"policy"/,
    ],
    [
      "negative policy limit",
      submit(`{"agent":"flaky","task":{},"policy":{"maxSteps":-1}}`),
      400,
      "invalid_field",
      /maxSteps/,
    ],
    [
      "unknown policy limit",
      submit(`{"agent":"flaky","task":{},"policy":{"maxMoney":1}}`),
      400,
      "invalid_field",
      /maxMoney/,
    ],
    [
      "idempotency key of the wrong type",
      submit(`{"agent":"flaky","task":{},"idempotencyKey":3}`),
      400,
      "invalid_field",
      /idempotencyKey/,
    ],
    [
      "non-JSON content type",
      submit(`agent=flaky`, { "content-type": "application/x-www-form-urlencoded" }),
      415,
      "unsupported_media_type",
      /application\/json/,
    ],
    [
      "oversized body",
      submit(JSON.stringify({ agent: "flaky", task: "x".repeat(2000) })),
      413,
      "body_too_large",
      /1024 bytes/,
    ],
  ];
  for (const [name, request, status, code, message] of cases) {
    const response = await api.call("POST", "/executions", request);
    assert.equal(response.status, status, `${name}: ${response.text}`);
    assert.match(response.headers.get("content-type") ?? "", /application\/json/, name);
    assert.equal(response.body.error.code, code, name);
    assert.match(response.body.error.message, message, name);
  }
  assert.equal(api.orchestrator.running.length, 0, "nothing was started");
});

Deno.test("an oversized chunked body without Content-Length is refused with 413", async () => {
  await using api = await startTestServer({ maxBodyBytes: 1024 });
  const chunk = new TextEncoder().encode("x".repeat(600));
  let sent = 0;
  const body = new ReadableStream<Uint8Array>({
    pull(controller) {
      if (sent++ < 4) controller.enqueue(chunk);
      else controller.close();
    },
  });
  const response = await api.call("POST", "/executions", { body });
  assert.equal(response.status, 413);
  assert.equal(response.body.error.code, "body_too_large");
});

Deno.test("unknown ids, bad ids and bad parameters are 4xx with JSON errors", async () => {
  await using api = await startTestServer();
  const cases: [string, string, number, string][] = [
    ["GET", "/executions/exec-nope", 404, "execution_not_found"],
    ["GET", "/executions/exec-nope/events", 404, "execution_not_found"],
    ["GET", "/executions/exec-nope/stream", 404, "execution_not_found"],
    ["POST", "/executions/exec-nope/cancel", 404, "execution_not_found"],
    ["GET", "/executions/bad%20id", 400, "invalid_id"],
    ["GET", "/executions/%E0%A4%A", 400, "invalid_path"],
    ["GET", "/executions/exec-nope/events?after=-1", 400, "invalid_parameter"],
    ["GET", "/executions/exec-nope/events?limit=abc", 400, "invalid_parameter"],
    ["GET", "/executions/exec-nope/events?limit=5000", 400, "invalid_parameter"],
    ["GET", "/nowhere", 404, "not_found"],
    ["DELETE", "/executions", 405, "method_not_allowed"],
    ["PUT", "/executions", 405, "method_not_allowed"],
  ];
  for (const [method, path, status, code] of cases) {
    const response = await api.call(method, path);
    assert.equal(response.status, status, `${method} ${path}: ${response.text}`);
    assert.equal(response.body.error.code, code, `${method} ${path}`);
  }
  const notAllowed = await api.call("PUT", "/executions");
  assert.equal(notAllowed.headers.get("allow"), "POST, GET, HEAD, OPTIONS");
  const head = await api.call("POST", "/executions/exec-nope");
  assert.equal(head.headers.get("allow"), "GET, HEAD, OPTIONS", "Allow lists HEAD beside GET");
});

Deno.test("bad Last-Event-ID and bad cancel bodies are 400", async () => {
  await using api = await startTestServer();
  const { body } = await api.call("POST", "/executions", {
    body: JSON.stringify({ agent: "flaky", task: { items: 1 } }),
  });
  const id = body.executionId;
  const stream = await api.call("GET", `/executions/${id}/stream`, {
    headers: { "last-event-id": "seven" },
  });
  assert.equal(stream.status, 400);
  assert.match(stream.body.error.message, /Last-Event-ID/);
  const cancel = await api.call("POST", `/executions/${id}/cancel`, {
    body: JSON.stringify({ reason: 5 }),
  });
  assert.equal(cancel.status, 400);
  assert.match(cancel.body.error.message, /"reason"/);
  const extra = await api.call("POST", `/executions/${id}/cancel`, {
    body: JSON.stringify({ why: "x" }),
  });
  assert.equal(extra.status, 400);
  assert.equal(extra.body.error.code, "unknown_field");
  await api.waitFor(id, (s) => s.status !== "RUNNING");
});

Deno.test("a JSON body holding a number out of range is refused with 400 naming where, on every route", async () => {
  await using api = await startTestServer();
  const { body } = await api.call("POST", "/executions", {
    body: JSON.stringify({ agent: "waiter", task: { signal: { name: "go" } } }),
  });
  const id = body.executionId;
  const cases: [string, string, string, RegExp][] = [
    [
      "/executions",
      `{"agent":"critic","task":{"x":1e999}}`,
      "$.task.x",
      /^Request body holds a number out of range at \$\.task\.x: 1e999 is not a finite number$/,
    ],
    ["/executions", `{"agent":"critic","task":{"x":[0,-1e400]}}`, "$.task.x[1]", /-1e400/],
    ["/executions", `{"agent":"critic","task":{"a b":1E+309}}`, `$.task["a b"]`, /1E\+309/],
    [`/executions/${id}/signals/go`, `{"x":1e999}`, "$.x", /1e999/],
    [`/executions/${id}/signals/go`, `1e999`, "$", /1e999/],
    [
      "/workflows",
      `{"tasks":[{"name":"a","agent":"critic","input":{"x":1e999}}]}`,
      "$.tasks[0].input.x",
      /1e999/,
    ],
  ];
  for (const [path, request, where, message] of cases) {
    const response = await api.call("POST", path, { body: request });
    assert.equal(response.status, 400, `${path} ${request}: ${response.text}`);
    assert.equal(response.body.error.code, "invalid_json", request);
    assert.ok(response.body.error.message.includes(` at ${where}: `), response.body.error.message);
    assert.match(response.body.error.message, message, request);
  }
  // Nothing was stored: the signal was not taken as {"x":null}.
  const events = await api.call("GET", `/executions/${id}/events`);
  assert.ok(!events.text.includes("SIGNAL_RECEIVED"), events.text);
  // A number that only rounds (to 0 or to the nearest double) is finite: accepted.
  const tiny = await api.call("POST", `/executions/${id}/signals/go`, { body: `{"x":1e-999}` });
  assert.equal(tiny.status, 202, tiny.text);
  await api.waitFor(id, (s) => s.status !== "RUNNING");
});

Deno.test("an empty signal body is refused with a message that says any JSON value is accepted", async () => {
  await using api = await startTestServer();
  const { body } = await api.call("POST", "/executions", {
    body: JSON.stringify({ agent: "waiter", task: { signal: { name: "go" } } }),
  });
  const empty = await api.call("POST", `/executions/${body.executionId}/signals/go`, {
    body: "",
    headers: { "content-type": "application/json" },
  });
  assert.equal(empty.status, 400, empty.text);
  assert.equal(empty.body.error.code, "invalid_json");
  assert.match(empty.body.error.message, /^Request body is empty: expected a JSON value \(/);
  await api.call("POST", `/executions/${body.executionId}/cancel`);
  await api.waitFor(body.executionId, (s) => s.status !== "RUNNING");
});
