// /schedules over real HTTP: a real server, a real orchestrator and backend,
// the scheduler on a manual clock (no real waiting for ticks).
import assert from "node:assert/strict";
import { OaoMetrics } from "../../src/api/metrics.ts";
import { startApiServer } from "../../src/api/server.ts";
import { LocalWorkflowBackend } from "../../src/orchestrator/local_workflow_backend.ts";
import { Orchestrator } from "../../src/orchestrator/orchestrator.ts";
import { InMemoryScheduleStore } from "../../src/schedule/in_memory_schedule_store.ts";
import { Scheduler } from "../../src/schedule/scheduler.ts";
import { ManualClock } from "../../src/testing/manual_clock.ts";

// deno-lint-ignore no-explicit-any
type Json = any;

function scheduleServer(options: { scheduler?: boolean } = {}) {
  const orchestrator = new Orchestrator({
    agents: [{ name: "tester", module: new URL("../fixtures/test_agent.ts", import.meta.url) }],
  });
  const backend = new LocalWorkflowBackend(orchestrator);
  const metrics = new OaoMetrics();
  const clock = new ManualClock(Date.UTC(2025, 0, 1));
  const scheduler = new Scheduler({
    store: new InMemoryScheduleStore(),
    backend,
    eventStore: orchestrator.eventStore,
    clock,
    onEvent: (event) => metrics.observe(event),
  });
  const server = startApiServer({
    backend,
    eventStore: orchestrator.eventStore,
    metrics,
    port: 0,
    ...(options.scheduler === false ? {} : { scheduler }),
  });
  const call = async (method: string, path: string, body?: string) => {
    const response = await fetch(`${server.url}${path}`, {
      method,
      headers: body === undefined ? {} : { "content-type": "application/json" },
      body: body ?? null,
    });
    const text = await response.text();
    let json: Json = text;
    try {
      json = JSON.parse(text);
    } catch {
      // not JSON
    }
    return { status: response.status, headers: response.headers, body: json, text };
  };
  return {
    clock,
    scheduler,
    call,
    orchestrator,
    async [Symbol.asyncDispose]() {
      await scheduler.stop();
      await server.shutdown();
      await backend.close();
    },
  };
}

Deno.test("POST /schedules creates a schedule whose ticks start executions through the backend, once per tick", async () => {
  await using api = scheduleServer();
  const created = await api.call(
    "POST",
    "/schedules",
    JSON.stringify({
      id: "every-5",
      cron: "*/5 * * * *",
      timezone: "Europe/Berlin",
      agent: "tester",
      task: { calls: [] },
    }),
  );
  assert.equal(created.status, 201, created.text);
  assert.equal(created.headers.get("location"), "/schedules/every-5");
  assert.equal(created.body.nextTick, Date.UTC(2025, 0, 1, 0, 5));
  assert.equal(created.body.overlap, "skip");
  assert.equal(created.body.catchUp, "skip");
  assert.equal(created.body.firing, undefined);

  await api.clock.advance(5 * 60_000);
  await api.scheduler.runDue();
  await api.scheduler.runDue();
  const read = await api.call("GET", "/schedules/every-5");
  assert.equal(read.status, 200);
  const executionId = read.body.lastExecutionId;
  assert.match(executionId, /^exec-/);
  assert.equal(read.body.lastFiredTick, Date.UTC(2025, 0, 1, 0, 5));
  assert.equal(read.body.nextTick, Date.UTC(2025, 0, 1, 0, 10));
  const ids = await api.orchestrator.eventStore.listExecutions();
  assert.deepEqual(ids, [executionId], "one execution for the tick");
  // The execution runs on real time (the first start builds the agent's bundle).
  let status = await api.call("GET", `/executions/${executionId}`);
  for (const deadline = Date.now() + 60_000; Date.now() < deadline;) {
    if (status.body.status === "SUCCESS") break;
    await new Promise((r) => setTimeout(r, 50));
    status = await api.call("GET", `/executions/${executionId}`);
  }
  assert.equal(status.body.status, "SUCCESS", status.text);

  // Finished: the next tick is not an overlap (overlap "skip"), it starts a new execution.
  await api.clock.advance(5 * 60_000);
  await api.scheduler.runDue();
  const second = (await api.call("GET", "/schedules/every-5")).body;
  assert.equal(second.lastFiredTick, Date.UTC(2025, 0, 1, 0, 10));
  assert.notEqual(second.lastExecutionId, executionId);
  assert.equal((await api.orchestrator.eventStore.listExecutions()).length, 2);

  const list = await api.call("GET", "/schedules");
  assert.deepEqual(list.body.schedules.map((s: Json) => s.id), ["every-5"]);
  const metrics = await api.call("GET", "/metrics");
  assert.match(metrics.text, /oao_schedule_ticks_total\{outcome="fired",reason="on-time"\} 2/);
});

