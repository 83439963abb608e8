// Model calls under the budgets, through the orchestrator, against the local
// model server over real HTTP: an answer the provider gave counts even when
// the call then fails in OAO (invalid output, a result over maxValueBytes);
// a call without maxOutputTokens is sent with what the budgets have left as
// its bound; and llmAgent runs no tool for a call the model made invalid.
import assert from "node:assert/strict";
import { Orchestrator, type OrchestratorOptions } from "../../src/orchestrator/orchestrator.ts";
import { defineTool } from "../../src/orchestrator/tool.ts";
import type { StoredEvent } from "../../src/events/event_store.ts";
import type { ModelTask } from "../fixtures/model_agent.ts";
import { startLocalModelServer } from "../_support/model_server.ts";

const byType = (events: StoredEvent[], type: string) => events.filter((e) => e.type === type);
const maxTokensOf = (body: unknown) => (body as { max_tokens?: number }).max_tokens;

function setup(options: OrchestratorOptions = {}) {
  const server = startLocalModelServer();
  const runs: unknown[] = [];
  const orchestrator = new Orchestrator({
    retry: { attempts: 1, initialDelayMs: 5, maxDelayMs: 10 },
    agents: [
      { name: "model-caller", module: "tests/fixtures/model_agent.ts" },
      { name: "strict-tools", module: "tests/model/_strict_tool_agent.ts" },
    ],
    tools: [
      defineTool({
        name: "weather",
        run: (args: unknown) => (runs.push(args), { celsius: 21 }),
      }) as never,
    ],
    ...options,
    models: {
      providers: { openai: { apiKey: "sk-local", baseURL: server.baseURL }, env: () => undefined },
      backoff: { minMs: 1, maxMs: 5 },
    },
  });
  return {
    server,
    orchestrator,
    runs,
    async [Symbol.asyncDispose]() {
      await orchestrator.close();
      await server.close();
    },
  };
}

Deno.test("answers that fail as invalid output count their tokens and cost: the budget stops the loop", async () => {
  await using env = setup({ policy: { maxTokens: 100 } });
  // Plain text where an object was asked for: every answer is billed, none is valid.
  const call = {
    model: "openai:gpt-4o-mini",
    prompt: "Hi",
    output: { schema: { type: "object" } },
  };
  const report = await env.orchestrator.run(
    "model-caller",
    {
      calls: Array.from({ length: 30 }, () => call),
      catchErrors: true,
    } satisfies ModelTask,
  );
  assert.equal(report.status, "FAILED", JSON.stringify(report));
  assert.equal(report.error?.code, "POLICY_VIOLATION");
  // The call that spends the budget is the last one made (its input is not bounded ahead).
  assert.ok(report.tokens >= 100, `tokens ${report.tokens}`);
  assert.ok(env.server.requests.length < 30, `${env.server.requests.length} requests`);
  const events = await env.orchestrator.eventStore.readRange(report.executionId);
  const failed = byType(events, "MODEL_CALL_FAILED");
  assert.equal(failed.length, env.server.requests.length);
  let tokens = 0;
  for (const event of failed) {
    assert.equal(event.data!.reason, "invalid_output");
    const usage = event.data!.usage as { totalTokens: number };
    assert.ok(usage.totalTokens > 0, JSON.stringify(event.data));
    assert.equal(typeof event.data!.costUsd, "number");
    tokens += usage.totalTokens;
  }
  assert.equal(report.tokens, tokens);
  assert.ok((report.costUsd ?? 0) > 0, "gpt-4o-mini is priced");
});

Deno.test("a result over maxValueBytes fails the call but its usage counts", async () => {
  await using env = setup({ limits: { maxValueBytes: 4_096 } });
  env.server.script({ text: "x".repeat(8_000), usage: { inputTokens: 30, outputTokens: 2_000 } });
  const report = await env.orchestrator.run(
    "model-caller",
    {
      calls: [{ model: "openai:gpt-4o-mini", prompt: "Write a lot" }],
      catchErrors: true,
    } satisfies ModelTask,
  );
  assert.equal(report.status, "SUCCESS", JSON.stringify(report.error));
  assert.equal(report.tokens, 2_030);
  const cost = (30 * 0.15 + 2_000 * 0.6) / 1e6;
  assert.equal(report.costUsd, cost);
  const events = await env.orchestrator.eventStore.readRange(report.executionId);
  const [failed] = byType(events, "MODEL_CALL_FAILED");
  assert.equal(failed!.data!.costUsd, cost);
  assert.equal((failed!.data!.usage as { totalTokens: number }).totalTokens, 2_030);
});

