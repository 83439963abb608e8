// The library publishes to JSR: `deno publish --dry-run` (offline) passes —
// exports that exist, a license, no slow types — and the package holds the
// library only: no tests, benchmarks, example agents or command line.
import assert from "node:assert/strict";

Deno.test("deno publish --dry-run succeeds and publishes the library only", async () => {
  const root = new URL("../", import.meta.url).pathname;
  const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
    // --no-check: the test task type-checks every module first (`deno check
    // --doc`); publish still checks the public API for slow types.
    args: ["publish", "--dry-run", "--allow-dirty", "--no-check"],
    cwd: root,
    env: { NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const output = new TextDecoder().decode(stdout) + new TextDecoder().decode(stderr);
  assert.equal(code, 0, output);
  assert.match(output, /Success Dry run complete/);
  assert.doesNotMatch(output, /^(error|warning)/m, output);
  const files = [...output.matchAll(/file:\/\/\/\S+/g)].map((m) =>
    m[0].slice(`file://${root}`.length)
  );
  assert.ok(files.includes("mod.ts") && files.includes("LICENSE"), files.join("\n"));
  const outside = files.filter((f) =>
    /^(tests|bench|actors|\.ci)\//.test(f) || f.startsWith("src/cli/")
  );
  assert.deepEqual(outside, [], "only the library is published");
});

// The README's "In another project": a project outside the repository, with
// the deno.json the README shows (its checkout path replaced by this one),
// runs an agent of its own and tests it, by the package's name and with no
// --config: the npm dependencies of OAO come from OAO's deno.json.
Deno.test("a project outside the repository uses OAO from a local checkout as the README shows", async () => {
  const root = new URL("../", import.meta.url).pathname.replace(/\/$/, "");
  const readme = await Deno.readTextFile(`${root}/README.md`);
  const start = readme.indexOf("<!-- package-example");
  assert.ok(start > 0, "the README marks its example project");
  const section = readme.slice(start, readme.indexOf("\n### ", start));
  const files = new Map(
    [...section.matchAll(/^`([\w.]+)`[^\n]*:\n\n```[a-z]+\n([\s\S]*?)```/gm)].map((
      m,
    ) => [m[1]!, m[2]!]),
  );
  assert.deepEqual([...files.keys()], ["deno.json", "greeter.ts", "main.ts", "greeter_test.ts"]);
  const config = files.get("deno.json")!;
  assert.equal(config.split('"../oao"').length, 2, "the checkout is linked as ../oao");
  const commands = /```sh\n([\s\S]*?)```/.exec(section)![1]!.split("\n")
    .filter((line) => line.startsWith("deno "))
    .map((line) => line.split(/\s+/).slice(1));
  assert.deepEqual(commands.map((args) => args[0]), ["run", "test"]);

  const dir = await Deno.makeTempDir({ prefix: "oao-embed-" });
  try {
    assert.ok(!dir.startsWith(`${root}/`), "the project is outside the repository");
    for (const [name, text] of files) {
      const content = name === "deno.json" ? text.replace('"../oao"', JSON.stringify(root)) : text;
      await Deno.writeTextFile(`${dir}/${name}`, content);
    }
    const run = async (args: string[]) => {
      const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
        args,
        cwd: dir,
        env: { NO_COLOR: "1" },
        stdout: "piped",
        stderr: "piped",
      }).output();
      const out = new TextDecoder().decode(stdout);
      assert.equal(code, 0, `deno ${args.join(" ")}\n${out}${new TextDecoder().decode(stderr)}`);
      return out;
    };
    const [runArgs, testArgs] = commands as [string[], string[]];
    assert.equal(await run(runArgs), "SUCCESS Hello, Ada!\n");
    assert.match(await run(testArgs), /^ok \| 1 passed \| 0 failed/m);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

// From JSR the package's modules have https: URLs, not file: ones. Served
// over HTTP here (jsr.io is out of reach of the tests), the library and an
// agent that imports it run as from a checkout. The remote modules are cached
// in a DENO_DIR of the test's own (the npm packages in the usual one).
Deno.test("the library runs when its modules are loaded from a remote URL, as from JSR", async () => {
  const root = new URL("../", import.meta.url);
  const published = /^\/(mod\.ts|src\/(?!cli\/)[\w/]+\.ts)$/;
  await using server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    async (req) => {
      const path = new URL(req.url).pathname;
      if (!published.test(path)) return new Response("Not found", { status: 404 });
      const source = await Deno.readTextFile(new URL(`.${path}`, root));
      return new Response(source, { headers: { "content-type": "application/typescript" } });
    },
  );
  const origin = `http://127.0.0.1:${server.addr.port}`;
  const { imports } = JSON.parse(await Deno.readTextFile(new URL("deno.json", root)));
  const info = await new Deno.Command(Deno.execPath(), { args: ["info", "--json"] }).output();
  const { npmCache } = JSON.parse(new TextDecoder().decode(info.stdout));
  const dir = await Deno.makeTempDir({ prefix: "oao-remote-" });
  try {
    await Deno.mkdir(`${dir}/deno_dir`);
    await Deno.symlink(npmCache, `${dir}/deno_dir/npm`);
    await Deno.mkdir(`${dir}/project`);
    await Deno.writeTextFile(
      `${dir}/project/deno.json`,
      JSON.stringify({ imports: { ...imports, "@oao/runtime": `${origin}/mod.ts` } }),
    );
    await Deno.writeTextFile(
      `${dir}/project/agent.ts`,
      `import { defineAgent } from "@oao/runtime";
export default defineAgent({ review: (ctx) => ({ done: true, output: String(ctx.task) }) });`,
    );
    await Deno.writeTextFile(
      `${dir}/project/main.ts`,
      `import { Orchestrator } from "@oao/runtime";
const orchestrator = new Orchestrator();
orchestrator.registerAgent({ name: "agent", module: new URL("./agent.ts", import.meta.url) });
const report = await orchestrator.run("agent", "from afar");
console.log(report.status, report.output);
await orchestrator.close();`,
    );
    const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "--no-check",
        "--unstable-worker-options",
        "--allow-read",
        "--allow-env",
        `--allow-import=127.0.0.1:${server.addr.port}`,
        "main.ts",
      ],
      cwd: `${dir}/project`,
      env: { NO_COLOR: "1", DENO_DIR: `${dir}/deno_dir` },
      stdout: "piped",
      stderr: "piped",
    }).output();
    const out = new TextDecoder().decode(stdout);
    assert.equal(code, 0, out + new TextDecoder().decode(stderr));
    assert.equal(out, "SUCCESS from afar\n");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
