import assert from "node:assert/strict";
import { UnknownAgentError } from "../../src/errors.ts";
import type { WorkflowTask } from "../../src/orchestrator/workflow.ts";
import { testOrchestrator } from "./_helpers.ts";
import { testRedisUrl } from "../_support/test_redis.ts";

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

Deno.test("a crashed workflow resumes without re-running completed tasks", async () => {
  const { Redis } = await import("ioredis");
  const redisUrl = await testRedisUrl();
  const id = crypto.randomUUID().slice(0, 8);
  const options = { redisUrl, keyPrefix: `oao-test-${id}:`, effectsKey: `oao-test-${id}-effects` };
  const workflowId = `wf-crash-${id}`;
  const fixture = new URL("../fixtures/workflow_process.ts", import.meta.url).pathname;
  const spawn = (mode: string) =>
    new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        "--unstable-worker-options",
        fixture,
        mode,
        workflowId,
        JSON.stringify(options),
      ],
      stdout: "piped",
      stderr: "piped",
    }).spawn();
  const redis = new Redis(redisUrl);
  try {
    const first = spawn("run");
    const deadline = Date.now() + 30_000;
    // Kill it while "third" (1.5 s) is running, after "first" and "second" completed.
    const done = async (name: string) =>
      (await redis.hkeys(options.effectsKey)).some((k: string) => k.startsWith(`${name}#`));
    while (!(await done("third"))) {
      if (Date.now() > deadline) throw new Error("the workflow made no progress");
      await new Promise((r) => setTimeout(r, 10));
    }
    first.kill("SIGKILL");
    await first.output();
    const second = spawn("resume");
    const guard = setTimeout(() => second.kill("SIGKILL"), 60_000);
    const output = await second.output();
    clearTimeout(guard);
    assert.equal(output.code, 0, new TextDecoder().decode(output.stderr));
    const report = JSON.parse(new TextDecoder().decode(output.stdout).trim().split("\n").at(-1)!);
    assert.equal(report.status, "SUCCESS");
    const effects = (await redis.hkeys(options.effectsKey)).map((k: string) => k.split("#")[0])
      .sort();
    // Completed tasks ran once; the interrupted one was resumed, its tool call not repeated.
    assert.deepEqual(effects, ["first", "fourth", "second", "third"]);
  } finally {
    const keys = await redis.keys(`${options.keyPrefix}*`);
    if (keys.length) await redis.del(...keys);
    await redis.del(options.effectsKey);
    redis.disconnect();
  }
});
