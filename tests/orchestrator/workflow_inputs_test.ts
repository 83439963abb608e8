// What a workflow task receives, and what a workflow refuses before writing
// anything: ids, the type of every field, JSON inputs; finished workflows are
// not finished twice; cancellation, in this process and from another one.
import assert from "node:assert/strict";
import { UnknownAgentError, ValueTooLargeError } from "../../src/errors.ts";
import { InMemoryEventStore } from "../../src/events/in_memory_event_store.ts";
import { InMemoryPersistenceAdapter } from "../../src/persistence/in_memory_persistence_adapter.ts";
import type { Orchestrator } from "../../src/orchestrator/orchestrator.ts";
import type { WorkflowSpec } from "../../src/orchestrator/workflow.ts";
import { projectWorkflow } from "../../src/orchestrator/workflow_view.ts";
import { testOrchestrator } from "./_helpers.ts";

const agents = [{ name: "wf", module: "tests/fixtures/workflow_agent.ts", version: "1.0.0" }];

Deno.test("a workflow task's agent gets the task's input as ctx.task and its dependencies' outputs as ctx.dependencies", async () => {
  await using orchestrator = testOrchestrator({ agents });
  const report = await orchestrator.runWorkflow({
    id: "wf-inputs",
    tasks: [
      { name: "a", agent: "wf", input: { name: "first" } },
      { name: "research", agent: "researcher", input: { topic: "Supervision", sources: 1 } },
      { name: "b", agent: "wf", input: { name: "second" }, dependsOn: ["a", "research"] },
      { name: "review", agent: "critic", dependsOn: ["research"] },
    ],
  });
  assert.equal(report.status, "SUCCESS");
  assert.deepEqual(report.tasks.a?.output, { name: "first", dependencies: {} });
  const research = report.tasks.research?.output as { summary: string };
  assert.equal(research.summary, "Supervision: 1 sources read");
  const b = report.tasks.b?.output as { name: string; dependencies: Record<string, unknown> };
  assert.equal(b.name, "second");
  assert.deepEqual(b.dependencies, { a: { name: "first", dependencies: {} }, research });
  assert.deepEqual(report.tasks.review?.output, { research: "well sourced" });
  // The execution records its task and its dependencies apart (and resumes with both).
  const view = await orchestrator.status("wf-inputs.b");
  assert.deepEqual(view.task, { name: "second" });
  assert.deepEqual(view.dependencies, b.dependencies);
  assert.deepEqual((await orchestrator.status("wf-inputs.a")).dependencies, {});
  // Outside workflows there are none.
  const solo = await orchestrator.run("wf", { name: "solo" });
  assert.deepEqual(solo.output, { name: "solo", dependencies: {} });
  assert.equal((await orchestrator.status(solo.executionId)).dependencies, undefined);
});

