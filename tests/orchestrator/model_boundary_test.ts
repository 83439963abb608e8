// Model calls from agents' workers are untrusted: malformed, oversized,
// deeply nested or over-reaching requests (image and file parts the host
// would download, provider options, unknown fields) are refused naming the
// field, before anything is recorded or sent to a provider.
import assert from "node:assert/strict";
import { ValueTooLargeError } from "../../src/errors.ts";
import { DEFAULT_LIMITS } from "../../src/limits.ts";
import { Orchestrator } from "../../src/orchestrator/orchestrator.ts";
import {
  MAX_DEPTH,
  MAX_MESSAGES,
  MAX_TOOLS,
  validateModelServiceRequest,
} from "../../src/orchestrator/_model_boundary.ts";
import type { Outcome } from "../fixtures/hostile/forged_tool_call.ts";
import { startLocalModelServer } from "../_support/model_server.ts";

const valid = {
  executionId: "exec-1",
  step: 3,
  run: "1:1",
  tokens: 0,
  request: { model: "openai:gpt-4o-mini", prompt: "Hi" },
};

function refusal(
  request: Record<string, unknown>,
  call: Record<string, unknown> = {},
  maxValueBytes = 10_000,
): Error {
  try {
    validateModelServiceRequest({ ...valid, request: { ...valid.request, ...request }, ...call }, {
      maxValueBytes,
    });
  } catch (error) {
    return error as Error;
  }
  assert.fail(`accepted ${JSON.stringify({ request, call }).slice(0, 200)}`);
}

function nested(depth: number): unknown {
  let value: unknown = {};
  for (let i = 0; i < depth; i++) value = { a: value };
  return value;
}

Deno.test("a well-formed call is accepted and copied with only its known fields", () => {
  const call = validateModelServiceRequest({
    ...valid,
    request: {
      model: "anthropic:claude-haiku-4-5",
      system: "Be brief.",
      messages: [
        { role: "user", content: "Weather in Paris?" },
        {
          role: "assistant",
          content: [
            { type: "text", text: "Let me look." },
            { type: "tool-call", toolCallId: "c1", toolName: "weather", input: { city: "Paris" } },
          ],
        },
        {
          role: "tool",
          content: [{
            type: "tool-result",
            toolCallId: "c1",
            toolName: "weather",
            output: { type: "json", value: { celsius: 21 } },
          }],
        },
      ],
      tools: [{ name: "weather", description: "Weather", inputSchema: { type: "object" } }],
      toolChoice: "auto",
      output: { schema: { type: "object" }, name: "answer" },
      maxOutputTokens: 100,
      temperature: 0,
    },
  }, DEFAULT_LIMITS);
  assert.equal(call.request.messages?.length, 3);
  assert.equal(call.request.maxOutputTokens, 100);
  assert.equal(call.request.temperature, 0);
});

Deno.test("malformed fields are refused naming the field and what was sent", () => {
  const cases: [Record<string, unknown>, RegExp, typeof TypeError | typeof RangeError][] = [
    [{ model: 42 }, /field "request.model" must be a string, got number 42/, TypeError],
    [{ model: "gpt-4o" }, /field "request.model" must be "provider:model"/, RangeError],
    [{ model: "x:" + "m".repeat(300) }, /"request.model" is 302 characters/, RangeError],
    [{ messages: [] }, /either "request.prompt" or "request.messages"/, TypeError],
    [{ prompt: ["Hi"] }, /"request.prompt" must be a string, got an array/, TypeError],
    [{ maxOutputTokens: 0 }, /"request.maxOutputTokens" must be an integer from 1/, RangeError],
    [{ maxOutputTokens: 1.5 }, /"request.maxOutputTokens" must be an integer/, RangeError],
    [{ maxOutputTokens: "100" }, /"request.maxOutputTokens" must be a number/, TypeError],
    [
      { temperature: 3 },
      /"request.temperature" must be a number from 0 to 2, got number 3/,
      RangeError,
    ],
    [
      { toolChoice: "always" },
      /"request.toolChoice" must be "auto", "required" or "none"/,
      TypeError,
    ],
    [{ stream: true }, /unknown field "request.stream"/, TypeError],
    [{ providerOptions: { openai: {} } }, /unknown field "request.providerOptions"/, TypeError],
    [
      { tools: [{ name: "bad name", inputSchema: {} }] },
      /"request.tools\[0\].name" must be 1 to 64/,
      RangeError,
    ],
    [
      { tools: [{ name: "t", inputSchema: {} }, { name: "t", inputSchema: {} }] },
      /"request.tools\[1\].name" must be unique/,
      RangeError,
    ],
    [
      { tools: [{ name: "t", inputSchema: "any" }] },
      /"request.tools\[0\].inputSchema" must be an object/,
      TypeError,
    ],
    [
      { output: { schema: [] } },
      /"request.output.schema" must be an object, got an array/,
      TypeError,
    ],
  ];
  for (const [request, message, Kind] of cases) {
    const error = refusal(request);
    assert.ok(error instanceof Kind, `${error.name}: ${error.message}`);
    assert.match(error.message, /^Model call refused: /);
    assert.match(error.message, message);
  }
  assert.match(refusal({}, { step: 0 }).message, /field "step" must be a positive integer/);
  assert.match(refusal({}, { tokens: -5 }).message, /field "tokens" must be a finite number >= 0/);
  assert.match(refusal({}, { request: "Hi" }).message, /field "request" must be an object/);
  assert.match(refusal({}, { stream: "yes" }).message, /field "stream" must be a boolean/);
  assert.match(refusal({}, { executionId: null }).message, /"executionId" must be a string/);
});

