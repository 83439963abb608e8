import assert from "node:assert/strict";
import type { LogRecord } from "@logtape/logtape";
import {
  REDACTED,
  redactRecord,
  redactText,
  redactValue,
  registerSecret,
  unregisterSecret,
} from "../../src/logging/redaction.ts";

function record(overrides: Partial<LogRecord>): LogRecord {
  return {
    category: ["oao", "test"],
    level: "info",
    timestamp: 0,
    rawMessage: "",
    message: [""],
    properties: {},
    ...overrides,
  };
}

Deno.test("the password of redis and rediss URLs is redacted, user, host and db are kept", () => {
  assert.equal(
    redactText("Connecting to redis://user:password@hostname:6379/0"),
    `Connecting to redis://user:${REDACTED}@hostname:6379/0`,
  );
  assert.equal(redactText("rediss://:p%40ss@cache:6380"), `rediss://:${REDACTED}@cache:6380`);
  assert.equal(redactText("redis://onlypassword@cache"), `redis://${REDACTED}@cache`);
  assert.equal(redactText("redis://cache:6379/0"), "redis://cache:6379/0");
});

Deno.test("passwords in URLs of any scheme are redacted; a bare username is kept", () => {
  assert.equal(
    redactText("http://admin:s3cret@collector:4317 and amqp://u:pw@mq"),
    `http://admin:${REDACTED}@collector:4317 and amqp://u:${REDACTED}@mq`,
  );
  assert.equal(redactText("ssh://git@example.com/repo"), "ssh://git@example.com/repo");
});

Deno.test("bearer tokens and authorization headers are redacted", () => {
  assert.equal(
    redactText("Authorization: Bearer eyJhbGciOi.eyJzdWIi.sig-_"),
    `Authorization: Bearer ${REDACTED}`,
  );
  assert.equal(redactText("sent bearer abc123=="), `sent bearer ${REDACTED}`);
  assert.equal(redactText("authorization=Basic dXNlcjpwYXNz"), `authorization=Basic ${REDACTED}`);
  assert.equal(redactText('{"authorization":"Token xyz"}'), `{"authorization":"${REDACTED}"}`);
});

Deno.test("key=value credentials and JSON pairs are redacted in text, counts are not", () => {
  assert.equal(
    redactText("GET /hook?token=abc123&page=2"),
    `GET /hook?token=${REDACTED}&page=2`,
  );
  assert.equal(redactText("password=hunter2 user=bob"), `password=${REDACTED} user=bob`);
  assert.equal(
    redactText('{"user":"bob","password":"hunter2","maxTokens":5}'),
    `{"user":"bob","password":"${REDACTED}","maxTokens":5}`,
  );
  assert.equal(redactText("token=42 tokens=1200"), "token=42 tokens=1200");
});

Deno.test("registered secrets are redacted wherever they appear, also URL-encoded", () => {
  const secret = "api tok/3n+xyz";
  registerSecret(secret);
  try {
    assert.equal(redactText(`token is ${secret}!`), `token is ${REDACTED}!`);
    assert.equal(
      redactText(`https://api.example/?k=${encodeURIComponent(secret)}`),
      `https://api.example/?k=${REDACTED}`,
    );
  } finally {
    unregisterSecret(secret);
  }
  assert.equal(redactText(`token is ${secret}!`), `token is ${secret}!`);
});

Deno.test("registering an empty or very short secret is refused", () => {
  assert.throws(() => registerSecret(""), RangeError);
  assert.throws(() => registerSecret("abc"), /shorter than 4 characters/);
  assert.throws(() => registerSecret(42 as unknown as string), TypeError);
});

