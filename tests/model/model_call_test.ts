// callModel against the local model server over real HTTP, through the real
// AI SDK providers, for both wire formats: OpenAI chat completions and
// Anthropic messages.
import assert from "node:assert/strict";
import { callModel } from "../../src/model/model_call.ts";
import { InProcessRateLimiter } from "../../src/model/rate_limits.ts";
import { MAX_USAGE_TOKENS } from "../../src/model/_usage.ts";
import { APIS, KEY, setup } from "./_setup.ts";

const WEATHER = {
  name: "get_weather",
  description: "Current weather of a city",
  inputSchema: {
    type: "object",
    properties: { city: { type: "string" } },
    required: ["city"],
    additionalProperties: false,
  },
};
const PERSON = {
  type: "object",
  properties: { name: { type: "string" }, age: { type: "number" } },
  required: ["name", "age"],
  additionalProperties: false,
};

for (const { api, model, keyOf } of APIS) {
  Deno.test(`${api}: a plain call returns the text, finish reason and model, sending the key and system prompt`, async () => {
    const { server, providers } = setup();
    await using _ = server;
    server.script({ text: "Paris is the capital.", model: `${model.split(":")[1]}-2026-01-01` });
    const result = await callModel(
      { model, system: "Be brief.", prompt: "Capital of France?" },
      { providers },
    );
    assert.equal(result.text, "Paris is the capital.");
    assert.equal(result.finishReason, "stop");
    assert.equal(result.model, model);
    assert.equal(result.providerName, api);
    assert.equal(result.responseModel, `${model.split(":")[1]}-2026-01-01`);
    assert.deepEqual(result.toolCalls, []);
    assert.equal(result.attempts, 1);
    assert.equal(server.requests.length, 1);
    const [request] = server.requests;
    assert.equal(request!.api, api);
    assert.equal(request!.stream, false);
    assert.equal(keyOf(request!.headers), api === "openai" ? `Bearer ${KEY}` : KEY);
    const body = JSON.stringify(request!.body);
    assert.ok(body.includes("Be brief.") && body.includes("Capital of France?"), body);
    assert.deepEqual(JSON.parse(JSON.stringify(result)), result, "the result is plain JSON");
  });

  Deno.test(`${api}: a streamed call passes the text deltas on in order and returns the whole text`, async () => {
    const { server, providers } = setup();
    await using _ = server;
    const chunks = ["Once ", "upon ", "a ", "time", "."];
    server.script({ chunks, chunkDelayMs: 5, usage: { inputTokens: 12, outputTokens: 5 } });
    const deltas: string[] = [];
    const requestsAtFirstDelta: number[] = [];
    const result = await callModel({ model, prompt: "Tell a story", stream: true }, {
      providers,
      onDelta: (text) => {
        if (!deltas.length) requestsAtFirstDelta.push(server.requests.length);
        deltas.push(text);
      },
    });
    assert.deepEqual(deltas, chunks);
    assert.equal(result.text, "Once upon a time.");
    assert.equal(result.finishReason, "stop");
    assert.deepEqual(result.usage, {
      inputTokens: 12,
      outputTokens: 5,
      cachedInputTokens: 0,
      totalTokens: 17,
    });
    assert.equal(server.requests[0]!.stream, true);
    if (api === "openai") {
      assert.deepEqual((server.requests[0]!.body as { stream_options: unknown }).stream_options, {
        include_usage: true,
      });
    }
  });

  for (const stream of [false, true]) {
    Deno.test(`${api}: tools the model asks for are returned, not run${stream ? " (streamed)" : ""}`, async () => {
      const { server, providers } = setup();
      await using _ = server;
      server.script({
        toolCalls: [
          { id: "call_a", name: "get_weather", input: { city: "Paris" } },
          { id: "call_b", name: "get_weather", input: { city: "Oslo" } },
        ],
      });
      const result = await callModel(
        { model, prompt: "Weather in Paris and Oslo?", tools: [WEATHER], stream },
        { providers },
      );
      assert.deepEqual(result.toolCalls, [
        { toolCallId: "call_a", toolName: "get_weather", input: { city: "Paris" } },
        { toolCallId: "call_b", toolName: "get_weather", input: { city: "Oslo" } },
      ]);
      assert.equal(result.finishReason, "tool-calls");
      assert.equal(result.text, "");
      assert.equal(server.requests.length, 1, "no second step: the SDK ran no tool");
      const body = server.requests[0]!.body as { tools: Record<string, unknown>[] };
      const sent = api === "openai"
        ? (body.tools[0]!.function as { name: string; parameters: unknown })
        : (body.tools[0] as { name: string; input_schema: unknown });
      assert.equal(sent.name, "get_weather");
      assert.deepEqual(
        api === "openai"
          ? (sent as { parameters: unknown }).parameters
          : (sent as { input_schema: unknown }).input_schema,
        WEATHER.inputSchema,
      );
    });
  }

  for (const stream of [false, true]) {
    Deno.test(`${api}: structured output returns the object matching the schema${stream ? " (streamed)" : ""}`, async () => {
      const { server, providers } = setup();
      await using _ = server;
      server.script({ object: { name: "Ada", age: 36 } });
      const result = await callModel(
        { model, prompt: "A person", output: { schema: PERSON, name: "person" }, stream },
        { providers },
      );
      assert.deepEqual(result.object, { name: "Ada", age: 36 });
      assert.ok(
        JSON.stringify(server.requests[0]!.body).includes('"age":{"type":"number"}'),
        "the schema is sent",
      );
    });
  }

  Deno.test(`${api}: an answer that does not match the output schema fails as invalid output, not retried`, async () => {
    const { server, providers } = setup();
    await using _ = server;
    server.script({ object: { name: "Ada" } });
    await assert.rejects(
      callModel({ model, prompt: "A person", output: { schema: PERSON } }, { providers }),
      (error: Error & { reason?: string; retryable?: boolean }) => {
        assert.equal(error.reason, "invalid_output");
        assert.match(error.message, /did not match schema.*age/s);
        assert.equal(error.retryable, false);
        return true;
      },
    );
    assert.equal(server.requests.length, 1);
  });

  for (const stream of [false, true]) {
    const how = stream ? " (streamed)" : "";
    Deno.test(`${api}: an invalid output still reports the usage and cost the provider billed${how}`, async () => {
      const { server, providers } = setup();
      await using _ = server;
      server.script({ object: { name: "Ada" }, usage: { inputTokens: 1_000, outputTokens: 200 } });
      const error = await callModel(
        { model, prompt: "A person", output: { schema: PERSON }, stream },
        { providers },
      ).catch((e) => e);
      assert.equal(error.reason, "invalid_output", error.message);
      assert.deepEqual(error.usage, {
        inputTokens: 1_000,
        outputTokens: 200,
        cachedInputTokens: 0,
        totalTokens: 1_200,
      });
      // gpt-4o-mini: 0.15 input / 0.60 output; claude-haiku-4-5: 1 / 5 (per M).
      const expected = api === "openai"
        ? (1_000 * 0.15 + 200 * 0.6) / 1e6
        : (1_000 * 1 + 200 * 5) / 1e6;
      assert.ok(Math.abs(error.costUsd - expected) < 1e-12, `${error.costUsd} vs ${expected}`);
    });

    Deno.test(`${api}: tool calls that are not JSON, break the schema or name no offered tool come back marked invalid${how}`, async () => {
      const { server, providers } = setup();
      await using _ = server;
      server.script({
        toolCalls: [
          { id: "c1", name: "get_weather", input: null, arguments: "{not json" },
          { id: "c2", name: "get_weather", input: { town: 3 } },
          { id: "c3", name: "delete_everything", input: {} },
          { id: "c4", name: "get_weather", input: { city: "Oslo" } },
        ],
      });
      const result = await callModel(
        { model, prompt: "Weather?", tools: [WEATHER], stream },
        { providers },
      );
      const [notJson, badSchema, unknown, good] = result.toolCalls;
      for (const call of [notJson, badSchema, unknown]) {
        assert.equal(call!.invalid, true, JSON.stringify(call));
        assert.equal(typeof call!.error, "string");
      }
      assert.match(notJson!.error!, /get_weather/);
      assert.match(unknown!.error!, /delete_everything/);
      assert.deepEqual(good, {
        toolCallId: "c4",
        toolName: "get_weather",
        input: { city: "Oslo" },
      });
      assert.deepEqual(JSON.parse(JSON.stringify(result)), result, "the result is plain JSON");
    });
  }

  for (const stream of [false, true]) {
    Deno.test(`${api}: usage counts cached input tokens and prices them${stream ? " (streamed)" : ""}`, async () => {
      const { server, providers } = setup();
      await using _ = server;
      server.script({
        text: "ok",
        usage: { inputTokens: 1_200, cachedInputTokens: 1_000, outputTokens: 300 },
      });
      const result = await callModel({ model, prompt: "Hi", stream }, { providers });
      assert.deepEqual(result.usage, {
        inputTokens: 1_200,
        cachedInputTokens: 1_000,
        outputTokens: 300,
        totalTokens: 1_500,
      });
      // gpt-4o-mini: 0.15 / 0.075 cached / 0.60; claude-haiku-4-5: 1 / 0.10 cached / 5 (per M).
      const expected = api === "openai"
        ? (200 * 0.15 + 1_000 * 0.075 + 300 * 0.6) / 1e6
        : (200 * 1 + 1_000 * 0.1 + 300 * 5) / 1e6;
      assert.ok(Math.abs(result.costUsd - expected) < 1e-12, `${result.costUsd} vs ${expected}`);
      assert.equal(result.priced, true);
    });
  }
}

