// llmAgent: the model → tools → model loop as the lifecycle, against the
// local model server over real HTTP. The tools the model asks for go through
// the tool gate (policy, keys, ledger): an idempotent and a non-idempotent
// one, each side effect once even when the steps are passivated and run
// again; tool errors go back to the model; the loop ends when the model
// answers without tools, or after maxSteps model calls.
import assert from "node:assert/strict";
import { Orchestrator, type OrchestratorOptions } from "../../src/orchestrator/orchestrator.ts";
import { defineTool } from "../../src/orchestrator/tool.ts";
import { llmAgent } from "../../src/orchestrator/llm_agent.ts";
import { exampleTools } from "../../actors/example_tools.ts";
import { startLocalModelServer } from "../_support/model_server.ts";

function setup(options: OrchestratorOptions = {}) {
  const server = startLocalModelServer();
  const notes: unknown[] = [];
  const lookups: unknown[] = [];
  const orchestrator = new Orchestrator({
    retry: { attempts: 2, initialDelayMs: 5, maxDelayMs: 10 },
    agents: [
      { name: "llm-tester", module: "tests/fixtures/llm_test_agent.ts" },
      { name: "llm-answerer", module: "tests/fixtures/llm_answer_agent.ts" },
      { name: "assistant", module: "actors/assistant_agent.ts" },
    ],
    tools: [
      ...exampleTools,
      defineTool({
        name: "lookup",
        idempotent: true,
        run: (
          args: { word: string },
        ) => (lookups.push(args), { word: args.word, meaning: "a unit" }),
      }) as never,
      defineTool({
        name: "note",
        async run(args: { text: string }) {
          await new Promise((r) => setTimeout(r, 50));
          notes.push(args);
          return { saved: notes.length };
        },
      }) as never,
      defineTool({
        name: "fail_tool",
        run: () => {
          throw new Error("the disk is full");
        },
      }) as never,
    ],
    ...options,
    models: {
      providers: { openai: { apiKey: "sk-local", baseURL: server.baseURL }, env: () => undefined },
    },
  });
  return {
    server,
    orchestrator,
    notes,
    lookups,
    async [Symbol.asyncDispose]() {
      await orchestrator.close();
      await server.close();
    },
  };
}

type WireMessage = {
  role: string;
  content?: unknown;
  "tool_calls"?: unknown[];
  "tool_call_id"?: string;
};
const messagesOf = (body: unknown) => (body as { messages: WireMessage[] }).messages;

for (const passivateAfterMs of [Infinity, 0]) {
  const how = passivateAfterMs === 0 ? ", its steps passivated and run again," : "";
  Deno.test(`llmAgent runs model → tools → model${how} with each tool's side effect once`, async () => {
    await using env = setup({ passivateAfterMs });
    env.server.script(
      {
        text: "Let me check.",
        toolCalls: [
          { id: "call_lookup", name: "lookup", input: { word: "actor" } },
          { id: "call_note", name: "note", input: { text: "actors are units" } },
        ],
        usage: { inputTokens: 100, outputTokens: 20 },
      },
      { text: "An actor is a unit of computation.", usage: { inputTokens: 200, outputTokens: 10 } },
    );
    const report = await env.orchestrator.run("llm-tester", "What is an actor?");
    assert.equal(report.status, "SUCCESS", JSON.stringify(report.error));
    assert.equal(report.output, "An actor is a unit of computation.");
    assert.deepEqual(report.stateHistory.map((s) => s.state), [
      "INIT",
      "PLAN",
      "EXECUTE",
      "REVIEW",
      "PLAN",
      "EXECUTE",
      "REVIEW",
      "TERMINATE",
    ]);
    assert.equal(env.server.requests.length, 2, "one model call per answer");
    assert.deepEqual(env.notes, [{ text: "actors are units" }], "the non-idempotent tool ran once");
    assert.deepEqual(env.lookups, [{ word: "actor" }]);
    assert.equal(report.toolCalls, 2);
    assert.equal(report.tokens, 330);
    // The second call carries the conversation: the question, the calls and their results.
    const second = messagesOf(env.server.requests[1]!.body);
    assert.equal(second[0]!.role, "system");
    assert.equal(second[1]!.content, "What is an actor?");
    assert.equal(second[2]!.role, "assistant");
    assert.equal(second[2]!["tool_calls"]?.length, 2);
    const results = second.filter((m) => m.role === "tool");
    assert.deepEqual(results.map((m) => m["tool_call_id"]), ["call_lookup", "call_note"]);
    assert.deepEqual(JSON.parse(String(results[0]!.content)), { word: "actor", meaning: "a unit" });
    // The tools the model saw.
    const offered = (env.server.requests[0]!.body as { tools: { function: { name: string } }[] })
      .tools.map((t) => t.function.name);
    assert.deepEqual(offered, ["lookup", "note", "broken"]);
    const events = await env.orchestrator.eventStore.readRange(report.executionId);
    const types = events.map((e) => e.type);
    assert.equal(types.filter((t) => t === "MODEL_CALL_COMPLETED").length, 2);
    assert.equal(types.filter((t) => t === "TOOL_CALL_SUCCESS").length, 2);
    if (passivateAfterMs === 0) assert.ok(types.includes("EXECUTION_ACTIVATED"));
  });
}

