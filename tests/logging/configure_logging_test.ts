import assert from "node:assert/strict";
import type { LogRecord } from "@logtape/logtape";
import {
  configureLogging,
  configureLoggingFromEnv,
  createLogFormatter,
  resetLogging,
} from "../../src/logging/configure_logging.ts";
import { getOaoLogger, withLogContext } from "../../src/logging/logger.ts";
import { REDACTED, registerSecret, unregisterSecret } from "../../src/logging/redaction.ts";
import { newTraceContext } from "../../src/tracing/trace_context.ts";

/** Configures logging into an array for the duration of `fn`. */
async function capture(
  options: { level?: string; env?: Record<string, string> },
  fn: (records: LogRecord[]) => void | Promise<void>,
): Promise<LogRecord[]> {
  const records: LogRecord[] = [];
  const sink = (r: LogRecord) => void records.push(r);
  if (options.env) await configureLoggingFromEnv(options.env, { sink });
  else await configureLogging({ ...(options.level ? { level: options.level } : {}), sink });
  try {
    await fn(records);
  } finally {
    await resetLogging();
  }
  return records;
}

function rendered(record: LogRecord): string {
  return record.message.map(String).join("");
}

Deno.test("records below OAO_LOG_LEVEL are dropped and the rest are kept", async () => {
  const records = await capture({ env: { OAO_LOG_LEVEL: "warn" } }, () => {
    const log = getOaoLogger("runtime");
    log.debug("debug");
    log.info("info");
    log.warn("warn");
    log.error("error");
  });
  assert.deepEqual(records.map(rendered), ["warn", "error"]);
});

Deno.test("the default level is INFO", async () => {
  const records = await capture({ env: {} }, () => {
    getOaoLogger("runtime").debug("hidden");
    getOaoLogger("runtime").info("shown");
  });
  assert.deepEqual(records.map(rendered), ["shown"]);
});

Deno.test("DEBUG lets debug records through", async () => {
  const records = await capture({ level: "debug" }, () => getOaoLogger("runtime").debug("shown"));
  assert.deepEqual(records.map(rendered), ["shown"]);
});

Deno.test("an invalid OAO_LOG_LEVEL fails configuration with a RangeError and configures nothing", async () => {
  await assert.rejects(
    () => configureLoggingFromEnv({ OAO_LOG_LEVEL: "LOUD" }),
    (e: unknown) =>
      e instanceof RangeError && e.message.includes('OAO_LOG_LEVEL "LOUD"') &&
      e.message.includes('"DEBUG", "INFO", "WARN", "ERROR"'),
  );
  await assert.rejects(() => configureLogging({ level: "trace" }), RangeError);
});

Deno.test("a logger bound to a context stamps executionId, actor and traceId on every record", async () => {
  const trace = newTraceContext(true);
  const records = await capture({}, () => {
    const log = getOaoLogger(["runtime", "actor"], {
      executionId: "exec-1",
      actor: "planner",
      trace,
    });
    log.info("Step {step} started", { step: 3 });
    log.with({ tool: "search" }).warn("Tool slow");
  });
  assert.equal(records.length, 2);
  for (const r of records) {
    assert.equal(r.properties.executionId, "exec-1");
    assert.equal(r.properties.actor, "planner");
    assert.equal(r.properties.traceId, trace.traceId);
    assert.equal(r.properties.spanId, trace.spanId);
    assert.deepEqual(r.category, ["oao", "runtime", "actor"]);
  }
  assert.equal(records[0]!.properties.step, 3);
  assert.equal(records[1]!.properties.tool, "search");
});

Deno.test("records made inside withLogContext carry the context across awaits; absent fields are omitted", async () => {
  const trace = newTraceContext(false);
  const records = await capture({}, async () => {
    await withLogContext({ executionId: "exec-2" }, async () => {
      await Promise.resolve();
      getOaoLogger("runtime").info("outer");
      await withLogContext({ actor: "critic", trace }, async () => {
        await new Promise((r) => setTimeout(r, 1));
        getOaoLogger("runtime").info("inner");
      });
    });
    getOaoLogger("runtime").info("outside");
  });
  assert.deepEqual(records.map((r) => r.properties), [
    { executionId: "exec-2" },
    { executionId: "exec-2", actor: "critic", traceId: trace.traceId, spanId: trace.spanId },
    {},
  ]);
});

