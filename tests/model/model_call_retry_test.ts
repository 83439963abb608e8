// Retries of callModel against the local model server: 429 with Retry-After,
// 5xx, what is not retried, broken streams, network errors, timeouts, and the
// key kept out of every error message.
import assert from "node:assert/strict";
import { toErrorInfo } from "../../src/errors.ts";
import { callModel, type ModelRetry } from "../../src/model/model_call.ts";
import { ModelCallError } from "../../src/model/model_errors.ts";
import { ModelProviders } from "../../src/model/providers.ts";
import { InProcessRateLimiter } from "../../src/model/rate_limits.ts";
import { startLocalModelServer } from "../_support/model_server.ts";
import { APIS, KEY, setup, skippingClock } from "./_setup.ts";

/** Fails unless `error` is a ModelCallError of `reason` whose every text is free of the key. */
function assertModelError(error: unknown, reason: string, status?: number): ModelCallError {
  assert.ok(error instanceof ModelCallError, String(error));
  assert.equal(error.reason, reason, error.message);
  assert.equal(error.status, status);
  for (
    const text of [
      error.message,
      String(error.cause),
      error.stack ?? "",
      JSON.stringify(toErrorInfo(error)),
    ]
  ) {
    assert.ok(!text.includes(KEY), `the key leaked into: ${text}`);
  }
  return error;
}

for (const { api, model } of APIS) {
  Deno.test(`${api}: a 429 is retried after the Retry-After seconds the provider asked for`, async () => {
    const { server, providers } = setup();
    await using _ = server;
    // Like some providers, the error quotes the key: it must be redacted.
    server.script({ status: 429, retryAfter: 7, error: `Rate limit reached for key ${KEY}` }, {
      text: "done",
    });
    const { clock, sleeps } = skippingClock();
    const retries: ModelRetry[] = [];
    const result = await callModel({ model, prompt: "Hi" }, {
      providers,
      clock,
      onRetry: (r) => void retries.push(r),
    });
    assert.equal(result.text, "done");
    assert.equal(result.attempts, 2);
    assert.deepEqual(sleeps, [7_000]);
    assert.equal(server.requests.length, 2);
    assert.equal(retries.length, 1);
    const { error, ...retry } = retries[0]!;
    assert.deepEqual(retry, { attempt: 1, reason: "rate_limited", delayMs: 7_000, status: 429 });
    assertModelError(error, "rate_limited", 429);
    assert.match(error.message, /Rate limit reached for key \[REDACTED\]/);
    assert.equal(error.retryAfterMs, 7_000);
  });

  Deno.test(`${api}: 5xx answers are retried with exponential backoff until one succeeds`, async () => {
    const { server, providers } = setup();
    await using _ = server;
    server.script({ status: 500 }, { status: 503 }, { text: "third time lucky" });
    const { clock, sleeps } = skippingClock();
    const reasons: string[] = [];
    const result = await callModel({ model, prompt: "Hi" }, {
      providers,
      clock,
      random: () => 0.5, // the middle of the jitter: the base delay
      onRetry: (r) => void reasons.push(`${r.attempt}:${r.reason}:${r.status}`),
    });
    assert.equal(result.text, "third time lucky");
    assert.equal(result.attempts, 3);
    assert.deepEqual(sleeps, [1_000, 2_000]);
    assert.deepEqual(reasons, ["1:provider_error:500", "2:provider_error:503"]);
    assert.equal(server.requests.length, 3);
  });

  Deno.test(`${api}: a 400 fails at once with the provider's message and the model's name`, async () => {
    const { server, providers } = setup();
    await using _ = server;
    server.script({ status: 400, error: "max_tokens is too large" });
    const { clock, sleeps } = skippingClock();
    const error = await callModel({ model, prompt: "Hi" }, { providers, clock }).catch((e) => e);
    assertModelError(error, "bad_request", 400);
    assert.equal(error.retryable, false);
    assert.equal(error.code, "MODEL_CALL_FAILED");
    assert.match(
      error.message,
      new RegExp(`^Cannot call model "${model}" \\(status 400\\): .*max_tokens is too large`),
    );
    assert.deepEqual(sleeps, []);
    assert.equal(server.requests.length, 1);
  });

  Deno.test(`${api}: a wrong key fails at once as auth and the key the provider quotes is redacted`, async () => {
    const server = startLocalModelServer({ apiKey: "sk-the-right-one" });
    await using _ = server;
    const providers = new ModelProviders({
      [api]: { apiKey: KEY, baseURL: server.baseURL },
      env: () => undefined,
    });
    const error = await callModel({ model, prompt: "Hi" }, { providers }).catch((e) => e);
    assertModelError(error, "auth", 401);
    assert.match(error.message, /Incorrect API key provided: \[REDACTED\]/);
    assert.equal(server.requests.length, 1);
  });

  Deno.test(`${api}: a stream that breaks after text was passed on fails as retryable and is not retried`, async () => {
    const { server, providers } = setup();
    await using _ = server;
    server.script({ chunks: ["one ", "two ", "three"], breakAfterChunks: 2 });
    const deltas: string[] = [];
    const error = await callModel({ model, prompt: "Count", stream: true }, {
      providers,
      clock: skippingClock().clock,
      onDelta: (d) => void deltas.push(d),
    }).catch((e) => e);
    assertModelError(error, "stream_broken", 200);
    assert.equal(error.retryable, true);
    assert.deepEqual(deltas, ["one ", "two "]);
    assert.equal(server.requests.length, 1, "the caller decides: its deltas were already shown");
  });
}

