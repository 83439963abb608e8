// `oao list` over the KV store: what `run` recorded in one process is listed
// by another, with filters, JSON and the cursor; bad flags exit 2 naming them.
import assert from "node:assert/strict";
import { cleanEnv, MAIN, oao, TASK_FLAGS } from "./_cli.ts";

Deno.test("`oao list` lists the executions of other processes, filtered, as text and JSON", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const env = { OAO_STORE: "kv", NO_COLOR: "1" };
    const ids: string[] = [];
    for (let i = 0; i < 2; i++) {
      const run = await oao(["run", "researcher", '{"topic":"actors","sources":1}', "--json"], {
        env,
        cwd: dir,
      });
      assert.equal(run.code, 0, run.stderr);
      ids.unshift(JSON.parse(run.stdout).executionId);
    }
    const text = await oao(["list"], { env, cwd: dir });
    assert.equal(text.code, 0, text.stderr);
    const lines = text.stdout.trim().split("\n");
    assert.deepEqual(lines.map((line) => line.split("  ")[0]), ids);
    assert.match(lines[0]!, /researcher {2}SUCCESS {2}\d{4}-/);

    const json = await oao([
      "list",
      "--status",
      "SUCCESS,FAILED",
      "--agent",
      "researcher",
      "--json",
    ], {
      env,
      cwd: dir,
    });
    assert.equal(json.code, 0, json.stderr);
    const page = JSON.parse(json.stdout);
    assert.deepEqual(page.executions.map((e: { executionId: string }) => e.executionId), ids);

    const first = await oao(["list", "--limit", "1", "--json"], { env, cwd: dir });
    const cursor = JSON.parse(first.stdout).nextCursor;
    assert.equal(typeof cursor, "string");
    const second = await oao(["list", "--limit", "1", "--cursor", cursor, "--json"], {
      env,
      cwd: dir,
    });
    assert.deepEqual(
      JSON.parse(second.stdout).executions.map((e: { executionId: string }) => e.executionId),
      [ids[1]],
    );

    const none = await oao(["list", "--waiting-for", "approval"], { env, cwd: dir });
    assert.equal(none.code, 0, none.stderr);
    assert.equal(none.stdout.trim(), "No executions.");

    for (
      const [args, message] of [
        [["--status", "DONE"], /--status "DONE": expected one of QUEUED/],
        [["--waiting-for", "lunch"], /--waiting-for "lunch"/],
        [["--limit", "501"], /--limit/],
        [["--cursor", "bogus!"], /--cursor/],
        [["--created-after", "yesterday"], /--created-after/],
      ] as [string[], RegExp][]
    ) {
      const bad = await oao(["list", ...args], { env, cwd: dir });
      assert.equal(bad.code, 2, `${args.join(" ")}: ${bad.stderr}`);
      assert.match(bad.stderr, message);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("`oao list` without write access to ./.oao warns that it reads the in-memory stores instead of the KV file", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const env = { OAO_STORE: "" }; // the default: the Deno KV file ./.oao/oao.kv
    const run = await oao(["run", "researcher", '{"topic":"actors","sources":1}'], {
      env,
      cwd: dir,
    });
    assert.equal(run.code, 0, run.stderr);
    const output = await new Deno.Command(Deno.execPath(), {
      args: ["run", ...TASK_FLAGS.filter((f) => !f.startsWith("--allow-write")), MAIN, "list"],
      cwd: dir,
      env: cleanEnv(env),
      clearEnv: true,
    }).output();
    const stderr = new TextDecoder().decode(output.stderr);
    assert.equal(new TextDecoder().decode(output.stdout).trim(), "No executions.");
    assert.match(stderr, /may not write "\.\/\.oao"/);
    assert.match(stderr, /reading the in-memory stores of this process instead/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
