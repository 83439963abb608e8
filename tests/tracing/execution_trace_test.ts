// An execution exported over OTLP/gRPC to a real receiver on a loopback port
// arrives as one trace: the execution span, its steps, tool calls and the
// receive spans of three actors (in three workers) with their parent/child
// links, attributes, span events, error statuses and the resource from the
// environment. A resumed execution, in another process after SIGKILL,
// continues the same trace.
import assert from "node:assert/strict";
import { Redis } from "ioredis";
import { Orchestrator } from "../../src/orchestrator/orchestrator.ts";
import { RedisEventStore } from "../../src/redis/redis_event_store.ts";
import { RedisPersistenceAdapter } from "../../src/redis/redis_persistence_adapter.ts";
import { createTracingFromEnv } from "../../src/tracing/tracing_from_env.ts";
import {
  type DecodedSpan,
  type OtlpReceiver,
  startOtlpReceiver,
} from "../_support/otlp_receiver.ts";
import type { ExecutionReport } from "../../src/orchestrator/execution_report.ts";
import { traceTestAgents, traceTestTools } from "../fixtures/trace_registrations.ts";
import { testRedisUrl } from "../_support/test_redis.ts";

const CHILD = new URL("../fixtures/trace_orchestrator_process.ts", import.meta.url).pathname;
const WAIT_MS = 15_000;
const INTERNAL = 1;
const CLIENT = 3;
const CONSUMER = 5;
const ERROR = 2;

function otelEnv(receiver: OtlpReceiver): Record<string, string> {
  return {
    OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint,
    OTEL_SERVICE_NAME: "oao-trace-test",
    OTEL_RESOURCE_ATTRIBUTES: "deployment.environment=test,version=1.1.0",
    OTEL_BSP_SCHEDULE_DELAY: "50",
  };
}

const agents = traceTestAgents();
const tools = traceTestTools();

function only(spans: DecodedSpan[], name: string): DecodedSpan {
  const found = spans.filter((s) => s.name === name);
  assert.equal(found.length, 1, `expected one span "${name}", got ${found.length}`);
  return found[0]!;
}

function named(spans: DecodedSpan[], name: string): DecodedSpan[] {
  return spans.filter((s) => s.name === name).sort((a, b) =>
    a.startTimeUnixNano < b.startTimeUnixNano ? -1 : 1
  );
}

function eventNames(span: DecodedSpan): string[] {
  return span.events.map((e) => e.name);
}

