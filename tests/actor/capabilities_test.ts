// The host never trusts a worker: malformed control messages fail the actor
// that sent them, and requests outside an actor's capabilities are refused.
import assert from "node:assert/strict";
import { configure, type LogRecord, reset } from "@logtape/logtape";
import { eventually, fixture, testSystem } from "./_helpers.ts";
import { LOG_BUDGET, REPORT_BUDGET } from "../../src/actor/_second_budget.ts";
import { MAX_SPAWNED_PER_TREE } from "../../src/actor/_guest_requests.ts";

const raw = fixture("hostile/raw_actor");

function reasons(events: { type: string; data: Record<string, unknown> }[], actor: string) {
  return events.filter((e) => e.type === "ACTOR_FAILED" && e.data.actor === actor)
    .map((e) => e.data.reason);
}

Deno.test("a malformed control message fails only the actor that sent it, with protocol_violation", async () => {
  await using system = testSystem();
  const attacker = await system.spawn(raw, { name: "attacker", restart: "temporary" });
  const bystander = await system.spawn(raw, { name: "bystander" });
  for (
    const post of [
      null,
      { k: "logs", records: 5 },
      { k: "logs", records: [null] },
      { k: "logs", records: [{ level: "loud", message: "x", properties: {} }] },
      { k: "nope" },
      { k: "snapshot", incarnation: 1, version: 1.5, data: {} },
      { k: "failed", reason: "whatever", error: { name: "E", message: "m" } },
      { k: "request", id: 1, request: { op: "format-disk" } },
      { k: "spans", spans: [{ name: 5 }] },
    ]
  ) {
    const victim = await system.spawn(raw, {
      name: `v-${crypto.randomUUID()}`,
      restart: "temporary",
    });
    await victim.ask({ post }, { timeoutMs: 5_000 }).catch(() => {});
    const failed = await eventually(
      () =>
        reasons(system.recorded, victim.path).length > 0
          ? reasons(system.recorded, victim.path)
          : undefined,
      `the failure of the actor that posted ${JSON.stringify(post)}`,
    );
    assert.deepEqual(failed, ["protocol_violation"], JSON.stringify(post));
  }
  assert.equal(await bystander.ask({ echo: "still here" }), "still here");
  assert.equal(await attacker.ask({ echo: 1 }), 1);
});

Deno.test("a snapshot forged by an actor whose snapshots are off is a protocol violation and stores nothing", async () => {
  await using system = testSystem();
  const forger = await system.spawn(raw, {
    name: "forger",
    snapshot: "never",
    restart: "temporary",
  });
  const data = { processed: 1, cursors: {}, outbox: {}, state: { blob: "x".repeat(1_000) } };
  const snapshot = { k: "snapshot", incarnation: 1, version: 4, data };
  await forger.ask({ post: snapshot }, { timeoutMs: 5_000 }).catch(() => {});
  const failed = await eventually(
    () =>
      reasons(system.recorded, forger.path).length > 0
        ? reasons(system.recorded, forger.path)
        : undefined,
    "the forger's failure",
  );
  assert.deepEqual(failed, ["protocol_violation"]);
  assert.deepEqual(await system.persistence.list(system.name), [], "nothing stored");
});

Deno.test("an actor that posts log batches in a loop gets 1,000 records a second written, and one warning that the rest were dropped", async () => {
  const records: LogRecord[] = [];
  await configure({
    reset: true,
    sinks: { memory: (record) => records.push(record) },
    loggers: [
      { category: ["oao", "actor"], lowestLevel: "debug", sinks: ["memory"] },
      { category: ["logtape", "meta"], lowestLevel: "warning", sinks: [] },
    ],
  });
  try {
    await using system = testSystem();
    const flooder = await system.spawn(raw, { name: "flooder" });
    const batch = (tag: string, n: number) => ({
      k: "logs",
      records: Array.from({ length: n }, (_, i) => ({
        level: "info",
        message: `${tag} ${i}`,
        properties: {},
      })),
    });
    const written = (tag: string) =>
      records.filter((r) => String(r.message[0]).startsWith(`${tag} `)).length;
    const warnings = () =>
      records.filter((r) => r.level === "warning" && r.rawMessage.toString().includes("dropped"));
    await flooder.ask({ posts: [1, 2, 3, 4, 5].map(() => batch("flood", 1_000)) });
    // (The batches travel on the worker's channel, the reply on a link: no order between them.)
    await eventually(() => warnings().length > 0 || undefined, "the warning");
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(written("flood"), LOG_BUDGET.count, "one second's budget");
    assert.equal(warnings().length, 1, "said once");
    await new Promise((r) => setTimeout(r, 1_000));
    await flooder.ask({ posts: [batch("later", 10)] });
    await eventually(() => written("later") === 10 || undefined, "the next second's records");
  } finally {
    await reset();
  }
});