Deno.test("llmAgent sends a tool's error back to the model, which can answer anyway", async () => {
  await using env = setup();
  env.server.script(
    {
      toolCalls: [{ id: "call_b", name: "broken", input: {} }, {
        id: "call_x",
        name: "nope",
        input: {},
      }],
    },
    { text: "I could not save it." },
  );
  const report = await env.orchestrator.run("llm-tester", { prompt: "Save this" });
  assert.equal(report.status, "SUCCESS", JSON.stringify(report.error));
  assert.equal(report.output, "I could not save it.");
  const results = messagesOf(env.server.requests[1]!.body).filter((m) => m.role === "tool");
  assert.match(String(results[0]!.content), /the disk is full/);
  assert.match(
    JSON.parse(String(results[1]!.content)).error,
    /^No tool "nope" is available \(tools: lookup, note, broken\)$/,
  );
  const events = await env.orchestrator.eventStore.readRange(report.executionId);
  assert.ok(events.some((e) => e.type === "TOOL_CALL_FAILED" && e.data?.tool === "fail_tool"));
});

Deno.test("llmAgent fails after maxSteps model calls when the model keeps asking for tools, saying so", async () => {
  await using env = setup();
  const again = { text: "More.", toolCalls: [{ name: "lookup", input: { word: "again" } }] };
  env.server.script(again, again, again, { text: "never asked" });
  const report = await env.orchestrator.run("llm-tester", "Loop");
  assert.equal(report.status, "FAILED");
  assert.equal(report.error?.code, "LLM_MAX_STEPS", "the code the README documents");
  assert.match(
    report.error?.message ?? "",
    /^Step \d+ \(EXECUTE\) failed after 1 attempt: The model still asked for tools after maxSteps \(3\) model calls: raise maxSteps, or set onMaxSteps: "answer"/,
  );
  assert.equal(env.server.requests.length, 3);
  // The third answer's tools do not run: no model call is left to read their results.
  assert.equal(env.lookups.length, 2, "a call made again on purpose runs again (a new occurrence)");
  const events = await env.orchestrator.eventStore.readRange(report.executionId);
  assert.equal(events.filter((e) => e.type === "STEP_FAILED").length, 1, "not retried as a step");
});

Deno.test('llmAgent with onMaxSteps "answer" ends with the last answer after maxSteps model calls', async () => {
  await using env = setup();
  const again = { text: "More.", toolCalls: [{ name: "lookup", input: { word: "again" } }] };
  env.server.script(again, again, { text: "never asked" });
  const report = await env.orchestrator.run("llm-answerer", "Loop");
  assert.equal(report.status, "SUCCESS", JSON.stringify(report.error));
  assert.equal(env.server.requests.length, 2);
  assert.equal(report.output, "More.");
});

Deno.test("a tool call the policy refuses ends an llmAgent's execution with POLICY_VIOLATION", async () => {
  await using env = setup({ policy: { maxToolCalls: 1 } });
  env.server.script({
    toolCalls: [
      { name: "lookup", input: { word: "a" } },
      { name: "note", input: { text: "b" } },
    ],
  });
  const report = await env.orchestrator.run("llm-tester", "Two tools");
  assert.equal(report.status, "FAILED");
  assert.equal(report.error?.code, "POLICY_VIOLATION");
  assert.deepEqual(env.notes, [], "the refused call never ran");
  assert.equal(env.server.requests.length, 1);
});

Deno.test("the bundled assistant example searches, reads and answers with the example tools", async () => {
  await using env = setup();
  env.server.script(
    { toolCalls: [{ name: "search", input: { query: "actor model" } }] },
    { toolCalls: [{ name: "fetch", input: { url: "https://example.org/actor-model/1" } }] },
    { text: "Actors isolate failures (https://example.org/actor-model/1)." },
  );
  const report = await env.orchestrator.run("assistant", "What do actors do?");
  assert.equal(report.status, "SUCCESS", JSON.stringify(report.error));
  assert.equal(report.output, "Actors isolate failures (https://example.org/actor-model/1).");
  assert.equal(report.toolCalls, 2);
  const last = messagesOf(env.server.requests[2]!.body).filter((m) => m.role === "tool");
  assert.match(String(last[1]!.content), /actors isolate failures/);
});

Deno.test("llmAgent refuses malformed options naming the field", () => {
  assert.throws(() => llmAgent({ model: 42 as never }), /Invalid llmAgent model 42/);
  assert.throws(() => llmAgent({ model: "openai:x", maxSteps: 0 }), /Invalid llmAgent maxSteps 0/);
  assert.throws(
    () => llmAgent({ model: "openai:x", onMaxSteps: "retry" as never }),
    /Invalid llmAgent onMaxSteps "retry": expected "fail" or "answer"/,
  );
  assert.throws(
    () => llmAgent({ model: "openai:x", tools: [{ name: "a b" }] }),
    /Invalid llmAgent tools\[0\].name "a b"/,
  );
  assert.throws(
    () => llmAgent({ model: "openai:x", tools: [{ name: "a" }, { name: "a" }] }),
    /tools\[1\].name "a": expected a unique name/,
  );
});