Deno.test("anthropic: a model without native structured output answers through the forced json tool", async () => {
  const { server, providers } = setup();
  await using _ = server;
  server.script({ object: { name: "Grace", age: 85 } });
  const result = await callModel(
    {
      model: "anthropic:claude-3-haiku-20240307",
      prompt: "A person",
      output: { schema: PERSON },
      maxOutputTokens: 200,
    },
    { providers },
  );
  assert.deepEqual(result.object, { name: "Grace", age: 85 });
  assert.deepEqual(result.toolCalls, [], "the json tool is not a tool call of the caller");
  const body = server.requests[0]!.body as { tools?: { name: string }[]; max_tokens: number };
  assert.deepEqual(body.tools?.map((t) => t.name), ["json"]);
  assert.equal(body.max_tokens, 200);
});

Deno.test("messages with an earlier tool call and its result are sent as a conversation", async () => {
  const { server, providers } = setup();
  await using _ = server;
  const result = await callModel({
    model: "openai:gpt-4o-mini",
    tools: [WEATHER],
    messages: [
      { role: "user", content: "Weather in Paris?" },
      {
        role: "assistant",
        content: [{
          type: "tool-call",
          toolCallId: "call_1",
          toolName: "get_weather",
          input: { city: "Paris" },
        }],
      },
      {
        role: "tool",
        content: [{
          type: "tool-result",
          toolCallId: "call_1",
          toolName: "get_weather",
          output: { type: "json", value: { celsius: 21 } },
        }],
      },
    ],
  }, { providers });
  assert.equal(result.text, "Echo: Weather in Paris?");
  const messages =
    (server.requests[0]!.body as { messages: { role: string; content: unknown }[] }).messages;
  assert.deepEqual(messages.map((m) => m.role), ["user", "assistant", "tool"]);
  assert.equal(messages[2]!.content, '{"celsius":21}');
});

