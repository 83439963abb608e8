// Decisions and resumes over HTTP on an API node of a distributed
// deployment: real Redis (queue, event logs, snapshots), a real HTTP server
// over the queue backend (as `oao serve` runs it), worker nodes in this
// process. A worker that died inside a tool call that is not idempotent
// leaves its execution in NEEDS_DECISION on the next worker (in the first
// test the call had waited for a person's approval, given over HTTP: an
// approval is not a decision, a crash inside the approved call makes one
// necessary); the decision posted to the API node is recorded once, and a
// worker node continues the execution as it says.
import assert from "node:assert/strict";
import { OaoMetrics } from "../../src/api/metrics.ts";
import { type ApiServer, startApiServer } from "../../src/api/server.ts";
import { QueueBackend } from "../../src/distributed/queue_backend.ts";
import { enqueueContinuation } from "../../src/distributed/_continuation.ts";
import { WorkerNode, type WorkerNodeEvent } from "../../src/distributed/worker_node.ts";
import { FencedError } from "../../src/errors.ts";
import type { StoredEvent } from "../../src/events/event_store.ts";
import { projectExecution } from "../../src/orchestrator/execution_view.ts";
import { Orchestrator } from "../../src/orchestrator/orchestrator.ts";
import { defineTool } from "../../src/orchestrator/tool.ts";
import { connectRedis } from "../../src/redis/connection.ts";
import { RedisEventStore } from "../../src/redis/redis_event_store.ts";
import { RedisJobQueue } from "../../src/redis/redis_job_queue.ts";
import { RedisPersistenceAdapter } from "../../src/redis/redis_persistence_adapter.ts";
import { schemaProblems } from "../api/_json_schema.ts";
import { deleteKeys } from "../queue/_redis_queue_harness.ts";
import { SHARED_REDIS_URL, until } from "./_harness.ts";

const AGENT = new URL("../fixtures/test_agent.ts", import.meta.url);
/** A task: a charge, which is not idempotent, then an idempotent effect. */
const TASK = {
  calls: [{ tool: "charge", args: { cents: 700 } }, { tool: "effect", args: { n: 1 } }],
};
const DECIDE = "/executions/{id}/decisions/{callId}";
// deno-lint-ignore no-explicit-any
type Json = any;

/**
 * An API node over HTTP and worker nodes sharing fresh keys of the suite's
 * Redis, with the charges the worker nodes' `charge` tool made.
 */
