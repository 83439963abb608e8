// The local model server itself, over plain fetch: what it answers unscripted,
// how scripts are consumed, and what it records.
import assert from "node:assert/strict";
import { startLocalModelServer } from "../_support/model_server.ts";

const post = (url: string, body: unknown, headers: Record<string, string> = {}) =>
  fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: JSON.stringify(body),
  });

Deno.test("unscripted, it echoes the last user message with usage in both wire formats", async () => {
  await using server = startLocalModelServer();
  const openai = await (await post(`${server.baseURL}/chat/completions`, {
    model: "m",
    messages: [{ role: "user", content: "first" }, { role: "assistant", content: "x" }, {
      role: "user",
      content: "second",
    }],
  })).json();
  assert.equal(openai.choices[0].message.content, "Echo: second");
  assert.equal(openai.choices[0].finish_reason, "stop");
  assert.equal(openai.usage.completion_tokens, 2);
  const anthropic = await (await post(`${server.baseURL}/messages`, {
    model: "c",
    max_tokens: 10,
    messages: [{ role: "user", content: [{ type: "text", text: "hello" }] }],
  })).json();
  assert.deepEqual(anthropic.content, [{ type: "text", text: "Echo: hello" }]);
  assert.equal(anthropic.stop_reason, "end_turn");
  assert.equal(anthropic.usage.output_tokens, 2);
  assert.deepEqual(server.requests.map((r) => [r.api, r.path, r.model]), [
    ["openai", "/v1/chat/completions", "m"],
    ["anthropic", "/v1/messages", "c"],
  ]);
});

Deno.test("scripted replies are used in order, functions see the request, then the default answers", async () => {
  await using server = startLocalModelServer({ respond: () => ({ text: "default" }) });
  server.script({ text: "one" }, (request) => ({ text: `two for ${request.model}` }));
  assert.equal(server.pending(), 2);
  const texts = [];
  for (let i = 0; i < 3; i++) {
    const body =
      await (await post(`${server.baseURL}/chat/completions`, { model: "gpt", messages: [] }))
        .json();
    texts.push(body.choices[0].message.content);
  }
  assert.deepEqual(texts, ["one", "two for gpt", "default"]);
  assert.equal(server.pending(), 0);
});

Deno.test("errors carry their status, Retry-After and the format's error body", async () => {
  await using server = startLocalModelServer();
  server.script({ status: 429, retryAfter: 3, error: "slow down" }, { status: 529 });
  const openai = await post(`${server.baseURL}/chat/completions`, { model: "m", messages: [] });
  assert.equal(openai.status, 429);
  assert.equal(openai.headers.get("retry-after"), "3");
  assert.deepEqual((await openai.json()).error.message, "slow down");
  const anthropic = await post(`${server.baseURL}/messages`, { model: "m", messages: [] });
  assert.equal(anthropic.status, 529);
  assert.deepEqual((await anthropic.json()).error.type, "overloaded_error");
});

Deno.test("with a key, requests without it get a 401 and requests are recorded with their headers", async () => {
  await using server = startLocalModelServer({ apiKey: "k-1" });
  const denied = await post(`${server.baseURL}/messages`, { model: "m", messages: [] });
  assert.equal(denied.status, 401);
  await denied.body?.cancel();
  const ok = await post(`${server.baseURL}/messages`, { model: "m", messages: [] }, {
    "x-api-key": "k-1",
  });
  assert.equal(ok.status, 200);
  await ok.body?.cancel();
  assert.deepEqual(server.requests.map((r) => r.headers["x-api-key"]), [undefined, "k-1"]);
  const missing = await fetch(`${server.url}/v1/models`);
  assert.equal(missing.status, 404);
  await missing.body?.cancel();
});

Deno.test("a streamed answer is server-sent events ending in [DONE], with usage last", async () => {
  await using server = startLocalModelServer();
  server.script({
    chunks: ["a", "b"],
    usage: { inputTokens: 4, outputTokens: 2, cachedInputTokens: 1 },
  });
  const text = await (await post(`${server.baseURL}/chat/completions`, {
    model: "m",
    messages: [],
    stream: true,
  })).text();
  const data = text.trim().split("\n\n").map((frame) => frame.replace(/^data: /, ""));
  assert.equal(data.at(-1), "[DONE]");
  const chunks = data.slice(0, -1).map((d) => JSON.parse(d));
  assert.deepEqual(chunks.map((c) => c.choices[0]?.delta?.content).filter((c) => c), ["a", "b"]);
  assert.deepEqual(chunks.at(-1).usage.prompt_tokens_details, { cached_tokens: 1 });
});
