// Passivation: an execution whose step waits on the host (a tool call) for
// `passivateAfterMs` gives its worker back; when the wait is over it is
// activated again, its step run again with its calls answered from the log.
import assert from "node:assert/strict";
import { defineTool } from "../../src/orchestrator/tool.ts";
import type { StoredEvent } from "../../src/events/event_store.ts";
import { executionTypes, testOrchestrator } from "./_helpers.ts";
import { Orchestrator } from "../../src/orchestrator/orchestrator.ts";

/** A tool that resolves when the test opens it; counts its runs per label. */
class Gate {
  readonly runs = new Map<string, number>();
  #open!: () => void;
  readonly opened = new Promise<void>((resolve) => (this.#open = resolve));
  open(): void {
    this.#open();
  }
  tool() {
    return defineTool({
      name: "gate",
      run: async (args: { label: string }) => {
        this.runs.set(args.label, (this.runs.get(args.label) ?? 0) + 1);
        await this.opened;
        return `${args.label} done`;
      },
    }) as never;
  }
}

function sleeper(runs: Map<string, number>) {
  return defineTool({
    name: "sleep",
    run: async (args: { label: string; ms: number }) => {
      runs.set(args.label, (runs.get(args.label) ?? 0) + 1);
      await new Promise((r) => setTimeout(r, args.ms));
      return `${args.label} slept`;
    },
  }) as never;
}

async function waitFor(
  read: () => Promise<StoredEvent[]>,
  check: (events: StoredEvent[]) => boolean,
  what: string,
): Promise<StoredEvent[]> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    const events = await read();
    if (check(events)) return events;
    if (Date.now() > deadline) throw new Error(`Timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** Waits until the execution is passivated and checks it holds no actor; its log reader. */
async function passivated(
  orchestrator: ReturnType<typeof testOrchestrator>,
  executionId: string,
  what: string,
): Promise<() => Promise<StoredEvent[]>> {
  const read = () => orchestrator.eventStore.readRange(executionId);
  await waitFor(read, (e) => e.some((x) => x.type === "EXECUTION_PASSIVATED"), "passivation");
  assert.deepEqual(
    orchestrator.system.actors.filter((a) => a.startsWith(`${executionId}/`)),
    [],
    what,
  );
  return read;
}

Deno.test("an execution waiting on a slow tool holds no worker; it is activated when the result arrives, each tool run once", async () => {
  const gate = new Gate();
  const runs = new Map<string, number>();
  await using orchestrator = testOrchestrator({
    passivateAfterMs: 50,
    tools: [gate.tool(), sleeper(runs)],
  });
  const { executionId, done } = await orchestrator.start("tester", {
    calls: [
      { tool: "sleep", args: { label: "quick", ms: 1 } },
      { tool: "gate", args: { label: "slow" } },
      { tool: "sleep", args: { label: "after", ms: 1 } },
    ],
  });
  const read = await passivated(
    orchestrator,
    executionId,
    "no actor of the execution while it is passivated",
  );
  gate.open();
  const report = await done;
  assert.equal(report.status, "SUCCESS", JSON.stringify(report.error));
  assert.deepEqual((report.output as { results: unknown[] }).results, [
    "quick slept",
    "slow done",
    "after slept",
  ]);
  assert.deepEqual(Object.fromEntries(gate.runs), { slow: 1 });
  assert.deepEqual(Object.fromEntries(runs), { quick: 1, after: 1 });
  assert.equal(report.toolCalls, 3);
  const types = executionTypes(await read());
  const execute = types.slice(
    types.indexOf("TOOL_CALL"),
    types.lastIndexOf("TOOL_CALL_SUCCESS") + 1,
  );
  assert.deepEqual(execute, [
    "TOOL_CALL",
    "TOOL_CALL_SUCCESS",
    "TOOL_CALL",
    "EXECUTION_PASSIVATED",
    "TOOL_CALL_SUCCESS",
    "EXECUTION_ACTIVATED",
    "TOOL_CALL",
    "TOOL_CALL_SUCCESS",
  ], "the replayed calls write nothing: the log holds each call once");
});

Deno.test("1,000 executions waiting on a tool hold no worker and all complete once it answers", async () => {
  const gate = new Gate();
  await using orchestrator = testOrchestrator({ passivateAfterMs: 20, tools: [gate.tool()] });
  const started = await Promise.all(
    Array.from(
      { length: 1_000 },
      (_, i) =>
        orchestrator.start("tester", { calls: [{ tool: "gate", args: { label: `e${i}` } }] }),
    ),
  );
  const ids = new Set(started.map((s) => s.executionId));
  const deadline = Date.now() + 60_000;
  let passivated = 0;
  while (passivated < ids.size) {
    await new Promise((r) => setTimeout(r, 100)); // the in-memory store answers without yielding
    passivated = 0;
    for (const { executionId } of started) {
      const events = await orchestrator.eventStore.readRange(executionId);
      if (events.some((e) => e.type === "EXECUTION_PASSIVATED")) passivated++;
    }
    if (Date.now() > deadline) throw new Error(`only ${passivated} of 1,000 passivated`);
  }
  const holding = orchestrator.system.actors.filter((a) => ids.has(a.split("/")[0]!));
  assert.deepEqual(holding, [], "no waiting execution holds an actor");
  gate.open();
  const reports = await Promise.all(started.map((s) => s.done));
  assert.deepEqual(
    reports.filter((r) => r.status !== "SUCCESS").map((r) => r.error?.message),
    [],
  );
  assert.equal(gate.runs.size, 1_000);
  assert.ok([...gate.runs.values()].every((n) => n === 1), "each execution's tool ran once");
});

Deno.test("tokens recorded before a call are counted once across a passivation", async () => {
  const runs = new Map<string, number>();
  await using orchestrator = testOrchestrator({ passivateAfterMs: 20, tools: [sleeper(runs)] });
  const report = await orchestrator.run("tester", {
    tokens: 10,
    calls: [
      { tool: "sleep", args: { label: "a", ms: 150 } },
      { tool: "sleep", args: { label: "b", ms: 150 } },
    ],
  });
  assert.equal(report.status, "SUCCESS", JSON.stringify(report.error));
  // INIT, PLAN, EXECUTE and REVIEW record 10 each; EXECUTE ran three times.
  assert.equal(report.tokens, 40);
  const events = await orchestrator.eventStore.readRange(report.executionId);
  assert.equal(events.filter((e) => e.type === "EXECUTION_ACTIVATED").length, 2);
});

Deno.test("a call that failed before the passivation fails the same way when the step runs again, without running again", async () => {
  const runs = new Map<string, number>();
  let failures = 0;
  const failing = defineTool({
    name: "flaky_once",
    run: () => {
      failures++;
      throw new Error("the tool failed on purpose");
    },
  }) as never;
  await using orchestrator = testOrchestrator({
    passivateAfterMs: 20,
    tools: [sleeper(runs), failing],
  });
  const report = await orchestrator.run("tester", {
    catchToolErrors: true,
    calls: [
      { tool: "flaky_once" },
      { tool: "sleep", args: { label: "wait", ms: 150 } },
    ],
  });
  assert.equal(report.status, "SUCCESS", JSON.stringify(report.error));
  assert.equal(failures, 1);
  assert.deepEqual(report.output, {
    results: ["wait slept"],
    errors: ["the tool failed on purpose"],
  });
});

Deno.test("parallel calls: the execution is activated once every call it waits on is done", async () => {
  const runs = new Map<string, number>();
  await using orchestrator = testOrchestrator({ passivateAfterMs: 20, tools: [sleeper(runs)] });
  const report = await orchestrator.run("tester", {
    parallel: true,
    calls: [
      { tool: "sleep", args: { label: "a", ms: 100 } },
      { tool: "sleep", args: { label: "b", ms: 250 } },
    ],
  });
  assert.equal(report.status, "SUCCESS", JSON.stringify(report.error));
  assert.deepEqual(Object.fromEntries(runs), { a: 1, b: 1 });
  const events = await orchestrator.eventStore.readRange(report.executionId);
  assert.equal(events.filter((e) => e.type === "EXECUTION_ACTIVATED").length, 1);
  const passivated = events.find((e) => e.type === "EXECUTION_PASSIVATED")!;
  assert.deepEqual((passivated.data as { waitingOn: string[] }).waitingOn, ['tool "sleep"']);
});

Deno.test("a passivated execution is cancelled at once: its tool is aborted and nothing activates it", async () => {
  await using orchestrator = testOrchestrator({ passivateAfterMs: 20 });
  const { executionId, done } = await orchestrator.start("tester", {
    calls: [{ tool: "hang" }],
  });
  await waitFor(
    () => orchestrator.eventStore.readRange(executionId),
    (e) => e.some((x) => x.type === "EXECUTION_PASSIVATED"),
    "passivation",
  );
  const started = Date.now();
  await orchestrator.cancel(executionId, "the operator changed their mind");
  const report = await done;
  assert.equal(report.status, "CANCELLED");
  assert.ok(Date.now() - started < 2_000);
  const types = executionTypes(await orchestrator.eventStore.readRange(executionId));
  assert.ok(!types.includes("EXECUTION_ACTIVATED"), types.join(", "));
});

Deno.test("an agent with a peer is passivated with it; activated, the step runs again with a fresh peer and goes on", async () => {
  const gate = new Gate();
  await using orchestrator = testOrchestrator({
    passivateAfterMs: 30,
    tools: [gate.tool()],
    agents: [{
      name: "peer-caller",
      module: "tests/fixtures/peer_caller_agent.ts",
      version: "1.0.0",
      peers: ["critic"],
    }],
  });
  const { executionId, done } = await orchestrator.start("peer-caller", {
    tool: "gate",
    args: { label: "slow" },
  });
  const read = await passivated(
    orchestrator,
    executionId,
    "neither the agent nor its peer holds a worker while passivated",
  );
  gate.open();
  const report = await done;
  assert.equal(report.status, "SUCCESS", JSON.stringify(report.error));
  assert.deepEqual((report.output as { said: unknown[] }).said, [
    "too thin",
    "slow done",
    "well sourced",
  ]);
  assert.deepEqual(Object.fromEntries(gate.runs), { slow: 1 }, "the tool ran once");
  const types = executionTypes(await read());
  assert.ok(types.includes("EXECUTION_ACTIVATED"));
});

Deno.test("with passivateAfterMs Infinity an execution keeps its worker; bad settings are refused", async () => {
  const runs = new Map<string, number>();
  await using orchestrator = testOrchestrator({
    passivateAfterMs: Infinity,
    tools: [sleeper(runs)],
  });
  const report = await orchestrator.run("tester", {
    calls: [{ tool: "sleep", args: { label: "x", ms: 150 } }],
  });
  assert.equal(report.status, "SUCCESS", JSON.stringify(report.error));
  const events = await orchestrator.eventStore.readRange(report.executionId);
  assert.ok(!events.some((e) => e.type === "EXECUTION_PASSIVATED"));
  assert.throws(
    () => testOrchestrator({ passivateAfterMs: -5 }),
    /Invalid passivateAfterMs -5: expected a number of ms >= 0/,
  );
  assert.throws(() => testOrchestrator({ passivateAfterMs: NaN }), /Invalid passivateAfterMs NaN/);
  // Falsy values are checked, not ignored.
  assert.throws(
    () => testOrchestrator({ actorSystem: { pool: 0 as never } }),
    /Invalid pool 0: expected an object/,
  );
  assert.throws(
    () => testOrchestrator({ actorSystem: { pool: null as never } }),
    /Invalid pool null: expected an object/,
  );
  assert.throws(
    () => testOrchestrator({ actorSystem: { heartbeatMs: 0 } }),
    /Invalid heartbeatMs 0: expected a positive number/,
  );
  assert.throws(
    () =>
      testOrchestrator({
        agents: [{ name: "odd", module: "actors/echo.ts", isolation: "shared" as never }],
      }),
    /Invalid isolation "shared" of agent "odd": expected "pool" or "execution"/,
  );
});

// Executions of the pool-crasher agent (as "pooled") that hold their place in
// its worker while they wait on the gate, beside the tester agent.
function poolCrashOrchestrator(gate: Gate) {
  return testOrchestrator({
    passivateAfterMs: Infinity,
    tools: [gate.tool()],
    agents: [{
      name: "pooled",
      module: new URL("../fixtures/pool_crash_agent.ts", import.meta.url),
      version: "1.0.0",
    }],
  });
}

Deno.test("a pooled worker that crashes fails only the activations it held: each is restarted and completes, its tool run once", async () => {
  const gate = new Gate();
  await using orchestrator = poolCrashOrchestrator(gate);
  const bystander = await orchestrator.start("tester", {
    calls: [{ tool: "gate", args: { label: "other agent" } }],
  });
  const victim = await orchestrator.start("pooled", { label: "victim" });
  await waitFor(
    () => orchestrator.eventStore.readRange(victim.executionId),
    (e) => e.some((x) => x.type === "TOOL_CALL"),
    "the victim waiting on its tool",
  );
  const crasher = await orchestrator.start("pooled", { label: "crasher", crash: "module" });
  const failedIn = async (id: string) =>
    (await orchestrator.eventStore.readRange(id)).filter((e) => e.type === "ACTOR_FAILED")
      .map((e) => (e.data as { reason: string }).reason);
  await waitFor(
    () => orchestrator.eventStore.readRange(victim.executionId),
    (e) => e.some((x) => x.type === "ACTOR_RESTARTED"),
    "the victim's restart",
  );
  gate.open();
  const [v, c, b] = await Promise.all([victim.done, crasher.done, bystander.done]);
  for (const report of [v, c, b]) {
    assert.equal(report.status, "SUCCESS", JSON.stringify(report.error));
  }
  assert.deepEqual(v.output, ["victim done"]);
  assert.deepEqual(await failedIn(victim.executionId), ["worker_error"]);
  assert.deepEqual(await failedIn(crasher.executionId), ["worker_error"]);
  assert.deepEqual(await failedIn(bystander.executionId), [], "another agent's pool is untouched");
  assert.deepEqual(Object.fromEntries(gate.runs), { "other agent": 1, victim: 1, crasher: 1 });
});

Deno.test("an execution whose own code fails its pooled worker on every attempt fails alone: the executions sharing its worker complete untouched", async () => {
  const gate = new Gate();
  await using orchestrator = poolCrashOrchestrator(gate);
  const mates = await Promise.all(
    [1, 2, 3].map((i) => orchestrator.start("pooled", { label: `mate${i}` })),
  );
  for (const mate of mates) {
    await waitFor(
      () => orchestrator.eventStore.readRange(mate.executionId),
      (e) => e.some((x) => x.type === "TOOL_CALL"),
      "a mate waiting on its tool",
    );
  }
  const own = await orchestrator.start("pooled", { label: "own", crash: "own" });
  const poison = await orchestrator.start("pooled", { label: "poison", crash: "always" });
  const failedIn = async (id: string) =>
    (await orchestrator.eventStore.readRange(id)).filter((e) => e.type === "ACTOR_FAILED")
      .map((e) => (e.data as { reason: string }).reason);
  const poisoned = await poison.done;
  assert.equal(poisoned.status, "FAILED", "the poison's own step fails after its attempts");
  gate.open();
  const reports = await Promise.all([...mates, own].map((m) => m.done));
  for (const report of reports) {
    assert.equal(report.status, "SUCCESS", JSON.stringify(report.error));
  }
  for (const mate of mates) assert.deepEqual(await failedIn(mate.executionId), [], "untouched");
  assert.deepEqual(await failedIn(own.executionId), ["unhandled_rejection"]);
  assert.ok((await failedIn(poison.executionId)).every((r) => r === "worker_error"));
  assert.deepEqual(
    Object.fromEntries([...gate.runs].filter(([label]) => label !== "poison")),
    { mate1: 1, mate2: 1, mate3: 1, own: 1 },
  );
});

Deno.test("in a sandbox process too, a waiting execution is passivated and activated", async () => {
  const runs = new Map<string, number>();
  await using orchestrator = testOrchestrator({
    sandbox: "process",
    passivateAfterMs: 20,
    tools: [sleeper(runs)],
  });
  const report = await orchestrator.run("tester", {
    tokens: 1,
    calls: [
      { tool: "sleep", args: { label: "a", ms: 200 } },
      { tool: "sleep", args: { label: "b", ms: 1 } },
    ],
  });
  assert.equal(report.status, "SUCCESS", JSON.stringify(report.error));
  assert.deepEqual(Object.fromEntries(runs), { a: 1, b: 1 });
  assert.equal(report.tokens, 4);
  const types = executionTypes(await orchestrator.eventStore.readRange(report.executionId));
  assert.ok(types.includes("EXECUTION_PASSIVATED") && types.includes("EXECUTION_ACTIVATED"));
});

Deno.test("agents of different definitions never share a pooled worker, even of one module and the same permissions", async () => {
  const module = new URL("../fixtures/worker_id_agent.ts", import.meta.url);
  const orchestrator = new Orchestrator({
    agents: [{ name: "alpha", module, tools: [] }, { name: "beta", module, tools: [] }],
  });
  try {
    const [a1, a2, b] = await Promise.all([
      orchestrator.run("alpha", {}),
      orchestrator.run("alpha", {}),
      orchestrator.run("beta", {}),
    ]);
    assert.equal(a1.output, a2.output, "one definition: one pooled worker");
    assert.notEqual(a1.output, b.output, "another definition: another worker");
  } finally {
    await orchestrator.close();
  }
});