async function deployment() {
  const id = crypto.randomUUID().slice(0, 8);
  const redisUrl = SHARED_REDIS_URL;
  const keyPrefix = `oao-test-${id}:`;
  const connection = { checkServer: false };
  const queue = new RedisJobQueue({ redisUrl, keyPrefix, name: `q-${id}`, connection });
  const eventStore = new RedisEventStore({ redisUrl, keyPrefix, connection });
  const persistence = new RedisPersistenceAdapter({ redisUrl, keyPrefix, connection });
  const backend = new QueueBackend({ queue, eventStore, agents: ["tester"] });
  const server: ApiServer = startApiServer({
    backend,
    eventStore,
    queue,
    metrics: new OaoMetrics({ inFlight: () => backend.inFlight() }),
    port: 0,
  });
  const charges: unknown[] = [];
  const orchestrators: Orchestrator[] = [];
  const nodes: WorkerNode[] = [];
  const call = async (method: string, path: string, body?: unknown) => {
    const response = await fetch(`${server.url}${path}`, {
      method,
      headers: body === undefined ? {} : { "content-type": "application/json" },
      body: body === undefined ? null : JSON.stringify(body),
    });
    const text = await response.text();
    let json: Json = text;
    try {
      json = JSON.parse(text);
    } catch { /* not JSON */ }
    return { status: response.status, body: json, text };
  };
  const doc = (await call("GET", "/openapi.json")).body;
  return {
    queue,
    eventStore,
    call,
    /** The problems of an answer of `POST ${DECIDE}` (or another route) against the document. */
    problems(path: string, method: string, answer: { status: number; body: unknown }) {
      const schema = doc.paths[path][method].responses[String(answer.status)]?.content
        ?.["application/json"]?.schema;
      if (!schema) return [`${method} ${path}: ${answer.status} is not documented`];
      return schemaProblems(doc, schema, answer.body);
    },
    charges,
    /**
     * A worker's orchestrator; its `charge` hangs until aborted with `hang`
     * (a worker that dies inside the call).
     */
    orchestrator(options: { hang?: boolean } = {}) {
      const orchestrator = new Orchestrator({
        eventStore,
        persistence,
        retry: { attempts: 1, initialDelayMs: 5, maxDelayMs: 10 },
        agents: [{ name: "tester", module: AGENT, version: "1.0.0" }],
        tools: [
          defineTool({
            name: "charge",
            run: (args: { cents: number }, ctx) => {
              if (!options.hang) {
                charges.push(args);
                return { charged: args.cents };
              }
              return new Promise((_, reject) =>
                ctx.signal.addEventListener("abort", () => reject(ctx.signal.reason))
              );
            },
          }) as never,
          defineTool({
            name: "effect",
            idempotent: true,
            run: (args: { n: number }) => ({ n: args.n }),
          }) as never,
        ],
      });
      orchestrators.push(orchestrator);
      return orchestrator;
    },
    /**
     * A started worker node and the events of its jobs; `hang` as for
     * `orchestrator`; `concurrency` as the node's (4 by default).
     */
    node(options: { hang?: boolean; concurrency?: number } = {}) {
      const events: WorkerNodeEvent[] = [];
      const node = new WorkerNode({
        queue,
        orchestrator: this.orchestrator(options),
        ...(options.concurrency ? { concurrency: options.concurrency } : {}),
        leaseMs: 2_000,
        heartbeatMs: 200,
        cancelCheckMs: 50,
        reserveBlockMs: 200,
        onEvent: (event) => events.push(event),
      });
      nodes.push(node);
      node.start();
      return { node, events };
    },
    async status(executionId: string) {
      return projectExecution(executionId, await eventStore.readRange(executionId));
    },
    async [Symbol.asyncDispose]() {
      await Promise.all(nodes.map((n) => n.stop()));
      await Promise.all(orchestrators.map((o) => o.close()));
      await server.shutdown();
      await backend.close();
      await queue.close();
      await eventStore.close();
      await persistence.close();
      const client = await connectRedis({ redisUrl, checkServer: false });
      await deleteKeys(client, `${keyPrefix}*`);
      await client.quit();
    },
  };
}

type Deployment = Awaited<ReturnType<typeof deployment>>;

/**
 * Submits TASK over HTTP; a worker takes the job and dies inside `charge`
 * (its lease lapses), and a worker node that takes the job over parks the
 * execution in NEEDS_DECISION. With `approval`, the policy makes `charge`
 * wait for a person's approval first, given over HTTP too.
 *
 * @returns The execution id, the call waited for, and the worker node's events.
 */
async function parkedExecution(d: Deployment, options: { approval?: boolean } = {}) {
  const submitted = await d.call("POST", "/executions", {
    agent: "tester",
    task: TASK,
    ...(options.approval ? { policy: { requireApproval: ["charge"] } } : {}),
  });
  assert.equal(submitted.status, 202, submitted.text);
  const executionId: string = submitted.body.executionId;
  const ghost = d.orchestrator({ hang: true });
  const [held] = await d.queue.reserve("ghost", { leaseMs: 300 });
  assert.equal(held?.spec.executionId, executionId);
  const stale = await ghost.start("tester", TASK, {
    executionId,
    fencingToken: held!.token,
    ...(held!.spec.options?.policy ? { policy: held!.spec.options.policy } : {}),
  });
  const logged = (type: string) => async () =>
    (await d.eventStore.readRange(executionId)).some((e) => e.type === type);
  if (options.approval) {
    await until(logged("APPROVAL_REQUESTED"), "the approval request");
    const waiting = (await d.call("GET", `/executions/${executionId}`)).body.waitingFor;
    assert.equal(waiting?.kind, "approval");
    const approved = await d.call(
      "POST",
      `/executions/${executionId}/approvals/${encodeURIComponent(waiting.callId)}`,
      { decision: "approve", reason: "expected" },
    );
    assert.equal(approved.status, 202, approved.text);
  }
  await until(logged("TOOL_CALL"), "the first worker to enter the charge");
  const worker = d.node();
  await until(
    async () => (await d.status(executionId)).status === "NEEDS_DECISION",
    "NEEDS_DECISION",
  );
  await until(() => worker.events.some((e) => e.type === "completed"), "the job to complete");
  ghost.cancel(executionId, "died");
  await assert.rejects(stale.done, FencedError);
  const status = await d.call("GET", `/executions/${executionId}`);
  assert.equal(status.body.status, "NEEDS_DECISION", status.text);
  assert.equal(status.body.decision.tool, "charge");
  return { executionId, callId: status.body.decision.callId as string, worker };
}

