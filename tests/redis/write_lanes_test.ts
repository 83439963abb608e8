/**
 * The write lanes of the snapshot adapter (`src/redis/_write_lanes.ts`):
 * a burst of saves spreads over connections opened on demand, saves of one
 * key keep their order across them, and the adapter closes them all.
 */
import assert from "node:assert/strict";
import { RedisPersistenceAdapter } from "../../src/redis/redis_persistence_adapter.ts";
import { connectRedis } from "../../src/redis/connection.ts";
import { deleteByPrefix, rawClient, REDIS_URL, testPrefix } from "./_harness.ts";

/** Connections to the suite's Redis named `name`. */
async function connections(name: string): Promise<number> {
  const redis = await rawClient();
  try {
    const list = await redis.client("LIST") as string;
    return list.split("\n").filter((line) => line.includes(` name=${name} `)).length;
  } finally {
    redis.disconnect();
  }
}

function adapter(prefix: string, name: string, writeConnections?: number) {
  return new RedisPersistenceAdapter({
    redisUrl: REDIS_URL,
    keyPrefix: prefix,
    connection: { connectionName: name },
    ...(writeConnections === undefined ? {} : { writeConnections }),
  });
}

/** Saves `n` snapshots in one synchronous run (several full batches). */
function burst(store: RedisPersistenceAdapter, n: number, round: number): Promise<unknown> {
  return Promise.all(
    Array.from({ length: n }, (_, i) => store.save(`exec-${i % 10}/a-${i}`, { round, i })),
  );
}

/** Bursts until the adapter has `want` connections (at most 50 bursts). */
async function openLanes(store: RedisPersistenceAdapter, name: string, want: number) {
  for (let round = 0; round < 50; round++) {
    await burst(store, 2_000, round);
    if (await connections(name) >= want) return;
  }
  assert.fail(`The adapter never opened ${want} connections`);
}

Deno.test("a burst of saves opens extra connections on demand, at most writeConnections, all closed with the adapter", async () => {
  const prefix = testPrefix();
  const name = `oao-lanes-${crypto.randomUUID().slice(0, 8)}`;
  const store = adapter(prefix, name, 3);
  try {
    await store.save("exec-0/first", 1);
    assert.equal(await connections(name), 1, "one save, one connection");
    await openLanes(store, name, 3);
    for (let round = 0; round < 5; round++) await burst(store, 3_000, round);
    assert.equal(await connections(name), 3, "never more than writeConnections");
    const loaded = await store.load<{ round: number; i: number }>("exec-7/a-1997");
    assert.deepEqual(loaded?.data, { round: 4, i: 1997 });
  } finally {
    await store.close();
    await deleteByPrefix(prefix);
  }
  assert.equal(await connections(name), 0, "close() closes every connection");
});

Deno.test("writeConnections 1 keeps every save on the adapter's one connection", async () => {
  const prefix = testPrefix();
  const name = `oao-lanes-${crypto.randomUUID().slice(0, 8)}`;
  const store = adapter(prefix, name, 1);
  try {
    for (let round = 0; round < 5; round++) await burst(store, 2_000, round);
    assert.equal(await connections(name), 1);
  } finally {
    await store.close();
    await deleteByPrefix(prefix);
  }
});

Deno.test("saves of one key keep their order when a later batch leaves on another connection", async () => {
  const prefix = testPrefix();
  const name = `oao-lanes-${crypto.randomUUID().slice(0, 8)}`;
  const store = adapter(prefix, name, 2);
  try {
    await openLanes(store, name, 2);
    // A batch holding a 16 MB snapshot, which Redis takes long to read, and
    // the first save of a key: sent on the idle connection, the key's second
    // save would be read whole and run first.
    const big = "x".repeat(16 * 1024 * 1024);
    // The second save falls in the next batch of the same tick.
    const tick: Promise<unknown>[] = [store.save("exec-big/blob", big)];
    tick.push(store.save("exec-x/b", { n: 1 }));
    for (let i = 0; i < 600; i++) tick.push(store.save(`exec-x/fill-${i}`, i));
    tick.push(store.save("exec-x/b", { n: 2 }));
    await Promise.all(tick);
    // The second save comes a tick later, the first one's batch in flight.
    const first = [store.save("exec-big/blob", big), store.save("exec-x/a", { n: 1 })];
    await new Promise((resolve) => setTimeout(resolve, 0));
    await Promise.all([...first, store.save("exec-x/a", { n: 2 })]);
    for (const key of ["exec-x/a", "exec-x/b"]) {
      const loaded = await store.load<{ n: number }>(key);
      assert.equal(loaded?.version, 2, key);
      assert.deepEqual(loaded?.data, { n: 2 }, `${key}: the later save is the stored one`);
    }
  } finally {
    await store.close();
    await deleteByPrefix(prefix);
  }
});

