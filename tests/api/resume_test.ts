// POST /executions/:id/resume: continues an unfinished execution that no
// runner holds; refuses finished, running and unknown ones.
import assert from "node:assert/strict";
import { startTestServer } from "./_server.ts";
import { CHARGE, parkOnDecision } from "./_parked.ts";

Deno.test("POST /executions/:id/resume continues an execution whose runner stopped", async () => {
  await using api = await startTestServer();
  const { body } = await api.call("POST", "/executions", {
    body: JSON.stringify({
      agent: "tester",
      task: { calls: [{ tool: "sleep", args: { ms: 400 } }] },
    }),
  });
  const id = body.executionId;
  await api.waitFor(id, (s) => s.totals?.toolCalls >= 1);
  // A runner of this process holds it: 409.
  const busy = await api.call("POST", `/executions/${id}/resume`);
  assert.equal(busy.status, 409, busy.text);
  assert.equal(busy.body.error.code, "already_running");
  const done = await api.waitFor(id, (s) => s.status === "SUCCESS");
  assert.equal(done.status, "SUCCESS");
  const finished = await api.call("POST", `/executions/${id}/resume`);
  assert.equal(finished.status, 409);
  assert.equal(finished.body.error.code, "already_finished");
});

Deno.test("POST /executions/:id/resume runs again an execution left RUNNING in the log", async () => {
  await using api = await startTestServer();
  const { body } = await api.call("POST", "/executions", {
    body: JSON.stringify({
      agent: "tester",
      task: { calls: [{ tool: "sleep", args: { ms: 1 } }] },
    }),
  });
  await api.waitFor(body.executionId, (s) => s.status === "SUCCESS");
  // What a process that died in EXECUTE leaves: the log up to entering it, and no runner.
  const events = await api.orchestrator.eventStore.readRange(body.executionId);
  const cut = events.findIndex((e) => e.type === "STATE_ENTER" && e.data?.state === "EXECUTE");
  const id = "exec-orphan-1";
  for (const { type, time, data } of events.slice(0, cut + 1)) {
    await api.orchestrator.eventStore.appendEvent(id, { type, time, ...(data ? { data } : {}) });
  }
  assert.equal((await api.call("GET", `/executions/${id}`)).body.status, "RUNNING");
  const resumed = await api.call("POST", `/executions/${id}/resume`);
  assert.equal(resumed.status, 202, resumed.text);
  assert.deepEqual(resumed.body, { executionId: id, status: "RUNNING" });
  const done = await api.waitFor(id, (s) => s.status === "SUCCESS");
  assert.equal(done.status, "SUCCESS");
});

Deno.test("POST /executions/:id/resume of an execution still QUEUED on the node is 409 queued and leaves it to its place in line", async () => {
  await using api = await startTestServer({ backend: { maxRunning: 1 } });
  const submit = (ms: number) =>
    api.call("POST", "/executions", {
      body: JSON.stringify({ agent: "tester", task: { calls: [{ tool: "sleep", args: { ms } }] } }),
    });
  const first = await submit(300);
  const queued = await submit(1);
  assert.equal(queued.body.status, "QUEUED", queued.text);
  const id = queued.body.executionId;
  const answer = await api.call("POST", `/executions/${id}/resume`);
  assert.equal(answer.status, 409, answer.text);
  assert.equal(answer.body.error.code, "queued");
  assert.equal(
    answer.body.error.message,
    `Execution "${id}" is QUEUED: it has not started, and the node that accepted it starts it when it has room; a resume would do nothing`,
  );
  assert.equal((await api.call("GET", `/executions/${id}`)).body.status, "QUEUED");
  await api.waitFor(first.body.executionId, (s) => s.status === "SUCCESS");
  assert.equal((await api.waitFor(id, (s) => s.status === "SUCCESS")).status, "SUCCESS");
});

Deno.test("POST /executions/:id/resume names a bad id (400) and answers 404 for an unknown one", async () => {
  await using api = await startTestServer();
  const bad = await api.call("POST", `/executions/${encodeURIComponent("no such!")}/resume`);
  assert.equal(bad.status, 400);
  assert.match(bad.body.error.message, /id/);
  const unknown = await api.call("POST", "/executions/exec-unknown/resume");
  assert.equal(unknown.status, 404);
  assert.equal(unknown.body.error.code, "execution_not_found");
});

Deno.test("GET /executions/:id/replay rebuilds an execution from its log alone; unknown ids are 404, bad ones 400", async () => {
  await using api = await startTestServer();
  const { body } = await api.call("POST", "/executions", {
    body: JSON.stringify({
      agent: "tester",
      task: {
        calls: [{ tool: "search", args: { query: "q" } }, { tool: "sleep", args: { ms: 1 } }],
      },
    }),
  });
  const id = body.executionId;
  await api.waitFor(id, (s) => s.status === "SUCCESS");
  const events = await api.orchestrator.eventStore.readRange(id);
  const replay = await api.call("GET", `/executions/${id}/replay`);
  assert.equal(replay.status, 200, replay.text);
  assert.equal(replay.body.events, events.length);
  assert.equal(replay.body.report.status, "SUCCESS");
  assert.deepEqual(
    replay.body.toolCalls.map((c: { tool: string; outcome: string }) => [c.tool, c.outcome]),
    [["search", "success"], ["sleep", "success"]],
  );
  const missing = await api.call("GET", "/executions/exec-none/replay");
  assert.equal(missing.status, 404);
  assert.equal(missing.body.error.code, "execution_not_found");
  const bad = await api.call("GET", "/executions/bad%20id/replay");
  assert.equal(bad.status, 400);
});

Deno.test("POST /executions/:id/resume of an execution waiting for a decision is 409 needs_decision naming the call and the route that decides it", async () => {
  await using api = await startTestServer({ tools: [CHARGE as never] });
  const id = await parkOnDecision(api, async (task) => {
    const { status, body, text } = await api.call("POST", "/executions", {
      body: JSON.stringify({ agent: "tester", task }),
    });
    assert.equal(status, 202, text);
    return body.executionId;
  });
  const before = (await api.orchestrator.eventStore.readRange(id)).length;
  const answer = await api.call("POST", `/executions/${id}/resume`);
  assert.equal(answer.status, 409, answer.text);
  assert.equal(answer.body.error.code, "needs_decision");
  const { decision } = (await api.call("GET", `/executions/${id}`)).body;
  assert.match(
    answer.body.error.message,
    new RegExp(`/executions/${id}/decisions/${decision.callId}`),
  );
  assert.match(answer.body.error.message, /"charge"/);
  assert.equal((await api.orchestrator.eventStore.readRange(id)).length, before, "nothing ran");
});
