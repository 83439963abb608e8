// The API node's backend: submit enqueues and records QUEUED, cancel leaves
// a request, idempotency keys return the first execution.
import assert from "node:assert/strict";
import { QueueBackend } from "../../src/distributed/queue_backend.ts";
import { enqueueContinuation } from "../../src/distributed/_continuation.ts";
import { createApiApp } from "../../src/api/app.ts";
import { OaoMetrics } from "../../src/api/metrics.ts";
import { UnknownAgentError } from "../../src/errors.ts";
import { InMemoryEventStore } from "../../src/events/in_memory_event_store.ts";
import { projectExecution } from "../../src/orchestrator/execution_view.ts";
import { InMemoryJobQueue } from "../../src/queue/in_memory_job_queue.ts";
import { Tracer } from "../../src/tracing/tracer.ts";
import type { SpanData } from "../../src/tracing/span_data.ts";

function setup(options: { tracer?: Tracer } = {}) {
  const queue = new InMemoryJobQueue();
  const eventStore = new InMemoryEventStore();
  const backend = new QueueBackend({ queue, eventStore, agents: ["tester", "echo"], ...options });
  return {
    queue,
    eventStore,
    backend,
    async [Symbol.asyncDispose]() {
      await backend.close();
      await queue.close();
      await eventStore.close();
    },
  };
}

Deno.test("submit enqueues a job with the execution id and trace context and reports QUEUED", async () => {
  await using s = setup();
  const traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
  const { executionId, duplicate } = await s.backend.submit({
    agent: "tester",
    task: { calls: [] },
    policy: { maxSteps: 9 },
    traceparent,
  });
  assert.equal(duplicate, false);
  const view = projectExecution(executionId, await s.eventStore.readRange(executionId));
  assert.equal(view.status, "QUEUED");
  assert.equal(view.agent, "tester");
  assert.deepEqual(view.task, { calls: [] });
  assert.deepEqual(await s.backend.stats(), { waiting: 1, delayed: 0, inFlight: 0, dead: 0 });
  const [lease] = await s.queue.reserve("w1");
  assert.equal(lease?.spec.executionId, executionId);
  assert.equal(lease?.spec.traceparent, traceparent);
  assert.deepEqual(lease?.spec.options, { policy: { maxSteps: 9 } });
  assert.equal(await s.backend.inFlight(), 1);
});

Deno.test("a repeated idempotency key returns the first execution and writes nothing", async () => {
  await using s = setup();
  const first = await s.backend.submit({ agent: "tester", task: 1, idempotencyKey: "order-7" });
  const again = await s.backend.submit({ agent: "tester", task: 1, idempotencyKey: "order-7" });
  assert.deepEqual(again, { executionId: first.executionId, duplicate: true });
  assert.equal((await s.queue.stats()).waiting, 1);
  assert.deepEqual(await s.eventStore.listExecutions(), [first.executionId]);
  assert.equal(await s.eventStore.count(first.executionId), 1);
});

Deno.test("submit refuses an idempotency key under a prefix of the runtime's own jobs, naming the key and the prefix, and never answers with their execution", async () => {
  await using s = setup();
  // The job an API node enqueues to continue exec-other (a resume, a decision).
  const view = { executionId: "exec-other", agent: "tester", task: 1 };
  const continued = await enqueueContinuation(s.queue, {
    view: view as never,
    events: [{ seq: 4 } as never],
  });
  const reserved: [key: string, prefix: string][] = [
    ["oao-continue:exec-other@4", "oao-continue:"],
    ["migrated:job-1", "migrated:"],
  ];
  for (const [key, prefix] of reserved) {
    await assert.rejects(
      s.backend.submit({ agent: "tester", task: 1, idempotencyKey: key }),
      (error: unknown) =>
        error instanceof TypeError && error.message.includes(`"${key}"`) &&
        error.message.includes(`the prefix "${prefix}" is reserved`),
    );
  }
  assert.deepEqual(await s.queue.stats(), { waiting: 1, delayed: 0, inFlight: 0, dead: 0 });
  assert.deepEqual(await s.eventStore.listExecutions(), []);
  // Only those prefixes: another key starting with "oao-" is the client's.
  const own = await s.backend.submit({ agent: "tester", task: 1, idempotencyKey: "oao-order-7" });
  assert.equal(own.duplicate, false);
  assert.notEqual(own.executionId, continued.executionId);

  // Over HTTP on the API node: the 400 of a bad field or header, naming both.
  const app = createApiApp({
    backend: s.backend,
    eventStore: s.eventStore,
    metrics: new OaoMetrics(),
  });
  const submit = (init: { key?: string; header?: string }) =>
    app.request("/executions", {
      method: "POST",
      headers: {
        "content-type": "application/json",
        host: "localhost",
        ...(init.header === undefined ? {} : { "idempotency-key": init.header }),
      },
      body: JSON.stringify({
        agent: "tester",
        task: 1,
        ...(init.key === undefined ? {} : { idempotencyKey: init.key }),
      }),
    });
  const field = await submit({ key: "oao-continue:exec-other@4" });
  assert.equal(field.status, 400);
  const fieldError = (await field.json()).error;
  assert.equal(fieldError.code, "invalid_field");
  assert.match(
    fieldError.message,
    /^Invalid field "idempotencyKey" "oao-continue:exec-other@4": the prefix "oao-continue:" is reserved/,
  );
  const header = await submit({ header: "oao-continue:exec-other@4" });
  assert.equal(header.status, 400);
  const headerError = (await header.json()).error;
  assert.equal(headerError.code, "invalid_header");
  assert.match(
    headerError.message,
    /^Invalid header "idempotency-key" "oao-continue:exec-other@4": the prefix "oao-continue:" is reserved/,
  );
  assert.deepEqual(await s.eventStore.listExecutions(), [own.executionId]);
  assert.equal((await s.queue.stats()).waiting, 2);
});

