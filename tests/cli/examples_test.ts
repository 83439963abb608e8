// The command line does not need actors/: it reads the example agents from
// actors/examples.oao.json when they are there, runs users' agents without
// them, and says where they should be when they are asked for.
import assert from "node:assert/strict";
import { cleanEnv, TASK_FLAGS } from "./_cli.ts";

const ROOT = new URL("../../", import.meta.url);

async function copyTree(from: URL, to: string): Promise<void> {
  await Deno.mkdir(to, { recursive: true });
  for await (const entry of Deno.readDir(from)) {
    if (entry.isDirectory) await copyTree(new URL(`${entry.name}/`, from), `${to}/${entry.name}`);
    else if (entry.isFile) await Deno.copyFile(new URL(entry.name, from), `${to}/${entry.name}`);
  }
}

/** A copy of the command line (src/, deno.json, deno.lock) without actors/. */
async function withoutActors(body: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir();
  try {
    await copyTree(new URL("src/", ROOT), `${dir}/src`);
    for (const file of ["deno.json", "deno.lock"]) {
      await Deno.copyFile(new URL(file, ROOT), `${dir}/${file}`);
    }
    await body(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

async function oaoIn(dir: string, args: string[]) {
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["run", ...TASK_FLAGS, `${dir}/src/cli/main.ts`, ...args],
    cwd: dir,
    env: cleanEnv({ OAO_LOG_LEVEL: "ERROR" }),
    clearEnv: true,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const decoder = new TextDecoder();
  return {
    code: output.code,
    stdout: decoder.decode(output.stdout),
    stderr: decoder.decode(output.stderr),
  };
}

Deno.test("without actors/ the command line runs users' agents; only the demo needs the examples", async () => {
  await withoutActors(async (dir) => {
    await Deno.writeTextFile(
      `${dir}/solo.ts`,
      `import { defineAgent } from "./src/orchestrator/agent.ts";
export default defineAgent({ name: "solo", version: "3.1.4", review: () => ({ done: true, output: "alone" }) });
`,
    );
    const run = await oaoIn(dir, ["run", "solo", "{}", "--agent", "solo=./solo.ts", "--json"]);
    assert.equal(run.code, 0, run.stderr);
    const report = JSON.parse(run.stdout);
    assert.deepEqual([report.status, report.output], ["SUCCESS", "alone"]);

    const examples = await oaoIn(dir, ["run", "researcher", "{}", "--examples"]);
    assert.equal(examples.code, 2);
    assert.match(
      examples.stderr,
      /Cannot load the example agents: ".*\/actors\/examples\.oao\.json" is missing or unreadable .*; they ship in actors\/ beside src\/ \(or leave them out: --no-examples, OAO_EXAMPLES=false\)/,
    );
    const demo = await oaoIn(dir, ["demo"]);
    assert.equal(demo.code, 2);
    assert.match(
      demo.stderr,
      /Cannot load the example agents: .*; they ship in actors\/ beside src\/\n/,
    );
  });
});
