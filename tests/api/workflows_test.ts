// Workflows and forks over HTTP: start, status with every task's state and
// execution id, list, cancel, fork; invalid requests refused with nothing
// written; 501 on a node that hands executions to workers.
import assert from "node:assert/strict";
import { type Json, sleepTool, startTestServer, type TestServer } from "./_server.ts";
import { createApiApp } from "../../src/api/app.ts";
import { OaoMetrics } from "../../src/api/metrics.ts";
import { QueueBackend } from "../../src/distributed/queue_backend.ts";
import { InMemoryEventStore } from "../../src/events/in_memory_event_store.ts";
import { InMemoryJobQueue } from "../../src/queue/in_memory_job_queue.ts";
import { InMemoryPersistenceAdapter } from "../../src/persistence/in_memory_persistence_adapter.ts";
import { Orchestrator } from "../../src/orchestrator/orchestrator.ts";

const body = (value: unknown) => ({ body: JSON.stringify(value) });

async function waitForWorkflow(api: TestServer, id: string, until: (s: Json) => boolean) {
  const deadline = Date.now() + 15_000;
  while (true) {
    const { body } = await api.call("GET", `/workflows/${id}`);
    if (until(body) || Date.now() > deadline) return body;
    await new Promise((r) => setTimeout(r, 25));
  }
}

Deno.test("POST /workflows answers 202, and GET /workflows/:id shows every task's state and execution id", async () => {
  await using api = await startTestServer();
  const submitted = await api.call(
    "POST",
    "/workflows",
    body({
      id: "wf-http",
      concurrency: 2,
      tasks: [
        { name: "actors", agent: "researcher", input: { topic: "Actor systems", sources: 2 } },
        { name: "dags", agent: "researcher", input: { topic: "DAGs", sources: 1 } },
        { name: "review", agent: "critic", dependsOn: ["actors", "dags"] },
      ],
    }),
  );
  assert.equal(submitted.status, 202, submitted.text);
  assert.equal(submitted.headers.get("location"), "/workflows/wf-http");
  assert.deepEqual(submitted.body, {
    workflowId: "wf-http",
    status: "RUNNING",
    links: { status: "/workflows/wf-http", cancel: "/workflows/wf-http/cancel" },
  });
  const running = await api.call("GET", "/workflows/wf-http");
  assert.equal(running.status, 200, "the start is recorded when the 202 is sent");
  const done = await waitForWorkflow(api, "wf-http", (s) => s.status !== "RUNNING");
  assert.equal(done.status, "SUCCESS");
  assert.deepEqual(
    done.tasks.map((t: Json) => [t.name, t.agent, t.status, t.executionId, t.dependsOn]),
    [
      ["actors", "researcher", "SUCCESS", "wf-http.actors", []],
      ["dags", "researcher", "SUCCESS", "wf-http.dags", []],
      ["review", "critic", "SUCCESS", "wf-http.review", ["actors", "dags"]],
    ],
  );
  assert.equal(done.completionOrder.at(-1), "review");
  // Outputs are in the tasks' executions.
  const actors = await api.call("GET", "/executions/wf-http.actors");
  // (The bundled researcher asks its critic peer too.)
  assert.equal(
    actors.body.report.output.summary,
    "Actor systems: 2 sources read — critic: well sourced",
  );
  const review = await api.call("GET", "/executions/wf-http.review");
  assert.deepEqual(review.body.report.output, { actors: "well sourced", dags: "well sourced" });
  // ETags, as for executions.
  const tag = (await api.call("GET", "/workflows/wf-http")).headers.get("etag")!;
  assert.equal(
    (await api.call("GET", "/workflows/wf-http", { headers: { "if-none-match": tag } })).status,
    304,
  );
});