const invalid: [string, (id: string) => unknown, RegExp, ErrorConstructor][] = [
  ["an id with a slash", () => ({ id: "bad id/with slash", tasks: [] }), /workflow id/, TypeError],
  ["an id of 201 characters", () => ({ id: "w".repeat(201), tasks: [] }), /1–200/, TypeError],
  [
    "dependsOn given as a string",
    (id) => ({
      id,
      tasks: [{ name: "A", agent: "wf" }, { name: "B", agent: "wf", dependsOn: "A" }],
    }),
    /"tasks\[1\]\.dependsOn" "A": expected an array of task names/,
    TypeError,
  ],
  [
    "dependsOn with a number",
    (id) => ({ id, tasks: [{ name: "A", agent: "wf", dependsOn: [1] }] }),
    /"tasks\[0\]\.dependsOn"/,
    TypeError,
  ],
  [
    "a task name that is not a string",
    (id) => ({ id, tasks: [{ name: 5, agent: "wf" }] }),
    /"tasks\[0\]\.name"/,
    TypeError,
  ],
  [
    "a task without an agent",
    (id) => ({ id, tasks: [{ name: "a" }] }),
    /"tasks\[0\]\.agent"/,
    TypeError,
  ],
  [
    "an unknown task field",
    (id) => ({ id, tasks: [{ name: "a", agent: "wf", dependson: [] }] }),
    /Unknown workflow field "tasks\[0\]\.dependson"/,
    TypeError,
  ],
  [
    "an unknown workflow field",
    (id) => ({ id, tasks: [{ name: "a", agent: "wf" }], concurency: 2 }),
    /Unknown workflow field "concurency"/,
    TypeError,
  ],
  ["tasks that are not an array", (id) => ({ id, tasks: { a: {} } }), /"tasks"/, TypeError],
  [
    "a concurrency of 0",
    (id) => ({ id, tasks: [{ name: "a", agent: "wf" }], concurrency: 0 }),
    /"concurrency" 0/,
    RangeError,
  ],
  [
    "a concurrency given as text",
    (id) => ({ id, tasks: [{ name: "a", agent: "wf" }], concurrency: "2" }),
    /"concurrency" "2"/,
    RangeError,
  ],
  [
    "an unknown failure policy",
    (id) => ({ id, tasks: [{ name: "a", agent: "wf" }], onFailure: "stop" }),
    /"onFailure" "stop"/,
    TypeError,
  ],
  [
    "an input that is not JSON",
    (id) => ({ id, tasks: [{ name: "a", agent: "wf", input: { n: 10n } }] }),
    /"tasks\[0\]\.input" of task "a": Cannot canonicalize \$\.n/,
    TypeError,
  ],
  [
    "an input with a cycle",
    (id) => {
      const input: Record<string, unknown> = {};
      input.self = input;
      return { id, tasks: [{ name: "a", agent: "wf", input }] };
    },
    /"tasks\[0\]\.input" of task "a": .*cycle/,
    TypeError,
  ],
  [
    "a policy that is not an object",
    (id) => ({ id, tasks: [{ name: "a", agent: "wf", policy: "strict" }] }),
    /"tasks\[0\]\.policy"/,
    TypeError,
  ],
  [
    "a policy limit out of range",
    (id) => ({ id, tasks: [{ name: "a", agent: "wf", policy: { maxSteps: -1 } }] }),
    /maxSteps -1/,
    RangeError,
  ],
  [
    "a task whose execution id would pass 200 characters",
    (id) => ({ id, tasks: [{ name: "t".repeat(200 - id.length), agent: "wf" }] }),
    /would be longer than 200 characters/,
    RangeError,
  ],
];

async function assertNothingWritten(orchestrator: Orchestrator, id: string): Promise<void> {
  assert.deepEqual(await orchestrator.eventStore.listExecutions(), [], "no log at all");
  assert.equal(await orchestrator.eventStore.count(id), 0);
  assert.equal(await orchestrator.persistence.load(`${id}/workflow`), undefined);
}

for (const [what, spec, message, type] of invalid) {
  Deno.test(`a workflow with ${what} is refused before anything is written`, async () => {
    await using orchestrator = testOrchestrator({ agents });
    const id = `wf-invalid-${crypto.randomUUID().slice(0, 8)}`;
    const error = await orchestrator.runWorkflow(spec(id) as WorkflowSpec).then(
      () => assert.fail("accepted"),
      (e: unknown) => e as Error,
    );
    assert.ok(error instanceof type, `${error.name}: ${error.message}`);
    assert.match(error.message, message);
    await assertNothingWritten(orchestrator, id);
    await assertNothingWritten(orchestrator, "bad id/with slash");
  });
}