Deno.test("a Retry-After given as an HTTP date is honoured against the injected clock", async () => {
  const { server, providers } = setup();
  await using _ = server;
  const now = Date.UTC(2026, 0, 1, 12, 0, 0);
  server.script({ status: 429, retryAfter: new Date(now + 12_000).toUTCString() }, { text: "ok" });
  const { clock, sleeps } = skippingClock(now);
  await callModel({ model: "openai:gpt-4o-mini", prompt: "Hi" }, { providers, clock });
  assert.deepEqual(sleeps, [12_000]);
});

Deno.test("a Retry-After that is neither whole seconds nor an HTTP date falls back to the backoff", async () => {
  const { server, providers } = setup();
  await using _ = server;
  const now = Date.UTC(2026, 0, 1, 12, 0, 0);
  for (const value of ["-5", "-1.5", "soon"]) {
    server.script({ status: 429, retryAfter: value }, { text: "ok" });
  }
  const { clock, sleeps } = skippingClock(now);
  for (let i = 0; i < 3; i++) {
    await callModel({ model: "openai:gpt-4o-mini", prompt: "Hi" }, {
      providers,
      clock,
      backoff: { minMs: 700, maxMs: 700, jitter: 0 },
    });
  }
  assert.deepEqual(sleeps, [700, 700, 700]);
  assert.equal(server.requests.length, 6);
});

Deno.test("a retry-after-ms header wins over Retry-After", async () => {
  const { server, providers } = setup();
  await using _ = server;
  server.script({ status: 429, retryAfter: 9, headers: { "retry-after-ms": "250" } }, {
    text: "ok",
  });
  const { clock, sleeps } = skippingClock();
  await callModel({ model: "openai:gpt-4o-mini", prompt: "Hi" }, { providers, clock });
  assert.deepEqual(sleeps, [250]);
});

Deno.test("a Retry-After longer than maxRetryAfterMs fails the call instead of waiting", async () => {
  const { server, providers } = setup();
  await using _ = server;
  server.script({ status: 429, retryAfter: 3_600 });
  const { clock, sleeps } = skippingClock();
  const error = await callModel({ model: "openai:gpt-4o-mini", prompt: "Hi" }, {
    providers,
    clock,
    maxRetryAfterMs: 60_000,
  }).catch((e) => e);
  assertModelError(error, "rate_limited", 429);
  assert.equal(error.retryAfterMs, 3_600_000);
  assert.deepEqual(sleeps, []);
});

