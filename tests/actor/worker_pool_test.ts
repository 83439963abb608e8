// The worker pool's placement, on fake workers: a worker that retires after
// an error that escaped every handler hands each of its actors its failure
// only once it is marked ending, so no actor is placed in it in between — a
// supervisor's quick restart lands in a new worker, not in the one about to
// end. (Found by the demo's crash scene on a loaded machine, where the worker
// thread was preempted between its actors' reports and its `retire`.)
import assert from "node:assert/strict";
import { WorkerPool } from "../../src/actor/_worker_pool.ts";
import { type Clock, systemClock } from "../../src/clock.ts";
import type { NormalizedPermissions } from "../../src/actor/permissions.ts";

class FakeWorker {
  onmessage: ((event: MessageEvent<unknown>) => void) | null = null;
  onerror: ((event: ErrorEvent) => void) | null = null;
  posted: unknown[] = [];
  terminated = false;
  postMessage(message: unknown) {
    this.posted.push(message);
  }
  terminate() {
    this.terminated = true;
  }
  /** A message from the worker's thread. */
  say(data: unknown) {
    this.onmessage?.({ data } as MessageEvent<unknown>);
  }
}

function pool(clock: Clock = systemClock) {
  const workers: FakeWorker[] = [];
  const wp = new WorkerPool({
    clock,
    probeTimeoutMs: 1_000,
    create: () => {
      const worker = new FakeWorker();
      workers.push(worker);
      return worker as unknown as Worker;
    },
  });
  return { wp, workers };
}

const PERMISSIONS = {} as NormalizedPermissions;

Deno.test("an actor placed after a co-tenant's uncaught error goes to a new worker, not the ending one", () => {
  const { wp, workers } = pool();
  const first = wp.lease("file:///agent.ts", "agent", { permissions: PERMISSIONS });
  const second = wp.lease("file:///agent.ts", "agent", { permissions: PERMISSIONS });
  assert.equal(workers.length, 1, "both in one warm worker");
  const reports: unknown[] = [];
  first.onmessage = (event) => reports.push(event.data);
  second.onmessage = (event) => reports.push(event.data);
  first.postMessage({ k: "init" } as never);
  const s1 = (workers[0]!.posted.at(-1) as { s: number }).s;
  // The worker retires: its last words are each actor's failure. The pool
  // marks it ending before it hands them over, so that the restart a
  // failure causes cannot be placed in it.
  let exited = "";
  let restarted: ReturnType<typeof wp.lease> | undefined;
  first.onmessage = (event) => {
    reports.push(event.data);
    restarted = wp.lease("file:///agent.ts", "agent", { permissions: PERMISSIONS });
  };
  second.onexit = (_reason, message) => (exited = message);
  const failed = { k: "failed", reason: "worker_error", error: { name: "Error", message: "boom" } };
  workers[0]!.say({
    k: "retire",
    error: { name: "Error", message: "boom" },
    failures: [{ s: s1, m: failed }],
  });
  assert.equal(reports.length, 1, "the actor gets its own report");
  assert.equal(workers.length, 2, "the restart starts a new worker");
  restarted!.postMessage({ k: "init" } as never);
  assert.equal(workers[1]!.posted.length, 1);
  assert.ok(workers[0]!.terminated);
  assert.match(exited, /its pooled worker ended/);
  assert.equal(workers[1]!.terminated, false, "the restarted actor's worker lives on");
  wp.close();
});

Deno.test("malformed last words retire the worker as a protocol violation", () => {
  for (
    const failures of [undefined, "x", [{ k: "failed" }], Array.from({ length: 9 }, () => ({}))]
  ) {
    const { wp, workers } = pool();
    const held = wp.lease("file:///agent.ts", "agent", { permissions: PERMISSIONS });
    let reason = "";
    held.onexit = (why) => (reason = why);
    workers[0]!.say({ k: "retire", error: { name: "Error", message: "x" }, failures });
    assert.ok(workers[0]!.terminated, JSON.stringify(failures));
    assert.equal(reason, "protocol_violation", JSON.stringify(failures));
    wp.close();
  }
});

Deno.test("an actor's own failure, whatever its reason, leaves its pooled worker taking actors", () => {
  const { wp, workers } = pool();
  const first = wp.lease("file:///agent.ts", "agent", { permissions: PERMISSIONS });
  first.postMessage({ k: "init" } as never);
  const s1 = (workers[0]!.posted.at(-1) as { s: number }).s;
  workers[0]!.say({
    s: s1,
    m: { k: "failed", reason: "worker_error", error: { name: "Error", message: "its timer" } },
  });
  wp.lease("file:///agent.ts", "agent", { permissions: PERMISSIONS });
  assert.equal(workers.length, 1, "the next actor goes to the same worker");
  wp.close();
});
