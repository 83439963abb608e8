import assert from "node:assert/strict";
import {
  ActorExistsError,
  ActorNotFoundError,
  ActorSpawnError,
  ActorStoppedError,
  AskTimeoutError,
  MailboxFullError,
  MessageNotCloneableError,
} from "../../src/errors.ts";
import { actor, eventually, fixture, testSystem } from "./_helpers.ts";

Deno.test("tell and ask reach an actor in its own worker and keep its state", async () => {
  await using system = testSystem();
  const counter = await system.spawn(actor("counter"), { name: "counter" });
  for (let n = 1; n <= 100; n++) counter.tell({ type: "add", n });
  assert.equal(await counter.ask({ type: "get" }), 5050);
  assert.deepEqual(system.actors, ["counter"]);
});

Deno.test("messages from concurrent senders are each processed in send order, one at a time", async () => {
  await using system = testSystem();
  const checker = await system.spawn(actor("sequence_checker"), { name: "checker" });
  const producers = await Promise.all(
    ["p1", "p2", "p3", "p4"].map((name) =>
      system.spawn(actor("producer"), { name, snapshot: "never" })
    ),
  );
  await Promise.all(
    producers.map((p, i) => p.ask({ type: "produce", to: "checker", count: 2_000, tag: `t${i}` })),
  );
  for (let i = 1; i <= 500; i++) checker.tell({ tag: "host", i });
  const report = await eventually(async () => {
    const r = await checker.ask<{ counts: Record<string, number>; violations: number }>({
      type: "report",
    });
    return Object.values(r.counts).reduce((a, b) => a + b, 0) === 8_500 ? r : undefined;
  }, "all 8,500 messages");
  assert.equal(report.violations, 0);
  assert.deepEqual(report.counts, { t0: 2_000, t1: 2_000, t2: 2_000, t3: 2_000, host: 500 });
});

Deno.test("an async handler never interleaves two messages of one actor", async () => {
  await using system = testSystem();
  const sleeper = await system.spawn(actor("sleeper"), { name: "sleeper", snapshot: "never" });
  const replies = await Promise.all(
    [30, 1, 20, 1, 10].map((sleepMs, value) => sleeper.ask({ value, sleepMs })),
  );
  assert.deepEqual(replies, [0, 1, 2, 3, 4]);
  assert.deepEqual(await sleeper.ask({ type: "report" }), [0, 1, 2, 3, 4]);
});

Deno.test("ask rejects with AskTimeoutError naming the actor when no reply comes in time", async () => {
  await using system = testSystem();
  const sleeper = await system.spawn(actor("sleeper"), { name: "slow", snapshot: "never" });
  const error = await sleeper.ask({ value: 1, sleepMs: 500 }, { timeoutMs: 50 }).catch((e) => e);
  assert.ok(error instanceof AskTimeoutError);
  assert.match(error.message, /"slow".*50 ms/);
  // The actor itself is unharmed.
  assert.equal(await sleeper.ask({ value: 2 }), 2);
});

Deno.test("an actor can ask another actor, and asks to an unknown path reject with ActorNotFoundError", async () => {
  await using system = testSystem();
  await system.spawn(actor("echo"), { name: "echo", snapshot: "never" });
  const parent = await system.spawn(actor("parent"), { name: "parent", snapshot: "never" });
  assert.deepEqual(await parent.ask({ type: "ask", to: "echo", message: "hi" }), {
    ok: true,
    value: "hi",
  });
  const missing = await parent.ask<{ ok: boolean; error: string }>({
    type: "ask",
    to: "nobody",
    message: 1,
  });
  assert.equal(missing.ok, false);
  assert.equal(missing.error, "ActorNotFoundError");
  assert.throws(() => system.tell("nobody", 1), ActorNotFoundError);
  await assert.rejects(system.ask("nobody", 1), ActorNotFoundError);
  await eventually(
    () =>
      system.recorded.find((e) => e.type === "MESSAGE_UNDELIVERABLE" && e.data.actor === "nobody"),
    "MESSAGE_UNDELIVERABLE for the unknown actor",
  );
});

Deno.test("a bounded mailbox with overflow 'reject' refuses excess asks with MailboxFullError", async () => {
  await using system = testSystem();
  const box = await system.spawn(actor("sleeper"), {
    name: "bounded",
    snapshot: "never",
    mailbox: { capacity: 2, overflow: "reject" },
  });
  const first = box.ask({ value: 0, sleepMs: 200 });
  await new Promise((r) => setTimeout(r, 50)); // the first message is being handled
  const rest = [1, 2, 3, 4].map((value) => box.ask({ value }).then((v) => v, (e) => e));
  const results = await Promise.all([first, ...rest]);
  assert.deepEqual(results.slice(0, 3), [0, 1, 2]);
  for (const refused of results.slice(3)) {
    assert.ok(refused instanceof MailboxFullError, String(refused));
    assert.match((refused as Error).message, /"bounded".*capacity 2/);
  }
  assert.deepEqual(await box.ask({ type: "report" }), [0, 1, 2]);
});

