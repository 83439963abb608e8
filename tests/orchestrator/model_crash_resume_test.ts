// Model calls across a crash: a real `deno run` process running an execution
// against a real Redis is killed with SIGKILL; `resume` in a new process
// answers the calls that completed from the log (the local model server,
// in this process, counts the requests it gets) and makes again the call
// that was cut mid-answer, counting its usage and cost.
import { orchestratorChild } from "../_support/orchestrator_child.ts";
import assert from "node:assert/strict";
import { Redis } from "ioredis";
import { RedisEventStore } from "../../src/redis/redis_event_store.ts";
import type { StoredEvent } from "../../src/events/event_store.ts";
import type { ExecutionReport } from "../../src/orchestrator/execution_report.ts";
import { costUsd } from "../../src/model/prices.ts";
import type { ModelTask } from "../fixtures/model_agent.ts";
import { type RecordedModelRequest, startLocalModelServer } from "../_support/model_server.ts";
import { testRedisUrl } from "../_support/test_redis.ts";

const REDIS_URL = await testRedisUrl();
const FIXTURE = new URL("../fixtures/model_orchestrator_process.ts", import.meta.url).pathname;
const KEY = "sk-crash-6a0d93e1f4";
const USAGE = { inputTokens: 1_000, outputTokens: 100 };
const COST = costUsd("openai:gpt-4o-mini", USAGE);

const child = (mode: "run" | "resume", executionId: string, options: unknown) =>
  orchestratorChild(mode, executionId, options, FIXTURE);

function promptOf(request: RecordedModelRequest): string {
  const messages = (request.body as { messages: { role: string; content: string }[] }).messages;
  return messages.findLast((m) => m.role === "user")?.content ?? "";
}

/**
 * Runs `task` in a child, kills it with SIGKILL once `killWhen` holds for its
 * log, resumes it in a new child and returns the report, the log and the
 * prompts the server received in order. A prompt starting with "slow" is
 * answered after 60 s the first time it is sent, at once afterwards.
 */
async function crashAndResume(
  task: ModelTask,
  killWhen: (events: StoredEvent[], prompts: string[]) => boolean,
) {
  const id = crypto.randomUUID().slice(0, 8);
  const keyPrefix = `oao-test-${id}:`;
  const executionId = `exec-model-crash-${id}`;
  const seen = new Map<string, number>();
  await using server = startLocalModelServer({
    apiKey: KEY,
    respond: (request) => {
      const prompt = promptOf(request);
      const times = (seen.get(prompt) ?? 0) + 1;
      seen.set(prompt, times);
      const slow = prompt.startsWith("slow") && times === 1;
      return { text: `answer to ${prompt}`, usage: USAGE, ...(slow ? { delayMs: 60_000 } : {}) };
    },
  });
  const options = { redisUrl: REDIS_URL, keyPrefix, baseURL: server.baseURL, apiKey: KEY, task };
  const store = new RedisEventStore({ redisUrl: REDIS_URL, keyPrefix });
  const redis = new Redis(REDIS_URL);
  try {
    const first = child("run", executionId, options);
    const deadline = Date.now() + 30_000;
    while (!killWhen(await store.readRange(executionId), server.requests.map(promptOf))) {
      if (Date.now() > deadline) throw new Error("the first process made no progress");
      await new Promise((r) => setTimeout(r, 10));
    }
    first.kill("SIGKILL");
    assert.equal((await first.output()).signal, "SIGKILL");
    const beforeResume = server.requests.map(promptOf);
    const resumer = child("resume", executionId, options);
    const guard = setTimeout(() => resumer.kill("SIGKILL"), 60_000);
    const output = await resumer.output();
    clearTimeout(guard);
    assert.equal(output.code, 0, new TextDecoder().decode(output.stderr));
    const report = JSON.parse(
      new TextDecoder().decode(output.stdout).trim().split("\n").at(-1)!,
    ) as ExecutionReport;
    const events = await store.readRange(executionId);
    return { report, events, beforeResume, prompts: server.requests.map(promptOf) };
  } finally {
    const keys = await redis.keys(`${keyPrefix}*`);
    if (keys.length) await redis.del(...keys);
    redis.disconnect();
    await store.close();
  }
}

const ofType = (events: StoredEvent[], type: string) => events.filter((e) => e.type === type);

Deno.test("after SIGKILL, resume answers a completed model call from the log: the server never gets it again", async () => {
  const { report, events, beforeResume, prompts } = await crashAndResume(
    {
      calls: [
        { model: "openai:gpt-4o-mini", prompt: "fast one" },
        { model: "openai:gpt-4o-mini", prompt: "slow two" },
      ],
    },
    // Killed while the server holds the second call's request.
    (events, prompts) =>
      ofType(events, "MODEL_CALL_COMPLETED").length === 1 &&
      prompts.includes("slow two"),
  );
  assert.equal(report.status, "SUCCESS", JSON.stringify(report.error));
  assert.deepEqual(beforeResume, ["fast one", "slow two"]);
  assert.equal(
    prompts.filter((p) => p === "fast one").length,
    1,
    "the completed call is not re-sent",
  );
  const results = (report.output as { results: { text: string }[] }).results;
  assert.deepEqual(results.map((r) => r.text), ["answer to fast one", "answer to slow two"]);
  assert.ok(events.some((e) => e.type === "EXECUTION_RESUMED"));
  assert.equal(ofType(events, "MODEL_CALL_COMPLETED").length, 2, "each call completed once");
  assert.equal(report.tokens, 2 * 1_100, "each completed call counted once");
});

Deno.test("after SIGKILL mid-call, resume makes the call again and counts its usage and cost", async () => {
  const { report, events, beforeResume, prompts } = await crashAndResume(
    { calls: [{ model: "openai:gpt-4o-mini", prompt: "slow only" }] },
    (events, prompts) => ofType(events, "MODEL_CALL_STARTED").length === 1 && prompts.length === 1,
  );
  assert.equal(report.status, "SUCCESS", JSON.stringify(report.error));
  assert.deepEqual(beforeResume, ["slow only"]);
  assert.deepEqual(prompts, ["slow only", "slow only"], "made again after the crash");
  const started = ofType(events, "MODEL_CALL_STARTED");
  assert.equal(started.length, 2);
  assert.equal(started[0]!.data!.rerun, false);
  assert.equal(started[1]!.data!.rerun, true);
  assert.equal(started[0]!.data!.key, started[1]!.data!.key, "the same call, by its key");
  assert.equal(ofType(events, "MODEL_CALL_COMPLETED").length, 1);
  assert.equal(report.tokens, 1_100);
  assert.equal(report.costUsd, COST);
  assert.ok(COST > 0);
});
