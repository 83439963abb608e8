// Agent workers in sandbox processes: code that never yields or exhausts its
// heap costs its sandbox process, never the orchestrator, and the process
// holds no secret of the orchestrator's environment.
import assert from "node:assert/strict";
import { alive } from "./_proc.ts";
import { EventBus } from "../../src/observability/event_bus.ts";
import type { OaoEvent } from "../../src/observability/events.ts";
import { ProcessAgentSystem } from "../../src/sandbox/process_agent_system.ts";
import type { SupervisorSpec } from "../../src/actor/supervisor.ts";
import { Tracer } from "../../src/tracing/tracer.ts";
import { normalizePermissions, type PermissionsSpec } from "../../src/actor/permissions.ts";
import { childEnv } from "../../src/sandbox/_child_flags.ts";

const AGENT = new URL("../fixtures/hostile/sandbox_agent.ts", import.meta.url).href;

function spec(
  id: string,
  agent = "sandboxed",
  extra: { permissions?: PermissionsSpec } = {},
): SupervisorSpec {
  return {
    id,
    strategy: "one_for_one",
    restart: "temporary",
    children: [{
      id: agent,
      module: AGENT,
      executionId: id,
      snapshot: "never",
      restart: "transient",
      messageTimeoutMs: 1_000,
      ...extra,
    }],
  };
}

function step(executionId: string, agent: string, task: unknown) {
  return {
    type: "oao.step",
    executionId,
    agent,
    step: 3,
    phase: "EXECUTE",
    iteration: 0,
    attempt: 1,
    task,
    state: {},
    peers: {},
  };
}

function sandbox(memoryMb?: number) {
  const bus = new EventBus();
  const events: OaoEvent[] = [];
  bus.subscribe((e) => void events.push(e));
  const system = new ProcessAgentSystem({
    bus,
    tracer: new Tracer(),
    ...(memoryMb ? { memoryMb } : {}),
  });
  return { system, events, [Symbol.asyncDispose]: () => system.shutdown() };
}

Deno.test("an agent that never yields costs its sandbox process, and its core comes back", async () => {
  await using box = sandbox();
  await box.system.supervise(spec("exec-spin"));
  const [pid] = box.system.pids;
  assert.ok(pid);
  const started = Date.now();
  await assert.rejects(
    box.system.ask("exec-spin/sandboxed", step("exec-spin", "sandboxed", { do: "spin" }), {
      timeoutMs: Infinity,
    }),
    /never yields/,
  );
  assert.ok(Date.now() - started < 10_000, "stopped within its step deadline and the watchdog");
  for (let i = 0; i < 100 && alive(pid); i++) await new Promise((r) => setTimeout(r, 20));
  assert.equal(alive(pid), false, "the sandbox process with the spinning thread is gone");
  const failed = box.events.find((e) => e.type === "ACTOR_FAILED" && e.executionId === "exec-spin");
  assert.ok(failed, "the execution is told its actors failed");

  await box.system.supervise(spec("exec-next"));
  assert.notEqual(box.system.pids[0], pid);
  const result = await box.system.ask<{ ok: boolean }>(
    "exec-next/sandboxed",
    step("exec-next", "sandboxed", { do: "ok" }),
  );
  assert.equal(result.ok, true);
});

Deno.test("an agent that exhausts its heap takes down only its own sandbox process", async () => {
  await using box = sandbox(64);
  await box.system.supervise(spec("exec-calm", "calm"));
  const calmPid = box.system.pids[0]!;
  await box.system.supervise(spec("exec-hog", "hog"));
  assert.equal(box.system.pids.length, 2);
  await assert.rejects(
    box.system.ask("exec-hog/hog", step("exec-hog", "hog", { do: "hog" }), { timeoutMs: 30_000 }),
    /sandbox process/,
  );
  assert.deepEqual(box.system.pids, [calmPid]);
  const result = await box.system.ask<{ ok: boolean }>(
    "exec-calm/calm",
    step("exec-calm", "calm", { do: "ok" }),
  );
  assert.equal(result.ok, true);
});

Deno.test("a sandbox process gets only the variables its agents were granted", () => {
  Deno.env.set("OAO_TEST_SECRET", "s3cret-in-the-orchestrator");
  const none = childEnv(normalizePermissions("none", "p"));
  assert.equal(none.OAO_TEST_SECRET, undefined);
  assert.equal(Object.values(none).some((v) => v.includes("s3cret")), false);
  assert.equal(none.HOME, Deno.env.get("HOME"));
  const granted = childEnv(normalizePermissions({ env: ["OAO_TEST_SECRET"] }, "p"));
  assert.equal(granted.OAO_TEST_SECRET, "s3cret-in-the-orchestrator");
});