Deno.test("an execution across three actors, tool calls, a retry and a worker restart arrives as one trace", async () => {
  const receiver = await startOtlpReceiver();
  const tracing = await createTracingFromEnv(otelEnv(receiver));
  const orchestrator = new Orchestrator({
    tracer: tracing.tracer,
    retry: { attempts: 3, initialDelayMs: 5, maxDelayMs: 20 },
    agents,
    tools,
  });
  try {
    const report = await orchestrator.run("trace-lead", { topic: "actors" });
    assert.equal(report.status, "SUCCESS", JSON.stringify(report.error));
    await orchestrator.close();
    await tracing.shutdown();
    const id = report.executionId;
    const lead = "oao.actor.receive trace-lead";
    const relay = "oao.actor.receive trace-relay";
    const leaf = "oao.actor.receive trace-leaf";
    const spans = await receiver.waitForSpans(
      (all) => all.some((s) => s.name === leaf) && all.some((s) => s.name === "oao.execution"),
      WAIT_MS,
    );

    // One trace, the report's, and spans ids unique within it.
    assert.deepEqual([...new Set(spans.map((s) => s.traceId))], [report.traceId]);
    assert.equal(new Set(spans.map((s) => s.spanId)).size, spans.length);

    // Resource attributes from the environment on every span.
    for (const span of spans) {
      assert.equal(span.resource["service.name"], "oao-trace-test", span.name);
      assert.equal(span.resource["deployment.environment"], "test", span.name);
      assert.equal(span.resource.version, "1.1.0", span.name);
    }

    // The root: the execution span.
    const root = only(spans, "oao.execution");
    assert.equal(root.parentSpanId, undefined);
    assert.equal(root.attributes["oao.execution.id"], id);
    assert.equal(root.attributes["oao.agent"], "trace-lead");
    assert.equal(root.status.code, 1);

    // A step span per step, each a child of the root, with its attributes.
    const states = ["INIT", "PLAN", "EXECUTE", "REVIEW", "TERMINATE"];
    const steps = states.map((state, i) => {
      const step = only(spans, `oao.step.${i + 1}`);
      assert.equal(step.parentSpanId, root.spanId);
      assert.equal(step.kind, INTERNAL);
      assert.equal(step.attributes["oao.execution.id"], id);
      assert.equal(step.attributes["oao.agent"], "trace-lead");
      assert.equal(step.attributes["oao.lifecycle.state"], state);
      assert.equal(step.attributes["oao.step"], i + 1);
      return step;
    });
    const [, plan, execute] = steps as [DecodedSpan, DecodedSpan, DecodedSpan];

    // PLAN failed once and was retried: STEP_FAILED then one RETRY_ATTEMPTED on its span.
    assert.deepEqual(eventNames(plan), ["STEP_FAILED", "RETRY_ATTEMPTED"]);
    assert.equal(plan.events[1]!.attributes["oao.attempt"], 1);

    // The lead's receive spans: one per delivered step message, children of their step.
    const leadSpans = named(spans, lead);
    assert.equal(
      leadSpans.length,
      7,
      "5 steps + the failed PLAN attempt + the redelivered EXECUTE",
    );
    for (const span of leadSpans) {
      assert.equal(span.kind, CONSUMER);
      assert.ok(
        steps.some((s) => s.spanId === span.parentSpanId),
        "a lead span's parent is a step",
      );
      assert.equal(span.attributes["oao.actor"], `${id}/trace-lead`);
    }
    const leadInExecute = leadSpans.filter((s) => s.parentSpanId === execute.spanId);
    assert.equal(
      leadInExecute.length,
      2,
      "EXECUTE was delivered twice: before and after the crash",
    );
    const [crashed, redelivered] = leadInExecute as [DecodedSpan, DecodedSpan];
    assert.equal(crashed.attributes["oao.message.redelivered"], false);
    assert.equal(crashed.attributes["oao.actor.incarnation"], 1);
    assert.equal(crashed.status.code, ERROR);
    assert.match(crashed.status.message, /simulated crash/);
    assert.ok(eventNames(crashed).includes("exception"));
    assert.equal(redelivered.attributes["oao.message.redelivered"], true);
    assert.equal(redelivered.attributes["oao.actor.incarnation"], 2);
    assert.notEqual(redelivered.status.code, ERROR);

    // The worker restart appears as span events on the EXECUTE step span.
    const restart = eventNames(execute);
    for (const name of ["ACTOR_FAILED", "RETRY_ATTEMPTED", "ACTOR_RESTARTED"]) {
      assert.equal(restart.filter((n) => n === name).length, 1, `${name} in ${restart}`);
    }
    const failed = execute.events.find((e) => e.name === "ACTOR_FAILED")!;
    assert.equal(failed.attributes["oao.actor"], `${id}/trace-lead`);
    assert.match(String(failed.attributes["exception.message"]), /simulated crash/);

    // Across three actors: relay's span is a child of the lead's span that
    // asked it; leaf's is a child of relay's.
    const relaySpans = named(spans, relay);
    const leafSpans = named(spans, leaf);
    assert.equal(relaySpans.length, 2, "asked once per delivery of EXECUTE");
    assert.equal(leafSpans.length, 2);
    for (const [i, sender] of leadInExecute.entries()) {
      const relayed = relaySpans.find((s) => s.parentSpanId === sender.spanId);
      assert.ok(relayed, `a relay span is the child of lead span ${i + 1}`);
      assert.equal(relayed.attributes["oao.message.from"], `${id}/trace-lead`);
      const leafed = leafSpans.find((s) => s.parentSpanId === relayed.spanId);
      assert.ok(leafed, `a leaf span is the child of relay span ${i + 1}`);
      assert.equal(leafed.attributes["oao.message.from"], `${id}/trace-relay`);
    }

    // Tool calls: children of their step, with the key hash; the calls
    // repeated after the restart are skipped as idempotent.
    const lookups = named(spans, "oao.tool.lookup");
    assert.equal(lookups.length, 4);
    for (const span of lookups) {
      assert.equal(span.parentSpanId, execute.spanId);
      assert.equal(span.kind, CLIENT);
      assert.match(String(span.attributes["oao.tool.key_hash"]), /^[0-9a-f]{64}$/);
      assert.equal(span.attributes["oao.execution.id"], id);
      assert.equal(span.attributes["oao.step"], 3);
    }
    assert.deepEqual(lookups.map((s) => s.attributes["oao.tool.idempotent_skipped"]), [
      false,
      false,
      true,
      true,
    ]);
    assert.equal(
      lookups[0]!.attributes["oao.tool.key_hash"],
      lookups[2]!.attributes["oao.tool.key_hash"],
    );

    // The failing tool: status ERROR and the exception, on both deliveries
    // (a recorded failure is answered from the log as a failure again).
    const broken = named(spans, "oao.tool.broken");
    assert.ok(broken.length >= 1);
    const first = broken[0]!;
    assert.equal(first.parentSpanId, execute.spanId);
    assert.equal(first.status.code, ERROR);
    const exception = first.events.find((e) => e.name === "exception");
    assert.ok(exception, "the tool span records the exception");
    assert.match(String(exception.attributes["exception.message"]), /failed on purpose/);
  } finally {
    await orchestrator.close();
    await tracing.shutdown();
    await receiver.close();
  }
});