Deno.test("properties named like credentials are redacted at any depth, numbers and booleans kept", () => {
  const input = {
    actor: "planner",
    config: {
      redis: { url: "redis://app:pw1@db:6379", password: "pw1" },
      apiToken: "t-123",
      headers: [{ Authorization: "Bearer abc" }, { "x-api-key": "k" }],
      clientSecret: { nested: "x" },
    },
    maxTokens: 5000,
    tokenLimitReached: false,
    fencingToken: 7,
  };
  const out = redactValue(input);
  assert.deepEqual(out, {
    actor: "planner",
    config: {
      redis: { url: `redis://app:${REDACTED}@db:6379`, password: REDACTED },
      apiToken: REDACTED,
      headers: [{ Authorization: REDACTED }, { "x-api-key": REDACTED }],
      clientSecret: REDACTED,
    },
    maxTokens: 5000,
    tokenLimitReached: false,
    fencingToken: 7,
  });
  assert.equal(input.config.redis.password, "pw1", "the input is not modified");
});

Deno.test("errors are copied with redacted message, stack, cause and properties, keeping their class", () => {
  class ConnectError extends Error {
    override name = "ConnectError";
    token = "t-999";
    host = "db";
  }
  const cause = new Error("auth failed for redis://:pw2@db");
  const error = new ConnectError("Cannot reach redis://u:pw3@db:6379", { cause });
  const out = redactValue({ error }) as { error: ConnectError };
  assert.ok(out.error instanceof ConnectError);
  assert.notEqual(out.error, error);
  assert.equal(out.error.name, "ConnectError");
  assert.equal(out.error.message, `Cannot reach redis://u:${REDACTED}@db:6379`);
  assert.ok(!out.error.stack?.includes("pw3"), out.error.stack ?? "no stack");
  assert.equal((out.error.cause as Error).message, `auth failed for redis://:${REDACTED}@db`);
  assert.equal(out.error.token, REDACTED);
  assert.equal(out.error.host, "db");
  assert.equal(error.message, "Cannot reach redis://u:pw3@db:6379", "the original is untouched");
});

Deno.test("cycles, maps, sets and URL objects are handled", () => {
  const loop: Record<string, unknown> = { password: "x" };
  loop.self = loop;
  const out = redactValue(loop) as Record<string, unknown>;
  assert.equal(out.password, REDACTED);
  assert.equal(out.self, out);
  const map = redactValue(new Map([["secret", "s"], ["ok", "redis://:pw@h"]])) as Map<
    string,
    string
  >;
  assert.deepEqual([...map], [["secret", REDACTED], ["ok", `redis://:${REDACTED}@h`]]);
  const set = redactValue(new Set(["Bearer abc"])) as Set<string>;
  assert.deepEqual([...set], [`Bearer ${REDACTED}`]);
  assert.equal(redactValue(new URL("redis://u:pw@h:1/0")), `redis://u:${REDACTED}@h:1/0`);
});

Deno.test("a record's message parts, raw message and properties are redacted", () => {
  const out = redactRecord(record({
    rawMessage: "Connecting to {url} with {password} as {user}, limit {maxTokens}",
    message: [
      "Connecting to ",
      "redis://u:pw@db",
      " with ",
      "hunter2",
      " as ",
      "bob",
      ", limit ",
      5000,
      "",
    ],
    properties: { url: "redis://u:pw@db", password: "hunter2", user: "bob", maxTokens: 5000 },
  }));
  assert.deepEqual(out.message, [
    "Connecting to ",
    `redis://u:${REDACTED}@db`,
    " with ",
    REDACTED,
    " as ",
    "bob",
    ", limit ",
    5000,
    "",
  ]);
  assert.deepEqual(out.properties, {
    url: `redis://u:${REDACTED}@db`,
    password: REDACTED,
    user: "bob",
    maxTokens: 5000,
  });
});

Deno.test("text concatenated into the message template itself is redacted too", () => {
  const out = redactRecord(record({
    rawMessage: "Using redis://:pw@db",
    message: ["Using redis://:pw@db"],
  }));
  assert.deepEqual(out.message, [`Using redis://:${REDACTED}@db`]);
  assert.equal(out.rawMessage, `Using redis://:${REDACTED}@db`);
});
