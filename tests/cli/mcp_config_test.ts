// MCP servers in the config file: their tools are OAO tools of `oao run` and
// `oao start` (listed by GET /agents), with errors that name the server.
import assert from "node:assert/strict";
import { cleanEnv, MAIN, oao, oaoServer, TASK_FLAGS } from "./_cli.ts";

const SERVER = new URL("../fixtures/mcp_server.ts", import.meta.url).pathname;
const AGENT = new URL("../fixtures/test_agent.ts", import.meta.url).pathname;

async function config(servers: unknown): Promise<{ path: string; remove(): Promise<void> }> {
  const dir = await Deno.makeTempDir({ prefix: "oao-mcp-" });
  const path = `${dir}/oao.json`;
  await Deno.writeTextFile(
    path,
    JSON.stringify({
      bundled: false,
      agents: [{ name: "tester", module: AGENT, tools: ["calc.add"] }],
      mcpServers: servers,
    }),
  );
  return { path, remove: () => Deno.remove(dir, { recursive: true }) };
}

const calc = { calc: { command: Deno.execPath(), args: ["run", "-A", SERVER] } };

Deno.test("`oao run` calls a tool of an MCP server from the config file as a governed tool", async () => {
  const file = await config(calc);
  try {
    const task = JSON.stringify({ calls: [{ tool: "calc.add", args: { a: 2, b: 40 } }] });
    const { code, stdout, stderr } = await oao(["run", "tester", task, "--config", file.path]);
    assert.equal(code, 0, stderr);
    assert.match(stdout, /output {2}\{"results":\["42"\],"errors":\[\]\}/);
  } finally {
    await file.remove();
  }
});

Deno.test("`oao start` lists the MCP tools in GET /agents", async () => {
  const file = await config(calc);
  try {
    await using server = await oaoServer(["start", "--port", "0", "--config", file.path]);
    const body = await (await fetch(`${server.url}/agents`)).json();
    assert.deepEqual(body.agents, ["tester"]);
    const names = body.tools.map((t: { name: string }) => t.name).sort();
    assert.deepEqual(names, ["calc.add", "calc.lookup", "calc.refuse"]);
    assert.equal(
      body.tools.find((t: { name: string }) => t.name === "calc.add").description,
      "Adds two numbers",
    );
  } finally {
    await file.remove();
  }
});

Deno.test("an MCP server that cannot start, or a bad entry, exits 2 naming the server and what to do", async () => {
  const file = await config(calc);
  const bad = await config({ calc: { command: "deno", port: 3 } });
  try {
    // Without --allow-run the server's command cannot start.
    const flags = TASK_FLAGS.filter((f) => f !== "--allow-run");
    const output = await new Deno.Command(Deno.execPath(), {
      args: ["run", ...flags, MAIN, "run", "tester", "{}", "--config", file.path],
      env: cleanEnv(),
      clearEnv: true,
      stdout: "piped",
      stderr: "piped",
    }).output();
    const stderr = new TextDecoder().decode(output.stderr);
    assert.equal(output.code, 2, stderr);
    assert.match(stderr, /MCP server "calc"/);
    assert.match(stderr, /--allow-run/);
    const invalid = await oao(["run", "tester", "{}", "--config", bad.path]);
    assert.equal(invalid.code, 2, invalid.stderr);
    assert.match(invalid.stderr, /Invalid MCP server "calc": unknown key "port"/);
  } finally {
    await file.remove();
    await bad.remove();
  }
});