const types = (events: StoredEvent[]) => events.map((e) => e.type);

/** Waits until the execution is final; its status over HTTP. */
async function finalStatus(d: Deployment, executionId: string): Promise<Json> {
  await until(
    async () => ["SUCCESS", "FAILED", "CANCELLED"].includes((await d.status(executionId)).status),
    `${executionId} to finish`,
  );
  return (await d.call("GET", `/executions/${executionId}`)).body;
}

/**
 * The jobs of an execution a worker node settled since its event `from`:
 * `<type> <reason> <attempt>`, once one completed. The job the API node
 * enqueued continues the execution (`options.resume`).
 */
async function continuation(
  executionId: string,
  events: WorkerNodeEvent[],
  from: number,
): Promise<string[]> {
  const jobs = () => events.slice(from).filter((e) => e.lease.spec.executionId === executionId);
  await until(() => jobs().some((e) => e.type === "completed"), "the job that continues it");
  assert.deepEqual(jobs()[0]!.lease.spec.options, { resume: true });
  return jobs().map((e) => `${e.type} ${e.lease.reason} ${e.lease.attempt}`);
}

Deno.test("a decision posted to an API node is recorded once, two at once get 202 and 409, and a worker node continues the execution", async () => {
  await using d = await deployment();
  // The charge needed approval (given over HTTP), then its worker died inside it.
  const { executionId, callId, worker } = await parkedExecution(d, { approval: true });
  const path = `/executions/${executionId}/decisions/${callId.slice(0, 12)}`;
  const from = worker.events.length;
  const answers = await Promise.all([
    d.call("POST", path, { succeeded: { charged: 700, by: "hand" } }),
    d.call("POST", path, { failed: "the card was declined" }),
  ]);
  const won = answers.find((a) => a.status === 202);
  const lost = answers.find((a) => a !== won);
  assert.ok(won && lost, answers.map((a) => `${a.status} ${a.text}`).join("\n"));
  assert.equal(lost.status, 409, lost.text);
  assert.match(lost.body.error.code, /^(execution_busy|no_pending_decision)$/);
  assert.equal(won.body.executionId, executionId);
  assert.equal(won.body.status, "RUNNING");
  for (const answer of answers) assert.deepEqual(d.problems(DECIDE, "post", answer), []);

  const done = await finalStatus(d, executionId);
  const recorded = (await d.eventStore.readRange(executionId))
    .filter((e) => e.type === "DECISION_RECORDED");
  assert.equal(recorded.length, 1);
  assert.equal((recorded[0]!.data as { by: string }).by, "HTTP API");
  if (won.body.decision === "succeeded") {
    assert.equal(done.status, "SUCCESS", JSON.stringify(done));
    const output = (await d.status(executionId)).output as { results: unknown[] };
    assert.deepEqual(output.results[0], { charged: 700, by: "hand" }, "the decided result");
  } else {
    assert.equal(done.status, "FAILED", JSON.stringify(done));
    assert.match(done.error.message, /the card was declined/);
  }
  assert.deepEqual(d.charges, [], "the charge did not run again");
  await continuation(executionId, worker.events, from);

  // Decided: a further decision finds nothing to decide.
  const again = await d.call("POST", path, { rerun: true });
  assert.equal(again.status, 409, again.text);
  assert.equal(again.body.error.code, "no_pending_decision");
  assert.deepEqual(d.problems(DECIDE, "post", again), []);
});

