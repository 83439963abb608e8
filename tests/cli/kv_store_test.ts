// OAO_STORE=kv: durable on one machine without Redis. An execution started
// by one command is seen by the next; one whose process is killed with
// SIGKILL is resumed from the same file by another process.
import assert from "node:assert/strict";
import { cleanEnv, MAIN, oao, oaoServer, oaoUntil, TASK_FLAGS } from "./_cli.ts";
import { slowAgentConfig } from "./_redis_env.ts";

Deno.test("with OAO_STORE=kv, `status` and `events` of another process see what `run` recorded", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const env = { OAO_STORE: "kv" };
    const run = await oao(["run", "researcher", '{"topic":"actors","sources":1}', "--json"], {
      env,
      cwd: dir,
    });
    assert.equal(run.code, 0, run.stderr);
    const { executionId } = JSON.parse(run.stdout);
    const status = await oao(["status", executionId, "--json"], { env, cwd: dir });
    assert.equal(status.code, 0, status.stderr);
    assert.equal(JSON.parse(status.stdout).status, "SUCCESS");
    const events = await oao(["events", executionId, "--json"], { env, cwd: dir });
    assert.equal(events.code, 0, events.stderr);
    assert.ok(events.stdout.includes('"EXECUTION_COMPLETED"'));
    assert.ok((await Deno.stat(`${dir}/.oao/oao.kv`)).isFile);
    const memory = await oao(["status", executionId], { cwd: dir, env: { OAO_STORE: "memory" } });
    assert.equal(memory.code, 1, "with OAO_STORE=memory each command has its own memory");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("with OAO_STORE=kv, an execution whose process was killed with SIGKILL is resumed by another process", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const config = await slowAgentConfig(dir, 1_500);
    const env = { OAO_STORE: "kv" };
    const id = `exec-kv-${crypto.randomUUID().slice(0, 8)}`;
    // Killed once its tool call is running (the line is printed live).
    const victim = await oaoUntil(
      ["run", "slow", "{}", "--id", id, "--config", config],
      /tool pause/,
      { env, cwd: dir },
    );
    victim.kill("SIGKILL");
    await victim.status;
    const resumed = await oao(["resume", id, "--config", config], { env, cwd: dir });
    assert.equal(resumed.code, 0, resumed.stderr);
    assert.match(resumed.stdout, /EXECUTION_RESUMED/);
    assert.match(resumed.stdout, /^SUCCESS {2}slow/m);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("an invalid OAO_STORE exits 2 naming it; OAO_STORE=redis without REDIS_URL exits 2", async () => {
  const bad = await oao(["status", "exec-x"], { env: { OAO_STORE: "sqlite" } });
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /Invalid OAO_STORE "sqlite": expected memory, kv, kv:<path> or redis/);
  const redis = await oao(["status", "exec-x"], { env: { OAO_STORE: "redis" } });
  assert.equal(redis.code, 2);
  assert.match(redis.stderr, /OAO_STORE=redis needs REDIS_URL/);
});

// OAO_STORE unset (and no REDIS_URL): the default is the Deno KV file.
const DEFAULT_STORE = { OAO_STORE: "" };

Deno.test("by default (no OAO_STORE, no REDIS_URL) `run` records in ./.oao/oao.kv and `status` of the next command sees it", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const run = await oao(["run", "researcher", '{"topic":"actors","sources":1}'], {
      env: { ...DEFAULT_STORE, OAO_LOG_LEVEL: "INFO" },
      cwd: dir,
    });
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stderr, /Using the Deno KV file "\.\/\.oao\/oao\.kv"/);
    const executionId = /as (exec-\S+)/.exec(run.stdout)?.[1];
    assert.ok(executionId, run.stdout);
    const status = await oao(["status", executionId, "--json"], { env: DEFAULT_STORE, cwd: dir });
    assert.equal(status.code, 0, status.stderr);
    assert.equal(JSON.parse(status.stdout).status, "SUCCESS");
    assert.ok((await Deno.stat(`${dir}/.oao/oao.kv`)).isFile);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("by default, a Deno without --unstable-kv or without write access to ./.oao runs in memory and says why", async () => {
  const dir = await Deno.makeTempDir();
  try {
    for (
      const [flags, why] of [
        [TASK_FLAGS.filter((f) => f !== "--unstable-kv"), /Deno KV is not enabled/],
        [TASK_FLAGS.filter((f) => !f.startsWith("--allow-write")), /may not write "\.\/\.oao"/],
      ] as const
    ) {
      const output = await new Deno.Command(Deno.execPath(), {
        args: ["run", ...flags, MAIN, "run", "researcher", '{"topic":"a","sources":1}'],
        cwd: dir,
        env: cleanEnv(DEFAULT_STORE),
        clearEnv: true,
      }).output();
      const stderr = new TextDecoder().decode(output.stderr);
      assert.equal(output.code, 0, stderr);
      assert.match(stderr, why);
      assert.match(stderr, /running on the in-memory stores/);
    }
    // An explicit OAO_STORE=kv fails instead of falling back, naming the fix.
    const explicit = await new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        ...TASK_FLAGS.filter((f) => f !== "--unstable-kv"),
        MAIN,
        "status",
        "exec-x",
      ],
      cwd: dir,
      env: cleanEnv({ OAO_STORE: "kv" }),
      clearEnv: true,
    }).output();
    assert.notEqual(explicit.code, 0);
    assert.match(new TextDecoder().decode(explicit.stderr), /--unstable-kv/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("by default, `serve` queues executions in the Deno KV file and a `worker` on the same file runs them (no Redis)", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await using api = await oaoServer(["serve", "--port", "0"], { env: DEFAULT_STORE, cwd: dir });
    const submitted = await fetch(`${api.url}/executions`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ agent: "researcher", task: { topic: "kv", sources: 1 } }),
    });
    assert.equal(submitted.status, 202, await submitted.clone().text());
    const { executionId } = await submitted.json();
    const worker = new Deno.Command(Deno.execPath(), {
      args: ["run", ...TASK_FLAGS, MAIN, "worker", "--concurrency", "2"],
      cwd: dir,
      env: cleanEnv(DEFAULT_STORE),
      clearEnv: true,
      stdout: "null",
      stderr: "piped",
    }).spawn();
    try {
      const deadline = Date.now() + 30_000;
      let status = "";
      while (status !== "SUCCESS") {
        assert.ok(Date.now() < deadline, `still ${status} after 30 s`);
        await new Promise((r) => setTimeout(r, 100));
        const view = await fetch(`${api.url}/executions/${executionId}`);
        status = (await view.json()).status;
      }
    } finally {
      worker.kill("SIGTERM");
      const { code, stderr } = await worker.output();
      assert.equal(code, 0, new TextDecoder().decode(stderr));
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
