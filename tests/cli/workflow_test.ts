// `oao workflow` and `oao fork` as a user runs them: the README's worked
// example, invalid specs refused with nothing written, and — across processes
// sharing a Redis — status, events, cancel, resume, `status`/`replay` of a
// workflow id, and a fork.
import assert from "node:assert/strict";
import { MAIN, oao, TASK_FLAGS } from "./_cli.ts";
import { slowAgentConfig } from "./_redis_env.ts";
import { RedisServer } from "../_support/redis_server.ts";

const README = await Deno.readTextFile(new URL("../../README.md", import.meta.url));

/** The README's worked example: the spec, the output of `run`, the output of `status`. */
function readmeExample(): { spec: string; run: string[]; status: string[] } {
  const marker = README.indexOf("<!-- workflow-example");
  assert.ok(marker > 0, "the README marks its workflow example");
  const rest = README.slice(marker);
  const spec = /```json\n([\s\S]*?)```/.exec(rest)![1]!;
  const [run, status] = [...rest.matchAll(/```text\n([\s\S]*?)```/g)].map((m) =>
    m[1]!.trimEnd().split("\n")
  );
  return { spec, run: run!, status: status! };
}

/** Lines without what changes from run to run: durations and times. */
function stable(lines: string[]): string[] {
  return lines.map((line) =>
    line.replace(/ in \d+ ms/, " in N ms").replace(/\d{4}-\d\d-\d\dT[\d:.]+Z/g, "<time>")
  );
}

/** The variables `oao()` keeps (tests/cli/_cli.ts), for a process started in the background. */
function inherited(): Record<string, string> {
  const out: Record<string, string> = { NO_COLOR: "1" };
  for (const name of ["HOME", "PATH", "DENO_DIR", "XDG_CACHE_HOME", "TMPDIR"]) {
    const value = Deno.env.get(name);
    if (value !== undefined) out[name] = value;
  }
  return out;
}

