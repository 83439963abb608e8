import assert from "node:assert/strict";
import { UnknownAgentError } from "../../src/errors.ts";
import type { WorkflowTask } from "../../src/orchestrator/workflow.ts";
import { testOrchestrator } from "./_helpers.ts";
import { testRedisUrl } from "../_support/test_redis.ts";
import { orchestratorChild } from "../_support/orchestrator_child.ts";

const WORKFLOW_PROCESS = new URL("../fixtures/workflow_process.ts", import.meta.url).pathname;

const agents = [{ name: "wf", module: "tests/fixtures/workflow_agent.ts", version: "1.0.0" }];

function task(
  name: string,
  input: Record<string, unknown> = {},
  dependsOn: string[] = [],
): WorkflowTask {
  return { name, agent: "wf", input: { name, ...input }, dependsOn };
}

Deno.test("a workflow is validated up front: duplicate name, unknown dependency, cycle, unknown agent", async () => {
  await using orchestrator = testOrchestrator({ agents });
  await assert.rejects(
    orchestrator.runWorkflow({ tasks: [task("a"), task("a")] }),
    /Duplicate task name "a"/,
  );
  await assert.rejects(
    orchestrator.runWorkflow({ tasks: [task("a", {}, ["ghost"])] }),
    /Task "a" depends on unknown task "ghost"/,
  );
  await assert.rejects(
    orchestrator.runWorkflow({
      tasks: [task("a", {}, ["c"]), task("b", {}, ["a"]), task("c", {}, ["b"])],
    }),
    /has a cycle: (a → b → c → a|b → c → a → b|c → a → b → c)/,
  );
  await assert.rejects(
    orchestrator.runWorkflow({ tasks: [{ name: "x", agent: "nobody" }] }),
    UnknownAgentError,
  );
});

Deno.test("tasks start as soon as their own dependencies complete, not level by level", async () => {
  await using orchestrator = testOrchestrator({ agents });
  const report = await orchestrator.runWorkflow({
    id: `wf-order-${crypto.randomUUID().slice(0, 8)}`,
    tasks: [
      task("slow", { sleepMs: 2_000 }),
      task("fast", { sleepMs: 20 }),
      task("after-fast", { sleepMs: 20 }, ["fast"]),
      task("after-slow", {}, ["slow"]),
    ],
  });
  assert.equal(report.status, "SUCCESS");
  assert.deepEqual(report.completionOrder, ["fast", "after-fast", "slow", "after-slow"]);
  const events = await orchestrator.eventStore.readRange(report.workflowId);
  const index = (type: string, name: string) =>
    events.findIndex((e) => e.type === type && (e.data as { task: string }).task === name);
  assert.ok(index("TASK_STARTED", "after-fast") < index("TASK_COMPLETED", "slow"));
  // Each task receives its dependencies' outputs.
  const output = report.tasks["after-slow"]!.output as {
    dependencies: Record<string, { name: string }>;
  };
  assert.equal(output.dependencies.slow?.name, "slow");
});

Deno.test("no more tasks run at once than the concurrency limit", async () => {
  await using orchestrator = testOrchestrator({ agents });
  const report = await orchestrator.runWorkflow({
    concurrency: 2,
    tasks: ["a", "b", "c", "d", "e"].map((n) => task(n, { sleepMs: 120 })),
  });
  assert.equal(report.status, "SUCCESS");
  const events = await orchestrator.eventStore.readRange(report.workflowId);
  let running = 0, peak = 0;
  for (const event of events) {
    if (event.type === "TASK_STARTED") peak = Math.max(peak, ++running);
    if (event.type === "TASK_COMPLETED" || event.type === "TASK_FAILED") running--;
  }
  assert.equal(peak, 2);
});

Deno.test("skip-dependents: a failed task's dependents are skipped, independent tasks go on", async () => {
  await using orchestrator = testOrchestrator({ agents, retry: { attempts: 1 } });
  const report = await orchestrator.runWorkflow({
    tasks: [
      task("ok", { sleepMs: 100 }),
      task("bad", { fail: true }),
      task("child", {}, ["bad"]),
      task("grandchild", {}, ["child"]),
      task("after-ok", {}, ["ok"]),
    ],
  });
  assert.equal(report.status, "FAILED");
  const status = Object.fromEntries(Object.entries(report.tasks).map(([n, t]) => [n, t.status]));
  assert.deepEqual(status, {
    ok: "SUCCESS",
    bad: "FAILED",
    child: "SKIPPED",
    grandchild: "SKIPPED",
    "after-ok": "SUCCESS",
  });
  assert.match(report.tasks.child!.reason!, /dependency "bad"/);
});