Deno.test("a call without maxOutputTokens is sent with what the token and cost budgets have left", async () => {
  await using env = setup({ policy: { maxTokens: 1_000, maxCostUsd: 0.0004 } });
  env.server.script(
    { text: "a", usage: { inputTokens: 300, outputTokens: 100 } },
    { text: "b", usage: { inputTokens: 10, outputTokens: 10 } },
  );
  const report = await env.orchestrator.run(
    "model-caller",
    {
      calls: [
        { model: "openai:gpt-4o-mini", prompt: "first" },
        { model: "openai:gpt-4o-mini", prompt: "second" },
        { model: "openai:gpt-4o-mini", prompt: "third", maxOutputTokens: 50 },
      ],
    } satisfies ModelTask,
  );
  assert.equal(report.status, "SUCCESS", JSON.stringify(report.error));
  const [first, second, third] = env.server.requests.map((r) => maxTokensOf(r.body));
  // 0.0004 USD at 0.60 per million output tokens is 666 tokens, fewer than the 1000 left.
  assert.equal(first, 666);
  // Then 600 tokens and 0.0004 - 0.000105 = 0.000295 USD (491 tokens) are left.
  assert.equal(second, 491);
  assert.equal(third, 50, "an explicit bound is sent as is");
  const events = await env.orchestrator.eventStore.readRange(report.executionId);
  assert.deepEqual(byType(events, "MODEL_CALL_STARTED").map((e) => e.data!.maxOutputTokens), [
    666,
    491,
    50,
  ]);
});

Deno.test("a call without maxOutputTokens under a large budget is sent without a bound (the provider's default)", async () => {
  await using env = setup({ policy: { maxTokens: 100_000 } });
  env.server.script({ text: "a", usage: { inputTokens: 10, outputTokens: 10 } });
  const report = await env.orchestrator.run(
    "model-caller",
    { calls: [{ model: "openai:gpt-4o-mini", prompt: "first" }] } satisfies ModelTask,
  );
  assert.equal(report.status, "SUCCESS", JSON.stringify(report.error));
  // 100,000 tokens left would be a bound over gpt-4o-mini's own 16,384, which OpenAI refuses.
  assert.deepEqual(env.server.requests.map((r) => maxTokensOf(r.body)), [undefined]);
});

Deno.test("an unpriced model under a maxCostUsd limit is refused unsent, naming the model and the fix", async () => {
  await using env = setup({ policy: { maxCostUsd: 0.001 } });
  const report = await env.orchestrator.run(
    "model-caller",
    { calls: [{ model: "openai:my-finetune", prompt: "hi" }] } satisfies ModelTask,
  );
  assert.equal(report.status, "FAILED");
  assert.match(
    report.error?.message ?? "",
    /Cannot call model "openai:my-finetune": it has no price, so maxCostUsd \(\$0\.001\) cannot bound its cost; give it one in the config file's "models.prices"/,
  );
  assert.equal(env.server.requests.length, 0, "nothing was sent");
  assert.equal(report.error?.code, "MODEL_CALL_FAILED", "the code of the error, not STEP_FAILED");
  assert.match(report.error?.message ?? "", /^Step 3 \(EXECUTE\) failed after 1 attempt: /);
  assert.match(
    report.error?.message ?? "",
    /under one of the keys looked up: "openai:my-finetune", "my-finetune"$/,
  );
});

