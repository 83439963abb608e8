// Registering agents by module: where the module is looked for (a URL, an
// import.meta.resolve result, a path), the error when it is not there, and
// the version an agent registered without one reports (its module's).
import assert from "node:assert/strict";
import { ExecutionHashMismatchError } from "../../src/errors.ts";
import { InMemoryEventStore } from "../../src/events/in_memory_event_store.ts";
import type { EventStore } from "../../src/events/event_store.ts";
import { agentVersionInBundle } from "../../src/orchestrator/_agent_module.ts";
import { type AgentRegistration, Orchestrator } from "../../src/orchestrator/orchestrator.ts";
import { defineTool } from "../../src/orchestrator/tool.ts";

const TEST_AGENT = new URL("../fixtures/test_agent.ts", import.meta.url); // defineAgent version "1.0.0"
const AGENT_TS = new URL("../../src/orchestrator/agent.ts", import.meta.url).href;

function orchestrator(agents: AgentRegistration[], eventStore?: EventStore) {
  const o = new Orchestrator({ agents, ...(eventStore ? { eventStore } : {}) });
  return Object.assign(o, { [Symbol.asyncDispose]: () => o.close() });
}

/** Two agent modules that differ only in the version their defineAgent declares. */
async function versionedModules(): Promise<{ v1: URL; v2: URL } & AsyncDisposable> {
  const dir = await Deno.makeTempDir();
  const write = async (version: string) => {
    const path = `${dir}/agent_${version}.ts`;
    await Deno.writeTextFile(
      path,
      `import { defineAgent } from ${JSON.stringify(AGENT_TS)};
export default defineAgent({ name: "versioned", version: ${
        JSON.stringify(version)
      }, review: () => true });
`,
    );
    return new URL(`file://${path}`);
  };
  return {
    v1: await write("1.0.0"),
    v2: await write("2.0.0"),
    [Symbol.asyncDispose]: () => Deno.remove(dir, { recursive: true }),
  };
}

Deno.test("an agent registered by module only reports its defineAgent version in its events and status", async () => {
  await using o = orchestrator([{ name: "tester", module: TEST_AGENT }]);
  const report = await o.run("tester", {});
  assert.equal(report.status, "SUCCESS");
  const [started] = await o.eventStore.readRange(report.executionId);
  assert.equal(started!.type, "EXECUTION_STARTED");
  assert.equal(started!.data?.version, "1.0.0");
  assert.equal((await o.status(report.executionId)).version, "1.0.0");
  assert.equal(o.resolveAgent("tester").version, "1.0.0", "known once an execution read it");
});

Deno.test("two module versions give two execution hashes; a registered version outweighs the module's", async () => {
  await using modules = await versionedModules();
  const hashOf = async (registration: Omit<AgentRegistration, "name">) => {
    await using o = orchestrator([{ name: "versioned", ...registration }]);
    const report = await o.run("versioned", { same: "task" });
    assert.equal(report.status, "SUCCESS");
    const [started] = await o.eventStore.readRange(report.executionId);
    return { hash: report.executionHash, version: started!.data?.version };
  };
  const v1 = await hashOf({ module: modules.v1 });
  const v2 = await hashOf({ module: modules.v2 });
  assert.deepEqual([v1.version, v2.version], ["1.0.0", "2.0.0"]);
  assert.notEqual(v1.hash, v2.hash);
  assert.deepEqual(await hashOf({ module: modules.v1, version: "2.0.0" }), v2);
});

Deno.test("resume computes the hash with the module's version, before anything else read it", async () => {
  await using modules = await versionedModules();
  const store = new InMemoryEventStore();
  let original: string;
  {
    await using first = orchestrator([{ name: "versioned", module: modules.v1 }], store);
    original = (await first.run("versioned", {})).executionId;
  }
  // The log of a process that died after step 1, under a new id.
  const events = await store.readRange(original);
  const cut = events.findIndex((e) => e.type === "STEP_COMPLETED");
  for (const event of events.slice(0, cut + 1)) {
    const { executionId: _id, seq: _seq, id: _eventId, ...input } = event;
    await store.appendEvent("exec-died", input);
  }
  {
    await using changed = orchestrator([{ name: "versioned", module: modules.v2 }], store);
    await assert.rejects(changed.resume("exec-died"), ExecutionHashMismatchError);
  }
  await using fresh = orchestrator([{ name: "versioned", module: modules.v1 }], store);
  const report = await fresh.resume("exec-died");
  assert.equal(report.status, "SUCCESS");
  assert.equal(report.executionHash, events[0]!.data?.hash);
});

