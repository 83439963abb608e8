// Streamed model calls (`ctx.streamText`) against the local model server over
// real HTTP: the text deltas reach watchers in this process as they arrive and
// `GET /executions/:id/stream` in any process on the same stores (as
// `model_delta` messages), a client that reconnects mid-call gets the call's
// text from its start, and the execution's log records the completed answer
// only — in memory and on Redis.
import assert from "node:assert/strict";
import { startApiServer } from "../../src/api/server.ts";
import type { EventStore } from "../../src/events/event_store.ts";
import { InMemoryEventStore } from "../../src/events/in_memory_event_store.ts";
import { LocalBackend } from "../../src/orchestrator/local_backend.ts";
import { Orchestrator } from "../../src/orchestrator/orchestrator.ts";
import { textDeltaLogId, toTextDelta } from "../../src/orchestrator/_text_deltas.ts";
import type { TextDelta } from "../../src/orchestrator/_text_deltas.ts";
import { RedisEventStore } from "../../src/redis/redis_event_store.ts";
import type { ModelState, ModelTask } from "../fixtures/model_agent.ts";
import { startLocalModelServer } from "../_support/model_server.ts";
import { testRedisUrl } from "../_support/test_redis.ts";
import { deleteByPrefix, testPrefix } from "../redis/_redis_helpers.ts";
import { readSse, type SseMessage } from "../api/_server.ts";

const KEY = "sk-stream-8e1d4c";
const WORDS = ["Actors ", "keep ", "their ", "state ", "to ", "themselves, ", "always."];
const TEXT = WORDS.join("");

function setup(eventStore: EventStore = new InMemoryEventStore()) {
  const server = startLocalModelServer({ apiKey: KEY });
  const orchestrator = new Orchestrator({
    eventStore,
    agents: [{ name: "model-caller", module: "tests/fixtures/model_agent.ts", version: "1.0.0" }],
    models: {
      providers: {
        openai: { apiKey: KEY, baseURL: server.baseURL },
        env: () => undefined,
      },
    },
  });
  return {
    server,
    orchestrator,
    async [Symbol.asyncDispose]() {
      await orchestrator.close();
      await server.close();
    },
  };
}

const TASK: ModelTask = {
  calls: [{ model: "openai:gpt-4o-mini", prompt: "What do actors do?" }],
  stream: true,
};

Deno.test("a streamed model call passes its deltas to watchers before its completion, and the log keeps the answer only", async () => {
  await using env = setup();
  env.server.script({ chunks: WORDS, chunkDelayMs: 10 });
  const seen: (TextDelta | string)[] = [];
  env.orchestrator.watchTextDeltas((delta) => seen.push(delta));
  env.orchestrator.events.subscribe((event) => {
    if (event.type.startsWith("MODEL_CALL_")) seen.push(event.type);
  });
  const report = await env.orchestrator.run("model-caller", TASK);
  assert.equal(report.status, "SUCCESS", JSON.stringify(report.error));
  assert.equal(((report.output as ModelState).results[0] as { text: string }).text, TEXT);
  assert.equal(env.server.requests[0]!.stream, true, "the provider was asked to stream");

  const deltas = seen.filter((s): s is TextDelta => typeof s !== "string");
  assert.deepEqual(deltas.map((d) => d.text), WORDS, "each delta once, in order");
  assert.deepEqual(
    deltas.map((d) => d.offset),
    WORDS.map((_, i) => WORDS.slice(0, i).join("").length),
  );
  assert.equal(seen[0], "MODEL_CALL_STARTED");
  assert.equal(seen.at(-1), "MODEL_CALL_COMPLETED", "the completion comes after every delta");

  const log = await env.orchestrator.eventStore.readRange(report.executionId);
  assert.ok(!log.some((e) => e.type === "MODEL_TEXT_DELTA"), "no delta in the execution's log");
  const started = log.find((e) => e.type === "MODEL_CALL_STARTED")!;
  assert.ok(deltas.every((d) => d.start === started.seq && d.key === started.data!.key));
  // The side log holds the same text, coalesced.
  const side = await env.orchestrator.eventStore.readRange(textDeltaLogId(report.executionId));
  const relayed = side.map((e) => toTextDelta(report.executionId, e)!);
  assert.equal(relayed.map((d) => d.text).join(""), TEXT);
  assert.ok(relayed.length < WORDS.length + 1);
});

Deno.test("a plain and a streamed call of one request are the same call for the journal", async () => {
  await using env = setup();
  env.server.script({ text: "once" });
  const first = await env.orchestrator.run("model-caller", { ...TASK, stream: false }, {
    executionId: "same-call-1",
  });
  assert.equal(first.status, "SUCCESS");
  const hash = (await env.orchestrator.eventStore.readRange("same-call-1"))
    .find((e) => e.type === "MODEL_CALL_STARTED")!.data!.key;
  env.server.script({ text: "once" });
  const second = await env.orchestrator.run("model-caller", TASK, { executionId: "same-call-2" });
  assert.equal(second.status, "SUCCESS");
  const again = (await env.orchestrator.eventStore.readRange("same-call-2"))
    .find((e) => e.type === "MODEL_CALL_STARTED")!.data!.key;
  assert.equal(again, hash);
});

