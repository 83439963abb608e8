// With REDIS_URL, commands in separate processes share executions.
import assert from "node:assert/strict";
import { MAIN, oao, TASK_FLAGS } from "./_cli.ts";
import { Redis } from "ioredis";
import { redisTestEnv, SHARED_REDIS_URL, slowAgentConfig } from "./_redis_env.ts";
import { RedisEventStore } from "../../src/redis/redis_event_store.ts";

async function waitForEvent(store: RedisEventStore, id: string, type: string): Promise<void> {
  const deadline = Date.now() + 20_000;
  while (Date.now() < deadline) {
    if ((await store.readRange(id)).some((e) => e.type === type)) return;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`No ${type} in ${id}`);
}

Deno.test("an execution run by one process is read by status, events and replay in others", async () => {
  await using redis = redisTestEnv();
  const id = `exec-cli-${crypto.randomUUID().slice(0, 8)}`;
  const run = await oao(["run", "flaky", '{"items":2}', "--id", id, "--quiet"], {
    env: { ...redis.env, OAO_LOG_LEVEL: "INFO" },
  });
  assert.equal(run.code, 0, run.stderr);
  assert.ok(run.stderr.includes(`Using Redis at "${SHARED_REDIS_URL}"`), run.stderr);
  assert.doesNotMatch(run.stderr, /in-memory/);
  const [status, events, follow, replay] = await Promise.all([
    oao(["status", id, "--json"], { env: redis.env }),
    oao(["events", id], { env: redis.env }),
    oao(["events", id, "--follow", "--json", "--after", "3"], { env: redis.env }),
    oao(["replay", id, "--json"], { env: redis.env }),
  ]);
  // The durability warning is for the processes that write, not for queries.
  const client = new Redis(SHARED_REDIS_URL);
  const [, appendonly] = (await client.config("GET", "appendonly")) as string[];
  client.disconnect();
  if (appendonly === "no") assert.match(run.stderr, /appendonly off/);
  for (const query of [status, events, follow, replay]) {
    assert.doesNotMatch(query.stderr, /appendonly/);
  }
  assert.equal(status.code, 0, status.stderr);
  const body = JSON.parse(status.stdout);
  assert.equal(body.status, "SUCCESS");
  assert.equal(body.report.output.processed, 2);
  assert.equal(events.code, 0);
  assert.match(events.stdout, /^ +\+0 ms {2}#1 +EXECUTION_STARTED agent "flaky"/);
  assert.match(events.stdout, /RETRY_ATTEMPTED/);
  assert.equal(follow.code, 0, "--follow ends at once for a finished execution");
  const seqs = follow.stdout.trim().split("\n").map((l) => JSON.parse(l).seq);
  assert.equal(seqs[0], 4);
  assert.equal(replay.code, 0);
  const rebuilt = JSON.parse(replay.stdout);
  assert.equal(rebuilt.report.status, "SUCCESS");
  assert.ok(rebuilt.toolCalls.some((c: { outcome: string }) => c.outcome === "skipped"));
  const human = await oao(["status", id], { env: redis.env });
  assert.match(human.stdout, new RegExp(`^${id} {2}flaky {2}SUCCESS`));
});

Deno.test("`resume` continues an execution whose process was killed, and `events --follow` streams it live", async () => {
  await using redis = redisTestEnv();
  const dir = await Deno.makeTempDir();
  const store = new RedisEventStore({ redisUrl: redis.env.REDIS_URL, keyPrefix: redis.prefix });
  try {
    const config = await slowAgentConfig(dir, 1_500);
    const id = `exec-cli-${crypto.randomUUID().slice(0, 8)}`;
    const victim = new Deno.Command(Deno.execPath(), {
      args: ["run", ...TASK_FLAGS, MAIN, "run", "slow", "{}", "--id", id, "--config", config],
      env: { ...redis.env, OAO_LOG_LEVEL: "ERROR" },
      stdout: "null",
      stderr: "null",
    }).spawn();
    await waitForEvent(store, id, "TOOL_CALL");
    victim.kill("SIGKILL");
    await victim.status;
    const before = await oao(["status", id, "--json"], { env: redis.env });
    assert.equal(JSON.parse(before.stdout).status, "RUNNING", "the dead process left it RUNNING");
    const follower = new Deno.Command(Deno.execPath(), {
      args: ["run", ...TASK_FLAGS, MAIN, "events", id, "--follow", "--json"],
      env: redis.env,
      stdout: "piped",
      stderr: "piped",
    }).output();
    const resume = await oao(["resume", id, "--config", config], { env: redis.env });
    assert.equal(resume.code, 0, resume.stderr);
    assert.match(resume.stdout, /EXECUTION_RESUMED from step 3/);
    assert.match(resume.stdout, /^SUCCESS {2}slow/m);
    const followed = await follower;
    assert.equal(followed.code, 0);
    const types = new TextDecoder().decode(followed.stdout).trim().split("\n").map((l) =>
      JSON.parse(l).type
    );
    assert.ok(types.includes("EXECUTION_RESUMED"), types.join(","));
    assert.equal(types.at(-1), "EXECUTION_COMPLETED", "--follow ends with the final event");
    const again = await oao(["resume", id, "--config", config, "--json"], { env: redis.env });
    assert.equal(again.code, 0);
    assert.equal(
      JSON.parse(again.stdout).status,
      "SUCCESS",
      "a finished execution is not run again",
    );
  } finally {
    await store.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("`resume` of an unknown execution exits 1", async () => {
  await using redis = redisTestEnv();
  const result = await oao(["resume", "exec-nope"], { env: redis.env });
  assert.equal(result.code, 1);
  assert.match(result.stderr, /No execution "exec-nope" is recorded in Redis/);
});

Deno.test("`resume` of a QUEUED execution exits 1 saying that what queued it starts it", async () => {
  await using redis = redisTestEnv();
  const store = new RedisEventStore({ redisUrl: SHARED_REDIS_URL, keyPrefix: redis.prefix });
  try {
    await store.appendEvent("exec-queued", {
      type: "EXECUTION_QUEUED",
      data: { agent: "researcher", task: {}, local: true },
    });
  } finally {
    await store.close();
  }
  const result = await oao(["resume", "exec-queued"], { env: redis.env });
  assert.equal(result.code, 1);
  assert.match(result.stderr, /execution "exec-queued" is QUEUED: it has not started/);
  assert.doesNotMatch(result.stdout, /output/);
});