Deno.test("an unpriced refusal is not retried as a step: a missing price stays missing", async () => {
  await using env = setup({
    policy: { maxCostUsd: 0.001 },
    retry: { attempts: 3, initialDelayMs: 1, maxDelayMs: 2 },
  });
  const report = await env.orchestrator.run(
    "model-caller",
    { calls: [{ model: "openai:my-finetune", prompt: "hi" }] } satisfies ModelTask,
  );
  assert.equal(report.status, "FAILED");
  assert.match(report.error?.message ?? "", /^Step 3 \(EXECUTE\) failed after 1 attempt: /);
  const events = await env.orchestrator.eventStore.readRange(report.executionId);
  assert.equal(byType(events, "STEP_FAILED").length, 1);
  assert.equal(byType(events, "RETRY_ATTEMPTED").length, 0);
});

for (const key of ["openai-compatible:local:my-model", "local:my-model", "my-model"]) {
  Deno.test(`a price keyed "${key}" prices the OpenAI-compatible model "openai-compatible:local:my-model"`, async () => {
    const server = startLocalModelServer();
    const orchestrator = new Orchestrator({
      policy: { maxCostUsd: 1 },
      retry: { attempts: 1, initialDelayMs: 5, maxDelayMs: 10 },
      agents: [{ name: "model-caller", module: "tests/fixtures/model_agent.ts" }],
      models: {
        providers: { compatible: { local: { baseURL: server.baseURL } }, env: () => undefined },
        prices: { [key]: { inputPerMTok: 1, outputPerMTok: 2 } },
      },
    });
    try {
      server.script({ text: "hello", usage: { inputTokens: 10_000, outputTokens: 50 } });
      const report = await orchestrator.run(
        "model-caller",
        {
          calls: [{ model: "openai-compatible:local:my-model", prompt: "hi", maxOutputTokens: 50 }],
        } satisfies ModelTask,
      );
      assert.equal(report.status, "SUCCESS", JSON.stringify(report.error));
      assert.equal(report.costUsd, 0.0101, "10,000 tokens in at $1/M, 50 out at $2/M");
      assert.equal(server.requests.length, 1);
    } finally {
      await orchestrator.close();
      await server.close();
    }
  });
}

Deno.test("a call without maxOutputTokens is refused unsent once the token budget is spent", async () => {
  await using env = setup({ policy: { maxTokens: 400 } });
  env.server.script({ text: "a", usage: { inputTokens: 300, outputTokens: 100 } });
  const report = await env.orchestrator.run(
    "model-caller",
    {
      calls: [
        { model: "openai:gpt-4o-mini", prompt: "first" },
        { model: "openai:gpt-4o-mini", prompt: "second" },
      ],
    } satisfies ModelTask,
  );
  assert.equal(report.status, "FAILED");
  assert.equal(report.error?.code, "POLICY_VIOLATION");
  assert.deepEqual(env.server.requests.map((r) => maxTokensOf(r.body)), [400]);
});

Deno.test("llmAgent runs no tool for invalid tool calls and sends their errors back to the model", async () => {
  await using env = setup();
  env.server.script(
    {
      toolCalls: [
        { id: "c1", name: "weather", input: null, arguments: "{not json" },
        { id: "c2", name: "weather", input: { town: 3 } },
        { id: "c3", name: "rm_rf", input: {} },
      ],
    },
    { text: "Sorry, I could not check." },
  );
  const report = await env.orchestrator.run("strict-tools", "Weather in Oslo?");
  assert.equal(report.status, "SUCCESS", JSON.stringify(report.error));
  assert.equal(report.output, "Sorry, I could not check.");
  assert.deepEqual(env.runs, [], "no tool ran");
  const messages = (env.server.requests[1]!.body as {
    messages: { role: string; content?: unknown; tool_call_id?: string }[];
  }).messages;
  const results = messages.filter((m) => m.role === "tool");
  assert.deepEqual(results.map((m) => m.tool_call_id), ["c1", "c2", "c3"]);
  const [notJson, badSchema, unknown] = results.map((m) => String(m.content));
  assert.match(notJson!, /Invalid call of tool \W+weather\W+, not run: .*JSON/);
  assert.match(badSchema!, /Invalid call of tool \W+weather\W+, not run: .*city/);
  assert.match(unknown!, /No tool \W+rm_rf\W+ is available/);
});