Deno.test("a module given as a URL or as an import.meta.resolve string is found wherever the process runs", async () => {
  await using o = orchestrator([
    { name: "by-url", module: TEST_AGENT },
    { name: "by-resolve", module: import.meta.resolve("../fixtures/test_agent.ts") },
  ]);
  for (const name of ["by-url", "by-resolve"]) {
    const report = await o.run(name, {});
    assert.equal(report.status, "SUCCESS", name);
  }
});

Deno.test("a relative path that does not exist is refused at registration, naming the path tried and the fix", () => {
  const o = new Orchestrator();
  assert.throws(
    () => o.registerAgent({ name: "lost", module: "./no_such_agent.ts" }),
    (error: unknown) => {
      assert.ok(error instanceof TypeError);
      assert.equal(
        error.message,
        `Cannot register agent "lost": its module "./no_such_agent.ts" resolves to "${Deno.cwd()}/no_such_agent.ts", ` +
          `which does not exist (a relative path is resolved against the working directory "${Deno.cwd()}"; ` +
          `to resolve it against your own module, pass a URL such as new URL("./no_such_agent.ts", import.meta.url))`,
      );
      return true;
    },
  );
  assert.deepEqual(o.agents, [], "nothing is registered");
  assert.throws(
    () => new Orchestrator({ agents: [{ name: "lost", module: "agents/lost.ts" }] }),
    /resolves to ".*\/agents\/lost\.ts", which does not exist/,
  );
});

Deno.test("a file: URL that does not exist is refused at registration, naming its path", () => {
  const o = new Orchestrator();
  const missing = new URL("../fixtures/no_such_agent.ts", import.meta.url);
  for (const module of [missing, import.meta.resolve("../fixtures/no_such_agent.ts")]) {
    assert.throws(
      () => o.registerAgent({ name: "lost", module }),
      (error: unknown) => {
        assert.ok(error instanceof TypeError);
        assert.ok(
          error.message.startsWith(
            `Cannot register agent "lost": its module "${missing.pathname}" does not exist (check the path;`,
          ),
          error.message,
        );
        return true;
      },
    );
  }
  assert.throws(
    () => o.registerAgent({ name: "dir", module: new URL("../fixtures/", import.meta.url) }),
    /its module ".*\/tests\/fixtures\/" is not a file/,
  );
});

Deno.test("the declared version is read from the bundle's default export, through constants", () => {
  const imports = `import { defineAgent } from "file:///oao/src/orchestrator/agent.ts";\n`;
  const cases: [string, string | undefined][] = [
    [
      `var a_default = defineAgent({ name: "a", version: "1.2.3" });\nexport { a_default as default };`,
      "1.2.3",
    ],
    [`export default defineAgent({ version: \`4.0.0\`, review() { return true; } });`, "4.0.0"],
    [
      `const V = "5.1.0";\nconst definition = { version: V };\nvar agent = defineAgent(definition);\nexport { agent as default };`,
      "5.1.0",
    ],
    [`export default defineAgent({ name: "no version" });`, undefined],
    [`export default defineAgent({ version: "1." + "0" });`, undefined],
    [`export default defineAgent({ ["version"]: "9" });`, undefined],
    [`export default somethingElse({ version: "1.0.0" });`, undefined],
    [`export const other = defineAgent({ version: "1.0.0" });`, undefined],
  ];
  for (const [code, expected] of cases) {
    assert.equal(agentVersionInBundle(imports + code), expected, code);
  }
  assert.equal(
    agentVersionInBundle(
      `import * as oao from "file:///oao/mod.ts";\nexport default oao.defineAgent({ version: "7.0.0" });`,
    ),
    "7.0.0",
  );
  assert.equal(agentVersionInBundle("this is not javascript {"), undefined);
});

for (const sandbox of ["thread", "process"] as const) {
  Deno.test(`the README's greeter, importing the package's entry point, runs without permissions (${sandbox})`, async () => {
    const o = new Orchestrator({
      sandbox,
      tools: [
        defineTool({ name: "greet", run: (args: { name: string }) => `Hello, ${args.name}!` }),
      ],
      agents: [{
        name: "greeter",
        module: new URL("../fixtures/greeter_agent.ts", import.meta.url),
      }],
    });
    try {
      const report = await o.run("greeter", { name: "Ada" });
      assert.equal(report.status, "SUCCESS", JSON.stringify(report.error));
      assert.equal(report.output, "Hello, Ada!");
    } finally {
      await o.close();
    }
  });
}
