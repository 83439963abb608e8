import assert from "node:assert/strict";
import { backoffBounds } from "../../src/backoff.ts";
import { FencedError } from "../../src/errors.ts";
import { InMemoryPersistenceAdapter } from "../../src/persistence/in_memory_persistence_adapter.ts";
import { ManualClock } from "../../src/testing/manual_clock.ts";
import type { Strategy } from "../../src/actor/supervisor_options.ts";
import { actor, eventually, testSystem } from "./_helpers.ts";

const noBackoff = { minMs: 0, maxMs: 0, factor: 1, jitter: 0 };

async function strategyRun(strategy: Strategy) {
  await using system = testSystem();
  await system.supervise({
    id: "app",
    strategy,
    backoff: noBackoff,
    restart: "temporary",
    children: ["a", "b", "c"].map((id) => ({ id, module: actor("summer") })),
  });
  assert.deepEqual(
    system.recorded.filter((e) => e.type === "ACTOR_STARTED").map((e) => e.data.actor),
    ["app/a", "app/b", "app/c"],
  );
  const mark = system.recorded.length;
  for (const path of ["app/a", "app/b", "app/c"]) system.tell(path, { type: "add", n: 1 });
  await Promise.all(["app/a", "app/b", "app/c"].map((p) => system.whenAcknowledged(p)));
  system.kill("app/b", "test failure");
  await eventually(
    () => system.recorded.find((e) => e.type === "ACTOR_RESTARTED" && e.data.actor === "app/b"),
    "b restarted",
  );
  // Every restarted actor kept its state.
  for (const path of ["app/a", "app/b", "app/c"]) {
    assert.deepEqual(await system.ask(path, { type: "sum" }), { sum: 1, count: 1 });
  }
  const after = system.recorded.slice(mark);
  return {
    stopped: after.filter((e) => e.type === "ACTOR_STOPPED").map((e) => e.data.actor),
    started: after.filter((e) => e.type === "ACTOR_STARTED").map((e) => e.data.actor),
    retries: after.filter((e) => e.type === "RETRY_ATTEMPTED").map((e) => e.data.actor),
  };
}

Deno.test("one_for_one restarts only the failed child", async () => {
  const run = await strategyRun("one_for_one");
  assert.deepEqual(run.stopped, []);
  assert.deepEqual(run.started, ["app/b"]);
  assert.deepEqual(run.retries, ["app/b"]);
});

Deno.test("one_for_all stops the others in reverse order, then restarts all in start order", async () => {
  const run = await strategyRun("one_for_all");
  assert.deepEqual(run.stopped, ["app/c", "app/a"]);
  assert.deepEqual(run.started, ["app/a", "app/b", "app/c"]);
  assert.deepEqual(run.retries, ["app/a", "app/b", "app/c"]);
});

Deno.test("rest_for_one restarts the failed child and those started after it", async () => {
  const run = await strategyRun("rest_for_one");
  assert.deepEqual(run.stopped, ["app/c"]);
  assert.deepEqual(run.started, ["app/b", "app/c"]);
});

Deno.test("transient children restart only after an abnormal exit; temporary ones never", async () => {
  await using system = testSystem();
  await system.supervise({
    id: "app",
    backoff: noBackoff,
    restart: "temporary",
    children: [
      { id: "transient", module: actor("summer"), restart: "transient" },
      { id: "temporary", module: actor("summer"), restart: "temporary" },
    ],
  });
  system.kill("app/transient");
  await eventually(
    () => system.recorded.find((e) => e.type === "ACTOR_RESTARTED"),
    "transient restarted",
  );
  system.kill("app/temporary");
  await eventually(
    () => system.actors.includes("app/temporary") ? undefined : true,
    "temporary gone",
  );
  assert.deepEqual(system.actors, ["app/transient"]);
  assert.equal(system.recorded.filter((e) => e.type === "ACTOR_RESTARTED").length, 1);
});

async function killAndAwaitRestart(
  system: ReturnType<typeof testSystem>,
  path: string,
  restartsBefore: number,
): Promise<void> {
  system.kill(path);
  await eventually(
    () =>
      system.recorded.filter((e) => e.type === "ACTOR_RESTARTED").length > restartsBefore
        ? true
        : undefined,
    `restart #${restartsBefore + 1}`,
  );
}

Deno.test("with intensity 3 in 5 s, the 4th failure inside the window escalates", async () => {
  const clock = new ManualClock(1_000_000);
  await using system = testSystem({ clock, heartbeatTimeoutMs: 1e9 });
  const sup = await system.supervise({
    id: "app",
    intensity: 3,
    periodMs: 5_000,
    backoff: noBackoff,
    restart: "temporary",
    children: [{ id: "worker", module: actor("summer") }],
  });
  for (let i = 0; i < 3; i++) {
    await killAndAwaitRestart(system, "app/worker", i);
    await clock.advance(1_000);
  }
  assert.equal(sup.status, "running");
  system.kill("app/worker");
  const escalated = await eventually(
    () => system.recorded.find((e) => e.type === "SUPERVISOR_ESCALATED"),
    "SUPERVISOR_ESCALATED",
  );
  assert.equal(escalated.data.supervisor, "app");
  assert.match(
    String(escalated.data.reason),
    /4 restarts within 5000 ms exceed the intensity of 3/,
  );
  assert.equal(sup.status, "failed");
  assert.deepEqual(system.actors, []);
});