Deno.test("fail-fast: a failure cancels running tasks and skips pending ones", async () => {
  await using orchestrator = testOrchestrator({ agents, retry: { attempts: 1 } });
  const report = await orchestrator.runWorkflow({
    onFailure: "fail-fast",
    concurrency: 2,
    tasks: [task("long", { sleepMs: 5_000 }), task("bad", { fail: true }), task("later", {})],
  });
  assert.equal(report.status, "FAILED");
  assert.equal(report.tasks.bad!.status, "FAILED");
  assert.equal(report.tasks.long!.status, "CANCELLED");
  assert.equal(report.tasks.later!.status, "SKIPPED");
  assert.ok(report.durationMs < 4_000);
});

/** What a killed fixture process left, as the test that kills it sees it. */
interface CrashView {
  workflowId: string;
  /** Names of the tasks whose side effect is recorded. */
  effects(): Promise<string[]>;
  /** Whether an execution's log holds an event of `type`. */
  logged(executionId: string, type: string): Promise<boolean>;
}

/**
 * Runs a workflow in a fixture process (`mode` of workflow_process.ts),
 * kills it with SIGKILL once `killWhen` holds, and resumes it in another
 * (`resumeMode`).
 *
 * @returns The resumer's last JSON line and the tasks' effects, sorted.
 */
async function crashThenResume(
  modes: { run: string; resume: string },
  killWhen: (view: CrashView) => Promise<boolean>,
): Promise<{ report: Record<string, unknown>; effects: string[] }> {
  const { Redis } = await import("ioredis");
  const { RedisEventStore } = await import("../../src/redis/redis_event_store.ts");
  const redisUrl = await testRedisUrl();
  const id = crypto.randomUUID().slice(0, 8);
  const options = { redisUrl, keyPrefix: `oao-test-${id}:`, effectsKey: `oao-test-${id}-effects` };
  const workflowId = `wf-crash-${id}`;
  const spawn = (mode: string) => orchestratorChild(mode, workflowId, options, WORKFLOW_PROCESS);
  const redis = new Redis(redisUrl);
  const events = new RedisEventStore({ redisUrl, keyPrefix: options.keyPrefix });
  const view: CrashView = {
    workflowId,
    effects: async () =>
      (await redis.hkeys(options.effectsKey)).map((k: string) => k.split("#")[0]!).sort(),
    logged: async (executionId, type) =>
      (await events.readRange(executionId)).some((e) => e.type === type),
  };
  try {
    const first = spawn(modes.run);
    const deadline = Date.now() + 30_000;
    while (!(await killWhen(view))) {
      if (Date.now() > deadline) throw new Error("the workflow made no progress");
      await new Promise((r) => setTimeout(r, 10));
    }
    first.kill("SIGKILL");
    await first.output();
    const second = spawn(modes.resume);
    const guard = setTimeout(() => second.kill("SIGKILL"), 60_000);
    const output = await second.output();
    clearTimeout(guard);
    assert.equal(output.code, 0, new TextDecoder().decode(output.stderr));
    const report = JSON.parse(new TextDecoder().decode(output.stdout).trim().split("\n").at(-1)!);
    return { report, effects: await view.effects() };
  } finally {
    await events.close();
    const keys = await redis.keys(`${options.keyPrefix}*`);
    if (keys.length) await redis.del(...keys);
    await redis.del(options.effectsKey);
    redis.disconnect();
  }
}

Deno.test("a crashed workflow resumes without re-running completed tasks", async () => {
  // Killed while "third" (1.5 s) runs, after "first" and "second" completed.
  const { report, effects } = await crashThenResume(
    { run: "run", resume: "resume" },
    async (view) => (await view.effects()).includes("third"),
  );
  assert.equal(report.status, "SUCCESS");
  // Completed tasks ran once; the interrupted one was resumed, its tool call not repeated.
  assert.deepEqual(effects, ["first", "fourth", "second", "third"]);
});

Deno.test("a resumed workflow's tasks take places like a started one's: with one place, its three interrupted tasks run one at a time", async () => {
  // Killed while its three 1.5 s tasks all run.
  const { report, effects } = await crashThenResume(
    { run: "run-parallel", resume: "resume-admitted" },
    async (view) => {
      for (const task of ["p1", "p2", "p3"]) {
        if (!await view.logged(`${view.workflowId}.${task}`, "EXECUTION_STARTED")) return false;
      }
      return true;
    },
  );
  assert.equal(report.status, "SUCCESS");
  assert.equal(report.places, 3, "each resumed task took a place");
  assert.equal(report.most, 1, "one execution ran at a time");
  assert.deepEqual(effects, ["p1", "p2", "p3"]);
});