async function withSpec<T>(spec: unknown, fn: (path: string, dir: string) => Promise<T>) {
  const dir = await Deno.makeTempDir();
  try {
    const path = `${dir}/spec.json`;
    await Deno.writeTextFile(path, typeof spec === "string" ? spec : JSON.stringify(spec));
    return await fn(path, dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("the README's workflow example runs and prints the report the README shows", async () => {
  const example = readmeExample();
  await withSpec(example.spec, async (path) => {
    const { code, stdout, stderr } = await oao(["workflow", "run", path]);
    assert.equal(code, 0, stderr);
    const lines = stdout.trimEnd().split("\n");
    assert.equal(lines[0], example.run[0]);
    const report = lines.findIndex((l) => l.startsWith("SUCCESS  research-1"));
    const shown = example.run.findIndex((l) => l.startsWith("SUCCESS  research-1"));
    assert.deepEqual(stable(lines.slice(report)), stable(example.run.slice(shown)));
    // Progress: the same task events (tasks running at once finish in either order).
    assert.deepEqual(lines.slice(1, report).sort(), example.run.slice(1, shown).sort());
    const json = await oao(["workflow", "run", path, "--json", "--id", "research-2"]);
    assert.equal(json.code, 0, json.stderr);
    const parsed = JSON.parse(json.stdout);
    assert.equal(parsed.workflowId, "research-2");
    assert.deepEqual(parsed.tasks.review.output, { actors: "well sourced", dags: "well sourced" });
  });
});

Deno.test("`workflow run` refuses an invalid spec with exit code 2, naming the field", async () => {
  const cases: [unknown, RegExp][] = [
    [
      { tasks: [{ name: "A", agent: "critic" }, { name: "B", agent: "critic", dependsOn: "A" }] },
      /Invalid workflow spec: Invalid workflow field "tasks\[1\]\.dependsOn" "A"/,
    ],
    [{ id: "bad id/with slash", tasks: [{ name: "A", agent: "critic" }] }, /workflow id/],
    [{ tasks: [{ name: "A", agent: "nobody" }] }, /nobody/],
    [
      { tasks: [{ name: "A", agent: "critic", input: 1 }], extra: true },
      /Unknown workflow field "extra"/,
    ],
    ["[1, 2]", /not a workflow object/],
    ["{ nope", /not JSON/],
  ];
  for (const [spec, message] of cases) {
    await withSpec(spec, async (path) => {
      const { code, stdout, stderr } = await oao(["workflow", "run", path]);
      assert.equal(code, 2, `${JSON.stringify(spec)}: ${stderr}`);
      assert.match(stderr, message);
      assert.doesNotMatch(stdout, /SUCCESS|FAILED/);
    });
  }
  const usage: [string[], RegExp][] = [
    [["workflow", "run", "/nonexistent/spec.json"], /cannot read the spec file/],
    [["workflow", "launch", "x"], /Invalid argument <action> "launch"/],
    [["workflow", "status"], /Missing argument <target>/],
    [["workflow", "run", "x.json", "--follow"], /"--follow" is for "workflow events"/],
    [["workflow", "status", "x", "--concurrency", "2"], /"--concurrency" is for "workflow run"/],
    [["workflow", "run", "x.json", "--on-failure", "stop"], /--on-failure/],
    [["fork", "exec-1"], /Missing flag "--from-step"/],
    [["fork", "exec-1", "--from-step", "2", "--id", "bad id"], /Invalid flag "--id"/],
  ];
  for (const [args, message] of usage) {
    const { code, stderr } = await oao(args);
    assert.equal(code, 2, `${args.join(" ")}: ${stderr}`);
    assert.match(stderr, message);
  }
});

Deno.test("`--help` of workflow and fork shows every flag and the variables they read", async () => {
  const workflow = await oao(["workflow", "--help"]);
  assert.equal(workflow.code, 0);
  for (const flag of ["--id", "--concurrency", "--on-failure", "--follow", "--reason", "--json"]) {
    assert.ok(workflow.stdout.includes(flag), flag);
  }
  assert.match(workflow.stdout, /REDIS_URL/);
  const fork = await oao(["fork", "--help"]);
  assert.equal(fork.code, 0);
  assert.match(fork.stdout, /--from-step <n>/);
});

Deno.test("across processes on Redis: status, events, cancel, resume, status and replay of a workflow id, fork", async () => {
  await using redis = await RedisServer.start();
  const env = { REDIS_URL: redis.url(), OAO_LOG_LEVEL: "ERROR" };
  const dir = await Deno.makeTempDir();
  try {
    const config = await slowAgentConfig(dir, 30_000);
    await Deno.writeTextFile(
      `${dir}/slow.json`,
      JSON.stringify({
        id: "wf-slow",
        tasks: [
          { name: "quick", agent: "critic", input: { summary: "a summary of some length" } },
          { name: "slow", agent: "slow", dependsOn: ["quick"] },
          { name: "after", agent: "critic", dependsOn: ["slow"] },
        ],
      }),
    );
    // An invalid spec writes nothing to Redis.
    await withSpec(
      { id: "wf-bad", tasks: [{ name: "a", agent: "critic", dependsOn: "b" }] },
      async (path) => {
        assert.equal((await oao(["workflow", "run", path], { env })).code, 2);
      },
    );
    assert.doesNotMatch(await redis.command("KEYS", "*"), /wf-bad/, "nothing written for it");

    const runner = new Deno.Command(Deno.execPath(), {
      args: ["run", ...TASK_FLAGS, MAIN, "workflow", "run", `${dir}/slow.json`, "--config", config],
      env: { ...inherited(), ...env },
      clearEnv: true,
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const output = runner.output();
    try {
      let status = "";
      const deadline = Date.now() + 30_000;
      while (!/slow +RUNNING/.test(status)) {
        assert.ok(Date.now() < deadline, `the slow task did not start: ${status}`);
        await new Promise((r) => setTimeout(r, 100));
        status = (await oao(["workflow", "status", "wf-slow"], { env })).stdout;
      }
      assert.match(status, /^wf-slow {2}workflow {2}RUNNING/);
      assert.match(status, /quick +SUCCESS +wf-slow\.quick +\{"task":"well sourced"\}/);
      assert.match(status, /after +PENDING +wf-slow\.after +after slow/);
      // `status` and `replay` of a workflow id show the workflow.
      const plain = await oao(["status", "wf-slow"], { env });
      assert.equal(plain.code, 0, plain.stderr);
      assert.match(plain.stdout, /^wf-slow {2}workflow {2}RUNNING/);
      assert.doesNotMatch(plain.stderr, /No execution/);
      const cancel = await oao(["workflow", "cancel", "wf-slow", "--reason", "not needed"], {
        env,
      });
      assert.equal(cancel.code, 0, cancel.stderr);
    } finally {
      const guard = setTimeout(() => runner.kill("SIGKILL"), 30_000);
      const done = await output;
      clearTimeout(guard);
      const stdout = new TextDecoder().decode(done.stdout);
      assert.equal(done.code, 1, `${stdout}\n${new TextDecoder().decode(done.stderr)}`);
      assert.match(stdout, /task slow CANCELLED/);
      assert.match(stdout, /^CANCELLED {2}wf-slow {2}3 tasks/m);
    }
    assert.match(await redis.command("KEYS", "*"), /wf-slow/, "KEYS shows what was written");
    const after = await oao(["workflow", "status", "wf-slow", "--json"], { env });
    const view = JSON.parse(after.stdout);
    assert.equal(view.status, "CANCELLED");
    assert.deepEqual(view.tasks.map((t: { status: string }) => t.status), [
      "SUCCESS",
      "CANCELLED",
      "CANCELLED",
    ]);
    assert.deepEqual(view.tasks[0].output, { task: "well sourced" });
    assert.equal(view.cancelRequested.reason, "not needed");
    const events = await oao(["workflow", "events", "wf-slow"], { env });
    assert.match(events.stdout, /WORKFLOW_CANCEL_REQUESTED: not needed/);
    assert.match(
      events.stdout,
      /WORKFLOW_CANCELLED quick SUCCESS, slow CANCELLED, after CANCELLED \(not needed\)/,
    );
    const replay = await oao(["replay", "wf-slow"], { env });
    assert.equal(replay.code, 0, replay.stderr);
    assert.match(replay.stdout, /^Timeline of workflow wf-slow/);
    assert.match(replay.stdout, /wf-slow {2}workflow {2}CANCELLED/);
    // Finished: resume prints the recorded report and writes nothing; cancel is refused.
    const count = await redis.command("XLEN", "oao:{wf-slow}:events");
    const resumed = await oao(["workflow", "resume", "wf-slow"], { env });
    assert.equal(resumed.code, 1);
    assert.match(resumed.stdout, /^CANCELLED {2}wf-slow/m);
    assert.equal(await redis.command("XLEN", "oao:{wf-slow}:events"), count);
    const again = await oao(["workflow", "cancel", "wf-slow"], { env });
    assert.equal(again.code, 1);
    assert.match(again.stderr, /already finished with status CANCELLED/);
    const missing = await oao(["workflow", "status", "wf-none"], { env });
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /No workflow "wf-none" is recorded in Redis/);

    // A fork of a task's execution, from its first completed step.
    const fork = await oao([
      "fork",
      "wf-slow.quick",
      "--from-step",
      "1",
      "--id",
      "quick-again",
      "--json",
    ], { env });
    assert.equal(fork.code, 0, fork.stderr);
    const report = JSON.parse(fork.stdout);
    assert.equal(report.executionId, "quick-again");
    assert.deepEqual(report.output, { task: "well sourced" });
    const refused = await oao(
      ["fork", "wf-slow.quick", "--from-step", "1", "--id", "quick-again"],
      { env },
    );
    assert.equal(refused.code, 2);
    assert.match(refused.stderr, /already exists/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
