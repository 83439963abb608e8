// Ask ids of an actor restarted from a snapshot: they start again in every
// incarnation, so they go on above the ids its restored outbox still
// carries — a late reply to an earlier incarnation's ask must settle no ask
// of the new one.
import assert from "node:assert/strict";
import {
  askIdOf,
  type HostToWorker,
  type OutboxState,
  type WorkerToHost,
} from "../../src/actor/_protocol.ts";
import { actorContext } from "../../src/worker/_actor_context.ts";
import { GuestTelemetry } from "../../src/worker/_guest_telemetry.ts";
import type { HostRequests } from "../../src/worker/_host_requests.ts";
import type { Handling } from "../../src/worker/_inbound_links.ts";
import { OutboundLinks } from "../../src/worker/_outbound_links.ts";

type Init = Extract<HostToWorker, { k: "init" }>;

function parts() {
  const posted: WorkerToHost[] = [];
  const post = (message: WorkerToHost) => void posted.push(message);
  const handling: Handling = { current: undefined, reply: undefined };
  const telemetry = new GuestTelemetry(post, handling);
  const outbound = new OutboundLinks(post, telemetry);
  return { posted, handling, telemetry, outbound, requests: {} as HostRequests };
}

/** The ask ids the frames of `outbox` carry. */
function askIds(outbox: Record<string, OutboxState>): number[] {
  return Object.values(outbox).flatMap((state) =>
    state.frames.flatMap((f) => f.m.map((_, i) => askIdOf(f, i)))
  ).filter((a): a is number => a !== undefined);
}

Deno.test("an actor restored with asks in its outbox numbers its new asks above them", async () => {
  const p = parts();
  p.outbound.restore({
    planner: {
      space: "s1",
      nextSeq: 3,
      acked: 0,
      frames: [{ k: "b", s: 1, m: ["a", "b"], x: { 0: { a: 4 }, 1: { a: 9 } } }],
    },
    // A single ask carries its id in the frame itself.
    critic: { space: "s2", nextSeq: 2, acked: 0, frames: [{ k: "b", s: 1, m: ["c"], a: 7 }] },
  });
  assert.equal(p.outbound.lastRestoredAskId, 9);
  const ctx = actorContext({ k: "init", path: "tester" } as unknown as Init, p);
  const asked = ctx.ask("critic", { q: 1 }, { timeoutMs: 50 });
  assert.deepEqual(askIds(p.outbound.outbox()).sort((a, b) => a - b), [4, 7, 9, 10]);
  await assert.rejects(asked, /critic/);
  p.outbound.dispose();
});

Deno.test("an actor with nothing restored numbers its asks from 1", async () => {
  const p = parts();
  const ctx = actorContext({ k: "init", path: "tester" } as unknown as Init, p);
  const asked = ctx.ask("critic", { q: 1 }, { timeoutMs: 50 });
  assert.deepEqual(askIds(p.outbound.outbox()), [1]);
  await assert.rejects(asked, /critic/);
  p.outbound.dispose();
});

Deno.test("a restored single ask's id, carried by its frame, counts as much as one in the frame's exceptions", () => {
  const p = parts();
  p.outbound.restore({
    critic: { space: "s2", nextSeq: 2, acked: 0, frames: [{ k: "b", s: 1, m: ["c"], a: 12 }] },
  });
  assert.equal(p.outbound.lastRestoredAskId, 12);
  p.outbound.dispose();
});
