// Pooled workers: actors spawned with `isolation: "shared"` share warm
// workers of their module and permissions, each with its own mailbox,
// ordering, state and snapshots; a worker is the unit of failure.
import assert from "node:assert/strict";
import { actor, eventually, fixture, testSystem } from "./_helpers.ts";
import type { OaoEvent } from "../../src/observability/events.ts";

const probe = fixture("pool_probe");

function failures(events: OaoEvent[], path: string): string[] {
  return events.filter((e) => e.type === "ACTOR_FAILED" && e.data.actor === path)
    .map((e) => String(e.data.reason));
}

Deno.test("1,000 shared actors run in the pool's few workers, each with its own state and order", async () => {
  await using system = testSystem({ pool: { actorsPerWorker: 400, maxWorkers: 3 } });
  const refs = await Promise.all(
    Array.from(
      { length: 1_000 },
      (_, i) => system.spawn(probe, { name: `p${i}`, isolation: "shared", snapshot: "never" }),
    ),
  );
  assert.equal(system.pooledWorkers, 3);
  // Each actor gets its own sequence of adds; its total is its own.
  for (let round = 1; round <= 3; round++) {
    for (const [i, ref] of refs.entries()) ref.tell({ type: "add", n: i * round });
  }
  const totals = await Promise.all(refs.map((ref) => ref.ask<number>({ type: "get" })));
  assert.deepEqual(totals, refs.map((_, i) => i * 6));
  const workers = new Set(
    await Promise.all(refs.map((ref) => ref.ask<string>({ type: "worker" }))),
  );
  assert.equal(workers.size, 3, "module-level code ran once per pooled worker");
});

Deno.test("actors of other modules, permissions or pools never share a worker", async () => {
  await using system = testSystem();
  const a = await system.spawn(probe, { name: "a", isolation: "shared" });
  const b = await system.spawn(probe, { name: "b", isolation: "shared" });
  const c = await system.spawn(probe, {
    name: "c",
    isolation: "shared",
    permissions: { env: ["HOME"] },
  });
  const d = await system.spawn(probe, { name: "d" });
  const [wa, wb, wc, wd] = await Promise.all(
    [a, b, c, d].map((ref) => ref.ask<string>({ type: "worker" })),
  );
  assert.equal(wa, wb);
  assert.notEqual(wa, wc, "other permissions, another worker");
  assert.notEqual(wa, wd, "isolation worker: a worker of its own");
  assert.equal(system.pooledWorkers, 2);
  const echo = await system.spawn(actor("echo"), { name: "e", isolation: "shared" });
  assert.equal(await echo.ask("hi"), "hi");
  assert.equal(system.pooledWorkers, 3, "another module, another pool");
  // The same module and permissions in pools of their own (the orchestrator's agent definitions).
  const p1 = await system.spawn(probe, { name: "p1", isolation: "shared", pool: "alpha@1" });
  const p2 = await system.spawn(probe, { name: "p2", isolation: "shared", pool: "alpha@1" });
  const q = await system.spawn(probe, { name: "q", isolation: "shared", pool: "beta@1" });
  const [w1, w2, wq] = await Promise.all(
    [p1, p2, q].map((ref) => ref.ask<string>({ type: "worker" })),
  );
  assert.equal(w1, w2, "one pool, one worker");
  assert.notEqual(w1, wq, "another pool, another worker");
  assert.notEqual(w1, wa, "a named pool is not the module's default one");
  assert.equal(system.pooledWorkers, 5);
});

Deno.test("a shared actor that fails is restarted from its own snapshot; its worker-mates are untouched", async () => {
  await using system = testSystem();
  const victim = await system.spawn(probe, { name: "victim", isolation: "shared" });
  const mate = await system.spawn(probe, { name: "mate", isolation: "shared" });
  victim.tell({ type: "add", n: 5 });
  mate.tell({ type: "add", n: 7 });
  assert.equal(await victim.ask({ type: "get" }), 5);
  const before = await mate.ask<string>({ type: "worker" });
  victim.tell({ type: "throw" });
  // Failed on each of its 3 deliveries, then set aside.
  await eventually(
    () => system.deadLetters.some((d) => d.actor === victim.path) ? true : undefined,
    "the poison message's dead letter",
  );
  assert.equal(await victim.ask({ type: "get" }), 5, "restored from its snapshot");
  assert.deepEqual(failures(system.recorded, victim.path), ["exception", "exception", "exception"]);
  assert.deepEqual(failures(system.recorded, mate.path), []);
  assert.equal(await mate.ask({ type: "get" }), 7);
  assert.equal(await mate.ask<string>({ type: "worker" }), before, "same worker");
});

