// /metrics counts model calls by model and agent — calls by outcome, tokens
// by type, cost in USD, latencies and model retries — from the events of
// real executions against the local model server.
import assert from "node:assert/strict";
import { OaoMetrics } from "../../src/api/metrics.ts";
import { costUsd } from "../../src/model/prices.ts";
import { Orchestrator } from "../../src/orchestrator/orchestrator.ts";
import type { ModelTask } from "../fixtures/model_agent.ts";
import { startLocalModelServer } from "../_support/model_server.ts";

/** The value of the sample `name{labels}` in Prometheus text, or undefined. */
function sample(text: string, name: string, labels: Record<string, string>): number | undefined {
  const wanted = Object.entries(labels).map(([k, v]) => `${k}="${v}"`);
  for (const line of text.split("\n")) {
    const match = /^(\w+)\{([^}]*)\} (\S+)$/.exec(line);
    if (!match || match[1] !== name) continue;
    const have = match[2]!.split(",");
    if (wanted.every((w) => have.includes(w))) return Number(match[3]);
  }
  return undefined;
}

Deno.test("/metrics counts model calls, their tokens and cost by model and agent", async () => {
  await using server = startLocalModelServer();
  const metrics = new OaoMetrics();
  const orchestrator = new Orchestrator({
    agents: [
      { name: "model-caller", module: "tests/fixtures/model_agent.ts" },
      { name: "other-caller", module: "tests/fixtures/model_agent.ts" },
    ],
    models: {
      providers: {
        openai: { apiKey: "sk-local", baseURL: server.baseURL },
        anthropic: { apiKey: "sk-local", baseURL: server.baseURL },
        env: () => undefined,
      },
      maxAttempts: 2,
      backoff: { minMs: 1, maxMs: 2 },
    },
  });
  orchestrator.events.subscribe((event) => metrics.observe(event));
  try {
    const usage = { inputTokens: 1_000, outputTokens: 100, cachedInputTokens: 200 };
    server.script(
      { usage },
      { status: 500 },
      { usage },
      { usage },
      { status: 400, error: "bad request" },
    );
    const mini = { model: "openai:gpt-4o-mini", prompt: "Hi" };
    const haiku = { model: "anthropic:claude-haiku-4-5", prompt: "Hi" };
    const first = await orchestrator.run(
      "model-caller",
      {
        calls: [mini, { ...mini, prompt: "again" }],
      } satisfies ModelTask,
    );
    const second = await orchestrator.run(
      "other-caller",
      {
        calls: [haiku, { ...mini, prompt: "refused" }],
        catchErrors: true,
      } satisfies ModelTask,
    );
    assert.equal(first.status, "SUCCESS", JSON.stringify(first.error));
    assert.equal(second.status, "SUCCESS", JSON.stringify(second.error));
    const text = await metrics.render();
    const miniLabels = { model: "openai:gpt-4o-mini", agent: "model-caller" };
    assert.equal(sample(text, "oao_model_calls_total", { ...miniLabels, outcome: "success" }), 2);
    assert.equal(sample(text, "oao_model_tokens_total", { ...miniLabels, type: "input" }), 2_000);
    assert.equal(sample(text, "oao_model_tokens_total", { ...miniLabels, type: "output" }), 200);
    assert.equal(
      sample(text, "oao_model_tokens_total", { ...miniLabels, type: "cached_input" }),
      400,
    );
    const miniCost = sample(text, "oao_model_cost_usd_total", miniLabels)!;
    assert.ok(
      Math.abs(miniCost - 2 * costUsd("openai:gpt-4o-mini", usage)) < 1e-12,
      String(miniCost),
    );
    const haikuCost = sample(text, "oao_model_cost_usd_total", {
      model: "anthropic:claude-haiku-4-5",
      agent: "other-caller",
    })!;
    assert.ok(Math.abs(haikuCost - costUsd("anthropic:claude-haiku-4-5", usage)) < 1e-12);
    assert.equal(
      sample(text, "oao_model_calls_total", {
        model: "openai:gpt-4o-mini",
        agent: "other-caller",
        outcome: "failed",
      }),
      1,
    );
    assert.equal(sample(text, "oao_retries_total", { kind: "model_retry" }), 1);
    assert.equal(
      sample(text, "oao_model_call_duration_seconds_count", { model: "openai:gpt-4o-mini" }),
      2,
    );
  } finally {
    await orchestrator.close();
  }
});

Deno.test('model ids label the model metrics up to 50 distinct ones; the rest count as "other"', async () => {
  const metrics = new OaoMetrics();
  for (let i = 0; i < 300; i++) {
    metrics.observe({
      type: "MODEL_CALL_FAILED",
      executionId: "exec-1",
      seq: i + 1,
      time: Date.now(),
      data: { model: `openai:m-${crypto.randomUUID()}`, agent: "looper" },
    } as never);
  }
  const text = await metrics.render();
  const models = new Set(
    [...text.matchAll(/^oao_model_calls_total\{model="([^"]*)"/gm)].map((m) => m[1]),
  );
  assert.equal(models.size, 51, "50 models and other");
  assert.equal(sample(text, "oao_model_calls_total", { model: "other", outcome: "failed" }), 250);
});

Deno.test("a failed model call's usage and cost, billed for an answer that then failed, count in the metrics", () => {
  const metrics = new OaoMetrics();
  metrics.observe({
    type: "MODEL_CALL_FAILED",
    executionId: "exec-1",
    seq: 1,
    time: Date.now(),
    data: {
      model: "openai:gpt-4o-mini",
      agent: "a",
      usage: { inputTokens: 30, outputTokens: 2_000, cachedInputTokens: 0 },
      costUsd: 0.0012,
      latencyMs: 40,
    },
  } as never);
  return metrics.render().then((text) => {
    const labels = { model: "openai:gpt-4o-mini", agent: "a" };
    assert.equal(sample(text, "oao_model_tokens_total", { ...labels, type: "output" }), 2_000);
    assert.equal(sample(text, "oao_model_cost_usd_total", labels), 0.0012);
    assert.equal(sample(text, "oao_model_calls_total", { ...labels, outcome: "failed" }), 1);
  });
});