Deno.test("a bounded mailbox with overflow 'drop-oldest' keeps the newest messages", async () => {
  await using system = testSystem();
  const box = await system.spawn(actor("sleeper"), {
    name: "oldest",
    snapshot: "never",
    mailbox: { capacity: 2, overflow: "drop-oldest" },
  });
  box.tell({ value: 0, sleepMs: 200 });
  await new Promise((r) => setTimeout(r, 50));
  for (const value of [1, 2, 3, 4]) box.tell({ value });
  // Every message handled or dropped before the report is asked for (the
  // report is a message too: while 0 still sleeps it would push 3 out).
  await system.whenAcknowledged(box.path);
  assert.deepEqual(await box.ask({ type: "report" }), [0, 3, 4]);
  const dropped = system.recorded.filter((e) => e.type === "MESSAGE_DROPPED");
  assert.equal(dropped.length, 2);
});

Deno.test("a bounded mailbox with overflow 'drop-newest' keeps the oldest messages", async () => {
  await using system = testSystem();
  const box = await system.spawn(actor("sleeper"), {
    name: "newest",
    snapshot: "never",
    mailbox: { capacity: 2, overflow: "drop-newest" },
  });
  box.tell({ value: 0, sleepMs: 200 });
  await new Promise((r) => setTimeout(r, 50));
  for (const value of [1, 2, 3, 4]) box.tell({ value });
  await system.whenAcknowledged(box.path); // (a report sent earlier would be dropped)
  assert.deepEqual(await box.ask({ type: "report" }), [0, 1, 2]);
});

Deno.test("an actor has no permissions by default: denied operations fail inside it with NotCapable", async () => {
  await using system = testSystem();
  const probe = await system.spawn(actor("permission_probe"), { name: "probe", snapshot: "never" });
  for (const op of ["env", "read", "write", "net", "run"]) {
    const result = await probe.ask<{ ok: boolean; error?: string }>({ op });
    assert.equal(result.ok, false, op);
    assert.match(result.error!, /^NotCapable: Requires/, op);
  }
  // The runtime and the actor are unaffected.
  assert.deepEqual(system.recorded.filter((e) => e.type === "ACTOR_FAILED"), []);
});

Deno.test("an actor gets exactly the permissions granted to it", async () => {
  await using system = testSystem();
  const probe = await system.spawn(actor("permission_probe"), {
    name: "probe",
    snapshot: "never",
    permissions: { env: ["HOME"], read: ["/etc/hostname"] },
  });
  assert.deepEqual(await probe.ask({ op: "env" }), { ok: true });
  assert.deepEqual(await probe.ask({ op: "read" }), { ok: true });
  assert.equal((await probe.ask<{ ok: boolean }>({ op: "net" })).ok, false);
});

Deno.test("an actor cannot spawn a child with more permissions than it has", async () => {
  await using system = testSystem();
  const parent = await system.spawn(actor("parent"), { name: "parent", snapshot: "never" });
  const error = await parent.ask({
    type: "spawn",
    names: ["c"],
    module: "./echo.ts",
    permissions: { net: true },
  })
    .catch((e) => e);
  assert.ok(error instanceof Error);
  assert.match(error.message, /permission "net" exceeds what the parent "parent" was granted/);
});

Deno.test("a message that cannot be structured-cloned is refused with an error naming the actor", async () => {
  await using system = testSystem();
  const echo = await system.spawn(actor("echo"), { name: "echo", snapshot: "never" });
  assert.throws(() => echo.tell({ callback: () => 1 }), (e: unknown) => {
    assert.ok(e instanceof MessageNotCloneableError);
    assert.match(e.message, /"echo".*message\.callback is a function/);
    return true;
  });
  await assert.rejects(echo.ask({ s: Symbol("x") }), MessageNotCloneableError);
  assert.equal(await echo.ask("still fine"), "still fine");
});

Deno.test("spawning a module that is missing, broken or exports no behaviour fails with its path and the reason", async () => {
  await using system = testSystem();
  // A module that does not parse cannot live in the repository (it would break the type check).
  const broken = await Deno.makeTempFile({ prefix: "oao-broken-", suffix: ".ts" });
  await Deno.writeTextFile(broken, "export default {\n");
  const cases: [URL, RegExp][] = [
    [fixture("missing"), /Module not found/],
    [new URL(`file://${broken}`), /SyntaxError/],
    [fixture("no_behavior"), /exports neither "default" nor "behavior"/],
  ];
  for (const [module, reason] of cases) {
    const error = await system.spawn(module, { snapshot: "never" }).catch((e) => e);
    assert.ok(error instanceof ActorSpawnError, String(error));
    assert.ok(error.message.includes(module.href), error.message);
    assert.match(error.message, reason);
  }
  await Deno.remove(broken);
  assert.deepEqual(system.actors, []);
  // Nothing else was harmed.
  const echo = await system.spawn(actor("echo"), { snapshot: "never" });
  assert.equal(await echo.ask(1), 1);
});