Deno.test("failures spread wider than the period do not escalate", async () => {
  const clock = new ManualClock(1_000_000);
  await using system = testSystem({ clock, heartbeatTimeoutMs: 1e9 });
  const sup = await system.supervise({
    id: "app",
    intensity: 3,
    periodMs: 5_000,
    backoff: noBackoff,
    restart: "temporary",
    children: [{ id: "worker", module: actor("summer") }],
  });
  for (let i = 0; i < 6; i++) {
    await killAndAwaitRestart(system, "app/worker", i);
    await clock.advance(2_000);
  }
  assert.equal(sup.status, "running");
  assert.equal(system.recorded.filter((e) => e.type === "SUPERVISOR_ESCALATED").length, 0);
});

Deno.test("the root supervisor giving up stops the system with SYSTEM_STOPPED", async () => {
  await using system = testSystem({
    root: { intensity: 0, backoff: noBackoff },
    heartbeatTimeoutMs: 1e9,
  });
  await system.spawn(actor("summer"), { name: "only" });
  system.kill("only");
  const terminated = await system.terminated;
  assert.match(terminated.reason, /root supervisor gave up/);
  assert.ok(system.recorded.some((e) => e.type === "SYSTEM_STOPPED"));
  assert.deepEqual(system.actors, []);
});

Deno.test("RETRY_ATTEMPTED events equal the restarts, with increasing delays inside the jitter bounds", async () => {
  const clock = new ManualClock(1_000_000);
  await using system = testSystem({ clock, heartbeatTimeoutMs: 1e9 });
  const backoff = { minMs: 100, maxMs: 10_000, factor: 2, jitter: 0.25 };
  await system.supervise({
    id: "app",
    intensity: 100,
    backoff,
    restart: "temporary",
    children: [{ id: "worker", module: actor("summer") }],
  });
  let previous = 0;
  for (let attempt = 1; attempt <= 4; attempt++) {
    system.kill("app/worker");
    const retry = await eventually(
      () => system.recorded.filter((e) => e.type === "RETRY_ATTEMPTED")[attempt - 1],
      `RETRY_ATTEMPTED #${attempt}`,
    );
    const delay = retry.data.delayMs as number;
    const { min, max } = backoffBounds(attempt, backoff);
    assert.ok(delay >= min && delay <= max, `attempt ${attempt}: ${delay} not in [${min}, ${max}]`);
    assert.ok(delay > previous, `attempt ${attempt}: ${delay} <= ${previous}`);
    assert.equal(retry.data.attempt, attempt);
    assert.equal(retry.data.actor, "app/worker");
    previous = delay;
    // No restart before the delay has passed.
    await clock.advance(delay - 1);
    assert.equal(system.recorded.filter((e) => e.type === "ACTOR_RESTARTED").length, attempt - 1);
    await clock.advance(1);
    await eventually(
      () =>
        system.recorded.filter((e) => e.type === "ACTOR_RESTARTED").length === attempt
          ? true
          : undefined,
      `restart #${attempt}`,
    );
  }
  assert.equal(system.recorded.filter((e) => e.type === "RETRY_ATTEMPTED").length, 4);
});

Deno.test("a failed actor restarts from its last snapshot and handles what it had not finished", async () => {
  for (const mode of ["throw", "reject", "hang", "exit"] as const) {
    await using system = testSystem({
      heartbeatMs: 50,
      heartbeatTimeoutMs: 500,
      root: { backoff: noBackoff },
    });
    const summer = await system.spawn(actor("summer"), { name: "summer", messageTimeoutMs: 300 });
    for (let n = 1; n <= 10; n++) summer.tell({ type: "add", n });
    summer.tell({ type: "crash", mode });
    for (let n = 11; n <= 20; n++) summer.tell({ type: "add", n });
    // Detection is asynchronous for an unhandled rejection: wait for the restart.
    await eventually(
      () => system.recorded.find((e) => e.type === "ACTOR_RESTARTED"),
      `restart after ${mode}`,
    );
    const failed = system.recorded.find((e) => e.type === "ACTOR_FAILED");
    const expected = {
      throw: "exception",
      reject: "unhandled_rejection",
      hang: "timeout",
      exit: "worker_exited",
    }[mode];
    assert.equal(failed?.data.reason, expected, mode);
    assert.ok(
      system.recorded.find((e) => e.type === "RETRY_ATTEMPTED"),
      `RETRY_ATTEMPTED after ${mode}`,
    );
    assert.deepEqual(await summer.ask({ type: "sum" }, { timeoutMs: 10_000 }), {
      sum: 210,
      count: 20,
    }, mode);
  }
});