Deno.test("pause, resume and delete a schedule over HTTP; unknown ids are 404", async () => {
  await using api = scheduleServer();
  await api.call(
    "POST",
    "/schedules",
    JSON.stringify({ id: "p", cron: "* * * * *", agent: "tester" }),
  );
  const paused = await api.call("POST", "/schedules/p/pause");
  assert.equal(paused.status, 200, paused.text);
  assert.equal(paused.body.paused, true);
  assert.equal(paused.body.nextTick, undefined);
  await api.clock.advance(3 * 60_000);
  await api.scheduler.runDue();
  assert.deepEqual(await api.orchestrator.eventStore.listExecutions(), [], "no tick while paused");
  const resumed = await api.call("POST", "/schedules/p/resume");
  assert.equal(resumed.body.paused, false);
  assert.equal(resumed.body.nextTick, Date.UTC(2025, 0, 1, 0, 4));
  const deleted = await api.call("DELETE", "/schedules/p");
  assert.equal(deleted.status, 204);
  for (
    const [method, path] of [
      ["DELETE", "/schedules/p"],
      ["GET", "/schedules/p"],
      ["POST", "/schedules/p/pause"],
      ["POST", "/schedules/p/resume"],
    ] as const
  ) {
    const answer = await api.call(method, path);
    assert.equal(answer.status, 404, `${method} ${path}: ${answer.text}`);
    assert.equal(answer.body.error.code, "schedule_not_found");
  }
  const badId = await api.call("GET", "/schedules/a%20b");
  assert.equal(badId.status, 400);
  assert.match(badId.body.error.message, /^Invalid schedule id "a b"/);
});

Deno.test("POST /schedules refuses bad input: invalid cron (400 naming it), bad time zone, unknown agent (422), and more", async () => {
  await using api = scheduleServer();
  const post = (body: unknown) =>
    api.call("POST", "/schedules", typeof body === "string" ? body : JSON.stringify(body));
  const cron = await post({ cron: "61 * * * *", agent: "tester" });
  assert.equal(cron.status, 400, cron.text);
  assert.match(cron.body.error.message, /Invalid cron expression "61 \* \* \* \*".*minute/);
  const fields = await post({ cron: "* * * * * *", agent: "tester" });
  assert.equal(fields.status, 400);
  assert.match(fields.body.error.message, /expected 5 fields/);
  const never = await post({ cron: "0 0 31 2 *", agent: "tester" });
  assert.match(never.body.error.message, /never fires/);
  const tz = await post({ cron: "@daily", timezone: "Mars/Olympus", agent: "tester" });
  assert.equal(tz.status, 400, tz.text);
  assert.match(tz.body.error.message, /Invalid time zone "Mars\/Olympus"/);
  const agent = await post({ cron: "@daily", agent: "ghost" });
  assert.equal(agent.status, 422, agent.text);
  assert.match(agent.body.error.message, /No agent is registered as "ghost"/);
  const limit = await post({ cron: "@daily", agent: "tester", catchUpLimit: -3 });
  assert.equal(limit.status, 400);
  assert.match(limit.body.error.message, /Invalid field "catchUpLimit"/);
  const policy = await post({ cron: "@daily", agent: "tester", overlap: "sometimes" });
  assert.equal(policy.status, 400);
  assert.match(policy.body.error.message, /"skip", "buffer-one" or "allow"/);
  const unknown = await post({ cron: "@daily", agent: "tester", every: 5 });
  assert.equal(unknown.status, 400);
  assert.match(unknown.body.error.message, /every/);
  const missing = await post({ agent: "tester" });
  assert.equal(missing.status, 400);
  assert.match(missing.body.error.message, /cron/);
  assert.equal((await post("{not json")).status, 400);
  assert.equal((await post("[1,2]")).status, 400);
  const bigTask = await post({ cron: "@daily", agent: "tester", task: "x".repeat(40_000) });
  assert.equal(bigTask.status, 400, bigTask.text);
  assert.match(bigTask.body.error.message, /more than the 32768/);
  const huge = await post({ cron: "@daily", agent: "tester", task: "x".repeat(2_000_000) });
  assert.equal(huge.status, 413);
  const longCron = await post({ cron: "*".repeat(10_000), agent: "tester" });
  assert.equal(longCron.status, 400);
  assert.ok(longCron.text.length < 1_000, "the answer does not echo a huge expression");
  await post({ id: "taken", cron: "@daily", agent: "tester" });
  const again = await post({ id: "taken", cron: "@hourly", agent: "tester" });
  assert.equal(again.status, 409);
  assert.equal(again.body.error.code, "schedule_exists");
  assert.deepEqual(
    (await api.call("GET", "/schedules")).body.schedules.map((s: Json) => s.id),
    ["taken"],
    "nothing invalid was stored",
  );
});

Deno.test("a server without a scheduler answers 501 on /schedules", async () => {
  await using api = scheduleServer({ scheduler: false });
  const answer = await api.call("GET", "/schedules");
  assert.equal(answer.status, 501);
  assert.match(answer.body.error.message, /no scheduler/);
});