Deno.test("spawn rejects invalid options with an error naming the field", async () => {
  await using system = testSystem();
  await assert.rejects(
    system.spawn(actor("echo"), { mailbox: { capacity: 0 } }),
    /mailbox\.capacity 0/,
  );
  await assert.rejects(
    system.spawn(actor("echo"), { messageTimeoutMs: -5 }),
    /messageTimeoutMs -5/,
  );
  await assert.rejects(
    system.spawn(actor("echo"), { permissions: { network: true } as never }),
    /permissions\.network: unknown permission/,
  );
  await system.spawn(actor("echo"), { name: "taken", snapshot: "never" });
  await assert.rejects(system.spawn(actor("echo"), { name: "taken" }), ActorExistsError);
});

Deno.test("200 actors alive at once exchange messages around a ring", async () => {
  await using system = testSystem();
  const n = 200;
  const refs = await Promise.all(
    Array.from(
      { length: n },
      (_, i) =>
        system.spawn(actor("ring_node"), {
          name: `node-${i}`,
          snapshot: "never",
          args: { next: `node-${(i + 1) % n}` },
        }),
    ),
  );
  assert.equal(system.actors.length, n);
  for (const ref of refs) ref.tell({ type: "start", rounds: 5 });
  await eventually(
    async () => {
      const counts = await Promise.all(refs.map((r) => r.ask<number>({ type: "count" })));
      return counts.every((c) => c === 5) ? true : undefined;
    },
    "every node to receive 5 pings",
    30_000,
  );
});

Deno.test("graceful stop drains the mailbox first; immediate stop does not", async () => {
  await using system = testSystem();
  const graceful = await system.spawn(actor("sleeper"), { name: "graceful", snapshot: "never" });
  for (const value of [1, 2, 3]) graceful.tell({ value, sleepMs: 30 });
  const pending = graceful.ask({ value: 4 });
  await graceful.stop();
  assert.equal(await pending, 4);

  const immediate = await system.spawn(actor("sleeper"), { name: "immediate", snapshot: "never" });
  immediate.tell({ value: 1, sleepMs: 200 });
  const lost = immediate.ask({ value: 2 }).catch((e) => e);
  await immediate.stop({ mode: "immediate" });
  assert.ok((await lost) instanceof ActorStoppedError);
  assert.throws(() => immediate.tell({ value: 3 }), ActorNotFoundError);
});

Deno.test("stopping a parent stops its children first, in reverse start order", async () => {
  await using system = testSystem();
  const parent = await system.spawn(actor("parent"), { name: "parent", snapshot: "never" });
  const paths = await parent.ask<string[]>({
    type: "spawn",
    names: ["a", "b", "c"],
    module: "./echo.ts",
  });
  assert.deepEqual(paths, ["parent/a", "parent/b", "parent/c"]);
  assert.equal(await system.ask("parent/b", "hello"), "hello");
  assert.equal(
    await parent.ask({ type: "ask-child", name: "c", message: "via parent" }),
    "via parent",
  );
  await parent.stop();
  const stopped = system.recorded.filter((e) => e.type === "ACTOR_STOPPED").map((e) =>
    e.data.actor
  );
  assert.deepEqual(stopped, ["parent/c", "parent/b", "parent/a", "parent"]);
  assert.deepEqual(system.actors, []);
});

Deno.test("every message envelope carries trace context, sender, sequence and id", async () => {
  await using system = testSystem();
  const inspector = await system.spawn(fixture("envelope_inspector"), {
    name: "inspector",
    snapshot: "never",
  });
  const trace = {
    traceId: "4bf92f3577b34da6a3ce929d0e0e4736",
    spanId: "00f067aa0ba902b7",
    sampled: true,
    tracestate: "vendor=1",
  };
  const first = await inspector.ask<Record<string, unknown>>("x", { trace });
  assert.equal(first.from, "$host");
  assert.equal(first.seq, 1);
  assert.match(first.id as string, /^\$host#.+:1$/);
  assert.equal(first.traceparent, "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
  assert.equal(first.tracestate, "vendor=1");
  const second = await inspector.ask<Record<string, unknown>>("y");
  assert.equal(second.seq, 2);
  assert.match(second.traceparent as string, /^00-[0-9a-f]{32}-[0-9a-f]{16}-0[01]$/);
});
