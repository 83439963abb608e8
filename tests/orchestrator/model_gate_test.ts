// Model calls as governed, journaled steps (`ctx.generateText`), against the
// local model server over real HTTP through the real AI SDK providers: each
// call is written ahead and recorded with its usage and cost, counted
// against the budgets (and refused before it is made when it could exceed
// them), retried on 429 as its log shows, answered from the log when the
// step runs again, and traced as an OpenTelemetry GenAI span — and the
// provider's key appears in no event.
import assert from "node:assert/strict";
import { Orchestrator, type OrchestratorOptions } from "../../src/orchestrator/orchestrator.ts";
import type { StoredEvent } from "../../src/events/event_store.ts";
import type { SpanData } from "../../src/tracing/span_data.ts";
import { Tracer } from "../../src/tracing/tracer.ts";
import { redactText } from "../../src/logging/redaction.ts";
import type { ModelState, ModelTask } from "../fixtures/model_agent.ts";
import { type LocalModelServer, startLocalModelServer } from "../_support/model_server.ts";

const KEY = "sk-governed-3c9e1f7a2b";
const AGENT = new URL("../fixtures/model_agent.ts", import.meta.url);

function setup(options: OrchestratorOptions = {}, keys: { anthropic?: string } = {}) {
  const local: LocalModelServer = startLocalModelServer({ apiKey: KEY });
  const orchestrator = new Orchestrator({
    retry: { attempts: 2, initialDelayMs: 5, maxDelayMs: 10 },
    agents: [{ name: "model-caller", module: AGENT, version: "1.0.0" }],
    ...options,
    models: {
      providers: {
        openai: { apiKey: KEY, baseURL: local.baseURL },
        anthropic: { apiKey: keys.anthropic ?? KEY, baseURL: local.baseURL },
        env: () => undefined,
      },
      backoff: { minMs: 1, maxMs: 5 },
      ...options.models,
    },
  });
  return {
    server: local,
    orchestrator,
    async [Symbol.asyncDispose]() {
      await orchestrator.close();
      await local.close();
    },
  };
}

const byType = (events: StoredEvent[], type: string) => events.filter((e) => e.type === type);

Deno.test("a model call is journaled as MODEL_CALL_STARTED and MODEL_CALL_COMPLETED with usage and cost, and counts its tokens", async () => {
  await using env = setup();
  env.server.script({
    text: "Paris",
    usage: { inputTokens: 1_000, outputTokens: 200, cachedInputTokens: 400 },
  });
  const task: ModelTask = {
    calls: [{
      model: "openai:gpt-4o-mini",
      system: "One word.",
      prompt: "Capital of France?",
      maxOutputTokens: 300,
    }],
    tokens: 7,
  };
  const report = await env.orchestrator.run("model-caller", task);
  assert.equal(report.status, "SUCCESS", JSON.stringify(report.error));
  const result = (report.output as ModelState).results[0] as { text: string; costUsd: number };
  assert.equal(result.text, "Paris");
  // gpt-4o-mini: 600 uncached input at 0.15, 400 cached at 0.075, 200 output at 0.6 per million.
  const cost = (600 * 0.15 + 400 * 0.075 + 200 * 0.6) / 1e6;
  assert.equal(result.costUsd, cost);
  assert.equal(report.tokens, 7 + 1_200);
  assert.equal(report.costUsd, cost);
  assert.equal(env.server.requests.length, 1);

  const events = await env.orchestrator.eventStore.readRange(report.executionId);
  const [started] = byType(events, "MODEL_CALL_STARTED");
  const [completed] = byType(events, "MODEL_CALL_COMPLETED");
  assert.ok(started && completed);
  assert.equal(started.key, `intent:${started.data!.key}`);
  assert.equal(completed.key, `outcome:${started.data!.key}`);
  assert.equal(started.data!.model, "openai:gpt-4o-mini");
  assert.equal(started.data!.maxOutputTokens, 300);
  assert.equal(started.data!.agent, "model-caller");
  assert.deepEqual(completed.data!.usage, {
    inputTokens: 1_000,
    outputTokens: 200,
    cachedInputTokens: 400,
    totalTokens: 1_200,
  });
  assert.equal(completed.data!.costUsd, cost);
  assert.equal(completed.data!.finishReason, "stop");
  assert.equal(typeof completed.data!.latencyMs, "number");
  assert.deepEqual(completed.totals, { steps: 3, tokens: 1_207, toolCalls: 0, costUsd: cost });
  const view = await env.orchestrator.status(report.executionId);
  assert.equal(view.totals.costUsd, cost);
  assert.deepEqual(view.modelCalls.map((c) => [c.model, c.outcome, c.costUsd]), [
    ["openai:gpt-4o-mini", "success", cost],
  ]);
});