Deno.test("submit refuses an unknown agent naming the known ones, a non-JSON task and a bad policy", async () => {
  await using s = setup();
  await assert.rejects(
    s.backend.submit({ agent: "nope", task: 1 }),
    (error: unknown) =>
      error instanceof UnknownAgentError && /"nope".*"tester", "echo"/.test(error.message),
  );
  await assert.rejects(s.backend.submit({ agent: "tester", task: () => 1 }), TypeError);
  await assert.rejects(
    s.backend.submit({ agent: "tester", task: 1, policy: { maxSteps: -1 } }),
    RangeError,
  );
  assert.equal((await s.queue.stats()).waiting, 0);
});

Deno.test("cancelling a queued execution makes it CANCELLED at once; a second cancel answers false", async () => {
  await using s = setup();
  const { executionId } = await s.backend.submit({ agent: "echo", task: "hi" });
  assert.equal(await s.backend.cancel(executionId, "changed my mind"), true);
  const view = projectExecution(executionId, await s.eventStore.readRange(executionId));
  assert.equal(view.status, "CANCELLED");
  assert.match(view.error?.message ?? "", /changed my mind/);
  assert.equal(await s.backend.cancel(executionId), false);
  assert.equal(await s.backend.cancel("exec-unknown"), false);
});

Deno.test("with a tracer, submit records an oao.enqueue producer span whose context travels with the job", async () => {
  const spans: SpanData[] = [];
  const tracer = new Tracer({
    export: (batch) => void spans.push(...batch),
    flush: () => Promise.resolve(),
    shutdown: () => Promise.resolve(),
  });
  await using s = setup({ tracer });
  const parent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
  await s.backend.submit({ agent: "tester", task: 1, traceparent: parent });
  const [lease] = await s.queue.reserve("w1");
  const span = spans.find((x) => x.name === "oao.enqueue");
  assert.ok(span);
  assert.equal(span.kind, "producer");
  assert.equal(span.traceId, "4bf92f3577b34da6a3ce929d0e0e4736");
  assert.equal(span.parentSpanId, "00f067aa0ba902b7");
  assert.equal(lease?.spec.traceparent, `00-${span.traceId}-${span.spanId}-01`);
});

Deno.test("a closed backend refuses calls", async () => {
  await using s = setup();
  await s.backend.close();
  await assert.rejects(s.backend.submit({ agent: "tester", task: 1 }), /closed/);
});

Deno.test("an API node that knows the workers' tools refuses a policy naming another one in requireApproval at submit; one that does not leaves it to the workers", async () => {
  const queue = new InMemoryJobQueue();
  const eventStore = new InMemoryEventStore();
  const submit = (backend: QueueBackend) =>
    createApiApp({ backend, eventStore, metrics: new OaoMetrics() }).request("/executions", {
      method: "POST",
      headers: { "content-type": "application/json", host: "localhost" },
      body: JSON.stringify({
        agent: "tester",
        task: {},
        policy: { requireApproval: ["chrage"] },
      }),
    });
  try {
    const knowing = new QueueBackend({
      queue,
      eventStore,
      agents: ["tester"],
      tools: [{ name: "charge", description: "Charges a card" }],
    });
    assert.deepEqual(knowing.tools?.(), [{ name: "charge", description: "Charges a card" }]);
    const refused = await submit(knowing);
    assert.equal(refused.status, 400);
    assert.match((await refused.json()).error.message, /"chrage" is no registered tool/);
    assert.equal((await queue.stats()).waiting, 0);
    const unaware = new QueueBackend({ queue, eventStore, agents: ["tester"] });
    assert.equal(unaware.tools, undefined);
    assert.equal((await submit(unaware)).status, 202);
    assert.throws(
      () => new QueueBackend({ queue, eventStore, agents: [], tools: [{}] as never }),
      /Invalid queue backend option "tools"/,
    );
  } finally {
    await queue.close();
  }
});