Deno.test("an actor that sends to missing actors in a loop records at most 100 MESSAGE_UNDELIVERABLE events a second; a second ready is a protocol violation", async () => {
  await using system = testSystem();
  const prober = await system.spawn(raw, { name: "prober" });
  const connects = Array.from(
    { length: 300 },
    (_, i) => ({ k: "connect", target: `missing-${i}`, space: "s" }),
  );
  await prober.ask({ posts: connects });
  const undeliverable = () =>
    system.recorded.filter((e) => e.type === "MESSAGE_UNDELIVERABLE" && e.data.from === prober.path)
      .length;
  await eventually(() => undeliverable() >= REPORT_BUDGET.count || undefined, "the reports");
  await new Promise((r) => setTimeout(r, 100));
  assert.equal(undeliverable(), REPORT_BUDGET.count);
  const twice = await system.spawn(raw, { name: "twice", restart: "temporary" });
  await twice.ask({ post: { k: "ready" } }).catch(() => {});
  await eventually(
    () => reasons(system.recorded, twice.path).length > 0 || undefined,
    "the failure of a second ready",
  );
  assert.deepEqual(reasons(system.recorded, twice.path), ["protocol_violation"]);
  assert.equal(
    system.recorded.filter((e) => e.type === "ACTOR_STARTED" && e.data.actor === twice.path).length,
    1,
  );
});

Deno.test("an actor of one execution cannot stop, ask or spawn into another execution", async () => {
  await using system = testSystem();
  const victim = await system.spawn(raw, { name: "victim", executionId: "exec-victim" });
  const attacker = await system.spawn(raw, { name: "attacker", executionId: "exec-attacker" });

  const stop = await attacker.ask<{ ok: boolean; code: string; stack: string }>({
    op: "stop",
    target: victim.path,
  });
  assert.equal(stop.ok, false);
  assert.equal(stop.code, "ACCESS_DENIED");
  assert.ok(!stop.stack.includes("_guest_requests.ts"), `the host's files: ${stop.stack}`);

  const ask = await attacker.ask<{ ok: boolean; code: string }>({
    op: "ask",
    to: victim.path,
    message: { echo: "leak" },
  });
  assert.equal(ask.ok, false);
  assert.equal(ask.code, "ACCESS_DENIED");

  for (
    const options of [{ name: "c1", snapshotKey: "oao/actor:victim" }, {
      name: "c2",
      executionId: "exec-victim",
    }, { name: "c3", isolation: "shared" }]
  ) {
    const spawn = await attacker.ask<{ ok: boolean; code: string; message: string }>({
      op: "spawn",
      module: raw.href,
      options,
    });
    assert.equal(spawn.ok, false, JSON.stringify(options));
    assert.equal(spawn.code, "ACCESS_DENIED", spawn.message);
  }

  assert.equal(await victim.ask({ echo: "untouched" }), "untouched");
  const denied = system.recorded.filter((e) => e.type === "ACCESS_DENIED");
  assert.equal(denied.length, 5);
  assert.ok(
    denied.every((e) => e.executionId === "exec-attacker" && e.data.actor === attacker.path),
  );
  assert.ok(
    !system.recorded.some((e) => e.executionId === "exec-victim" && e.type === "ACCESS_DENIED"),
  );
});

Deno.test("a child spawned from a worker works for its parent's execution and may be stopped by it", async () => {
  await using system = testSystem();
  const parent = await system.spawn(raw, { name: "parent", executionId: "exec-1" });
  const spawned = await parent.ask<{ ok: boolean; value: string }>({
    op: "spawn",
    module: raw.href,
    options: { name: "child", executionId: "exec-1" },
  });
  assert.equal(spawned.ok, true);
  const asked = await parent.ask<{ ok: boolean; value: unknown }>({
    op: "ask",
    to: spawned.value,
    message: { echo: "hi" },
  });
  assert.deepEqual(asked, { ok: true, value: "hi" });
  const started = system.recorded.find((e) =>
    e.type === "ACTOR_STARTED" && e.data.actor === spawned.value
  );
  assert.equal(started?.executionId, "exec-1");
  const stop = await parent.ask<{ ok: boolean }>({ op: "stop", target: spawned.value });
  assert.equal(stop.ok, true);
});