Deno.test("after maxAttempts failures the last error is thrown, counting the attempts", async () => {
  const { server, providers } = setup();
  await using _ = server;
  server.script({ status: 502 }, { status: 502 }, { status: 502 }, { status: 502 }, {
    text: "too late",
  });
  const { clock, sleeps } = skippingClock();
  const error = await callModel({ model: "anthropic:claude-haiku-4-5", prompt: "Hi" }, {
    providers,
    clock,
    random: () => 0.5,
  }).catch((e) => e);
  assertModelError(error, "provider_error", 502);
  assert.equal(error.attempts, 4);
  assert.match(error.message, /\(status 502\) after 4 attempts: /);
  assert.deepEqual(sleeps, [1_000, 2_000, 4_000]);
  assert.equal(server.requests.length, 4);
  assert.equal(server.pending(), 1);
});

Deno.test("a stream that breaks before any text is retried like a network error", async () => {
  const { server, providers } = setup();
  await using _ = server;
  server.script({ text: "lost", breakAfterChunks: 0 }, { chunks: ["found"] });
  const deltas: string[] = [];
  const retries: string[] = [];
  const result = await callModel({ model: "openai:gpt-4o-mini", prompt: "Hi", stream: true }, {
    providers,
    clock: skippingClock().clock,
    onDelta: (d) => void deltas.push(d),
    onRetry: (r) => void retries.push(r.reason),
  });
  assert.equal(result.text, "found");
  assert.deepEqual(deltas, ["found"]);
  assert.deepEqual(retries, ["provider_error"]);
  assert.equal(server.requests.length, 2);
});

Deno.test("no answer at all (nothing listening) is retried, then fails as a network error", async () => {
  const server = startLocalModelServer();
  await server.close();
  const providers = new ModelProviders({
    openai: { apiKey: KEY, baseURL: server.baseURL },
    env: () => undefined,
  });
  const { clock, sleeps } = skippingClock();
  const error = await callModel({ model: "openai:gpt-4o-mini", prompt: "Hi" }, {
    providers,
    clock,
    maxAttempts: 2,
    random: () => 0.5,
  }).catch((e) => e);
  assertModelError(error, "network", undefined);
  assert.equal(error.retryable, true);
  assert.match(error.message, /no answer from the provider/);
  assert.deepEqual(sleeps, [1_000]);
});

Deno.test("a slow answer past timeoutMs fails as a retryable timeout and is not retried", async () => {
  const { server, providers } = setup();
  await using _ = server;
  server.script({ text: "too slow", delayMs: 10_000 });
  const error = await callModel({ model: "openai:gpt-4o-mini", prompt: "Hi" }, {
    providers,
    timeoutMs: 100,
  })
    .catch((e) => e);
  assertModelError(error, "timeout", undefined);
  assert.equal(error.retryable, true);
  assert.match(error.message, /no complete answer within 100 ms/);
  assert.equal(server.requests.length, 1);
});

Deno.test("calls wait for the provider's rate limits and count their real tokens", async () => {
  const { server, providers } = setup();
  await using _ = server;
  const limiter = new InProcessRateLimiter({ openai: { maxConcurrent: 1 } });
  server.script(
    { text: "first", delayMs: 150, usage: { inputTokens: 10, outputTokens: 1 } },
    { text: "second", usage: { inputTokens: 20, outputTokens: 2 } },
  );
  const first = callModel({ model: "openai:gpt-4o-mini", prompt: "1" }, {
    providers,
    rateLimiter: limiter,
  });
  while (server.requests.length < 1) await new Promise((r) => setTimeout(r, 5));
  const second = callModel({ model: "openai:gpt-4o-mini", prompt: "2" }, {
    providers,
    rateLimiter: limiter,
  });
  await new Promise((r) => setTimeout(r, 50));
  assert.equal(server.requests.length, 1, "the second call waits for the first");
  assert.equal(limiter.stats("openai").queued, 1);
  assert.deepEqual([(await first).text, (await second).text], ["first", "second"]);
  assert.equal(limiter.stats("openai").tokensInWindow, 11 + 22);
});