for (const stream of [false, true]) {
  Deno.test(`negative, fractional and absurd usage counts as non-negative whole tokens${stream ? " (streamed)" : ""}`, async () => {
    const { server, providers } = setup();
    await using _ = server;
    const limiter = new InProcessRateLimiter({ openai: { tokensPerMinute: 1e12 } });
    server.script(
      { text: "a", usage: { inputTokens: -1_000_000, outputTokens: 2.6 } },
      { text: "b", usage: { inputTokens: 1e300, outputTokens: 5, cachedInputTokens: -3 } },
    );
    const call = () =>
      callModel({ model: "openai:gpt-4o-mini", prompt: "Hi", stream }, {
        providers,
        rateLimiter: limiter,
      });
    const first = await call();
    assert.deepEqual(first.usage, {
      inputTokens: 0,
      outputTokens: 3,
      cachedInputTokens: 0,
      totalTokens: 3,
    });
    assert.ok(first.costUsd >= 0);
    const second = await call();
    assert.deepEqual(second.usage, {
      inputTokens: MAX_USAGE_TOKENS,
      outputTokens: 5,
      cachedInputTokens: 0,
      totalTokens: MAX_USAGE_TOKENS + 5,
    });
    assert.ok(Number.isFinite(second.costUsd));
    // The limiter was told the clamped counts, never a negative one.
    assert.equal(limiter.stats("openai").tokensInWindow, 3 + MAX_USAGE_TOKENS + 5);
  });
}

Deno.test("a bad request is refused before any call, naming the field", async () => {
  const { server, providers } = setup();
  await using _ = server;
  await assert.rejects(
    callModel({ model: "openai:gpt-4o" }, { providers }),
    /Invalid model call prompt/,
  );
  await assert.rejects(
    callModel({ model: "openai:gpt-4o", prompt: "a", messages: [] }, { providers }),
    RangeError,
  );
  await assert.rejects(
    callModel({ model: "openai:gpt-4o", prompt: "a", tools: [WEATHER, WEATHER] }, { providers }),
    /tools\[1\]\.name "get_weather": expected a unique name/,
  );
  await assert.rejects(
    callModel({ model: "openai:gpt-4o", prompt: "a", maxOutputTokens: 0 }, { providers }),
    /maxOutputTokens 0/,
  );
  await assert.rejects(
    callModel({ model: "gpt-4o", prompt: "a" }, { providers }),
    /Cannot parse model id "gpt-4o"/,
  );
  assert.equal(server.requests.length, 0);
});