Deno.test("an error of one actor's own promise or timer fails that actor alone; its worker-mates and their worker are untouched", async () => {
  await using system = testSystem();
  const mate = await system.spawn(probe, { name: "mate", isolation: "shared" });
  mate.tell({ type: "add", n: 4 });
  const worker = await mate.ask<string>({ type: "worker" });
  for (const [i, type] of (["reject", "timer-throw"] as const).entries()) {
    const culprit = await system.spawn(probe, { name: `culprit${i}`, isolation: "shared" });
    assert.equal(await culprit.ask<string>({ type: "worker" }), worker);
    await culprit.ask({ type });
    await eventually(
      () =>
        system.recorded.some((e) => e.type === "ACTOR_RESTARTED" && e.data.actor === culprit.path)
          ? true
          : undefined,
      `the restart of ${culprit.path}`,
    );
    // (Its message may be delivered again, and fail it again, when the
    // failure came before its completion was recorded.)
    assert.deepEqual(
      failures(system.recorded, culprit.path).slice(0, 1),
      [type === "reject" ? "unhandled_rejection" : "worker_error"],
    );
    assert.equal(
      await culprit.ask<string>({ type: "worker" }),
      worker,
      "restarted in the same worker",
    );
  }
  assert.deepEqual(failures(system.recorded, mate.path), []);
  assert.equal(await mate.ask({ type: "get" }), 4);
  assert.equal(await mate.ask<string>({ type: "worker" }), worker);
  assert.equal(system.pooledWorkers, 1);
});

Deno.test("an error of a timer left by a pooled actor that has stopped is dropped: its worker and worker-mates carry on", async () => {
  await using system = testSystem();
  const leaver = await system.spawn(probe, { name: "leaver", isolation: "shared" });
  const mate = await system.spawn(probe, { name: "mate", isolation: "shared" });
  const worker = await mate.ask<string>({ type: "worker" });
  await leaver.ask({ type: "timer-throw", ms: 100 });
  await leaver.stop();
  await new Promise((r) => setTimeout(r, 250));
  assert.deepEqual(failures(system.recorded, leaver.path), []);
  assert.deepEqual(failures(system.recorded, mate.path), []);
  assert.equal(await mate.ask<string>({ type: "worker" }), worker);
  assert.equal(system.pooledWorkers, 1);
});

Deno.test("an error no actor can be blamed for retires its pooled worker; each actor restarts with its own events, the one failure counted as one restart, other pools untouched", async () => {
  // The root's default intensity is 3 restarts in 5 s: five actors failed by
  // one error must not exhaust it.
  await using system = testSystem();
  const crasher = await system.spawn(probe, { name: "crasher", isolation: "shared" });
  const mates = await Promise.all(
    [1, 2, 3, 4].map((i) => system.spawn(probe, { name: `mate${i}`, isolation: "shared" })),
  );
  const other = await system.spawn(actor("counter"), { name: "other", isolation: "shared" });
  for (const [i, mate] of mates.entries()) mate.tell({ type: "add", n: i + 1 });
  other.tell({ type: "add", n: 9 });
  await Promise.all(mates.map((m) => m.ask({ type: "get" })));
  const oldWorker = await crasher.ask<string>({ type: "worker" });
  await crasher.ask({ type: "module-throw" });
  for (const ref of [crasher, ...mates]) {
    await eventually(
      () =>
        system.recorded.some((e) => e.type === "ACTOR_RESTARTED" && e.data.actor === ref.path)
          ? true
          : undefined,
      `the restart of ${ref.path}`,
    );
    assert.deepEqual(failures(system.recorded, ref.path), ["worker_error"], ref.path);
  }
  for (const [i, mate] of mates.entries()) assert.equal(await mate.ask({ type: "get" }), i + 1);
  assert.notEqual(await crasher.ask<string>({ type: "worker" }), oldWorker, "a fresh worker");
  assert.deepEqual(failures(system.recorded, other.path), []);
  assert.equal(await other.ask({ type: "get" }), 9);
  assert.equal(system.actors.length, 6, "the root supervisor did not escalate");
});

for (const strategy of ["one_for_all", "rest_for_one"] as const) {
  Deno.test(`${strategy}: the children of one failed pooled worker are each restarted once, as one restart of their supervisor`, async () => {
    await using system = testSystem();
    await system.supervise({
      id: "app",
      strategy,
      intensity: 1,
      backoff: { minMs: 1, maxMs: 1, factor: 1, jitter: 0 },
      children: ["a", "b", "c"].map((id) => ({ id, module: probe, isolation: "shared" as const })),
    });
    const paths = ["app/a", "app/b", "app/c"];
    await system.ref("app/c").ask({ type: "module-throw" });
    for (const path of paths) {
      await eventually(
        async () => {
          try {
            return await system.ref(path).ask({ type: "get" }) === 0 || undefined;
          } catch {
            return undefined; // between its stop and its restart
          }
        },
        `${path} answering again`,
      );
    }
    await new Promise((r) => setTimeout(r, 200)); // any restart queued behind comes meanwhile
    const restarts = (path: string) =>
      system.recorded.filter((e) => e.type === "ACTOR_RESTARTED" && e.data.actor === path).length;
    assert.deepEqual(paths.map(restarts), [1, 1, 1]);
    assert.equal(system.actors.length, 3, "the supervisor did not escalate");
  });
}

