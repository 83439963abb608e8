// OAO_STORE=kv: durable on one machine without Redis. An execution started
// by one command is seen by the next; one whose process is killed with
// SIGKILL is resumed from the same file by another process.
import assert from "node:assert/strict";
import { MAIN, oao, TASK_FLAGS } from "./_cli.ts";
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
    const memory = await oao(["status", executionId], { cwd: dir });
    assert.equal(memory.code, 1, "without OAO_STORE each command has its own memory");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("with OAO_STORE=kv, an execution whose process was killed with SIGKILL is resumed by another process", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const config = await slowAgentConfig(dir, 1_500);
    const env = { OAO_STORE: "kv", NO_COLOR: "1" };
    const id = `exec-kv-${crypto.randomUUID().slice(0, 8)}`;
    const victim = new Deno.Command(Deno.execPath(), {
      args: ["run", ...TASK_FLAGS, MAIN, "run", "slow", "{}", "--id", id, "--config", config],
      cwd: dir,
      env: { ...env, PATH: Deno.env.get("PATH") ?? "", HOME: Deno.env.get("HOME") ?? "" },
      stdout: "piped",
      stderr: "null",
    }).spawn();
    // Killed once its tool call is running (the line is printed live).
    const reader = victim.stdout.pipeThrough(new TextDecoderStream()).getReader();
    let seen = "";
    while (!/tool pause/.test(seen)) {
      const { value, done } = await reader.read();
      if (done) throw new Error(`the run ended first:\n${seen}`);
      seen += value;
    }
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