Deno.test("RedisPersistenceAdapter refuses a writeConnections outside 1..16, naming it", () => {
  for (const bad of [0, 17, 1.5, Number.NaN]) {
    assert.throws(
      () => new RedisPersistenceAdapter({ redisUrl: REDIS_URL, writeConnections: bad }),
      (error: unknown) =>
        error instanceof RangeError && /Invalid writeConnections .*1 to 16/.test(error.message),
    );
  }
});

Deno.test("an adapter on a borrowed client opens copies of it under a burst, closes them, and leaves the client open", async () => {
  const prefix = testPrefix();
  const name = `oao-lanes-${crypto.randomUUID().slice(0, 8)}`;
  const client = await connectRedis({ redisUrl: REDIS_URL, connectionName: name });
  const store = new RedisPersistenceAdapter({ client, keyPrefix: prefix, writeConnections: 2 });
  try {
    await openLanes(store, name, 2);
    await store.close();
    assert.equal(await connections(name), 1, "the copy is closed, the borrowed client is not");
    assert.equal(await client.ping(), "PONG");
  } finally {
    await store.close();
    client.disconnect();
    await deleteByPrefix(prefix);
  }
});

Deno.test("an adapter given a client opens no copy of it unless writeConnections asks", async () => {
  const prefix = testPrefix();
  const name = `oao-lanes-${crypto.randomUUID().slice(0, 8)}`;
  const client = await connectRedis({ redisUrl: REDIS_URL, connectionName: name });
  const store = new RedisPersistenceAdapter({ client, keyPrefix: prefix });
  try {
    for (let round = 0; round < 5; round++) await burst(store, 2_000, round);
    assert.equal(await connections(name), 1);
  } finally {
    await store.close();
    client.disconnect();
    await deleteByPrefix(prefix);
  }
});

/**
 * A TCP relay to the suite's Redis whose connections can be stalled: what a
 * client sends on a stalled connection is held, then delivered on release.
 */
class StallingRelay {
  readonly #listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  readonly links: { stalled: boolean; held: Uint8Array[]; upstream: Deno.TcpConn }[] = [];
  readonly #conns: Deno.TcpConn[] = [];

  constructor(target: URL) {
    (async () => {
      for await (const client of this.#listener) {
        const upstream = await Deno.connect({
          hostname: target.hostname,
          port: Number(target.port || 6379),
        });
        this.#conns.push(client, upstream);
        const link = { stalled: false, held: [] as Uint8Array[], upstream };
        this.links.push(link);
        upstream.readable.pipeTo(client.writable).catch(() => {});
        (async () => {
          for await (const chunk of client.readable) {
            if (link.stalled) link.held.push(chunk);
            else await upstream.write(chunk);
          }
        })().catch(() => {});
      }
    })().catch(() => {});
  }

  get url(): string {
    return `redis://127.0.0.1:${(this.#listener.addr as Deno.NetAddr).port}`;
  }

  async release(link: number): Promise<void> {
    const { held, upstream } = this.links[link]!;
    this.links[link]!.stalled = false;
    for (const chunk of held.splice(0)) {
      for (let at = 0; at < chunk.length;) at += await upstream.write(chunk.subarray(at));
    }
  }

  close(): void {
    this.#listener.close();
    for (const conn of this.#conns) {
      try {
        conn.close();
      } catch { /* already closed */ }
    }
  }
}

Deno.test("a save that gave up on a stalled connection cannot land after a later save of its key", async () => {
  const relay = new StallingRelay(new URL(REDIS_URL));
  const prefix = testPrefix();
  const store = new RedisPersistenceAdapter({
    redisUrl: relay.url,
    keyPrefix: prefix,
    writeConnections: 2,
    connection: { commandTimeoutMs: 200 },
    retry: { initialDelayMs: 20, maxDelayMs: 100, maxElapsedMs: 800 },
  });
  try {
    for (let round = 0; round < 50 && relay.links.length < 2; round++) {
      await burst(store, 1_500, round);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    assert.equal(relay.links.length, 2, "the second connection opened");
    relay.links[1]!.stalled = true;
    // A full batch takes the store's connection; the next, with the first
    // save of the key, takes the stalled one, and gives up.
    const fill = Array.from({ length: 512 }, (_, i) => store.save(`exec-f/g-${i}`, i));
    const older = store.save("exec-k/k", { n: 1 });
    await Promise.all(fill);
    await assert.rejects(older, { name: "StoreUnavailableError" });
    // The connection delivers what it held while the later save waits.
    const newer = store.save("exec-k/k", { n: 2 });
    await new Promise((resolve) => setTimeout(resolve, 100));
    await relay.release(1);
    await newer;
    await new Promise((resolve) => setTimeout(resolve, 200));
    const stored = await store.load<{ n: number }>("exec-k/k");
    assert.deepEqual(stored?.data, { n: 2 }, "the later save is the stored one");
  } finally {
    await store.close();
    relay.close();
    await deleteByPrefix(prefix);
  }
});