Deno.test("an invalid workflow is refused with a status and message naming the problem, and nothing is written", async () => {
  await using api = await startTestServer();
  const cases: [unknown, number, string, RegExp][] = [
    [
      {
        id: "wf-bad",
        tasks: [{ name: "A", agent: "tester" }, { name: "B", agent: "tester", dependsOn: "A" }],
      },
      400,
      "invalid_field",
      /Invalid field "tasks\.1\.dependsOn": expected an array of task names/,
    ],
    [
      {
        id: "wf-bad",
        tasks: [{ name: "A", agent: "tester", dependsOn: ["B"] }, {
          name: "B",
          agent: "tester",
          dependsOn: ["A"],
        }],
      },
      400,
      "invalid_workflow",
      /has a cycle/,
    ],
    [
      { id: "wf-bad", tasks: [{ name: "A", agent: "tester", dependsOn: ["Z"] }] },
      400,
      "invalid_workflow",
      /unknown task "Z"/,
    ],
    [
      { id: "wf-bad", tasks: [{ name: "A", agent: "nobody" }] },
      422,
      "unknown_agent",
      /tasks\.0\.agent.*"nobody"/,
    ],
    [
      { id: "wf-bad", tasks: [{ name: "A", agent: "tester", inputs: {} }] },
      400,
      "invalid_field",
      /tasks\.0.*unknown key "inputs"/,
    ],
    [
      { id: "wf-bad", tasks: [], concurrency: 2 },
      400,
      "invalid_field",
      /Invalid field "tasks": expected an array of 1–1000 tasks/,
    ],
    [
      { id: "bad id/with slash", tasks: [{ name: "A", agent: "tester" }] },
      400,
      "invalid_field",
      /Invalid field "id"/,
    ],
    [
      { id: "wf-bad", tasks: [{ name: "A", agent: "tester" }], onFailure: "stop" },
      400,
      "invalid_field",
      /"onFailure"/,
    ],
    [
      { id: "wf-bad", tasks: [{ name: "A", agent: "tester", policy: { maxSteps: 0 } }] },
      400,
      "invalid_field",
      /policy/,
    ],
    [
      { id: "wf-bad", tasks: [{ name: "A", agent: "tester" }], extra: 1 },
      400,
      "unknown_field",
      /Unknown field "extra"/,
    ],
  ];
  for (const [spec, status, code, message] of cases) {
    const answer = await api.call("POST", "/workflows", body(spec));
    assert.equal(answer.status, status, `${JSON.stringify(spec)} → ${answer.text}`);
    assert.equal(answer.body.error.code, code, answer.text);
    assert.match(answer.body.error.message, message);
  }
  assert.equal((await api.call("GET", "/workflows/wf-bad")).status, 404);
  const badId = await api.call("GET", "/workflows/bad%20id");
  assert.equal(badId.status, 400);
  assert.match(badId.body.error.message, /^Invalid workflow id "bad id"/);
  assert.deepEqual(await api.orchestrator.eventStore.listExecutions(), [], "nothing was written");
  assert.equal(await api.orchestrator.persistence.load("wf-bad/workflow"), undefined);
});

Deno.test("a taken workflow id is 409 and leaves the first workflow alone", async () => {
  await using api = await startTestServer();
  const spec = { id: "wf-taken", tasks: [{ name: "a", agent: "tester", input: {} }] };
  assert.equal((await api.call("POST", "/workflows", body(spec))).status, 202);
  await waitForWorkflow(api, "wf-taken", (s) => s.status !== "RUNNING");
  const events = await api.orchestrator.eventStore.count("wf-taken");
  const again = await api.call("POST", "/workflows", body(spec));
  assert.equal(again.status, 409);
  assert.equal(again.body.error.code, "workflow_exists");
  assert.equal(await api.orchestrator.eventStore.count("wf-taken"), events);
});

