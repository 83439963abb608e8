import assert from "node:assert/strict";
import { FencedError, StoreUnavailableError } from "../../src/errors.ts";
import { connectRedis } from "../../src/redis/connection.ts";
import {
  isTransientRedisError,
  resolveRetryOptions,
  retryDelay,
  withRetry,
} from "../../src/redis/retry.ts";
import { RedisEventStore } from "../../src/redis/redis_event_store.ts";
import { RedisPersistenceAdapter } from "../../src/redis/redis_persistence_adapter.ts";
import { ManualClock } from "../../src/testing/manual_clock.ts";
import { freePort, RedisServer } from "../_support/redis_server.ts";
import { captureLogs, rawClient } from "./_redis_helpers.ts";

const transient = () =>
  Object.assign(new Error("connect ECONNREFUSED 127.0.0.1:1"), { code: "ECONNREFUSED" });

Deno.test("retryDelay grows exponentially, is capped, and jitters around the base", () => {
  const none = resolveRetryOptions({ initialDelayMs: 100, maxDelayMs: 1_000, jitter: 0 });
  assert.deepEqual([1, 2, 3, 4, 5, 6].map((n) => retryDelay(n, none)), [
    100,
    200,
    400,
    800,
    1000,
    1000,
  ]);
  const half = resolveRetryOptions({ initialDelayMs: 100, jitter: 0.5 });
  assert.equal(retryDelay(3, half, () => 0), 200);
  assert.equal(retryDelay(3, half, () => 0.999999), 600);
});

Deno.test("resolveRetryOptions applies defaults and names an invalid field", () => {
  assert.deepEqual(resolveRetryOptions(), {
    initialDelayMs: 50,
    maxDelayMs: 2_000,
    multiplier: 2,
    jitter: 0.5,
    maxElapsedMs: 30_000,
    maxAttempts: Infinity,
  });
  for (
    const [field, value] of [["jitter", 2], ["multiplier", 0.5], ["initialDelayMs", -1], [
      "maxAttempts",
      0,
    ]] as const
  ) {
    assert.throws(() => resolveRetryOptions({ [field]: value }), (error: unknown) => {
      assert.ok(error instanceof RangeError);
      assert.match(error.message, new RegExp(`"${field}"`));
      return true;
    });
  }
});

Deno.test("isTransientRedisError retries connection losses and busy servers, not logic errors", () => {
  const reply = (message: string) => Object.assign(new Error(message), { name: "ReplyError" });
  for (
    const error of [
      transient(),
      new Error("Connection is closed."),
      new Error("Command timed out"),
      Object.assign(new Error("x"), { name: "MaxRetriesPerRequestError" }),
      reply("LOADING Redis is loading the dataset in memory"),
      reply("TRYAGAIN Multiple keys request during rehashing of slot"),
      reply("CLUSTERDOWN The cluster is down"),
      reply("READONLY You can't write against a read only replica."),
    ]
  ) assert.ok(isTransientRedisError(error), error.message);
  for (
    const error of [
      reply("WRONGTYPE Operation against a key holding the wrong kind of value"),
      reply("ERR Error running script"),
      reply("NOPERM this user has no permissions"),
      new FencedError("x", 1, 2),
      new TypeError("bad"),
      "a string",
    ]
  ) assert.ok(!isTransientRedisError(error), String(error));
});

Deno.test("withRetry waits the backoff on the injected clock between attempts", async () => {
  const clock = new ManualClock(0);
  const calls: number[] = [];
  const result = withRetry("demo()", (attempt) => {
    calls.push(clock.now());
    return attempt < 3 ? Promise.reject(transient()) : Promise.resolve("done");
  }, { clock, initialDelayMs: 100, jitter: 0 });
  await clock.advance(99);
  assert.deepEqual(calls, [0]);
  await clock.advance(1);
  assert.deepEqual(calls, [0, 100]);
  await clock.advance(200);
  assert.equal(await result, "done");
  assert.deepEqual(calls, [0, 100, 300]);
});

Deno.test("withRetry gives up with StoreUnavailableError once the time budget is spent", async () => {
  const clock = new ManualClock(0);
  let calls = 0;
  const result = withRetry('appendEvent("exec-1")', () => {
    calls++;
    return Promise.reject(transient());
  }, { clock, initialDelayMs: 100, maxDelayMs: 100, jitter: 0, maxElapsedMs: 1_000 });
  const settled = result.then(() => undefined, (error: unknown) => error);
  await clock.advance(2_000);
  const error = await settled;
  assert.ok(error instanceof StoreUnavailableError);
  assert.match(error.message, /appendEvent\("exec-1"\).*ECONNREFUSED/);
  assert.ok((error.cause as Error).message.includes("ECONNREFUSED"));
  assert.equal(calls, 11);
});