Deno.test("on an API node, a decision that the call failed fails the execution on a worker node; one to run it again runs the call there once", async () => {
  for (
    const [decision, expected] of [
      [{ failed: "the card was declined" }, "FAILED"],
      [{ rerun: true }, "SUCCESS"],
    ] as const
  ) {
    await using d = await deployment();
    const { executionId, callId, worker } = await parkedExecution(d);
    const from = worker.events.length;
    const answer = await d.call(
      "POST",
      `/executions/${executionId}/decisions/${encodeURIComponent(callId)}`,
      decision,
    );
    assert.equal(answer.status, 202, answer.text);
    assert.deepEqual(answer.body, {
      executionId,
      callId,
      decision: Object.keys(decision)[0],
      status: "RUNNING",
    });
    const done = await finalStatus(d, executionId);
    assert.equal(done.status, expected, JSON.stringify(done));
    if (expected === "FAILED") {
      assert.match(done.error.message, /failed, as decided by HTTP API: the card was declined/);
      assert.deepEqual(d.charges, []);
    } else {
      assert.deepEqual(d.charges, [{ cents: 700 }], "run again once, on the worker node");
    }
    await continuation(executionId, worker.events, from);
  }
});

Deno.test("an API node refuses a decision on another call (409), on an unknown execution (404) and a malformed one (400), and enqueues nothing", async () => {
  await using d = await deployment();
  const { executionId, callId } = await parkedExecution(d);
  const other = await d.call(
    "POST",
    `/executions/${executionId}/decisions/ffffffffffff`,
    { rerun: true },
  );
  assert.equal(other.status, 409, other.text);
  assert.equal(other.body.error.code, "no_pending_decision");
  assert.match(
    other.body.error.message,
    new RegExp(`waits for a decision on call "${callId.slice(0, 12)}" of tool "charge"`),
  );
  const unknown = await d.call("POST", "/executions/exec-nope/decisions/0123456789ab", {
    rerun: true,
  });
  assert.equal(unknown.status, 404, unknown.text);
  assert.equal(unknown.body.error.code, "execution_not_found");
  for (const answer of [other, unknown]) assert.deepEqual(d.problems(DECIDE, "post", answer), []);
  const path = `/executions/${executionId}/decisions/${encodeURIComponent(callId)}`;
  for (
    const [bad, why] of [
      [{}, /exactly one of "succeeded", "failed", "rerun" \(got none\)/],
      [{ rerun: true, failed: "x" }, /exactly one of .* \(got "failed", "rerun"\)/],
      [{ rerun: false }, /rerun/],
      [{ failed: "" }, /"failed"/],
    ] as const
  ) {
    const answer = await d.call("POST", path, bad);
    assert.equal(answer.status, 400, `${JSON.stringify(bad)}: ${answer.text}`);
    assert.match(answer.body.error.message, why);
    assert.deepEqual(d.problems(DECIDE, "post", answer), []);
  }
  assert.equal((await d.status(executionId)).status, "NEEDS_DECISION");
  assert.deepEqual(await d.queue.stats(), { waiting: 0, delayed: 0, inFlight: 0, dead: 0 });
  assert.ok(!types(await d.eventStore.readRange(executionId)).includes("DECISION_RECORDED"));
});

/**
 * What a process that died in EXECUTE leaves: the log of a finished
 * execution up to entering EXECUTE, under a new id, with no runner and no job.
 */