Deno.test("an unknown agent, an input over the size limit, or a taken task execution id is refused before anything is written", async () => {
  await using orchestrator = testOrchestrator({ agents, limits: { maxValueBytes: 1_000 } });
  await assert.rejects(
    orchestrator.runWorkflow({ id: "wf-x", tasks: [{ name: "a", agent: "nobody" }] }),
    UnknownAgentError,
  );
  await assert.rejects(
    orchestrator.runWorkflow({
      id: "wf-x",
      tasks: [{ name: "a", agent: "wf", input: { name: "x".repeat(2_000) } }],
    }),
    (e: unknown) => e instanceof ValueTooLargeError && /input of task "a"/.test(e.message),
  );
  await assertNothingWritten(orchestrator, "wf-x");
  await orchestrator.run("wf", { name: "taken" }, { executionId: "wf-y.a" });
  await assert.rejects(
    orchestrator.runWorkflow({ id: "wf-y", tasks: [{ name: "a", agent: "wf" }] }),
    /the execution "wf-y\.a" of task "a" already exists/,
  );
  assert.equal(await orchestrator.eventStore.count("wf-y"), 0);
  assert.equal(await orchestrator.persistence.load("wf-y/workflow"), undefined);
});

Deno.test("a workflow id that is taken is refused, and the first workflow is left alone", async () => {
  await using orchestrator = testOrchestrator({ agents });
  const spec = { id: "wf-twice", tasks: [{ name: "a", agent: "wf", input: { name: "a" } }] };
  await orchestrator.runWorkflow(spec);
  const before = await orchestrator.eventStore.count("wf-twice");
  await assert.rejects(orchestrator.runWorkflow(spec), /Workflow "wf-twice" already exists/);
  assert.equal(await orchestrator.eventStore.count("wf-twice"), before);
});

Deno.test("resuming a finished workflow returns its recorded report and appends no second final event", async () => {
  await using orchestrator = testOrchestrator({ agents, retry: { attempts: 1 } });
  const report = await orchestrator.runWorkflow({
    id: "wf-finished",
    tasks: [
      { name: "ok", agent: "wf", input: { name: "ok" } },
      { name: "bad", agent: "wf", input: { name: "bad", fail: true } },
    ],
  });
  assert.equal(report.status, "FAILED");
  const events = await orchestrator.eventStore.readRange("wf-finished");
  const again = await orchestrator.resumeWorkflow("wf-finished");
  assert.equal(again.status, "FAILED");
  assert.deepEqual(again.tasks, report.tasks);
  assert.deepEqual(await orchestrator.eventStore.readRange("wf-finished"), events);
  assert.equal(
    events.filter((e) => e.type.startsWith("WORKFLOW_") && e.type !== "WORKFLOW_STARTED").length,
    1,
  );
  await assert.rejects(orchestrator.resumeWorkflow("bad id"), TypeError);
});

Deno.test("the workflow's log gives its status and every task's state and execution id", async () => {
  await using orchestrator = testOrchestrator({ agents, retry: { attempts: 1 } });
  await orchestrator.runWorkflow({
    id: "wf-view",
    tasks: [
      { name: "a", agent: "wf", input: { name: "a" } },
      { name: "b", agent: "wf", input: { name: "b", fail: true }, dependsOn: ["a"] },
      { name: "c", agent: "wf", dependsOn: ["b"] },
    ],
  });
  const view = projectWorkflow("wf-view", await orchestrator.eventStore.readRange("wf-view"))!;
  assert.equal(view.status, "FAILED");
  assert.deepEqual(
    view.tasks.map((t) => [t.name, t.status, t.executionId, t.agent, t.dependsOn]),
    [
      ["a", "SUCCESS", "wf-view.a", "wf", []],
      ["b", "FAILED", "wf-view.b", "wf", ["a"]],
      ["c", "SKIPPED", "wf-view.c", "wf", ["b"]],
    ],
  );
  assert.match(view.tasks[1]!.error!.message, /fails on purpose/);
  assert.match(view.tasks[2]!.reason!, /dependency "b"/);
  assert.deepEqual(view.completionOrder, ["a", "b", "c"]);
});

