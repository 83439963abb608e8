// Admission: a node runs at most maxRunning executions, lets maxQueued wait
// (QUEUED, started as others finish), and refuses more with 429; an
// idempotency key belongs to the accepted request only.
import assert from "node:assert/strict";
import { startTestServer } from "./_server.ts";

const sleeper = (ms: number) =>
  JSON.stringify({ agent: "tester", task: { calls: [{ tool: "sleep", args: { ms } }] } });

Deno.test("beyond maxRunning executions wait as QUEUED and run later; beyond maxQueued, 429 with Retry-After", async () => {
  await using api = await startTestServer({ backend: { maxRunning: 1, maxQueued: 1 } });
  const first = await api.call("POST", "/executions", { body: sleeper(400) });
  assert.equal(first.status, 202);
  assert.equal(first.body.status, "RUNNING");
  const second = await api.call("POST", "/executions", { body: sleeper(10) });
  assert.equal(second.status, 202);
  assert.equal(second.body.status, "QUEUED");
  assert.equal(
    (await api.call("GET", `/executions/${second.body.executionId}`)).body.status,
    "QUEUED",
  );
  const third = await api.call("POST", "/executions", { body: sleeper(10) });
  assert.equal(third.status, 429, third.text);
  assert.equal(third.body.error.code, "too_many_executions");
  assert.match(third.headers.get("retry-after") ?? "", /^\d+$/);
  assert.equal(api.orchestrator.running.length, 1, "the refused and the queued do not run");
  const done = await api.waitFor(second.body.executionId, (s) => s.status === "SUCCESS");
  assert.equal(done.status, "SUCCESS", "the queued one ran once the first finished");
  assert.equal(
    (await api.call("GET", `/executions/${first.body.executionId}`)).body.status,
    "SUCCESS",
  );
});

Deno.test("a queued execution can be cancelled before it starts, and never runs", async () => {
  await using api = await startTestServer({ backend: { maxRunning: 1, maxQueued: 5 } });
  const first = await api.call("POST", "/executions", { body: sleeper(300) });
  const queued = await api.call("POST", "/executions", { body: sleeper(10) });
  assert.equal(queued.body.status, "QUEUED");
  const cancel = await api.call("POST", `/executions/${queued.body.executionId}/cancel`, {
    body: JSON.stringify({ reason: "not needed" }),
  });
  assert.equal(cancel.status, 202, cancel.text);
  await api.waitFor(first.body.executionId, (s) => s.status === "SUCCESS");
  await new Promise((r) => setTimeout(r, 100));
  const status = await api.call("GET", `/executions/${queued.body.executionId}`);
  assert.equal(status.body.status, "CANCELLED");
  const events = await api.call("GET", `/executions/${queued.body.executionId}/events`);
  assert.ok(
    !events.body.events.some((e: { type: string }) => e.type === "EXECUTION_STARTED"),
    "it never started",
  );
});

Deno.test("an idempotency key used with another request is 409; a refused submit does not keep its key", async () => {
  await using api = await startTestServer({ backend: { maxRunning: 1, maxQueued: 0 } });
  const key = { "content-type": "application/json", "idempotency-key": "order-9" };
  const first = await api.call("POST", "/executions", { body: sleeper(200), headers: key });
  assert.equal(first.status, 202);
  const again = await api.call("POST", "/executions", { body: sleeper(200), headers: key });
  assert.equal(again.status, 202);
  assert.equal(again.body.duplicate, true);
  assert.equal(again.body.executionId, first.body.executionId);
  const other = await api.call("POST", "/executions", { body: sleeper(999), headers: key });
  assert.equal(other.status, 409);
  assert.equal(other.body.error.code, "idempotency_key_reused");
  assert.match(other.body.error.message, new RegExp(first.body.executionId));

  const fresh = { "content-type": "application/json", "idempotency-key": "order-10" };
  const refused = await api.call("POST", "/executions", { body: sleeper(10), headers: fresh });
  assert.equal(refused.status, 429, "the node is full");
  await api.waitFor(first.body.executionId, (s) => s.status === "SUCCESS");
  const accepted = await api.call("POST", "/executions", { body: sleeper(10), headers: fresh });
  assert.equal(accepted.status, 202);
  assert.equal(accepted.body.duplicate, false, "the refused submit left the key free");
  await api.waitFor(accepted.body.executionId, (s) => s.status === "SUCCESS");
});

