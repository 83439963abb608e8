// The HTTP API with Redis down: `serve` and `start` on a redis-server of the
// test's own, which is then killed. Requests that need the stores answer 503
// `store_unavailable` with Retry-After within about a second (the default
// OAO_REDIS_TIMEOUT_MS), /metrics answers at once with the last queue counts,
// and SIGTERM still shuts down promptly.
import assert from "node:assert/strict";
import { oao, oaoServer } from "./_cli.ts";
import { RedisServer } from "../_support/redis_server.ts";

async function timed(url: string, init?: RequestInit): Promise<[Response, number, string]> {
  const start = performance.now();
  const response = await fetch(url, init);
  const body = await response.text();
  return [response, performance.now() - start, body];
}

async function assertStoreUnavailable(url: string, init?: RequestInit): Promise<void> {
  const [response, ms, body] = await timed(url, init);
  assert.equal(response.status, 503, `${init?.method ?? "GET"} ${url}: ${body}`);
  assert.equal(JSON.parse(body).error.code, "store_unavailable");
  assert.match(response.headers.get("retry-after") ?? "", /^\d+$/);
  assert.ok(ms < 1_500, `${init?.method ?? "GET"} ${url} answered after ${Math.round(ms)} ms`);
}

async function assertMetricsAnswer(url: string): Promise<void> {
  const [response, ms, body] = await timed(`${url}/metrics`);
  assert.equal(response.status, 200, body);
  assert.ok(ms < 1_000, `/metrics answered after ${Math.round(ms)} ms`);
  assert.match(body, /oao_queue_depth\{state="waiting"\} 0/, "the last counts read are kept");
}

const submit = {
  method: "POST",
  headers: { "content-type": "application/json" },
  body: JSON.stringify({ agent: "flaky", task: { items: 1 } }),
};

for (const command of ["serve", "start"]) {
  Deno.test(`\`${command}\` with Redis down answers 503 with Retry-After within a second, /metrics at once, and stops promptly`, async () => {
    await using redis = await RedisServer.start();
    await using server = await oaoServer([command, "--port", "0"], {
      env: { REDIS_URL: redis.url(), OAO_LOG_LEVEL: "ERROR" },
    });
    // Scrapes while Redis answers, until the queue counts were read once (a
    // scrape answers with the counts of the last read and starts the next).
    const deadline = Date.now() + 10_000;
    for (let body = ""; !/oao_queue_depth\{state="waiting"\} 0/.test(body);) {
      assert.ok(Date.now() < deadline, `no queue counts in /metrics while Redis answers:\n${body}`);
      const [metrics, , text] = await timed(`${server.url}/metrics`);
      assert.equal(metrics.status, 200, "a scrape while Redis answers");
      body = text;
      await new Promise((r) => setTimeout(r, 50));
    }
    await redis.kill();

    await assertStoreUnavailable(`${server.url}/executions/exec-00000000-0000`);
    await assertStoreUnavailable(`${server.url}/executions`, submit);
    await assertMetricsAnswer(server.url);
    await assertMetricsAnswer(server.url); // a read still running does not hold the next scrape

    const start = performance.now();
    const { code, stderr } = await server.stop("SIGTERM");
    assert.equal(code, 0, stderr);
    assert.ok(performance.now() - start < 8_000, `shutdown took ${performance.now() - start} ms`);
  });
}

Deno.test("`status` with Redis down exits 1 within about OAO_REDIS_TIMEOUT_MS, not the 30 s connection budget", async () => {
  await using redis = await RedisServer.start();
  await redis.stop();
  const start = performance.now();
  const { code, stderr } = await oao(["status", "exec-00000000-0000"], {
    env: { REDIS_URL: redis.url(), OAO_REDIS_TIMEOUT_MS: "500" },
  });
  const ms = performance.now() - start;
  assert.equal(code, 1, stderr);
  assert.match(stderr, /unavailable/i);
  assert.ok(ms < 10_000, `status took ${Math.round(ms)} ms`); // a process start included
});

Deno.test("an invalid OAO_REDIS_TIMEOUT_MS exits 2 naming it", async () => {
  for (const value of ["0", "1.5", "soon"]) {
    const { code, stderr } = await oao(["status", "exec-1"], {
      env: { OAO_REDIS_TIMEOUT_MS: value },
    });
    assert.equal(code, 2, stderr);
    assert.match(stderr, new RegExp(`Invalid OAO_REDIS_TIMEOUT_MS "${value}"`));
  }
});