Deno.test("a policy violation is a span event of its step; the failed execution's spans have status ERROR", async () => {
  const receiver = await startOtlpReceiver();
  const tracing = await createTracingFromEnv(otelEnv(receiver));
  const orchestrator = new Orchestrator({
    tracer: tracing.tracer,
    retry: { attempts: 3, initialDelayMs: 5, maxDelayMs: 20 },
    policy: { maxToolCalls: 1 },
    agents,
    tools,
  });
  try {
    const report = await orchestrator.run("trace-lead", { topic: "limits" });
    assert.equal(report.status, "FAILED");
    assert.equal(report.error?.code, "POLICY_VIOLATION");
    await orchestrator.close();
    await tracing.shutdown();
    const spans = await receiver.waitForSpans(
      (all) => all.some((s) => s.name === "oao.execution"),
      WAIT_MS,
    );
    assert.deepEqual([...new Set(spans.map((s) => s.traceId))], [report.traceId]);
    const root = only(spans, "oao.execution");
    assert.equal(root.status.code, ERROR);
    assert.ok(eventNames(root).includes("exception"));
    const execute = only(spans, "oao.step.3");
    assert.equal(execute.status.code, ERROR);
    const violation = execute.events.filter((e) => e.name === "POLICY_VIOLATION");
    assert.equal(violation.length, 1, `events: ${eventNames(execute)}`);
    assert.equal(violation[0]!.attributes["oao.policy.limit"], "maxToolCalls");
    assert.equal(violation[0]!.attributes["oao.policy.max"], 1);
    // The second lookup is the one refused: its span records the violation.
    const refused = named(spans, "oao.tool.lookup")[1]!;
    assert.equal(refused.parentSpanId, execute.spanId);
    assert.equal(refused.status.code, ERROR);
  } finally {
    await orchestrator.close();
    await tracing.shutdown();
    await receiver.close();
  }
});

