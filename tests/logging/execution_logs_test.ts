// Log records of a real execution (the orchestrator's and those its agents
// make in their workers) carry the execution id, the actor and the trace id,
// honour the level, and never contain secrets.
import assert from "node:assert/strict";
import type { LogRecord } from "@logtape/logtape";
import { configureLoggingFromEnv, resetLogging } from "../../src/logging/configure_logging.ts";
import { REDACTED, registerSecret, unregisterSecret } from "../../src/logging/redaction.ts";
import { Orchestrator } from "../../src/orchestrator/orchestrator.ts";
import { traceTestAgents, traceTestTools } from "../fixtures/trace_registrations.ts";

const API_TOKEN = "oao-api-token-5e1f0c9a";
const REDIS_PASSWORD = "hunter22-redis";

function rendered(record: LogRecord): string {
  return record.message.map(String).join("");
}

async function runLogged(
  level: string,
): Promise<{ records: LogRecord[]; id: string; traceId: string }> {
  const records: LogRecord[] = [];
  await configureLoggingFromEnv({ OAO_LOG_LEVEL: level }, { sink: (r) => void records.push(r) });
  registerSecret(API_TOKEN);
  const orchestrator = new Orchestrator({
    retry: { attempts: 3, initialDelayMs: 5, maxDelayMs: 20 },
    agents: traceTestAgents(),
    tools: traceTestTools(),
  });
  try {
    // Secrets in the task reach the agent's log record and the step's error message.
    const topic = `actors at redis://app:${REDIS_PASSWORD}@db:6379/0 with key ${API_TOKEN}`;
    const report = await orchestrator.run("trace-lead", { topic });
    assert.equal(report.status, "SUCCESS", JSON.stringify(report.error));
    await orchestrator.close();
    assert.ok(report.traceId);
    return { records, id: report.executionId, traceId: report.traceId };
  } finally {
    await orchestrator.close();
    unregisterSecret(API_TOKEN);
    await resetLogging();
  }
}

Deno.test("records of an execution carry its id, the actor and the trace id, from the orchestrator and from agents' workers", async () => {
  const { records, id, traceId } = await runLogged("INFO");
  const ofExecution = records.filter((r) => r.properties.executionId === id);

  // The orchestrator's own record of the retried step.
  const retry = ofExecution.find((r) =>
    r.category.join(".") === "oao.orchestrator" && rendered(r).startsWith("RETRY_ATTEMPTED")
  );
  assert.ok(retry, "the orchestrator logs the retried step");
  assert.equal(retry.level, "warning");
  assert.equal(retry.properties.agent, "trace-lead");
  assert.equal(retry.properties.actor, `${id}/trace-lead`);
  assert.equal(retry.properties.traceId, traceId);

  // Records made by the agents inside their workers, forwarded by the host.
  const planning = ofExecution.filter((r) => rendered(r) === "Planning");
  assert.equal(planning.length, 2, "PLAN ran twice");
  for (const record of planning) {
    assert.deepEqual(record.category, ["oao", "actor"]);
    assert.equal(record.properties.actor, `${id}/trace-lead`);
    assert.equal(record.properties.traceId, traceId);
  }
  const peers = ofExecution.filter((r) => rendered(r) === "Handling a peer message");
  assert.deepEqual(
    [...new Set(peers.map((r) => r.properties.actor))].sort(),
    [`${id}/trace-leaf`, `${id}/trace-relay`],
  );
  for (const record of peers) assert.equal(record.properties.traceId, traceId);

  // Runtime events of the execution's actors (the worker crash) are logged with it too.
  const failed = ofExecution.find((r) => rendered(r).startsWith("ACTOR_FAILED"));
  assert.ok(failed, "the crash of the lead's worker is logged");
  assert.equal(failed.level, "error");
});

Deno.test("no record of an execution contains the Redis password or a registered API token", async () => {
  const { records } = await runLogged("DEBUG");
  assert.ok(records.length > 0);
  const everything = Deno.inspect(records, { depth: 20, iterableLimit: Infinity });
  assert.ok(!everything.includes(REDIS_PASSWORD), "the Redis password is redacted");
  assert.ok(!everything.includes(API_TOKEN), "the API token is redacted");
  const planning = records.find((r) => rendered(r) === "Planning")!;
  assert.equal(
    planning.properties.topic,
    `actors at redis://app:${REDACTED}@db:6379/0 with key ${REDACTED}`,
  );
  const retries = records.filter((r) => rendered(r).startsWith("RETRY_ATTEMPTED"));
  // The step's retry and the worker's restart (a loaded machine may add a retry).
  assert.ok(retries.length >= 2, `${retries.length} RETRY_ATTEMPTED records`);
  for (const r of retries) assert.ok(!Deno.inspect(r, { depth: 20 }).includes(REDIS_PASSWORD));
  const retry = retries.find((r) => r.category.join(".") === "oao.orchestrator")!;
  assert.match(rendered(retry), /redis:\/\/app:\[REDACTED\]@db/);
});

Deno.test("OAO_LOG_LEVEL=WARN keeps only warnings and errors of an execution", async () => {
  const { records, id } = await runLogged("WARN");
  assert.ok(records.some((r) => r.properties.executionId === id && r.level === "warning"));
  assert.ok(records.some((r) => r.properties.executionId === id && r.level === "error"));
  assert.ok(
    records.every((r) => r.level === "warning" || r.level === "error" || r.level === "fatal"),
    `levels: ${[...new Set(records.map((r) => r.level))]}`,
  );
  assert.ok(!records.some((r) => rendered(r) === "Planning"), "info records of agents are dropped");
});
