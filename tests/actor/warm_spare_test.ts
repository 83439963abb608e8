// `warmSpare: true` keeps a started worker ready, so that a restart does not
// wait for a new worker; the spare is started after the actor got going.
import assert from "node:assert/strict";
import { actor, eventually, testSystem } from "./_helpers.ts";

const noBackoff = { minMs: 0, maxMs: 0, factor: 1, jitter: 0 };

// Counts the workers the runtime creates (`new Worker`).
function countWorkers(): { readonly count: number; [Symbol.dispose](): void } {
  const original = globalThis.Worker;
  const counter = { count: 0, [Symbol.dispose]: () => (globalThis.Worker = original) };
  globalThis.Worker = class extends original {
    constructor(...args: ConstructorParameters<typeof Worker>) {
      super(...args);
      counter.count++;
    }
  };
  return counter;
}

Deno.test("an actor with warmSpare restarts on its pre-started spare worker, state restored", async () => {
  using workers = countWorkers();
  await using system = testSystem({ root: { backoff: noBackoff, intensity: 10 } });
  const atRestart: number[] = [];
  system.events.subscribe((e) => {
    if (e.type === "ACTOR_RESTARTED") atRestart.push(workers.count);
  });
  const counter = await system.spawn(actor("counter"), { name: "counter", warmSpare: true });
  counter.tell({ type: "add", n: 5 });
  await counter.whenAcknowledged();
  await eventually(() => (workers.count === 2 ? true : undefined), "the spare worker");
  counter.kill("test failure");
  assert.equal(await counter.ask({ type: "get" }), 5);
  // A new spare follows for the next restart.
  await eventually(() => (workers.count === 3 ? true : undefined), "the next spare worker");
  counter.kill("second failure");
  assert.equal(await counter.ask({ type: "get" }), 5);
  await eventually(() => (atRestart.length === 2 ? true : undefined), "two restarts");
  assert.deepEqual(atRestart, [2, 3], "each restart took the spare instead of a new worker");
});

Deno.test("an actor without warmSpare starts a new worker on each restart", async () => {
  using workers = countWorkers();
  await using system = testSystem({ root: { backoff: noBackoff, intensity: 10 } });
  const counter = await system.spawn(actor("counter"), { name: "counter" });
  counter.tell({ type: "add", n: 2 });
  await counter.whenAcknowledged();
  counter.kill("test failure");
  assert.equal(await counter.ask({ type: "get" }), 2);
  assert.equal(workers.count, 2);
  // No spare is started for it.
  await new Promise((resolve) => setTimeout(resolve, 300));
  assert.equal(workers.count, 2);
});
