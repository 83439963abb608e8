import assert from "node:assert/strict";
import { parseRedisUrl, redactRedisUrl } from "../../src/redis/redis_url.ts";

Deno.test("parseRedisUrl reads user, password, host, port and database", () => {
  assert.deepEqual(parseRedisUrl("redis://app:s3cret@cache.internal:6380/4"), {
    tls: false,
    host: "cache.internal",
    port: 6380,
    username: "app",
    password: "s3cret",
    db: 4,
  });
});

Deno.test("parseRedisUrl accepts a password without user, a user without password, and neither", () => {
  assert.deepEqual(parseRedisUrl("redis://:s3cret@localhost:6379"), {
    tls: false,
    host: "localhost",
    port: 6379,
    password: "s3cret",
    db: 0,
  });
  assert.deepEqual(parseRedisUrl("redis://reader@localhost"), {
    tls: false,
    host: "localhost",
    port: 6379,
    username: "reader",
    db: 0,
  });
  assert.deepEqual(parseRedisUrl("redis://localhost"), {
    tls: false,
    host: "localhost",
    port: 6379,
    db: 0,
  });
  assert.deepEqual(parseRedisUrl("redis://10.0.0.5:7000/"), {
    tls: false,
    host: "10.0.0.5",
    port: 7000,
    db: 0,
  });
});

Deno.test("parseRedisUrl selects TLS for rediss:// and reads IPv6 hosts", () => {
  const parts = parseRedisUrl("rediss://default:pw@[::1]:6390/15");
  assert.equal(parts.tls, true);
  assert.equal(parts.host, "::1");
  assert.equal(parts.port, 6390);
  assert.equal(parts.db, 15);
  assert.equal(parseRedisUrl("REDISS://h").tls, true);
});

Deno.test("parseRedisUrl decodes percent-encoded credentials and keeps raw special characters", () => {
  assert.equal(parseRedisUrl("redis://u:p%40ss%2Fw%3Ard@h").password, "p@ss/w:rd");
  assert.equal(parseRedisUrl("redis://u:p@ss/w?rd#x@h:1/2").password, "p@ss/w?rd#x");
  assert.equal(parseRedisUrl("redis://us%20er:pw@h").username, "us er");
});

Deno.test("parseRedisUrl rejects malformed URLs with a TypeError naming the bad part", () => {
  const cases: [string, RegExp][] = [
    ["http://h:6379", /unsupported scheme "http:"/],
    ["localhost:6379", /expected "redis:\/\/"/],
    ["redis://", /host is empty/],
    ["redis://:pw@:6379", /host is empty/],
    ["redis://h:99999", /port "99999"/],
    ["redis://h:abc", /port "abc"/],
    ["redis://h/x1", /database index "x1"/],
    ["redis://h/-1", /database index "-1"/],
    ["redis://h/0?ssl=true", /query parameters/],
    ["redis://[::1:6379", /closing "]"/],
  ];
  for (const [url, pattern] of cases) {
    assert.throws(() => parseRedisUrl(url), (error: unknown) => {
      assert.ok(error instanceof TypeError, url);
      assert.match(error.message, pattern);
      return true;
    });
  }
  assert.throws(() => parseRedisUrl(undefined as unknown as string), TypeError);
});

Deno.test("a password never appears in a parse error", () => {
  for (
    const url of [
      "redis://app:hunter2@h:99999",
      "redis://app:hunter2@h/notadb",
      "redis://:hunter2@",
      "http://app:hunter2@h",
      "redis://app:hunter2%zz@h",
      "redis://app:hun?ter2@h/x",
    ]
  ) {
    assert.throws(() => parseRedisUrl(url), (error: unknown) => {
      assert.ok(error instanceof TypeError);
      assert.ok(
        !error.message.includes("hunter2") && !error.message.includes("ter2"),
        error.message,
      );
      return true;
    });
  }
});

Deno.test("redactRedisUrl masks the password, and a lone user-info part", () => {
  assert.equal(redactRedisUrl("redis://app:s3cret@h:6379/2"), "redis://app:***@h:6379/2");
  assert.equal(redactRedisUrl("rediss://:s3cret@h"), "rediss://:***@h");
  assert.equal(redactRedisUrl("redis://s3cret@h"), "redis://***@h");
  assert.equal(redactRedisUrl("redis://h:6379/0"), "redis://h:6379/0");
  assert.equal(redactRedisUrl("redis://u:p@ss@h"), "redis://u:***@h");
  assert.equal(redactRedisUrl("not a url"), "not a url");
});