async function orphanOf(d: Deployment, executionId: string): Promise<string> {
  const events = await d.eventStore.readRange(executionId);
  const cut = events.findIndex((e) =>
    e.type === "STATE_ENTER" && (e.data as { state?: string }).state === "EXECUTE"
  );
  const id = `exec-orphan-${crypto.randomUUID().slice(0, 8)}`;
  for (const { type, time, data } of events.slice(0, cut + 1)) {
    if (type === "EXECUTION_QUEUED") continue;
    await d.eventStore.appendEvent(id, { type, time, ...(data ? { data } : {}) });
  }
  assert.equal((await d.status(id)).status, "RUNNING");
  return id;
}

Deno.test("POST /executions/:id/resume on an API node has a worker node continue a RUNNING execution no runner holds, enqueued once", async () => {
  await using d = await deployment();
  const submitted = await d.call("POST", "/executions", {
    agent: "tester",
    task: { calls: [{ tool: "effect", args: { n: 1 } }] },
  });
  const first = d.node();
  assert.equal((await finalStatus(d, submitted.body.executionId)).status, "SUCCESS");
  await first.node.stop();
  const id = await orphanOf(d, submitted.body.executionId);
  const path = "/executions/{id}/resume";
  // Asked twice before a worker takes it: one job.
  for (let i = 0; i < 2; i++) {
    const answer = await d.call("POST", `/executions/${id}/resume`);
    assert.equal(answer.status, 202, answer.text);
    assert.deepEqual(answer.body, { executionId: id, status: "RUNNING" });
    assert.deepEqual(d.problems(path, "post", answer), []);
  }
  assert.equal((await d.queue.stats()).waiting, 1, "asked twice, enqueued once");
  const next = d.node();
  const resumed = await finalStatus(d, id);
  assert.equal(resumed.status, "SUCCESS", JSON.stringify(resumed));
  assert.ok(types(await d.eventStore.readRange(id)).includes("EXECUTION_RESUMED"));
  await continuation(id, next.events, 0);

  const finished = await d.call("POST", `/executions/${id}/resume`);
  assert.equal(finished.status, 409);
  assert.equal(finished.body.error.code, "already_finished");
  const unknown = await d.call("POST", "/executions/exec-nope/resume");
  assert.equal(unknown.status, 404);
  for (const answer of [finished, unknown]) assert.deepEqual(d.problems(path, "post", answer), []);
  assert.deepEqual(await d.queue.stats(), { waiting: 0, delayed: 0, inFlight: 0, dead: 0 });
});

Deno.test("POST /executions/:id/resume on an API node is 409 while a worker node runs the execution", async () => {
  await using d = await deployment();
  const worker = d.node({ hang: true });
  const submitted = await d.call("POST", "/executions", { agent: "tester", task: TASK });
  const id = submitted.body.executionId;
  await until(
    async () => (await d.eventStore.readRange(id)).some((e) => e.type === "TOOL_CALL"),
    "the worker to enter the charge",
  );
  const busy = await d.call("POST", `/executions/${id}/resume`);
  assert.equal(busy.status, 409, busy.text);
  assert.equal(busy.body.error.code, "already_running");
  assert.match(busy.body.error.message, new RegExp(id));
  assert.deepEqual(d.problems("/executions/{id}/resume", "post", busy), []);
  assert.equal((await d.queue.stats()).waiting, 0, "nothing enqueued");
  const cancel = await d.call("POST", `/executions/${id}/cancel`);
  assert.equal(cancel.status, 202, cancel.text);
  assert.equal((await finalStatus(d, id)).status, "CANCELLED");
  await until(() => worker.events.some((e) => e.type === "completed"), "the job");
  assert.deepEqual(await d.queue.stats(), { waiting: 0, delayed: 0, inFlight: 0, dead: 0 });
});