Deno.test("a 429 with Retry-After is recorded as RETRY_ATTEMPTED (rate_limited), then the call succeeds", async () => {
  await using env = setup();
  env.server.script({ status: 429, retryAfter: 1, error: "Slow down" }, { text: "done" });
  const report = await env.orchestrator.run(
    "model-caller",
    {
      calls: [{ model: "openai:gpt-4o-mini", prompt: "Hi" }],
    } satisfies ModelTask,
  );
  assert.equal(report.status, "SUCCESS", JSON.stringify(report.error));
  assert.equal(env.server.requests.length, 2);
  const events = await env.orchestrator.eventStore.readRange(report.executionId);
  const retries = byType(events, "RETRY_ATTEMPTED");
  assert.equal(retries.length, 1);
  assert.equal(retries[0]!.data!.reason, "rate_limited");
  assert.equal(retries[0]!.data!.delayMs, 1_000);
  assert.equal(retries[0]!.data!.status, 429);
  assert.equal(retries[0]!.data!.model, "openai:gpt-4o-mini");
  const types = events.map((e) => e.type);
  assert.ok(
    types.indexOf("MODEL_CALL_STARTED") < types.indexOf("RETRY_ATTEMPTED") &&
      types.indexOf("RETRY_ATTEMPTED") < types.indexOf("MODEL_CALL_COMPLETED"),
    types.join(" "),
  );
  assert.equal(byType(events, "MODEL_CALL_COMPLETED")[0]!.data!.attempts, 2);
});

Deno.test("a call that could exceed maxTokens by its maxOutputTokens is refused before it is made", async () => {
  await using env = setup({ policy: { maxTokens: 1_000 } });
  const report = await env.orchestrator.run(
    "model-caller",
    {
      calls: [{ model: "openai:gpt-4o-mini", prompt: "Write a lot", maxOutputTokens: 990 }],
      tokens: 20,
    } satisfies ModelTask,
  );
  assert.equal(report.status, "FAILED");
  assert.equal(report.error?.code, "POLICY_VIOLATION");
  assert.equal(env.server.requests.length, 0, "the server received nothing");
  const events = await env.orchestrator.eventStore.readRange(report.executionId);
  assert.deepEqual(byType(events, "POLICY_VIOLATION")[0]!.data, {
    limit: "maxTokens",
    value: 1_010,
    max: 1_000,
  });
  assert.equal(byType(events, "MODEL_CALL_STARTED").length, 0);
});

Deno.test("a call that could exceed maxCostUsd at its model's output price is refused before it is made", async () => {
  await using env = setup({ policy: { maxCostUsd: 0.001 } });
  const report = await env.orchestrator.run(
    "model-caller",
    {
      // gpt-4o writes at 10 USD per million tokens: 200 tokens could cost 0.002.
      calls: [{ model: "openai:gpt-4o", prompt: "Hi", maxOutputTokens: 200 }],
    } satisfies ModelTask,
  );
  assert.equal(report.status, "FAILED");
  assert.equal(report.error?.code, "POLICY_VIOLATION");
  assert.match(report.error!.message, /maxCostUsd/);
  assert.equal(env.server.requests.length, 0);
  const events = await env.orchestrator.eventStore.readRange(report.executionId);
  assert.deepEqual(byType(events, "POLICY_VIOLATION")[0]!.data, {
    limit: "maxCostUsd",
    value: 0.002,
    max: 0.001,
  });
});

Deno.test("the usage of completed calls counts: the next call that could exceed the budget is refused unsent", async () => {
  await using env = setup({ policy: { maxTokens: 1_500, maxCostUsd: 1 } });
  env.server.script({ text: "a", usage: { inputTokens: 1_000, outputTokens: 200 } });
  const report = await env.orchestrator.run(
    "model-caller",
    {
      calls: [
        { model: "openai:gpt-4o-mini", prompt: "first" },
        { model: "openai:gpt-4o-mini", prompt: "second", maxOutputTokens: 400 },
      ],
    } satisfies ModelTask,
  );
  assert.equal(report.status, "FAILED");
  assert.equal(env.server.requests.length, 1);
  assert.equal(report.tokens, 1_200);
  const events = await env.orchestrator.eventStore.readRange(report.executionId);
  assert.deepEqual(byType(events, "POLICY_VIOLATION")[0]!.data, {
    limit: "maxTokens",
    value: 1_600,
    max: 1_500,
  });
});