Deno.test("a submit whose idempotency key starts with a prefix of the runtime's own jobs is 400 naming the key and the prefix, as on an API node", async () => {
  await using api = await startTestServer();
  const body = JSON.parse(sleeper(1));
  const field = await api.call("POST", "/executions", {
    body: JSON.stringify({ ...body, idempotencyKey: "migrated:job-1" }),
  });
  assert.equal(field.status, 400, field.text);
  assert.equal(field.body.error.code, "invalid_field");
  assert.match(
    field.body.error.message,
    /^Invalid field "idempotencyKey" "migrated:job-1": the prefix "migrated:" is reserved/,
  );
  const header = await api.call("POST", "/executions", {
    body: sleeper(1),
    headers: { "content-type": "application/json", "idempotency-key": "oao-continue:exec-1@3" },
  });
  assert.equal(header.status, 400, header.text);
  assert.equal(header.body.error.code, "invalid_header");
  assert.match(
    header.body.error.message,
    /^Invalid header "idempotency-key" "oao-continue:exec-1@3": the prefix "oao-continue:" is reserved/,
  );
  assert.deepEqual(await api.orchestrator.eventStore.listExecutions(), [], "nothing started");
});

Deno.test("a workflow's tasks take places like submits: with maxRunning 2, six parallel tasks run two at a time; a full node refuses a workflow with 429", async () => {
  await using api = await startTestServer({ backend: { maxRunning: 2, maxQueued: 1 } });
  const tasks = Array.from({ length: 6 }, (_, i) => ({
    name: `t${i}`,
    agent: "tester",
    input: { calls: [{ tool: "sleep", args: { ms: 150 } }] },
  }));
  const submitted = await api.call("POST", "/workflows", {
    body: JSON.stringify({ id: "wf-admitted", concurrency: 6, tasks }),
  });
  assert.equal(submitted.status, 202, submitted.text);
  let most = 0;
  let refused = false;
  const deadline = Date.now() + 20_000;
  while (Date.now() < deadline) {
    most = Math.max(most, api.orchestrator.running.length);
    const status = await api.call("GET", "/workflows/wf-admitted");
    if (status.body.status !== "RUNNING") {
      assert.equal(status.body.status, "SUCCESS", status.text);
      break;
    }
    if (!refused && api.orchestrator.running.length === 2) {
      // Two run and four wait: another workflow finds no room.
      const another = await api.call("POST", "/workflows", {
        body: JSON.stringify({ tasks: [{ name: "a", agent: "tester", input: {} }] }),
      });
      refused = another.status === 429;
    }
    await new Promise((r) => setTimeout(r, 10));
  }
  assert.equal(most, 2, "at most 2 executions at once");
  assert.ok(refused, "a workflow was refused with 429 while the node was full");
});

Deno.test("an agent's own maxRunning queues its executions while other agents' start at once", async () => {
  await using api = await startTestServer({ backend: { maxRunning: 10 }, testerMaxRunning: 1 });
  const first = await api.call("POST", "/executions", { body: sleeper(3_000) });
  const second = await api.call("POST", "/executions", { body: sleeper(10) });
  const other = await api.call("POST", "/executions", {
    body: JSON.stringify({ agent: "researcher", task: { topic: "actors", sources: 1 } }),
  });
  assert.deepEqual(
    [first.body.status, second.body.status, other.body.status],
    ["RUNNING", "QUEUED", "RUNNING"],
  );
  await api.waitFor(other.body.executionId, (s) => s.status === "SUCCESS");
  assert.equal(
    (await api.call("GET", `/executions/${second.body.executionId}`)).body.status,
    "QUEUED",
    "still behind the first tester, although the node has room",
  );
  const done = await api.waitFor(second.body.executionId, (s) => s.status === "SUCCESS");
  assert.equal(done.status, "SUCCESS");
});