Deno.test("POST /executions/:id/resume on an API node of an execution still QUEUED is 409 queued, as on a monolithic node, and enqueues nothing: its own job runs it", async () => {
  await using d = await deployment();
  const submitted = await d.call("POST", "/executions", {
    agent: "tester",
    task: { calls: [{ tool: "effect", args: { n: 1 } }] },
  });
  assert.equal(submitted.status, 202, submitted.text);
  const id = submitted.body.executionId;
  assert.equal((await d.status(id)).status, "QUEUED");
  const answer = await d.call("POST", `/executions/${id}/resume`);
  assert.equal(answer.status, 409, answer.text);
  assert.equal(answer.body.error.code, "queued");
  assert.equal(
    answer.body.error.message,
    `Execution "${id}" is QUEUED: it has not started, and its job starts it when a worker node takes it; a resume would do nothing`,
  );
  assert.deepEqual(d.problems("/executions/{id}/resume", "post", answer), []);
  assert.equal((await d.queue.stats()).waiting, 1, "only its own job");
  assert.equal((await d.status(id)).status, "QUEUED");
  const worker = d.node();
  assert.equal((await finalStatus(d, id)).status, "SUCCESS");
  await until(() => worker.events.some((e) => e.type === "completed"), "its job");
  assert.deepEqual(
    worker.events.map((e) => [e.type, e.lease.spec.executionId, e.lease.spec.options ?? null]),
    [["reserved", id, null], ["completed", id, null]],
    "one job ran it, its own",
  );
});

Deno.test("a worker node runs the job an API node enqueued to continue an execution as a resume, on its first attempt, recording no retry", async () => {
  // The worker must resume a job marked `options.resume` (_execution_job.ts):
  // started as a new execution, it fails ("already exists") and is resumed on its retry.
  await using d = await deployment();
  const { executionId, callId, worker } = await parkedExecution(d);
  const from = worker.events.length;
  const answer = await d.call(
    "POST",
    `/executions/${executionId}/decisions/${encodeURIComponent(callId)}`,
    { succeeded: { charged: 700 } },
  );
  assert.equal(answer.status, 202, answer.text);
  assert.equal((await finalStatus(d, executionId)).status, "SUCCESS");
  assert.deepEqual(await continuation(executionId, worker.events, from), [
    "reserved new 1",
    "completed new 1",
  ]);
  const log = types(await d.eventStore.readRange(executionId));
  const after = log.slice(log.indexOf("DECISION_RECORDED") + 1);
  assert.equal(after[0], "EXECUTION_RESUMED", after.join(" "));
  assert.ok(!after.includes("RETRY_ATTEMPTED"), after.join(" "));
});

Deno.test("a continuation job that finds its execution run by another runner is dropped, not left to take it back when its lease expires", async () => {
  await using d = await deployment();
  // One place, taken by the hung run: the continuation can only go to the second node
  // (with more, the holder could reserve it, drop it itself, and the second never see it).
  const holder = d.node({ hang: true, concurrency: 1 });
  const submitted = await d.call("POST", "/executions", { agent: "tester", task: TASK });
  const id = submitted.body.executionId;
  await until(
    async () => (await d.eventStore.readRange(id)).some((e) => e.type === "TOOL_CALL"),
    "the first worker to enter the charge",
  );
  // As a resume that raced the execution's own job (reclaimed or retried
  // meanwhile) would enqueue it: the API node saw no holder, a runner has it now.
  const events = await d.eventStore.readRange(id);
  await enqueueContinuation(d.queue, { view: projectExecution(id, events), events });
  const second = d.node();
  await until(
    () => second.events.some((e) => e.type === "completed" && e.lease.spec.executionId === id),
    "the continuation to be dropped",
  );
  const dropped = second.events.find((e) => e.type === "completed")!;
  assert.deepEqual(dropped.detail, { executionId: id, dropped: true });
  // Its lease is gone with it: nothing is left to be reclaimed from the holder.
  await new Promise((r) => setTimeout(r, 2_500)); // past the 2 s lease the continuation had
  assert.ok(!second.events.some((e) => e.type === "reserved" && e.lease.reason !== "new"));
  assert.ok(!types(await d.eventStore.readRange(id)).includes("EXECUTION_RESUMED"));
  const cancel = await d.call("POST", `/executions/${id}/cancel`);
  assert.equal(cancel.status, 202, cancel.text);
  assert.equal((await finalStatus(d, id)).status, "CANCELLED");
  await until(() => holder.events.some((e) => e.type === "completed"), "the holder's job");
});