Deno.test("withRetry gives up after maxAttempts and passes other errors through untouched", async () => {
  let calls = 0;
  await assert.rejects(
    withRetry("op", () => {
      calls++;
      return Promise.reject(transient());
    }, { maxAttempts: 3, initialDelayMs: 1 }),
    StoreUnavailableError,
  );
  assert.equal(calls, 3);
  const fenced = new FencedError("exec-1", 1, 2);
  await assert.rejects(withRetry("op", () => Promise.reject(fenced)), (error) => error === fenced);
});

Deno.test("withRetry stops when its signal aborts", async () => {
  const clock = new ManualClock(0);
  const controller = new AbortController();
  const result = withRetry("op", () => Promise.reject(transient()), {
    clock,
    signal: controller.signal,
  });
  const settled = result.then(() => undefined, (error: unknown) => error);
  await clock.advance(10);
  controller.abort(new Error("stopped"));
  assert.equal(((await settled) as Error).message, "stopped");
});

Deno.test("connectRedis fails with StoreUnavailableError within its budget when nothing listens", async () => {
  const port = freePort();
  const started = Date.now();
  await assert.rejects(
    connectRedis({
      redisUrl: `redis://app:hunter2@127.0.0.1:${port}`,
      retry: { maxElapsedMs: 300 },
    }),
    (error: unknown) => {
      assert.ok(error instanceof StoreUnavailableError);
      assert.ok(error.message.includes(`redis://app:***@127.0.0.1:${port}`), error.message);
      assert.ok(!error.message.includes("hunter2"));
      return true;
    },
  );
  assert.ok(Date.now() - started < 5_000);
});

Deno.test("connectRedis rejects a malformed URL with a TypeError that hides the password", async () => {
  await assert.rejects(connectRedis({ redisUrl: "redis://app:hunter2@h:0" }), (error: unknown) => {
    assert.ok(error instanceof TypeError);
    assert.ok(!error.message.includes("hunter2"));
    return true;
  });
});

Deno.test("connectRedis warns once when appendonly is off", async () => {
  await using server = await RedisServer.start({ appendonly: false });
  await using logs = await captureLogs();
  const client = await connectRedis({ redisUrl: server.url() });
  client.disconnect();
  const warnings = logs.messages("warning");
  assert.equal(warnings.length, 1, warnings.join("\n"));
  assert.match(warnings[0]!, /appendonly off/);
  assert.match(warnings[0]!, /appendonly yes/);
});

Deno.test("connectRedis with configWarnings false logs the durability findings at debug level", async () => {
  await using server = await RedisServer.start({
    appendonly: false,
    args: ["--maxmemory-policy", "allkeys-lru"],
  });
  await using logs = await captureLogs();
  const client = await connectRedis({ redisUrl: server.url(), configWarnings: false });
  client.disconnect();
  assert.deepEqual(logs.messages("warning"), []);
  const debug = logs.messages("debug");
  assert.ok(debug.some((m) => /appendonly off/.test(m)), debug.join("\n"));
  assert.ok(debug.some((m) => /maxmemory-policy "?allkeys-lru"?/.test(m)), debug.join("\n"));
});

Deno.test("connectRedis warns when maxmemory-policy is allkeys-*, not for volatile-lru with AOF", async () => {
  await using risky = await RedisServer.start({
    appendonly: true,
    args: ["--maxmemory-policy", "allkeys-lru"],
  });
  await using safe = await RedisServer.start({
    appendonly: true,
    args: ["--maxmemory-policy", "volatile-lru"],
  });
  await using logs = await captureLogs();
  (await connectRedis({ redisUrl: risky.url() })).disconnect();
  const warnings = logs.messages("warning");
  assert.equal(warnings.length, 1, warnings.join("\n"));
  assert.match(warnings[0]!, /maxmemory-policy "?allkeys-lru"?/);
  assert.match(warnings[0]!, /volatile-lru/);
  (await connectRedis({ redisUrl: safe.url() })).disconnect();
  assert.equal(logs.messages("warning").length, 1);
});

Deno.test("connectRedis carries on at debug level when CONFIG is not permitted", async () => {
  await using server = await RedisServer.start({ args: ["--rename-command", "CONFIG", ""] });
  await using logs = await captureLogs();
  const client = await connectRedis({ redisUrl: server.url() });
  try {
    assert.equal(await client.ping(), "PONG");
  } finally {
    client.disconnect();
  }
  assert.deepEqual(logs.messages("warning"), []);
  assert.ok(logs.messages("debug").some((m) => /Cannot read the configuration/.test(m)));
});

Deno.test("the stores work with a password-protected Redis and a non-zero database index", async () => {
  await using server = await RedisServer.start({ requirepass: "hunter2" });
  const redisUrl = server.url({ password: "hunter2", db: 3 });
  const events = new RedisEventStore({ redisUrl });
  const snapshots = new RedisPersistenceAdapter({ redisUrl });
  try {
    await events.appendEvent("exec-1", { type: "A" });
    await snapshots.save("exec-1/agent", { step: 1 });
    assert.equal(await events.count("exec-1"), 1);
    assert.equal((await snapshots.load("exec-1/agent"))!.version, 1);
  } finally {
    await events.close();
    await snapshots.close();
  }
  const db3 = await rawClient(server.url({ password: "hunter2", db: 3 }));
  const db0 = await rawClient(server.url({ password: "hunter2" }));
  try {
    assert.equal(await db3.exists("oao:{exec-1}:events"), 1);
    assert.equal(await db3.exists("oao:{exec-1}:snap:exec-1/agent"), 1);
    assert.equal(await db0.dbsize(), 0);
  } finally {
    db3.disconnect();
    db0.disconnect();
  }
});

