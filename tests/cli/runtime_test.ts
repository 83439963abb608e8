// Building a command's runtime: stores from REDIS_URL, agents from the
// examples config, a config file and flags.
import assert from "node:assert/strict";
import { type Command, parseCommandLine, UsageError } from "../../src/cli/_command.ts";
import {
  createRuntime,
  EXAMPLES_CONFIG,
  loadAgents,
  RUNTIME_ENV,
  RUNTIME_FLAGS,
} from "../../src/cli/_runtime.ts";
import { redisTestEnv } from "./_redis_env.ts";

const command: Command = {
  name: "probe",
  summary: "",
  flags: RUNTIME_FLAGS,
  env: RUNTIME_ENV,
  run: () => 0,
};

function context(argv: string[], vars: Record<string, string> = {}) {
  // The in-memory stores unless REDIS_URL (or OAO_STORE) says otherwise.
  const env = { ...(vars.REDIS_URL ? {} : { OAO_STORE: "memory" }), ...vars };
  const ctx = parseCommandLine(command, argv, { env: (name) => env[name as keyof typeof env] });
  assert.ok(ctx !== "help");
  return ctx;
}

async function withConfig(config: unknown, body: (path: string, dir: string) => Promise<void>) {
  const dir = await Deno.makeTempDir();
  try {
    const path = `${dir}/oao.json`;
    await Deno.writeTextFile(path, typeof config === "string" ? config : JSON.stringify(config));
    await body(path, dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("without REDIS_URL the runtime is in memory with the example agents and tools", async () => {
  const runtime = await createRuntime(context([]), { announce: false });
  try {
    assert.equal(runtime.storage, "memory");
    assert.deepEqual(runtime.agents.map((a) => a.name), [
      "researcher",
      "critic",
      "flaky",
      "runaway",
    ]);
    assert.deepEqual(runtime.tools.map((t) => t.name), ["search", "fetch", "process_item"]);
    assert.equal(await runtime.ready(), true);
    const orchestrator = runtime.createOrchestrator();
    const report = await orchestrator.run("runaway", {}, { policy: { maxToolCalls: 1 } });
    assert.equal(report.status, "FAILED");
    assert.equal(
      (await runtime.eventStore.readRange(report.executionId))[0]!.type,
      "EXECUTION_STARTED",
    );
  } finally {
    await runtime.close();
  }
});

Deno.test("with REDIS_URL every store is on Redis, under OAO_KEY_PREFIX, and ready() pings it", async () => {
  await using redis = redisTestEnv();
  const runtime = await createRuntime(context([], redis.env), { announce: false });
  try {
    assert.equal(runtime.storage, "redis");
    assert.equal(runtime.redisUrl, redis.env.REDIS_URL);
    assert.equal(await runtime.ready(), true);
    await runtime.eventStore.appendEvent("exec-rt", { type: "PROBE" });
    await runtime.queue.enqueue({ executionId: "exec-rt", agent: "flaky", task: {} });
    assert.equal((await runtime.queue.stats()).waiting, 1);
  } finally {
    await runtime.close();
  }
});

Deno.test("a config file adds agents (modules relative to it) and tool modules; --agent flags come last", async () => {
  await withConfig({
    agents: [{
      name: "mine",
      module: "./agent.ts",
      version: "2.0.0",
      peers: ["critic"],
      tools: ["double"],
    }],
    tools: ["./tools.ts"],
  }, async (path, dir) => {
    await Deno.writeTextFile(
      `${dir}/tools.ts`,
      `export const double = { name: "double", run: ({ n }) => n * 2 };
      export const all = [double];`,
    );
    await Deno.writeTextFile(`${dir}/agent.ts`, "export default {};");
    const { agents, tools } = await loadAgents(
      context(["--config", path, "--agent", "extra=./tests/fixtures/test_agent.ts"]),
    );
    const mine = agents.find((a) => a.name === "mine")!;
    assert.equal(mine.module, new URL(`file://${dir}/agent.ts`).href);
    assert.equal(mine.version, "2.0.0");
    assert.ok(tools.some((t) => t.name === "double"));
    assert.equal(
      tools.filter((t) => t.name === "double").length,
      1,
      "a tool exported twice counts once",
    );
    assert.equal(agents.at(-1)!.name, "extra");
    assert.equal(
      agents.at(-1)!.module,
      new URL(`file://${Deno.cwd()}/tests/fixtures/test_agent.ts`).href,
      "an --agent path is relative to the working directory",
    );
    const fromEnv = await loadAgents(context([], { OAO_CONFIG: path }));
    assert.ok(fromEnv.agents.some((a) => a.name === "mine"));
  });
});

Deno.test('"bundled": false leaves out the bundled agents and tools', async () => {
  await withConfig(
    { bundled: false, agents: [{ name: "solo", module: "./solo.ts" }] },
    async (path, dir) => {
      await Deno.writeTextFile(`${dir}/solo.ts`, "export default {};");
      const { agents, tools } = await loadAgents(context(["--config", path]));
      assert.deepEqual(agents.map((a) => a.name), ["solo"]);
      assert.deepEqual(tools, []);
      const forced = await loadAgents(context(["--config", path], { OAO_EXAMPLES: "true" }));
      assert.deepEqual(
        forced.agents.map((a) => a.name),
        ["researcher", "critic", "flaky", "runaway", "solo"],
        'OAO_EXAMPLES=true outweighs the config\'s "bundled": false',
      );
    },
  );
});

Deno.test("--agent-permissions sets an agent's permissions, validated", async () => {
  const { agents } = await loadAgents(
    context(["--agent-permissions", 'flaky={"net":["example.com:443"]}']),
  );
  assert.deepEqual(agents.find((a) => a.name === "flaky")!.permissions, {
    net: ["example.com:443"],
  });
  await assert.rejects(loadAgents(context(["--agent-permissions", 'flaky={"net":7}'])), UsageError);
  await assert.rejects(
    loadAgents(context(["--agent-permissions", "ghost=none"])),
    /naming a loaded agent/,
  );
});

Deno.test("bad config files are usage errors naming the file and the field", async () => {
  const cases: [unknown, RegExp][] = [
    ["{not json", /Invalid config ".*oao\.json": not JSON/],
    [[1], /expected an object with "agents"/],
    [{ agent: [] }, /unknown key "agent"/],
    [{ agents: {} }, /"agents" must be a list/],
    [{ agents: [{ name: "x" }] }, /agents\[0\]\.module must be a module path/],
    [{ agents: [{ name: "bad name", module: "./a.ts" }] }, /agents\[0\]\.name must be/],
    [
      { agents: [{ name: "a", module: "./a.ts", colour: 1 }] },
      /agents\[0\] has unknown key "colour"/,
    ],
    [
      { agents: [{ name: "a", module: "./a.ts" }, { name: "a", module: "./b.ts" }] },
      /two agents are named "a"/,
    ],
    [
      { agents: [{ name: "a", module: "./a.ts", permissions: { disk: true } }] },
      /agents\[0\]\.permissions/,
    ],
    [
      { agents: [{ name: "a", module: "./a.ts", isolation: "thread" }] },
      /agents\[0\]\.isolation must be "pool" or "execution"/,
    ],
    [
      { agents: [{ name: "a", module: "./a.ts", maxRunning: 0 }] },
      /agents\[0\]\.maxRunning must be an integer >= 1/,
    ],
    [
      { agents: [{ name: "a", module: "./a.ts", maxRunning: "10" }] },
      /agents\[0\]\.maxRunning must be an integer >= 1/,
    ],
    [
      { agents: [{ name: "a", module: "./a.ts", peers: ["ghost"] }] },
      /lists the peer "ghost", which is not loaded/,
    ],
    [
      { agents: [{ name: "a", module: "./a.ts", tools: ["ghost"] }] },
      /lists the tool "ghost", which is not loaded/,
    ],
    [{ tools: ["./missing_tools.ts"] }, /cannot load tool module/],
    [{ bundled: "yes" }, /"bundled" must be true or false/],
  ];
  for (const [config, message] of cases) {
    await withConfig(config, async (path, dir) => {
      await Deno.writeTextFile(`${dir}/a.ts`, "export default {};");
      await assert.rejects(loadAgents(context(["--config", path])), (error: unknown) => {
        assert.ok(error instanceof UsageError, String(error));
        assert.match(error.message, message);
        return true;
      });
    });
  }
  await assert.rejects(
    loadAgents(context(["--config", "/nonexistent/oao.json"])),
    /Cannot read config "\/nonexistent\/oao\.json"/,
  );
});

Deno.test("REDIS_URL and OAO_KEY_PREFIX are validated before connecting", async () => {
  await assert.rejects(createRuntime(context([], { REDIS_URL: "http://x" })), UsageError);
  await assert.rejects(
    createRuntime(context([], { REDIS_URL: "redis://127.0.0.1:6379", OAO_KEY_PREFIX: "a{b" })),
    /OAO_KEY_PREFIX/,
  );
  await assert.rejects(
    createRuntime(context([]), { requireSharedStore: true, sharedStoreReason: "it must" }),
    /OAO_STORE=memory: it must; set REDIS_URL=redis:\/\/host:6379, or OAO_STORE=kv/,
  );
});

Deno.test("the examples come from actors/examples.oao.json, loaded like any config file", async () => {
  const { agents, tools } = await loadAgents(context([]));
  const config = JSON.parse(await Deno.readTextFile(EXAMPLES_CONFIG)) as {
    agents: { name: string; module: string }[];
  };
  assert.deepEqual(agents.map((a) => a.name), config.agents.map((a) => a.name));
  assert.equal(
    agents.find((a) => a.name === "researcher")!.module,
    new URL("research_agent.ts", EXAMPLES_CONFIG).href,
    "modules are relative to the examples config",
  );
  assert.deepEqual(tools.map((t) => t.name), ["search", "fetch", "process_item"]);
});

Deno.test("--no-examples and OAO_EXAMPLES=false leave the examples out; --examples brings them back", async () => {
  const none = await loadAgents(context(["--no-examples"]));
  assert.deepEqual([none.agents, none.tools], [[], []]);
  const off = await loadAgents(context([], { OAO_EXAMPLES: "false" }));
  assert.deepEqual(off.agents, []);
  const last = await loadAgents(context(["--no-examples", "--examples"], { OAO_EXAMPLES: "0" }));
  assert.equal(last.agents.length, 4, "the last flag wins, and a flag outweighs its variable");
  assert.throws(() => context([], { OAO_EXAMPLES: "maybe" }), /Invalid OAO_EXAMPLES "maybe"/);
  assert.throws(() => context(["--no-config"]), /Unknown flag "--no-config"/);
});

Deno.test("an agent module that does not exist is a usage error naming the flag or entry and the path", async () => {
  await assert.rejects(
    loadAgents(context(["--agent", "ghost=./no/such_agent.ts"])),
    (error: unknown) => {
      assert.ok(error instanceof UsageError);
      assert.equal(
        error.message,
        `Invalid flag "--agent" value "ghost=./no/such_agent.ts": no agent module at "${Deno.cwd()}/no/such_agent.ts" (a module path is relative to the working directory)`,
      );
      return true;
    },
  );
  await withConfig({ agents: [{ name: "a", module: "./missing.ts" }] }, async (path, dir) => {
    await assert.rejects(
      loadAgents(context(["--config", path])),
      new RegExp(
        `Invalid config ".*oao\\.json": agents\\[0\\]\\.module "\\./missing\\.ts": no agent module at "${dir}/missing\\.ts" \\(a module path is relative to the config file\\)`,
      ),
    );
  });
});