Deno.test("a replaced incarnation's late snapshot write is rejected (fencing)", async () => {
  const persistence = new InMemoryPersistenceAdapter();
  await using system = testSystem({ persistence, root: { backoff: noBackoff } });
  const counter = await system.spawn(actor("counter"), { name: "counter" });
  counter.tell({ type: "add", n: 5 });
  await counter.whenAcknowledged();
  const key = "oao/actor:counter";
  const first = await persistence.load(key);
  assert.equal(first?.fencingToken, 1);
  counter.kill();
  await eventually(() => system.recorded.find((e) => e.type === "ACTOR_RESTARTED"), "restart");
  counter.tell({ type: "add", n: 1 });
  await counter.whenAcknowledged();
  const second = await persistence.load<{ state: { total: number } }>(key);
  assert.equal(second?.fencingToken, 2);
  assert.equal(second?.data.state.total, 6);
  // The old incarnation (token 1) writing late is refused, and the state is intact.
  await assert.rejects(
    persistence.save(key, { ...first!.data as object }, {
      version: second!.version + 1,
      fencingToken: 1,
    }),
    FencedError,
  );
  assert.equal(await counter.ask({ type: "get" }), 6);
});

Deno.test("a poison message is dead-lettered after maxDeliveries attempts and the next message is processed", async () => {
  await using system = testSystem({ root: { backoff: noBackoff, intensity: 10 } });
  const summer = await system.spawn(actor("summer"), { name: "summer", maxDeliveries: 3 });
  summer.tell({ type: "add", n: 1 });
  summer.tell({ type: "poison" });
  summer.tell({ type: "add", n: 2 });
  assert.deepEqual(await summer.ask({ type: "sum" }, { timeoutMs: 10_000 }), { sum: 3, count: 2 });
  assert.equal(system.recorded.filter((e) => e.type === "ACTOR_FAILED").length, 3);
  // The dead letter is reported on the worker's control channel, the reply on the
  // message link: the two may arrive in either order.
  const dead = await eventually(() => system.deadLetters[0], "the dead letter");
  assert.equal(system.deadLetters.length, 1);
  assert.equal(dead.attempts, 3);
  assert.equal(dead.from, "$host");
  assert.deepEqual(dead.message, { type: "poison" });
  assert.match(dead.error.message, /poison message/);
  const event = system.recorded.find((e) => e.type === "MESSAGE_DEAD_LETTERED");
  assert.equal(event?.data.attempts, 3);
});

Deno.test("supervisor options are validated with errors naming the field and the value", async () => {
  await using system = testSystem();
  await assert.rejects(
    system.supervise({ id: "x", strategy: "one_for_some" as Strategy }),
    /strategy "one_for_some"/,
  );
  await assert.rejects(system.supervise({ id: "x", intensity: -1 }), /intensity -1/);
  await assert.rejects(system.supervise({ id: "x", periodMs: 0 }), /periodMs 0/);
  await assert.rejects(system.supervise({ id: "x", backoff: { jitter: 2 } }), /jitter 2/);
  await assert.rejects(system.supervise({ id: "x", backoff: { minMs: 10, maxMs: 5 } }), /maxMs 5/);
  await assert.rejects(
    system.supervise({
      id: "x",
      children: [{ id: "a", module: actor("echo") }, { id: "a", module: actor("echo") }],
    }),
    /Duplicate child id "a"/,
  );
});

Deno.test("a child that stays up long enough has its backoff reset", async () => {
  const clock = new ManualClock(1_000_000);
  await using system = testSystem({ clock, heartbeatTimeoutMs: 1e9 });
  const backoff = { minMs: 100, maxMs: 10_000, factor: 2, jitter: 0 };
  await system.supervise({
    id: "app",
    intensity: 100,
    backoff,
    resetBackoffAfterMs: 5_000,
    restart: "temporary",
    children: [{ id: "worker", module: actor("summer") }],
  });
  const delays: number[] = [];
  for (const upFor of [0, 0, 6_000]) {
    await clock.advance(upFor);
    system.kill("app/worker");
    const retry = await eventually(
      () => system.recorded.filter((e) => e.type === "RETRY_ATTEMPTED")[delays.length],
      "RETRY_ATTEMPTED",
    );
    delays.push(retry.data.delayMs as number);
    const restarts = delays.length;
    await clock.advance(retry.data.delayMs as number);
    await eventually(
      () =>
        system.recorded.filter((e) => e.type === "ACTOR_RESTARTED").length === restarts
          ? true
          : undefined,
      "restart",
    );
  }
  assert.deepEqual(delays, [100, 200, 100]);
});

Deno.test("a process whose system is shut down while a restart waits out its backoff exits at once", async () => {
  // In a process of its own: the backoff's timer kept the process alive for
  // the whole delay (30 s here) after the shutdown had returned.
  const program = new URL("../fixtures/shutdown_in_backoff.ts", import.meta.url);
  const started = performance.now();
  const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--unstable-worker-options", program.pathname],
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.timeout(20_000),
  }).output();
  const elapsed = performance.now() - started;
  const said = new TextDecoder().decode(stdout);
  assert.equal(code, 0, new TextDecoder().decode(stderr));
  assert.match(said, /^shut down$/m);
  assert.ok(elapsed < 10_000, `the process exited ${Math.round(elapsed)} ms after its start`);
});