Deno.test("GET /workflows lists workflows newest first, a page at a time, and leaves executions out", async () => {
  await using api = await startTestServer();
  await api.call("POST", "/executions", body({ agent: "tester", task: {} }));
  for (const id of ["wf-list-1", "wf-list-2", "wf-list-3"]) {
    const answer = await api.call(
      "POST",
      "/workflows",
      body({ id, tasks: [{ name: "a", agent: "tester", input: {} }] }),
    );
    assert.equal(answer.status, 202);
    await waitForWorkflow(api, id, (s) => s.status !== "RUNNING");
    await new Promise((r) => setTimeout(r, 5)); // distinct start times
  }
  const first = await api.call("GET", "/workflows?limit=2");
  assert.equal(first.status, 200, first.text);
  assert.deepEqual(first.body.workflows.map((w: Json) => w.workflowId), ["wf-list-3", "wf-list-2"]);
  assert.deepEqual(first.body.workflows[0].taskStatuses, { SUCCESS: 1 });
  assert.equal(first.body.workflows[0].status, "SUCCESS");
  assert.equal(first.body.workflows[0].tasks, 1);
  const second = await api.call("GET", `/workflows?limit=2&cursor=${first.body.nextCursor}`);
  assert.deepEqual(second.body.workflows.map((w: Json) => w.workflowId), ["wf-list-1"]);
  assert.equal(second.body.nextCursor, undefined);
  const bad = await api.call("GET", "/workflows?cursor=nope");
  assert.equal(bad.status, 400);
  assert.equal(bad.body.error.code, "invalid_parameter");
  assert.equal((await api.call("GET", "/workflows?limit=0")).status, 400);
});

Deno.test("POST /workflows/:id/cancel cancels the running tasks and the pending ones; a second cancel is 409", async () => {
  await using api = await startTestServer();
  const sleepy = { calls: [{ tool: "sleep", args: { ms: 10_000 } }] };
  await api.call(
    "POST",
    "/workflows",
    body({
      id: "wf-stop",
      tasks: [
        { name: "long", agent: "tester", input: sleepy },
        { name: "after", agent: "tester", dependsOn: ["long"] },
      ],
    }),
  );
  await waitForWorkflow(api, "wf-stop", (s) => s.tasks[0].status === "RUNNING");
  const cancel = await api.call(
    "POST",
    "/workflows/wf-stop/cancel",
    body({ reason: "changed my mind" }),
  );
  assert.equal(cancel.status, 202, cancel.text);
  assert.deepEqual(cancel.body, { workflowId: "wf-stop", cancelRequested: true });
  const done = await waitForWorkflow(api, "wf-stop", (s) => s.status !== "RUNNING");
  assert.equal(done.status, "CANCELLED");
  assert.deepEqual(done.tasks.map((t: Json) => t.status), ["CANCELLED", "CANCELLED"]);
  assert.equal(done.cancelRequested.reason, "changed my mind");
  const again = await api.call("POST", "/workflows/wf-stop/cancel");
  assert.equal(again.status, 409);
  assert.equal(again.body.error.code, "already_finished");
  const missing = await api.call("POST", "/workflows/wf-nobody/cancel");
  assert.equal(missing.status, 404);
  assert.equal(missing.body.error.code, "workflow_not_found");
  const execution = await api.call("GET", "/workflows/wf-stop.long");
  assert.equal(execution.status, 404);
  assert.match(execution.body.error.message, /is an execution, not a workflow/);
});