Deno.test("a call passivated while the provider answers is answered from the ledger when its step runs again", async () => {
  await using env = setup({ passivateAfterMs: 0 });
  env.server.script({
    text: "slow answer",
    delayMs: 300,
    usage: { inputTokens: 10, outputTokens: 2 },
  });
  const report = await env.orchestrator.run(
    "model-caller",
    {
      calls: [{ model: "anthropic:claude-haiku-4-5", prompt: "Take your time" }],
    } satisfies ModelTask,
  );
  assert.equal(report.status, "SUCCESS", JSON.stringify(report.error));
  assert.equal(env.server.requests.length, 1, "sent to the provider once");
  assert.equal(report.tokens, 12, "counted once");
  const events = await env.orchestrator.eventStore.readRange(report.executionId);
  assert.ok(events.some((e) => e.type === "EXECUTION_PASSIVATED"));
  assert.ok(events.some((e) => e.type === "EXECUTION_ACTIVATED"));
  assert.equal(byType(events, "MODEL_CALL_STARTED").length, 1);
  assert.equal(byType(events, "MODEL_CALL_COMPLETED").length, 1);
  const output = report.output as ModelState;
  assert.equal((output.results[0] as { text: string }).text, "slow answer");
});

Deno.test("a call that fails for good is recorded as MODEL_CALL_FAILED and reaches the agent as MODEL_CALL_FAILED", async () => {
  await using env = setup({ models: { maxAttempts: 2 } });
  env.server.script({ status: 500 }, { status: 503 });
  const report = await env.orchestrator.run(
    "model-caller",
    {
      calls: [{ model: "openai:gpt-4o-mini", prompt: "Hi" }],
      catchErrors: true,
    } satisfies ModelTask,
  );
  assert.equal(report.status, "SUCCESS", JSON.stringify(report.error));
  const { errors } = report.output as ModelState;
  assert.equal(errors.length, 1);
  assert.equal(errors[0]!.code, "MODEL_CALL_FAILED");
  assert.equal(errors[0]!.name, "ModelCallError");
  assert.match(
    errors[0]!.message,
    /Cannot call model "openai:gpt-4o-mini" \(status 503\) after 2 attempts/,
  );
  const events = await env.orchestrator.eventStore.readRange(report.executionId);
  const [failed] = byType(events, "MODEL_CALL_FAILED");
  assert.equal(failed!.data!.reason, "provider_error");
  assert.equal(failed!.data!.status, 503);
  assert.equal(failed!.key, `outcome:${failed!.data!.key}`);
  assert.equal(report.costUsd, undefined, "no call completed: no cost");
});

Deno.test("a step that fails with a model call whose retries are spent is not retried (no 4 x 3 calls to a provider that is down); one that timed out is", async () => {
  await using env = setup({ models: { maxAttempts: 2 } });
  env.server.script({ status: 500 }, { status: 503 }, { status: 502 }, { status: 500 });
  const task = { calls: [{ model: "openai:gpt-4o-mini", prompt: "Hi" }] } satisfies ModelTask;
  const down = await env.orchestrator.run("model-caller", task);
  assert.equal(down.status, "FAILED");
  assert.match(down.error!.message, /after 2 attempts/);
  assert.equal(env.server.requests.length, 2, "the model layer's 2 attempts, once");
  const events = await env.orchestrator.eventStore.readRange(down.executionId);
  assert.equal(byType(events, "STEP_FAILED").length, 1);
  assert.equal(
    byType(events, "RETRY_ATTEMPTED").filter((e) => e.data!.reason === "step failed").length,
    0,
  );
  // A timeout is made once by the model layer: the step's retry makes it again.
  await using slow = setup({ models: { maxAttempts: 2, timeoutMs: 200 } });
  slow.server.script({ text: "late", delayMs: 2_000 }, { text: "in time" });
  const timedOut = await slow.orchestrator.run("model-caller", task);
  assert.equal(timedOut.status, "SUCCESS", JSON.stringify(timedOut.error));
  assert.equal(slow.server.requests.length, 2);
  const retried = await slow.orchestrator.eventStore.readRange(timedOut.executionId);
  assert.equal(byType(retried, "MODEL_CALL_FAILED")[0]!.data!.reason, "timeout");
  assert.equal(byType(retried, "STEP_FAILED").length, 1);
});

