// `oao migrate`: from the Deno KV file of one machine to Redis. A finished
// execution is seen on Redis as it was; one whose process was killed with
// SIGKILL resumes there; a queued job moves; a second run copies nothing
// twice; a process still running an execution stops the migration.
import assert from "node:assert/strict";
import { KvJobQueue } from "../../src/kv/kv_job_queue.ts";
import { RedisJobQueue } from "../../src/redis/redis_job_queue.ts";
import { oao, oaoUntil } from "./_cli.ts";
import { redisTestEnv, SHARED_REDIS_URL, slowAgentConfig } from "./_redis_env.ts";

Deno.test("`migrate --from kv --to redis` copies a finished and a killed execution and a queued job; the killed one resumes on Redis", async () => {
  await using redis = redisTestEnv();
  const dir = await Deno.makeTempDir();
  try {
    const config = await slowAgentConfig(dir, 1_500);
    const kvEnv = { OAO_STORE: "kv", OAO_KEY_PREFIX: redis.prefix };
    const done = await oao(["run", "researcher", '{"topic":"kv","sources":1}', "--json"], {
      env: kvEnv,
      cwd: dir,
    });
    assert.equal(done.code, 0, done.stderr);
    const finished = JSON.parse(done.stdout).executionId as string;

    const killed = `exec-mig-${crypto.randomUUID().slice(0, 8)}`;
    const victim = await oaoUntil(
      ["run", "slow", "{}", "--id", killed, "--config", config],
      /tool pause/,
      { env: kvEnv, cwd: dir },
    );
    victim.kill("SIGKILL");
    await victim.status;

    // A job waiting in the file's queue (as `serve` leaves it).
    const queue = new KvJobQueue({
      path: `${dir}/.oao/oao.kv`,
      keyPrefix: redis.prefix.replace(/:$/, ""),
      name: "cli-test",
    });
    const job = await queue.enqueue({
      executionId: "exec-queued-1",
      agent: "researcher",
      task: {},
    });
    await queue.close();

    const args = ["migrate", "--from", `kv:${dir}/.oao/oao.kv`, "--to", SHARED_REDIS_URL];
    const env = { OAO_KEY_PREFIX: redis.prefix, OAO_QUEUE: "cli-test" };
    const migrated = await oao(args, { env, cwd: dir });
    assert.equal(migrated.code, 0, migrated.stdout + migrated.stderr);
    assert.match(
      migrated.stdout,
      /Copied \d+ logs \(\d+ events, \d+ snapshots\) and moved 1 queued jobs/,
    );

    const status = await oao(["status", finished, "--json"], { env: redis.env });
    assert.equal(status.code, 0, status.stderr);
    const view = JSON.parse(status.stdout);
    assert.equal(view.status, "SUCCESS");
    const resumed = await oao(["resume", killed, "--config", config], { env: redis.env, cwd: dir });
    assert.equal(resumed.code, 0, resumed.stderr);
    assert.match(resumed.stdout, /^SUCCESS {2}slow/m);

    const target = new RedisJobQueue({
      redisUrl: SHARED_REDIS_URL,
      keyPrefix: redis.prefix,
      name: "cli-test",
    });
    try {
      const [lease] = await target.reserve("test");
      assert.equal(lease?.spec.executionId, "exec-queued-1", `job ${job.jobId} moved`);
    } finally {
      await target.close();
    }

    // Again: what is there already is skipped, nothing is copied twice.
    const again = await oao(args, { env, cwd: dir });
    assert.equal(again.code, 1, "the resumed execution now differs on Redis: a conflict");
    assert.match(again.stdout, /Copied 0 logs .* 1 logs were already there/);
    assert.match(again.stderr, new RegExp(`conflict: ${killed}: the target holds \\d+ events`));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("`migrate` refuses to copy while a process runs an execution of the source, naming it; bad flags exit 2", async () => {
  await using redis = redisTestEnv();
  const dir = await Deno.makeTempDir();
  try {
    const config = await slowAgentConfig(dir, 20_000);
    const running = await oaoUntil(["run", "slow", "{}", "--config", config], /step 3 EXECUTE/, {
      env: { OAO_STORE: "kv", OAO_KEY_PREFIX: redis.prefix },
      cwd: dir,
    });
    try {
      const busy = await oao(
        ["migrate", "--from", `kv:${dir}/.oao/oao.kv`, "--to", SHARED_REDIS_URL],
        { env: { OAO_KEY_PREFIX: redis.prefix }, cwd: dir },
      );
      assert.equal(busy.code, 1, busy.stdout + busy.stderr);
      assert.match(busy.stderr, /is being run by process \d+ on .*nothing was copied/);
    } finally {
      try {
        running.kill("SIGKILL");
      } catch { /* it ended */ }
      await running.status;
    }
    for (
      const [args, message] of [
        [["migrate", "--to", SHARED_REDIS_URL], /Missing flag "--from"/],
        [["migrate", "--from", "sqlite:x", "--to", "kv"], /Invalid flag "--from" value "sqlite:x"/],
        [["migrate", "--from", "kv", "--to", "kv:./.oao/oao.kv"], /are the same store/],
      ] as const
    ) {
      const result = await oao([...args], { cwd: dir });
      assert.equal(result.code, 2, result.stderr);
      assert.match(result.stderr, message);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