Deno.test("POST /executions/:id/fork starts a new execution from a completed step and leaves the original as it was", async () => {
  await using api = await startTestServer();
  const submitted = await api.call(
    "POST",
    "/executions",
    body({ agent: "researcher", task: { topic: "forks", sources: 1 } }),
  );
  const source = submitted.body.executionId;
  await api.waitFor(source, (s) => s.status !== "RUNNING");
  const original = await api.orchestrator.eventStore.readRange(source);
  const fork = await api.call(
    "POST",
    `/executions/${source}/fork`,
    body({ fromStep: 3, id: "forked-1" }),
  );
  assert.equal(fork.status, 202, fork.text);
  assert.equal(fork.headers.get("location"), "/executions/forked-1");
  assert.deepEqual(fork.body.forkedFrom, { executionId: source, step: 3 });
  const done = await api.waitFor("forked-1", (s) => s.status !== "RUNNING");
  assert.equal(done.status, "SUCCESS");
  assert.equal(done.report.output.summary, "forks: 1 sources read — critic: well sourced");
  assert.deepEqual(await api.orchestrator.eventStore.readRange(source), original);
  const refusals: [string, unknown, number, string][] = [
    [source, { fromStep: 99, id: "forked-2" }, 422, "invalid_step"],
    [source, { fromStep: 3, id: "forked-1" }, 409, "execution_exists"],
    [source, { fromStep: 3, id: "bad id" }, 400, "invalid_field"],
    [source, { fromStep: "3" }, 400, "invalid_field"],
    [source, { id: "forked-3" }, 400, "invalid_field"],
    ["exec-nobody", { fromStep: 3, id: "forked-4" }, 404, "execution_not_found"],
  ];
  for (const [id, request, status, code] of refusals) {
    const answer = await api.call("POST", `/executions/${id}/fork`, body(request));
    assert.equal(answer.status, status, `${JSON.stringify(request)} → ${answer.text}`);
    assert.equal(answer.body.error.code, code);
  }
  for (const id of ["forked-2", "forked-3", "forked-4"]) {
    assert.equal(await api.orchestrator.eventStore.count(id), 0, `${id} was not written`);
  }
});

Deno.test("a node that hands executions to workers answers 501 to starting workflows and to forks, and cancels a workflow another process runs", async () => {
  const queue = new InMemoryJobQueue();
  const eventStore = new InMemoryEventStore();
  const persistence = new InMemoryPersistenceAdapter();
  const backend = new QueueBackend({ queue, eventStore, agents: ["tester"] });
  const app = createApiApp({
    backend,
    eventStore,
    metrics: new OaoMetrics({ inFlight: () => backend.inFlight() }),
  });
  // Another process on the same stores (`oao workflow run` with REDIS_URL).
  const runner = new Orchestrator({
    eventStore,
    persistence,
    tools: [sleepTool as never],
    agents: [{ name: "tester", module: new URL("../fixtures/test_agent.ts", import.meta.url) }],
  });
  const post = (path: string, value?: unknown) =>
    app.request(path, {
      method: "POST",
      headers: { "content-type": "application/json", host: "localhost" },
      ...(value === undefined ? {} : { body: JSON.stringify(value) }),
    });
  try {
    for (
      const [path, value] of [
        ["/workflows", { tasks: [{ name: "a", agent: "tester" }] }],
        ["/executions/exec-1/fork", { fromStep: 1 }],
      ] as const
    ) {
      const answer = await post(path, value);
      assert.equal(answer.status, 501, path);
      assert.equal((await answer.json()).error.code, "not_supported");
    }
    assert.deepEqual(await eventStore.listExecutions(), []);
    const started = await runner.startWorkflow({
      id: "wf-elsewhere",
      tasks: [{
        name: "long",
        agent: "tester",
        input: { calls: [{ tool: "sleep", args: { ms: 10_000 } }] },
      }],
    });
    const list = await app.request("/workflows", { headers: { host: "localhost" } });
    assert.deepEqual((await list.json()).workflows.map((w: Json) => w.workflowId), [
      "wf-elsewhere",
    ]);
    const cancel = await post("/workflows/wf-elsewhere/cancel");
    assert.equal(cancel.status, 202, await cancel.clone().text());
    const report = await started.done;
    assert.equal(report.status, "CANCELLED");
    assert.equal(report.tasks.long?.status, "CANCELLED");
    assert.equal((await post("/workflows/wf-elsewhere/cancel")).status, 409);
  } finally {
    await runner.close();
    await backend.close();
    await queue.close();
    await eventStore.close();
  }
});