Deno.test("the provider's key appears in no event, not even when the provider quotes a wrong one", async () => {
  const wrong = "sk-wrong-8d1f0a77c2e4";
  await using env = setup({}, { anthropic: wrong });
  const report = await env.orchestrator.run(
    "model-caller",
    {
      calls: [
        { model: "openai:gpt-4o-mini", prompt: "Hi" },
        { model: "anthropic:claude-haiku-4-5", prompt: "Hi" },
      ],
      catchErrors: true,
    } satisfies ModelTask,
  );
  assert.equal(report.status, "SUCCESS", JSON.stringify(report.error));
  const { results, errors } = report.output as ModelState;
  assert.equal(results.length, 1);
  assert.equal(errors.length, 1);
  // The local server answers 401 quoting the key it got, as real providers do.
  assert.equal(env.server.requests.length, 2);
  const log = JSON.stringify(await env.orchestrator.eventStore.readRange(report.executionId));
  assert.ok(log.includes("MODEL_CALL_FAILED") && log.includes("401"), log.slice(0, 500));
  assert.ok(!log.includes(KEY), "the key is in no event");
  assert.ok(!log.includes(wrong), "the quoted key is in no event");
  assert.ok(!JSON.stringify(report).includes(wrong));
  // The keys were registered with the log redaction when the providers were made.
  assert.equal(redactText(`key ${KEY} and ${wrong}`), "key [REDACTED] and [REDACTED]");
});

Deno.test("the orchestrator's rate limits hold across its executions", async () => {
  await using env = setup({ models: { limits: { openai: { maxConcurrent: 1 } } } });
  let active = 0;
  let most = 0;
  env.server.script(
    ...[1, 2, 3].map(() => () => {
      most = Math.max(most, ++active);
      return new Promise<{ text: string }>((resolve) =>
        setTimeout(() => (active--, resolve({ text: "ok" })), 100)
      );
    }),
  );
  const task: ModelTask = { calls: [{ model: "openai:gpt-4o-mini", prompt: "Hi" }] };
  const reports = await Promise.all(
    [1, 2, 3].map(() => env.orchestrator.run("model-caller", task)),
  );
  assert.deepEqual(reports.map((r) => r.status), ["SUCCESS", "SUCCESS", "SUCCESS"]);
  assert.equal(env.server.requests.length, 3);
  assert.equal(most, 1, "one request in flight at a time");
});

Deno.test("each model call is a `chat <model>` span under its step, with the GenAI attributes and no prompt or answer", async () => {
  const spans: SpanData[] = [];
  const tracer = new Tracer({
    export: (batch) => void spans.push(...batch),
    flush: () => Promise.resolve(),
    shutdown: () => Promise.resolve(),
  });
  await using env = setup({ tracer });
  env.server.script({
    text: "The secret answer",
    model: "gpt-4o-mini-2024-07-18",
    usage: { inputTokens: 50, outputTokens: 7 },
  });
  const report = await env.orchestrator.run(
    "model-caller",
    {
      calls: [{
        model: "openai:gpt-4o-mini",
        prompt: "The private prompt",
        maxOutputTokens: 64,
        temperature: 0.5,
      }],
    } satisfies ModelTask,
  );
  assert.equal(report.status, "SUCCESS", JSON.stringify(report.error));
  const chat = spans.filter((s) => s.name === "chat gpt-4o-mini");
  assert.equal(chat.length, 1, spans.map((s) => s.name).join(", "));
  const span = chat[0]!;
  assert.equal(span.kind, "client");
  const step = spans.find((s) => s.spanId === span.parentSpanId);
  assert.equal(step?.name, "oao.step.3", "a child of the EXECUTE step's span");
  assert.equal(span.traceId, report.traceId);
  const a = span.attributes;
  assert.equal(a["gen_ai.operation.name"], "chat");
  assert.equal(a["gen_ai.provider.name"], "openai");
  assert.equal(a["gen_ai.request.model"], "gpt-4o-mini");
  assert.equal(a["gen_ai.response.model"], "gpt-4o-mini-2024-07-18");
  assert.equal(a["gen_ai.request.max_tokens"], 64);
  assert.equal(a["gen_ai.request.temperature"], 0.5);
  assert.equal(a["gen_ai.usage.input_tokens"], 50);
  assert.equal(a["gen_ai.usage.output_tokens"], 7);
  assert.deepEqual(a["gen_ai.response.finish_reasons"], ["stop"]);
  assert.equal(span.status?.code, "ok");
  const text = JSON.stringify(span);
  assert.ok(!text.includes("private prompt") && !text.includes("secret answer"), text);
});