Deno.test("secrets are redacted from messages, properties, nested objects and errors before any sink", async () => {
  const apiToken = "oao-api-token-7f3a9c";
  registerSecret(apiToken);
  try {
    const records = await capture({}, () => {
      const log = getOaoLogger("cli");
      log.info("Connecting to {url}", { url: "redis://app:hunter22@db:6379/0" });
      log.info("Calling API with {auth}", { auth: `Bearer ${apiToken}`, attempt: 1 });
      log.info("Config {config}", {
        config: { redis: { password: "hunter22" }, api: { token: apiToken }, maxTokens: 100 },
      });
      log.error(new Error(`Request with ${apiToken} to rediss://:hunter22@db failed`));
      log.info("Raw " + "redis://:hunter22@db"); // concatenated into the template
    });
    const everything = Deno.inspect(records, { depth: 10 });
    assert.ok(!everything.includes("hunter22"), everything);
    assert.ok(!everything.includes(apiToken), everything);
    assert.equal(rendered(records[0]!), `Connecting to redis://app:${REDACTED}@db:6379/0`);
    assert.equal(records[1]!.properties.auth, REDACTED);
    assert.equal(records[1]!.properties.attempt, 1);
    assert.deepEqual(records[2]!.properties.config, {
      redis: { password: REDACTED },
      api: { token: REDACTED },
      maxTokens: 100,
    });
    const error = records[3]!.properties.error as Error;
    assert.ok(error instanceof Error);
    assert.equal(error.message, `Request with ${REDACTED} to rediss://:${REDACTED}@db failed`);
  } finally {
    unregisterSecret(apiToken);
  }
});

Deno.test("the text format writes level, category, message, properties and an indented stack", () => {
  const format = createLogFormatter("text");
  const error = new TypeError("bad input");
  const line = format({
    category: ["oao", "runtime"],
    level: "error",
    timestamp: Date.UTC(2025, 0, 2, 3, 4, 5, 6),
    rawMessage: "Step {step} failed",
    message: ["Step ", 3, " failed"],
    properties: { step: 3, executionId: "exec-1", actor: "planner", error },
  });
  const [first, ...rest] = line.trimEnd().split("\n");
  assert.equal(
    first,
    '2025-01-02T03:04:05.006Z [ERR] oao.runtime: Step 3 failed executionId="exec-1" actor="planner" error="TypeError: bad input"',
  );
  assert.match(rest[0]!, /^ {4}TypeError: bad input$/);
  assert.ok(rest.length > 1, "stack frames follow");
  assert.ok(line.endsWith("\n"));
});

const FORGED =
  "done\n2025-01-02T03:04:05.006Z [ERR] oao.runtime: forged\r\x1b[2J\x1b[31mred\ttab\x07\x00\x7f\x9b";

/** Control characters other than the line feed ending each line. */
// deno-lint-ignore no-control-regex
const RAW_CONTROL = /[\x00-\x09\x0b-\x1f\x7f-\x9f]/;

Deno.test("the text format escapes control characters of the message and of property values: one record, one line", () => {
  const line = createLogFormatter("text")({
    category: ["oao", "runtime"],
    level: "info",
    timestamp: 0,
    rawMessage: `Agent said ${FORGED} and {said}`,
    message: [`Agent said ${FORGED} and `, FORGED, ""],
    properties: { said: FORGED, agent: FORGED, nested: { text: FORGED }, list: [FORGED] },
  });
  assert.equal(line.split("\n").length, 2, line);
  assert.ok(line.endsWith("\n"));
  assert.doesNotMatch(line, RAW_CONTROL);
  assert.ok(
    line.startsWith("1970-01-01T00:00:00.000Z [INF] oao.runtime: Agent said done\\n2025"),
    line,
  );
  assert.ok(line.includes("forged\\r\\x1b[2J\\x1b[31mred\\ttab\\x07\\x00\\x7f\\x9b and "), line);
  assert.ok(line.includes(' agent="done\\n2025-01-02T03:04:05.006Z'), line);
});