Deno.test("an execution resumed after its process was killed continues the same trace: the dead run's root and step are exported, no span is an orphan, and the kill lost at most about a second of spans", async () => {
  const redisUrl = await testRedisUrl();
  const receiver = await startOtlpReceiver();
  const id = crypto.randomUUID().slice(0, 8);
  const keyPrefix = `oao-test-${id}:`;
  const executionId = `exec-trace-${id}`;
  const redis = new Redis(redisUrl);
  const persistence = new RedisPersistenceAdapter({ redisUrl, keyPrefix });
  const eventStore = new RedisEventStore({ redisUrl, keyPrefix });
  const tracing = await createTracingFromEnv({
    ...otelEnv(receiver),
    OTEL_SERVICE_NAME: "oao-resumer",
  });
  let orchestrator: Orchestrator | undefined;
  try {
    // The first process exports its spans as they end, then dies with SIGKILL.
    const first = new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        "--unstable-worker-options",
        CHILD,
        executionId,
        JSON.stringify({ redisUrl, keyPrefix, calls: 40, delayMs: 150 }),
      ],
      // The default export schedule: what a SIGKILL loses is measured below.
      env: {
        ...otelEnv(receiver),
        OTEL_SERVICE_NAME: "oao-first-process",
      },
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const before = await receiver.waitForSpans(
      (all) => all.filter((s) => s.name === "oao.tool.slow_lookup").length >= 3,
      WAIT_MS,
    ).catch(async (error) => {
      first.kill("SIGKILL");
      const output = await first.output();
      throw new Error(`${error.message}\n${new TextDecoder().decode(output.stderr)}`);
    });
    await new Promise((r) => setTimeout(r, 1_500));
    const killedAt = Date.now();
    first.kill("SIGKILL");
    assert.equal((await first.output()).signal, "SIGKILL");
    const events = await eventStore.readRange(executionId);
    // Every tool call that ended more than 1.2 s before the kill has its span.
    const received = receiver.spans().filter((s) => s.name === "oao.tool.slow_lookup").length;
    const endedEarly = events.filter((e) =>
      e.type === "TOOL_CALL_SUCCESS" && e.time < killedAt - 1_200
    ).length;
    assert.ok(endedEarly >= 3);
    assert.ok(received >= endedEarly, `${received} tool spans for ${endedEarly} early calls`);
    assert.ok(!events.some((e) => e.type === "EXECUTION_COMPLETED"), "killed before the end");
    const started = events.find((e) => e.type === "EXECUTION_STARTED")!;
    const [, traceId, firstRootId] = String(started.data?.traceparent).split("-");
    assert.ok(before.every((s) => s.traceId === traceId));
    assert.ok(before.every((s) => s.resource["service.name"] === "oao-first-process"));

    // The resumed execution, in this process, continues that trace.
    orchestrator = new Orchestrator({
      persistence,
      eventStore,
      tracer: tracing.tracer,
      agents,
      tools: traceTestTools(30),
    });
    const report: ExecutionReport = await orchestrator.resume(executionId);
    assert.equal(report.status, "SUCCESS", JSON.stringify(report.error));
    assert.equal(report.traceId, traceId);
    await orchestrator.close();
    await tracing.shutdown();
    const spans = await receiver.waitForSpans(
      (all) => all.some((s) => s.name === "oao.execution"),
      WAIT_MS,
    );
    assert.deepEqual([...new Set(spans.map((s) => s.traceId))], [traceId]);
    const resumed = spans.filter((s) => s.resource["service.name"] === "oao-resumer");
    // The dead run's root and step, rebuilt from the log by the resuming process.
    const deadRoot = resumed.find((s) => s.spanId === firstRootId)!;
    assert.ok(deadRoot, "the first run's root span is exported");
    assert.equal(deadRoot.name, "oao.execution");
    assert.equal(deadRoot.attributes["oao.execution.interrupted"], true);
    assert.equal(deadRoot.status.code, 2, "status ERROR");
    assert.ok(
      resumed.some((s) => s.parentSpanId === firstRootId && s.name.startsWith("oao.step.")),
    );
    const ids = new Set(spans.map((s) => s.spanId));
    const orphans = spans.filter((s) => s.parentSpanId && !ids.has(s.parentSpanId));
    assert.deepEqual(orphans.map((s) => `${s.name} (${s.resource["service.name"]})`), []);
    const root = resumed.find((s) => s.name === "oao.execution" && s.spanId !== firstRootId)!;
    assert.equal(root.parentSpanId, firstRootId, "the resumed root's parent is the first root");
    assert.equal(root.attributes["oao.execution.resumed"], true);
    assert.equal(root.attributes["oao.execution.id"], executionId);
    const steps = resumed.filter((s) =>
      s.name.startsWith("oao.step.") && s.attributes["oao.execution.interrupted"] !== true
    );
    assert.ok(steps.length >= 1);
    for (const step of steps) assert.equal(step.parentSpanId, root.spanId);
    const skipped = resumed.filter((s) => s.attributes["oao.tool.idempotent_skipped"] === true);
    assert.ok(skipped.length >= 1, "calls completed before the crash are answered from the log");
  } finally {
    await orchestrator?.close();
    await tracing.shutdown();
    await persistence.close();
    await eventStore.close();
    const keys = await redis.keys(`${keyPrefix}*`);
    if (keys.length) await redis.del(...keys);
    redis.disconnect();
    await receiver.close();
  }
});
