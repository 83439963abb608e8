// Tools of MCP servers as governed OAO tools, against a real MCP server
// process (tests/fixtures/mcp_server.ts) over stdio and over streamable HTTP.
import assert from "node:assert/strict";
import { connectMcpServer, McpToolError } from "../../src/mcp/mcp_tools.ts";
import { checkMcpServerConfig } from "../../src/mcp/mcp_server_config.ts";
import { Orchestrator } from "../../src/orchestrator/orchestrator.ts";

const SERVER = new URL("../fixtures/mcp_server.ts", import.meta.url).pathname;
const AGENT = new URL("../fixtures/test_agent.ts", import.meta.url);
const DENO = Deno.execPath();
const stdio = { command: DENO, args: ["run", "-A", SERVER] };
const ctx = {
  executionId: "exec-1",
  agent: "a",
  step: 1,
  key: "k",
  signal: new AbortController().signal,
};

Deno.test("an MCP server over stdio: its tools are listed as <server>.<tool>, idempotent when read-only, and answer", async () => {
  const mcp = await connectMcpServer("calc", stdio);
  try {
    const byName = new Map(mcp.tools.map((t) => [t.name, t]));
    assert.deepEqual([...byName.keys()].sort(), ["calc.add", "calc.lookup", "calc.refuse"]);
    assert.equal(byName.get("calc.add")!.idempotent, true);
    assert.equal(byName.get("calc.lookup")!.idempotent, false);
    assert.equal(byName.get("calc.add")!.description, "Adds two numbers");
    assert.equal(await byName.get("calc.add")!.run({ a: 2, b: 3 }, ctx), "5");
    assert.deepEqual(await byName.get("calc.lookup")!.run({ key: "known" }, ctx), {
      key: "known",
      found: true,
    });
    await assert.rejects(
      async () => await byName.get("calc.refuse")!.run({}, ctx),
      (error) =>
        error instanceof McpToolError &&
        /"calc.refuse" failed: refused on purpose/.test(error.message),
    );
  } finally {
    await mcp.close();
  }
});

Deno.test("MCP tools run as governed tool calls of an execution: recorded in its log, errors reach the agent", async () => {
  const mcp = await connectMcpServer("calc", stdio);
  const orchestrator = new Orchestrator({
    agents: [{ name: "tester", module: AGENT }],
    tools: mcp.tools as never,
  });
  try {
    const report = await orchestrator.run("tester", {
      calls: [{ tool: "calc.add", args: { a: 20, b: 22 } }, { tool: "calc.refuse", args: {} }],
      catchToolErrors: true,
    });
    assert.equal(report.status, "SUCCESS", JSON.stringify(report.error));
    const output = report.output as { results: unknown[]; errors: string[] };
    assert.deepEqual(output.results, ["42"]);
    assert.match(output.errors.join(" "), /refused on purpose/);
    const events = await orchestrator.eventStore.readRange(report.executionId);
    const calls = events.filter((e) => e.type === "TOOL_CALL").map((e) => e.data?.tool);
    assert.deepEqual(calls, ["calc.add", "calc.refuse"]);
    assert.ok(events.some((e) => e.type === "TOOL_CALL_FAILED" && e.data?.tool === "calc.refuse"));
  } finally {
    await orchestrator.close();
    await mcp.close();
  }
});

Deno.test("the secrets of an MCP server's env are redacted from its tools' errors and the log", async () => {
  const token = "tok-VERYSECRET-999";
  const mcp = await connectMcpServer("calc", { ...stdio, env: { SECRET_TOKEN: token } });
  const orchestrator = new Orchestrator({
    agents: [{ name: "tester", module: AGENT }],
    tools: mcp.tools as never,
  });
  try {
    const report = await orchestrator.run("tester", {
      calls: [{ tool: "calc.refuse", args: {} }],
      catchToolErrors: true,
    });
    const errors = (report.output as { errors: string[] }).errors.join(" ");
    assert.match(errors, /refused on purpose \(my token is \[REDACTED\]\)/);
    const events = await orchestrator.eventStore.readRange(report.executionId);
    assert.ok(!JSON.stringify(events).includes(token), "the token is in the log");
  } finally {
    await orchestrator.close();
    await mcp.close();
  }
});

Deno.test("an MCP server over streamable HTTP", async () => {
  const child = new Deno.Command(DENO, {
    args: ["run", "-A", SERVER, "--http", "0"],
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  while (!/listening (\d+)/.test(text)) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`the MCP server ended: ${text}`);
    text += value;
  }
  const port = /listening (\d+)/.exec(text)![1];
  const mcp = await connectMcpServer("remote", { url: `http://127.0.0.1:${port}/mcp` });
  try {
    const add = mcp.tools.find((t) => t.name === "remote.add")!;
    assert.equal(await add.run({ a: 1, b: 1 }, ctx), "2");
  } finally {
    await mcp.close();
    reader.cancel().catch(() => {});
    child.kill("SIGTERM");
    await child.status;
  }
});

Deno.test("bad MCP server configs and unreachable servers are refused naming the server and what to do", async () => {
  assert.throws(
    () => checkMcpServerConfig("a b", { command: "x" }),
    /Invalid MCP server name "a b"/,
  );
  assert.throws(() => checkMcpServerConfig("s", {}), /"s": expected "command"/);
  assert.throws(() => checkMcpServerConfig("s", { command: "x", port: 1 }), /unknown key "port"/);
  assert.throws(
    () => checkMcpServerConfig("s", { url: "ftp://x" }),
    /"url" must be an http: or https: URL/,
  );
  assert.throws(
    () => checkMcpServerConfig("s", { command: "x", args: [1] }),
    /"args" must be a list of strings/,
  );
  await assert.rejects(
    connectMcpServer("ghost", { command: "/nonexistent/mcp-server" }),
    /Cannot connect to MCP server "ghost" \(command "\/nonexistent\/mcp-server"\)/,
  );
  await assert.rejects(
    connectMcpServer("down", { url: "http://127.0.0.1:9/mcp" }, { connectTimeoutMs: 5_000 }),
    /Cannot connect to MCP server "down" at http:\/\/127.0.0.1:9\/mcp/,
  );
});

Deno.test("what a careless server lists is bounded: a name OAO cannot carry is left out, a long description cut", async () => {
  const mcp = await connectMcpServer("odd", {
    command: DENO,
    args: ["run", "-A", SERVER, "--hostile"],
  });
  try {
    const names = mcp.tools.map((t) => t.name);
    assert.ok(!names.some((n) => n.includes("bad")), names.join(", "));
    const verbose = mcp.tools.find((t) => t.name === "odd.verbose")!;
    assert.equal(verbose.description!.length, 1_000);
    assert.equal(await verbose.run({}, ctx), "ok");
  } finally {
    await mcp.close();
  }
});