Deno.test("the actors under one host-spawned actor may spawn at most 64 live actors, however many they ask for at once; stopped ones free their places", async () => {
  await using system = testSystem();
  const parent = await system.spawn(raw, { name: "spawner", executionId: "exec-1" });
  const first = await parent.ask<{ spawned: number; refused: string[] }>(
    { spawnMany: 100, module: raw.href },
    { timeoutMs: 60_000 },
  );
  assert.equal(first.spawned, MAX_SPAWNED_PER_TREE, JSON.stringify(first.refused.slice(0, 3)));
  assert.equal(first.refused.length, 100 - MAX_SPAWNED_PER_TREE);
  assert.match(first.refused[0]!, /the actors under "spawner" spawned 64 actors that are alive/);
  // A child's own spawns count against the same tree.
  const child = system.ref("spawner/child-0");
  const deeper = await child.ask<{ ok: boolean; message: string }>({
    op: "spawn",
    module: raw.href,
    options: { name: "grandchild" },
  });
  assert.equal(deeper.ok, false);
  assert.match(deeper.message, /spawned 64 actors/);
  await system.stop("spawner/child-1");
  const again = await child.ask<{ ok: boolean }>({
    op: "spawn",
    module: raw.href,
    options: { name: "grandchild" },
  });
  assert.equal(again.ok, true);
});

Deno.test("forged undeliverable and dead-letter reports write no event", async () => {
  await using system = testSystem();
  const attacker = await system.spawn(raw, {
    name: "a",
    executionId: "exec-a",
    restart: "temporary",
  });
  await attacker.ask({
    post: { k: "undeliverable", target: "exec-b/x", error: { name: "E", message: "forged" } },
  }).catch(() => {});
  await eventually(
    () => reasons(system.recorded, attacker.path).length > 0 ? true : undefined,
    "the attacker's failure",
  );
  const other = await system.spawn(raw, { name: "b", executionId: "exec-a", restart: "temporary" });
  await other.ask({
    post: {
      k: "dead-letter",
      key: "$host#abc",
      from: "$host",
      seq: 1,
      body: "forged",
      error: { name: "E", message: "forged" },
      attempts: 3,
    },
  }).catch(() => {});
  await eventually(
    () => reasons(system.recorded, other.path).length > 0 ? true : undefined,
    "the failure of the actor that forged a dead letter",
  );
  assert.deepEqual(reasons(system.recorded, other.path), ["protocol_violation"]);
  assert.ok(!system.recorded.some((e) => e.type === "MESSAGE_UNDELIVERABLE"));
  assert.ok(!system.recorded.some((e) => e.type === "MESSAGE_DEAD_LETTERED"));
});

Deno.test("replies forged on the host's link fail the actor with protocol_violation, and their errors are cut to the limits", async () => {
  await using system = testSystem();
  const huge = { name: "E", message: "forged ".repeat(100_000) };
  for (
    const [i, forged] of [
      { k: "a", upTo: 1_000_000 }, // acknowledges messages never sent
      { k: "x", seqs: [], asks: [], e: huge }, // refuses nothing
      { k: "x", seqs: [1_000_000], asks: [], e: { name: "E", message: "m" } }, // never sent
      { k: "x", seqs: Array(1_001).fill(1), asks: [], e: { name: "E", message: "m" } },
    ].entries()
  ) {
    const forger = await system.spawn(raw, { name: `forger-${i}`, restart: "temporary" });
    assert.equal(await forger.ask({ forgeHostReply: forged }), "forging");
    const failed = await eventually(
      () =>
        reasons(system.recorded, forger.path).length > 0
          ? reasons(system.recorded, forger.path)
          : undefined,
      `the failure of the actor that forged ${JSON.stringify(forged).slice(0, 60)}`,
    );
    assert.deepEqual(failed, ["protocol_violation"]);
  }
  assert.deepEqual(
    system.recorded.filter((e) => e.type === "MESSAGE_UNDELIVERABLE"),
    [],
    "a forged refusal is no report",
  );
  // A refusal of a message it was sent is the actor's to make; its error is cut to the limits.
  const refuser = await system.spawn(raw, { name: "refuser" });
  await refuser.ask({ forgeHostReply: { k: "x", seqs: [1], asks: [], e: huge } });
  const reported = await eventually(
    () => system.recorded.find((e) => e.type === "MESSAGE_UNDELIVERABLE"),
    "the refusal's report",
  );
  const message = String((reported.data.error as { message: string }).message);
  assert.ok(message.length <= 8_192 + 100, `${message.length} characters`);
  assert.equal(await refuser.ask({ echo: "still here" }), "still here");
});