Deno.test("messages may hold text, tool calls and tool results only: images, files and unknown roles are refused", () => {
  const message = (m: unknown) => refusal({ prompt: undefined, messages: [m] }).message;
  assert.match(
    message({ role: "user", content: [{ type: "image", image: "https://169.254.169.254/x" }] }),
    /"request.messages\[0\].content\[0\].type" must be "text" \(images and files are not accepted\)/,
  );
  assert.match(
    message({
      role: "user",
      content: [{ type: "file", data: "file:///etc/passwd", mediaType: "text/plain" }],
    }),
    /images and files are not accepted/,
  );
  assert.match(message({ role: "admin", content: "x" }), /"request.messages\[0\].role" must be/);
  assert.match(
    message({ role: "user", content: [{ type: "text", text: "x", providerOptions: {} }] }),
    /unknown field "request.messages\[0\].content\[0\].providerOptions"/,
  );
  assert.match(
    message({
      role: "tool",
      content: [{
        type: "tool-result",
        toolCallId: "c",
        toolName: "t",
        output: { type: "content", value: [] },
      }],
    }),
    /"request.messages\[0\].content\[0\].output.type" must be/,
  );
  assert.match(
    message({ role: "system", content: [{ type: "text", text: "x" }] }),
    /must be a string/,
  );
});

Deno.test("sizes are bounded: too many messages or tools, too deep, too large", () => {
  const messages = Array.from({ length: MAX_MESSAGES + 1 }, () => ({ role: "user", content: "" }));
  assert.match(
    refusal({ prompt: undefined, messages }, {}, DEFAULT_LIMITS.maxValueBytes).message,
    new RegExp(
      `"request.messages" has ${MAX_MESSAGES + 1} entries, over the limit of ${MAX_MESSAGES}`,
    ),
  );
  const tools = Array.from(
    { length: MAX_TOOLS + 1 },
    (_, i) => ({ name: `t${i}`, inputSchema: {} }),
  );
  assert.match(refusal({ tools }).message, /"request.tools" has 129 entries/);
  const deep = refusal({ output: { schema: nested(MAX_DEPTH + 1) as Record<string, unknown> } });
  assert.ok(deep instanceof RangeError);
  assert.match(deep.message, /"request.output.schema" is nested deeper than 64 levels/);
  const large = refusal({ prompt: "x".repeat(20_000) });
  assert.ok(large instanceof ValueTooLargeError, large.message);
  assert.match(
    large.message,
    /The model call request is 200\d\d bytes, over the limit of 10000 bytes/,
  );
  const cyclic: Record<string, unknown> = {};
  cyclic.self = cyclic;
  assert.match(
    refusal({ output: { schema: cyclic } }).message,
    /"request" is not JSON-serializable/,
  );
});

Deno.test("hostile model calls from a worker are refused with clear errors and never reach the provider", async () => {
  await using server = startLocalModelServer();
  const orchestrator = new Orchestrator({
    agents: [{ name: "forged-model-call", module: "tests/fixtures/hostile/forged_model_call.ts" }],
    models: {
      providers: { openai: { apiKey: "sk-local", baseURL: server.baseURL }, env: () => undefined },
    },
  });
  try {
    const report = await orchestrator.run("forged-model-call", {
      forged: [
        { raw: "generate some text" },
        { raw: null },
        { call: { executionId: "someone-else" } },
        { call: { step: 99 } },
        { call: { tokens: -3 } },
        { request: { model: "evil:model" } },
        {
          request: {
            messages: [{ role: "user", content: [{ type: "image", image: "http://10.0.0.1/" }] }],
            prompt: undefined,
          },
        },
        { request: { maxOutputTokens: -1 } },
        { promptChars: DEFAULT_LIMITS.maxValueBytes + 1 },
        {},
      ],
    });
    assert.equal(report.status, "SUCCESS", JSON.stringify(report.error));
    const outcomes = (report.output as { outcomes: Outcome[] }).outcomes;
    const messages = outcomes.map((o) => o.message ?? "");
    assert.deepEqual(outcomes.map((o) => o.ok), [...Array(9).fill(false), true]);
    assert.match(
      messages[0]!,
      /Model call refused: field "the call" must be an object, got the string/,
    );
    assert.match(messages[1]!, /must be an object, got null/);
    assert.match(messages[2]!, /is not an agent of execution "someone-else"/);
    assert.match(messages[3]!, /Model call from step 99 refused: the execution is at step 3/);
    assert.match(messages[4]!, /field "tokens" must be a finite number >= 0/);
    assert.match(messages[5]!, /Cannot parse model id "evil:model": unknown provider "evil"/);
    assert.match(messages[6]!, /images and files are not accepted/);
    assert.match(messages[7]!, /"request.maxOutputTokens" must be an integer from 1/);
    assert.match(
      messages[8]!,
      /The model call request is \d+ bytes, over the limit of 1048576 bytes/,
    );
    assert.equal(outcomes[9]!.result, "Echo: call 9");
    assert.equal(server.requests.length, 1, "only the well-formed call reached the provider");
    const events = await orchestrator.eventStore.readRange(report.executionId);
    assert.equal(events.filter((e) => e.type === "MODEL_CALL_STARTED").length, 1);
    for (const event of events) {
      if (event.totals) assert.ok(Number.isFinite(event.totals.tokens), event.type);
    }
  } finally {
    await orchestrator.close();
  }
});
