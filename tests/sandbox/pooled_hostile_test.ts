// Hostile code in a pooled worker: it shares that worker with actors of its
// own module and permissions only, so whatever it posts — a broken message,
// an envelope forged for any slot — can fail only those; actors of every
// other pool, and the host, are untouched.
import assert from "node:assert/strict";
import { actor, eventually, fixture, testSystem } from "../actor/_helpers.ts";
import type { OaoEvent } from "../../src/observability/events.ts";

const raw = fixture("hostile/raw_actor");

function failures(events: OaoEvent[], path: string): string[] {
  return events.filter((e) => e.type === "ACTOR_FAILED" && e.data.actor === path)
    .map((e) => String(e.data.reason));
}

Deno.test("a broken message from a pooled worker fails the actors of that worker with protocol_violation, no other pool", async () => {
  await using system = testSystem({ root: { intensity: 20 } });
  const attacker = await system.spawn(raw, { name: "attacker", isolation: "shared" });
  const mate = await system.spawn(raw, { name: "mate", isolation: "shared" });
  const victim = await system.spawn(actor("counter"), { name: "victim", isolation: "shared" });
  victim.tell({ type: "add", n: 4 });
  await victim.ask({ type: "get" });
  for (const post of [null, "text", { k: "ready", restoredSeq: 0 }, { s: "1", m: {} }]) {
    const before = failures(system.recorded, mate.path).length;
    await attacker.ask({ post }).catch(() => {});
    await eventually(
      () => failures(system.recorded, mate.path).length > before ? true : undefined,
      `the mate's failure after ${JSON.stringify(post)}`,
    );
    assert.equal(failures(system.recorded, mate.path).at(-1), "protocol_violation");
    // Restarted in a fresh worker by its supervisor.
    await eventually(
      async () => await mate.ask({ echo: "back" }).catch(() => undefined),
      "the mate answering again",
    );
  }
  assert.deepEqual(failures(system.recorded, victim.path), [], "another pool is untouched");
  assert.equal(await victim.ask({ type: "get" }), 4);
});

Deno.test("an envelope forged for any slot reaches only the actors of the forger's own worker", async () => {
  await using system = testSystem({ root: { intensity: 20 } });
  const victims = await Promise.all(
    [1, 2, 3].map((i) => system.spawn(actor("counter"), { name: `v${i}`, isolation: "shared" })),
  );
  const attacker = await system.spawn(raw, { name: "attacker", isolation: "shared" });
  const failed = { k: "failed", reason: "exception", error: { name: "Error", message: "forged" } };
  const forged = Array.from({ length: 65 }, (_, s) => ({ s, m: failed }));
  await attacker.ask({ posts: forged }).catch(() => {});
  // The attacker's own slot is among those: it did fail itself.
  await eventually(
    () => failures(system.recorded, attacker.path).length > 0 ? true : undefined,
    "the forger's own failure",
  );
  for (const victim of victims) {
    assert.deepEqual(failures(system.recorded, victim.path), [], victim.path);
    assert.equal(await victim.ask({ type: "get" }), 0);
  }
});
