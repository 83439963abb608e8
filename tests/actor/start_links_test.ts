// What the host posts to a worker as its actor starts: one init, which
// carries the links of the senders registered with the actor (their ports in
// the init's transfer list), so that the worker starts them in the task that
// restores its state instead of one message later each. The cell talks to a
// recording GuestPort (as it does to a pooled worker); links are real
// MessageChannels.
import assert from "node:assert/strict";
import { ActorCell, type CellHost } from "../../src/actor/_actor_cell.ts";
import { LinkBroker, type SenderEndpoint } from "../../src/actor/_link_broker.ts";
import type { HostToWorker } from "../../src/actor/_protocol.ts";
import type { GuestPort, WorkerPool } from "../../src/actor/_worker_pool.ts";
import { resolveSpawnOptions } from "../../src/actor/spawn_options.ts";
import { systemClock } from "../../src/clock.ts";
import { resolveLimits } from "../../src/limits.ts";
import { InMemoryPersistenceAdapter } from "../../src/persistence/in_memory_persistence_adapter.ts";

class RecordingPort implements GuestPort {
  readonly posted: { message: HostToWorker; transfer: Transferable[] | undefined }[] = [];
  onmessage: ((event: MessageEvent<unknown>) => void) | null = null;
  onerror: ((event: ErrorEvent) => void) | null = null;
  onexit: NonNullable<GuestPort["onexit"]> | null = null;
  terminated = false;
  refuse: Error | undefined;
  readonly refused: HostToWorker[] = [];
  postMessage(message: HostToWorker, transfer?: Transferable[]): void {
    if (this.refuse) {
      this.refused.push(message);
      throw this.refuse;
    }
    this.posted.push({ message, transfer });
  }
  terminate(): void {
    this.terminated = true;
  }
  /** The worker answers, as a worker would. */
  answer(data: unknown): void {
    this.onmessage?.(new MessageEvent("message", { data }));
  }
}

class Sender implements SenderEndpoint {
  alive = true;
  readonly ports: MessagePort[] = [];
  constructor(readonly path: string) {}
  attachOutbound(_target: string, port: MessagePort): void {
    this.ports.push(port);
  }
  failOutbound(): void {}
}

function cellOn(port: RecordingPort, broker: LinkBroker): ActorCell {
  const host: CellHost = {
    clock: systemClock,
    persistence: new InMemoryPersistenceAdapter(),
    broker,
    tracing: false,
    heartbeatMs: 1_000,
    heartbeatTimeoutMs: 5_000,
    spawnTimeoutMs: 5_000,
    limits: resolveLimits(),
    pool: { lease: () => port } as unknown as WorkerPool,
    emit: () => Promise.resolve(),
    onWorkerMessage: () => {},
    onDeadLetter: () => {},
  };
  const options = resolveSpawnOptions({ name: "receiver", isolation: "shared" }, "receiver");
  return new ActorCell(host, "file:///actor.ts", "receiver", options, "snap:receiver", "blob:x");
}

function firstMessage(port: MessagePort): Promise<unknown> {
  return new Promise((resolve) => (port.onmessage = (event) => resolve(event.data)));
}

Deno.test("a starting actor gets the links of its registered senders with its init, in one message", async () => {
  const broker = new LinkBroker();
  const port = new RecordingPort();
  const cell = cellOn(port, broker);
  const [a, b] = [new Sender("a"), new Sender("b")];
  broker.connect(a, cell, "1"); // registered while the actor is down: linked when it starts
  broker.connect(b, cell, "1");
  const ready = cell.start(undefined);
  assert.deepEqual(port.posted.map((p) => p.message.k), ["init"], "nothing but the init");
  const { message, transfer } = port.posted[0]!;
  assert.equal(message.k, "init");
  if (message.k !== "init") return;
  assert.deepEqual(message.links.map((l) => [l.k, l.key, l.from]), [
    ["link-in", "a#1", "a"],
    ["link-in", "b#1", "b"],
  ]);
  assert.deepEqual(transfer, message.links.map((l) => l.port), "the ports are transferred");
  // Each link is the sender's: what it posts reaches the port the init carries.
  const arrived = firstMessage(message.links[0]!.port);
  a.ports[0]!.postMessage("frame");
  assert.equal(await arrived, "frame");
  port.answer({ k: "ready", restoredSeq: 0 });
  await ready;
  // A sender that connects once the actor runs gets its link in a message of its own.
  const c = new Sender("c");
  broker.connect(c, cell, "1");
  assert.deepEqual(port.posted.map((p) => p.message.k), ["init", "link-in"]);
  for (const p of [...a.ports, ...b.ports, ...c.ports, ...message.links.map((l) => l.port)]) {
    p.close();
  }
  const late = port.posted[1]!.message;
  if (late.k === "link-in") late.port.close();
  await cell.shutdown("immediate");
});

Deno.test("an init that cannot be posted fails the start with ActorSpawnError and closes the links it carried", async () => {
  const broker = new LinkBroker();
  const port = new RecordingPort();
  const cell = cellOn(port, broker);
  const sender = new Sender("a");
  broker.connect(sender, cell, "1");
  port.refuse = new DOMException("could not be cloned", "DataCloneError");
  await assert.rejects(cell.start(undefined), (error: Error) => {
    assert.equal(error.name, "ActorSpawnError");
    assert.match(error.message, /its args cannot be cloned/);
    return true;
  });
  assert.equal(cell.status, "failed");
  assert.ok(port.terminated, "its place in the worker is given back");
  // The receiving end is closed: the sender's frames wait, unacknowledged, for the next link.
  const init = port.refused[0]!;
  assert.equal(init.k, "init");
  if (init.k !== "init") return;
  assert.equal(init.links.length, 1);
  let received = false;
  init.links[0]!.port.onmessage = () => (received = true);
  sender.ports[0]!.postMessage("frame");
  await new Promise((resolve) => setTimeout(resolve, 100));
  assert.equal(received, false, "the link's receiving end is closed");
  sender.ports[0]!.close();
});