Deno.test("cancelWorkflow cancels the running tasks, never starts the pending ones, and ends the workflow CANCELLED", async () => {
  await using orchestrator = testOrchestrator({ agents });
  const started = await orchestrator.startWorkflow({
    id: "wf-cancel",
    tasks: [
      { name: "long", agent: "wf", input: { name: "long", sleepMs: 10_000 } },
      { name: "after", agent: "wf", dependsOn: ["long"] },
    ],
  });
  while (
    !(await orchestrator.eventStore.readRange("wf-cancel")).some((e) => e.type === "TASK_STARTED")
  ) {
    await new Promise((r) => setTimeout(r, 10));
  }
  assert.equal(await orchestrator.cancelWorkflow("wf-cancel", "not needed"), true);
  const report = await started.done;
  assert.equal(report.status, "CANCELLED");
  assert.equal(report.tasks.long?.status, "CANCELLED");
  assert.equal(report.tasks.after?.status, "CANCELLED");
  assert.match(report.tasks.after!.reason!, /the workflow was cancelled: not needed/);
  assert.ok(report.durationMs < 5_000);
  const types = (await orchestrator.eventStore.readRange("wf-cancel")).map((e) => e.type);
  assert.deepEqual(types.filter((t) => t.startsWith("WORKFLOW_")), [
    "WORKFLOW_STARTED",
    "WORKFLOW_CANCEL_REQUESTED",
    "WORKFLOW_CANCELLED",
  ]);
  assert.equal(await orchestrator.cancelWorkflow("wf-cancel"), false, "already finished");
  assert.equal(await orchestrator.cancelWorkflow("wf-nobody"), false, "no such workflow");
  assert.equal((await orchestrator.resumeWorkflow("wf-cancel")).status, "CANCELLED");
});

Deno.test("a workflow running in another orchestrator on the same stores is cancelled through its log", async () => {
  const eventStore = new InMemoryEventStore();
  const persistence = new InMemoryPersistenceAdapter();
  await using runner = testOrchestrator({ agents, eventStore, persistence });
  await using other = testOrchestrator({ agents, eventStore, persistence });
  const started = await runner.startWorkflow({
    id: "wf-remote",
    tasks: [{ name: "long", agent: "wf", input: { name: "long", sleepMs: 10_000 } }],
  });
  assert.equal(await other.cancelWorkflow("wf-remote", "from elsewhere"), true);
  const report = await started.done;
  assert.equal(report.status, "CANCELLED");
  assert.equal(report.tasks.long?.status, "CANCELLED");
  const last = await eventStore.latest("wf-remote");
  assert.equal(last?.type, "WORKFLOW_CANCELLED");
  assert.equal((last?.data as { reason?: string }).reason, "from elsewhere");
});

Deno.test("a fork into an invalid or taken id writes nothing", async () => {
  await using orchestrator = testOrchestrator({ agents });
  const report = await orchestrator.run("wf", { name: "source" }, { executionId: "fork-source" });
  assert.equal(report.status, "SUCCESS");
  const before = await orchestrator.eventStore.readRange("fork-source");
  await assert.rejects(
    orchestrator.fork("fork-source", { fromStep: 2, executionId: "bad id" }),
    (e: unknown) =>
      e instanceof TypeError && /Invalid executionId of the fork "bad id"/.test(e.message),
  );
  await assert.rejects(
    orchestrator.fork("fork-source", { fromStep: 2, executionId: "f".repeat(201) }),
    TypeError,
  );
  await assert.rejects(
    orchestrator.fork("fork-source", { fromStep: 2, executionId: "fork-source" }),
    /already exists/,
  );
  await assert.rejects(
    orchestrator.fork("fork-source", { fromStep: 99, executionId: "fork-new" }),
    RangeError,
  );
  assert.deepEqual(await orchestrator.eventStore.listExecutions(), ["fork-source"]);
  assert.deepEqual(await orchestrator.eventStore.readRange("fork-source"), before);
  const fork = await orchestrator.fork("fork-source", { fromStep: 2, executionId: "fork-new" });
  assert.equal(fork.status, "SUCCESS");
});