/** Reads one stream until `stop` holds for the messages so far (or it ends). */
async function readUntil(
  url: string,
  headers: Record<string, string>,
  stop: (messages: SseMessage[]) => boolean,
): Promise<SseMessage[]> {
  const seen: SseMessage[] = [];
  for (let max = 1; max < 500; max++) {
    const { messages } = await readSse(url, headers, max);
    seen.splice(0, seen.length, ...messages);
    if (stop(seen) || messages.length < max || messages.at(-1)?.event === "end") return seen;
  }
  return seen;
}

async function sseScenario(executionStore: EventStore, apiStore: EventStore) {
  await using env = setup(executionStore);
  env.server.script({ chunks: WORDS, chunkDelayMs: 150 });
  const backend = new LocalBackend(env.orchestrator);
  const api = startApiServer({ backend, eventStore: apiStore, port: 0 });
  try {
    await streamAndReconnect(env, api.url);
  } finally {
    await api.shutdown();
    await backend.close();
  }
}

async function streamAndReconnect(env: ReturnType<typeof setup>, apiUrl: string) {
  const started = await env.orchestrator.start("model-caller", TASK);
  const url = `${apiUrl}/executions/${started.executionId}/stream`;
  const deltasOf = (messages: SseMessage[]) =>
    messages.filter((m) => m.event === "model_delta").map((m) => JSON.parse(m.data));
  // A client that leaves after the second delta …
  const first = await readUntil(url, {}, (m) => deltasOf(m).length >= 2);
  const firstDeltas = deltasOf(first);
  assert.ok(firstDeltas.length >= 2, JSON.stringify(first));
  assert.equal(firstDeltas[0].offset, 0);
  assert.ok(first.filter((m) => m.event === "model_delta").every((m) => m.id === undefined));
  const lastId = first.filter((m) => m.id).at(-1)!.id!;
  // … and reconnects: the durable events after its Last-Event-ID, then the
  // text of the call in progress from its start, then the rest live.
  const rest = (await readSse(url, { "Last-Event-ID": lastId })).messages;
  const restDeltas = deltasOf(rest);
  assert.equal(restDeltas[0].offset, 0, "the call's text again from its start");
  const text = restDeltas.map((d) => d.text).join("");
  assert.equal(text, TEXT, "coalesced or not, the whole answer, once");
  assert.deepEqual(
    restDeltas.map((d) => d.offset),
    restDeltas.map((_, i) => restDeltas.slice(0, i).map((d) => d.text).join("").length),
  );
  const durable = rest.filter((m) => m.id).map((m) => JSON.parse(m.data));
  assert.equal(durable[0].seq, Number(lastId) + 1, "durable events resume after Last-Event-ID");
  const completed = rest.findIndex((m) => m.data.includes('"MODEL_CALL_COMPLETED"'));
  const lastDelta = rest.findLastIndex((m) => m.event === "model_delta");
  assert.ok(completed > lastDelta, "no delta after the call's completion");
  assert.equal(rest.at(-1)!.event, "end");
  assert.equal(JSON.parse(rest.at(-1)!.data).status, "SUCCESS");
  await started.done;
  // After the call, a new client gets no delta: the answer is in MODEL_CALL_COMPLETED.
  const after = await readSse(url);
  assert.equal(deltasOf(after.messages).length, 0);
}

Deno.test("GET /executions/:id/stream sends a streamed call's text live, and from its start after a reconnect", async () => {
  const store = new InMemoryEventStore();
  await sseScenario(store, store);
});

Deno.test("on Redis, another process's API streams the text of a call it does not run", async () => {
  const redisUrl = await testRedisUrl();
  const keyPrefix = testPrefix();
  const runner = new RedisEventStore({ redisUrl, keyPrefix });
  const edge = new RedisEventStore({ redisUrl, keyPrefix });
  try {
    await sseScenario(runner, edge);
  } finally {
    await edge.close();
    await runner.close();
    await deleteByPrefix(keyPrefix, redisUrl);
  }
});

Deno.test("side-log events that are not well-formed deltas are never passed on", () => {
  const base = {
    executionId: "e:text",
    seq: 1,
    id: "x",
    time: 0,
    type: "MODEL_TEXT_DELTA",
    step: 3,
  };
  const good = { key: "k", start: 5, model: "openai:m", offset: 0, text: "hi" };
  assert.deepEqual(toTextDelta("e", { ...base, data: good }), {
    executionId: "e",
    step: 3,
    ...good,
  });
  const broken: unknown[] = [
    null,
    "text",
    { ...good, text: 42 },
    { ...good, offset: -0.5 },
    { ...good, offset: -1 },
    { ...good, start: 0 },
    { ...good, start: "5" },
    { ...good, key: { toString: () => "k" } },
  ];
  for (const data of broken) {
    assert.equal(toTextDelta("e", { ...base, data } as never), undefined, JSON.stringify(data));
  }
  assert.equal(toTextDelta("e", { ...base, type: "NOTE", data: good }), undefined);
  assert.equal(toTextDelta("e", { ...base, step: undefined, data: good } as never), undefined);
});