Deno.test("the stores work with an ACL user and password", async () => {
  await using server = await RedisServer.start();
  const admin = await rawClient(server.url());
  try {
    await admin.call("ACL", "SETUSER", "oao-app", "on", ">p@ss:w/rd", "~*", "&*", "+@all");
  } finally {
    admin.disconnect();
  }
  const events = new RedisEventStore({
    redisUrl: `redis://oao-app:p%40ss%3Aw%2Frd@127.0.0.1:${server.port}`,
  });
  try {
    assert.equal((await events.appendEvent("exec-1", { type: "A" })).seq, 1);
  } finally {
    await events.close();
  }
});

Deno.test("wrong credentials fail fast with StoreUnavailableError and never show the password", async () => {
  await using server = await RedisServer.start({ requirepass: "right-one" });
  await using logs = await captureLogs();
  const started = Date.now();
  const store = new RedisEventStore({ redisUrl: server.url({ password: "wrong-one" }) });
  await assert.rejects(store.appendEvent("exec-1", { type: "A" }), (error: unknown) => {
    assert.ok(error instanceof StoreUnavailableError);
    assert.match(error.message, /credentials/);
    assert.ok(!error.message.includes("wrong-one"), error.message);
    return true;
  });
  assert.ok(Date.now() - started < 10_000);
  await store.close();
  for (const record of logs.records) {
    assert.ok(!JSON.stringify(record.properties).includes("wrong-one"));
    assert.ok(!record.message.join("").includes("wrong-one"));
  }
});

Deno.test("connectRedis rejects a server older than Redis 6.2 with a message saying so", async () => {
  await using fake = fakeRedis("5.0.7");
  await assert.rejects(
    connectRedis({ redisUrl: `redis://127.0.0.1:${fake.port}`, retry: { maxElapsedMs: 2_000 } }),
    (error: unknown) => {
      assert.ok(error instanceof StoreUnavailableError);
      assert.match(
        error.message,
        /Redis version "5\.0\.7" is not supported: OAO needs Redis 6\.2 or newer/,
      );
      return true;
    },
  );
});

/** A minimal RESP server that claims to be an old Redis (no HELLO, RESP2 only). */
function fakeRedis(version: string): { port: number } & AsyncDisposable {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const connections = new Set<Deno.Conn>();
  const info =
    `# Server\r\nredis_version:${version}\r\n# Cluster\r\ncluster_enabled:0\r\nloading:0\r\n`;
  const serve = async (conn: Deno.Conn) => {
    connections.add(conn);
    const buffer = new Uint8Array(4096);
    let pending = "";
    try {
      while (true) {
        const n = await conn.read(buffer);
        if (n === null) break;
        pending += new TextDecoder().decode(buffer.subarray(0, n));
        let parsed;
        while ((parsed = parseCommand(pending))) {
          pending = pending.slice(parsed.length);
          const name = parsed.args[0]?.toUpperCase();
          const reply = name === "HELLO"
            ? "-ERR unknown command 'HELLO'\r\n"
            : name === "INFO"
            ? `$${info.length}\r\n${info}\r\n`
            : name === "PING"
            ? "+PONG\r\n"
            : "+OK\r\n";
          await conn.write(new TextEncoder().encode(reply));
        }
      }
    } catch {
      // closed
    } finally {
      connections.delete(conn);
      try {
        conn.close();
      } catch {
        // already closed
      }
    }
  };
  const accepting = (async () => {
    const served: Promise<void>[] = [];
    try {
      for await (const conn of listener) served.push(serve(conn));
    } catch {
      // listener closed
    }
    await Promise.all(served);
  })();
  return {
    port: (listener.addr as Deno.NetAddr).port,
    async [Symbol.asyncDispose]() {
      listener.close();
      for (const conn of connections) {
        try {
          conn.close();
        } catch {
          // already closed
        }
      }
      await accepting;
    },
  };
}

function parseCommand(text: string): { args: string[]; length: number } | undefined {
  if (!text.startsWith("*")) return undefined;
  let at = text.indexOf("\r\n");
  if (at < 0) return undefined;
  const count = Number(text.slice(1, at));
  at += 2;
  const args: string[] = [];
  for (let i = 0; i < count; i++) {
    const end = text.indexOf("\r\n", at);
    if (end < 0) return undefined;
    const size = Number(text.slice(at + 1, end));
    const start = end + 2;
    if (text.length < start + size + 2) return undefined;
    args.push(text.slice(start, start + size));
    at = start + size + 2;
  }
  return { args, length: at };
}