Deno.test("the text format keeps a hostile error message on its stack's first, indented line", () => {
  const error = new Error(`boom${FORGED}`);
  const line = createLogFormatter("text")({
    category: ["oao"],
    level: "error",
    timestamp: 0,
    rawMessage: "Step failed",
    message: ["Step failed"],
    properties: { error },
  });
  const [first, ...rest] = line.trimEnd().split("\n");
  assert.match(first!, /^1970-01-01T00:00:00\.000Z \[ERR\] oao: Step failed error="Error: boom/);
  assert.match(
    rest[0]!,
    /^ {4}Error: boomdone\\n2025-01-02T03:04:05\.006Z \[ERR\] oao\.runtime: forged\\r/,
  );
  assert.ok(rest.length > 1, "stack frames follow");
  for (const frame of rest) assert.match(frame, /^ {4}/, "every stack line is indented");
  assert.doesNotMatch(line, RAW_CONTROL);
});

Deno.test("the json format keeps a record with control characters on one line", () => {
  const line = createLogFormatter("json")({
    category: ["oao"],
    level: "info",
    timestamp: 0,
    rawMessage: FORGED,
    message: [FORGED],
    properties: { agent: FORGED },
  });
  assert.equal(line.split("\n").length, 2);
  assert.equal(JSON.parse(line).properties.agent, FORGED);
});

Deno.test("the json format writes one parseable object per line with nested properties", () => {
  const line = createLogFormatter("json")({
    category: ["oao", "runtime"],
    level: "warning",
    timestamp: 0,
    rawMessage: "Retry {attempt}",
    message: ["Retry ", 2, ""],
    properties: { attempt: 2, executionId: "exec-1", traceId: "4bf92f3577b34da6a3ce929d0e0e4736" },
  });
  assert.equal(line.split("\n").length, 2);
  const parsed = JSON.parse(line);
  assert.equal(parsed.level, "WARN");
  assert.equal(parsed.logger, "oao.runtime");
  assert.equal(parsed.message, "Retry 2");
  assert.deepEqual(parsed.properties, {
    attempt: 2,
    executionId: "exec-1",
    traceId: "4bf92f3577b34da6a3ce929d0e0e4736",
  });
});

Deno.test("formatted lines are redacted even for values redaction cannot see structurally", () => {
  class Opaque {
    toString() {
      return "redis://:hunter22@db";
    }
  }
  const line = createLogFormatter("text")({
    category: ["oao"],
    level: "info",
    timestamp: 0,
    rawMessage: "{value}",
    message: ["", new Opaque(), ""],
    properties: {},
  });
  assert.ok(!line.includes("hunter22"), line);
});

Deno.test("logs go to stderr, formatted and redacted, and stdout stays empty", async () => {
  const script = `
    import { configureLoggingFromEnv } from ${
    JSON.stringify(new URL("../../src/logging/configure_logging.ts", import.meta.url).href)
  };
    import { getOaoLogger } from ${
    JSON.stringify(new URL("../../src/logging/logger.ts", import.meta.url).href)
  };
    await configureLoggingFromEnv();
    getOaoLogger("cli", { executionId: "exec-9" }).info("Using {url}", { url: "redis://u:hunter22@db:6379" });
    getOaoLogger("cli").debug("not shown at INFO");
  `;
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["eval", "--ext=ts", script],
    env: { OAO_LOG_LEVEL: "info", OAO_LOG_FORMAT: "json", NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const stderr = new TextDecoder().decode(out.stderr);
  assert.ok(out.success, stderr);
  assert.equal(new TextDecoder().decode(out.stdout), "");
  const lines = stderr.trim().split("\n").map((l) => JSON.parse(l));
  assert.equal(lines.length, 1, stderr);
  assert.equal(lines[0].message, `Using "redis://u:${REDACTED}@db:6379"`);
  assert.equal(lines[0].properties.executionId, "exec-9");
  assert.ok(!stderr.includes("hunter22"));
});