Deno.test("a pooled worker that stops yielding is ended with its actors, which restart in a fresh worker", async () => {
  await using system = testSystem({ heartbeatMs: 50, heartbeatTimeoutMs: 400 });
  const blocker = await system.spawn(probe, {
    name: "blocker",
    isolation: "shared",
    restart: "temporary",
  });
  const mate = await system.spawn(probe, { name: "mate", isolation: "shared" });
  mate.tell({ type: "add", n: 3 });
  const oldWorker = await mate.ask<string>({ type: "worker" });
  blocker.tell({ type: "block", ms: 1_500 });
  await eventually(
    () =>
      system.recorded.some((e) => e.type === "ACTOR_RESTARTED" && e.data.actor === mate.path)
        ? true
        : undefined,
    "the mate's restart",
  );
  assert.deepEqual(failures(system.recorded, mate.path).slice(0, 1), ["worker_died"]);
  assert.equal(await mate.ask({ type: "get" }), 3);
  assert.notEqual(await mate.ask<string>({ type: "worker" }), oldWorker);
});

Deno.test("the pool ends a worker that has had no actor for idleMs", async () => {
  await using system = testSystem({ pool: { idleMs: 100 } });
  const refs = await Promise.all(
    [1, 2].map((i) => system.spawn(probe, { name: `p${i}`, isolation: "shared" })),
  );
  assert.equal(system.pooledWorkers, 1);
  await refs[0]!.stop();
  await new Promise((r) => setTimeout(r, 250));
  assert.equal(system.pooledWorkers, 1, "one actor left: the worker stays");
  await refs[1]!.stop();
  await eventually(() => system.pooledWorkers === 0 ? true : undefined, "the idle worker's end");
});

Deno.test("invalid isolation and pool options are refused with the field named", async () => {
  await using system = testSystem();
  await assert.rejects(
    system.spawn(probe, { isolation: "thread" as never }),
    /Invalid isolation "thread": expected "worker" or "shared"/,
  );
  assert.throws(
    () => testSystem({ pool: { maxWorkers: 0 } }),
    /Invalid pool.maxWorkers 0: expected a positive integer/,
  );
  assert.throws(
    () => testSystem({ pool: { idleMs: -1 } }),
    /Invalid pool.idleMs -1/,
  );
  // What JSON would print as null is named as itself.
  assert.throws(
    () => testSystem({ pool: { actorsPerWorker: Infinity } }),
    /Invalid pool.actorsPerWorker Infinity: expected a positive integer/,
  );
  assert.throws(() => testSystem({ pool: { maxWorkers: NaN } }), /Invalid pool.maxWorkers NaN/);
  assert.throws(
    () => testSystem({ pool: { maxworkers: 2 } as never }),
    /Unknown pool option "maxworkers": expected "actorsPerWorker", "maxWorkers", "idleMs"/,
  );
  assert.throws(() => testSystem({ pool: [] as never }), /Invalid pool \[\]: expected an object/);
  await assert.rejects(
    system.spawn(probe, { pool: "alpha" }),
    /Invalid pool "alpha": a pool applies only to isolation "shared" \(got undefined\)/,
  );
});

for (const isolation of ["worker", "shared"] as const) {
  Deno.test(`a service answer meant for an actor's earlier incarnation never settles a request of the restarted one (${isolation})`, async () => {
    await using system = testSystem();
    const gates = new Map<string, () => void>();
    system.registerService(
      "svc",
      (payload) =>
        new Promise((resolve) => gates.set(String(payload), () => resolve(`answer to ${payload}`))),
    );
    const caller = await system.spawn(fixture("service_caller"), {
      name: "caller",
      isolation,
      snapshot: "never",
      maxDeliveries: 1,
    });
    void caller.ask("old", { timeoutMs: 10_000 }).catch(() => {});
    await eventually(() => gates.has("old") ? true : undefined, "the first call");
    caller.kill("restart it");
    await eventually(
      () => system.recorded.some((e) => e.type === "ACTOR_RESTARTED") ? true : undefined,
      "the restart",
    );
    const fresh = caller.ask<string>("new", { timeoutMs: 10_000 });
    await eventually(() => gates.has("new") ? true : undefined, "the second call");
    gates.get("old")!(); // both incarnations' request ids are 1
    await new Promise((r) => setTimeout(r, 100));
    gates.get("new")!();
    assert.equal(await fresh, "answer to new");
  });
}
