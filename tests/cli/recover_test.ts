// Nothing accepted is lost across a crash of `oao start`: the executions it
// had accepted and queued but not started are taken back into line by the
// next run of the node, and those it was running are taken over by it (on
// Redis and on the Deno KV file).
import assert from "node:assert/strict";
import { oaoServer } from "./_cli.ts";
import { redisTestEnv, slowAgentConfig } from "./_redis_env.ts";

type View = { status?: string; report?: { output?: { sleptAt?: number } } };

/** Polls an execution's status until SUCCESS or `deadline` (epoch ms); the last view. */
async function untilSuccess(url: string, executionId: string, deadline: number): Promise<View> {
  let view: View = {};
  while (view.status !== "SUCCESS" && Date.now() < deadline) {
    view = await (await fetch(`${url}/executions/${executionId}`)).json();
    await new Promise((r) => setTimeout(r, 100));
  }
  return view;
}

Deno.test("`start` killed with SIGKILL while executions wait in line: the next `start` runs them", async () => {
  await using redis = redisTestEnv();
  const dir = await Deno.makeTempDir();
  try {
    const config = await slowAgentConfig(dir, 3_000);
    const args = ["start", "--port", "0", "--max-running", "1", "--config", config];
    const first = await oaoServer(args, { env: redis.env });
    const submit = async (url: string) => {
      const answer = await fetch(`${url}/executions`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ agent: "slow", task: {} }),
      });
      return await answer.json() as { executionId: string; status: string };
    };
    const running = await submit(first.url);
    const queued = [await submit(first.url), await submit(first.url)];
    assert.equal(running.status, "RUNNING");
    assert.deepEqual(queued.map((q) => q.status), ["QUEUED", "QUEUED"]);
    await first.stop("SIGKILL");

    const second = await oaoServer(args, { env: redis.env });
    try {
      for (const { executionId } of queued) {
        const { status } = await untilSuccess(second.url, executionId, Date.now() + 30_000);
        assert.equal(status, "SUCCESS", `${executionId} ran after the restart`);
      }
    } finally {
      const stopped = await second.stop();
      assert.match(stopped.stderr, /2 executions accepted by an earlier run of this node/);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

async function orphanTakenOver(env: Record<string, string>, dir: string) {
  const config = await slowAgentConfig(dir, 1_500);
  const args = ["start", "--port", "0", "--config", config];
  // In `dir`: the KV default, ./.oao/oao.kv, is the only place the task may write.
  const first = await oaoServer(args, { env, cwd: dir });
  const answer = await fetch(`${first.url}/executions`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ agent: "slow", task: {} }),
  });
  const { executionId, status } = await answer.json() as { executionId: string; status: string };
  assert.equal(status, "RUNNING");
  await first.stop("SIGKILL"); // mid-step: its claim names a process that no longer runs

  const second = await oaoServer(args, { env, cwd: dir });
  const started = Date.now();
  try {
    const view = await untilSuccess(second.url, executionId, started + 45_000);
    assert.equal(view.status, "SUCCESS", "the orphan ran to its end on the next run of the node");
    const events = await (await fetch(`${second.url}/executions/${executionId}/events`)).json();
    const types = (events.events as { type: string }[]).map((e) => e.type);
    assert.ok(types.includes("EXECUTION_RESUMED"), types.join(" "));
  } finally {
    const stopped = await second.stop();
    assert.match(stopped.stderr, /1 executions are RUNNING on these stores but not in this/);
    assert.match(stopped.stderr, /running when its process died, resumed here/);
  }
}

Deno.test("`start` on Redis killed with SIGKILL while an execution runs: the next `start` takes it over", async () => {
  await using redis = redisTestEnv();
  const dir = await Deno.makeTempDir();
  try {
    await orphanTakenOver(redis.env, dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("`start` on its Deno KV file killed with SIGKILL while an execution runs: the next `start` takes it over", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await orphanTakenOver({ OAO_STORE: "kv" }, dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a second `start` on the Deno KV file of a live `start` leaves its running execution to it and says so, not that it resumed it", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const config = await slowAgentConfig(dir, 8_000);
    const args = ["start", "--port", "0", "--config", config];
    const env = { OAO_STORE: "kv" };
    const live = await oaoServer(args, { env, cwd: dir });
    try {
      const answer = await fetch(`${live.url}/executions`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ agent: "slow", task: {} }),
      });
      const { executionId, status } = await answer.json() as {
        executionId: string;
        status: string;
      };
      assert.equal(status, "RUNNING");
      const second = await oaoServer(args, { env, cwd: dir });
      await new Promise((r) => setTimeout(r, 1_000)); // its one try at the claim, at start
      const { stderr } = await second.stop();
      assert.match(stderr, new RegExp(`${executionId}"? is run by "?process \\d+`), stderr);
      assert.doesNotMatch(stderr, /resumed here,|resumed here$|were running when/m, stderr);
      const view = await (await fetch(`${live.url}/executions/${executionId}`)).json();
      assert.equal(view.status, "RUNNING", "the live process still runs it");
    } finally {
      await live.stop("SIGKILL");
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a `start` whose runner is alive but stopped takes its execution over only once the runner's claim lapses, and runs it once", async () => {
  await using redis = redisTestEnv();
  const dir = await Deno.makeTempDir();
  try {
    const config = await slowAgentConfig(dir, 1_500);
    const args = ["start", "--port", "0", "--config", config];
    const holder = await oaoServer(args, { env: redis.env });
    const answer = await fetch(`${holder.url}/executions`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ agent: "slow", task: {} }),
    });
    const { executionId } = await answer.json() as { executionId: string };
    holder.child.kill("SIGSTOP"); // alive (its pid runs) but renewing nothing: as if on another machine
    const stoppedAt = Date.now();
    try {
      const second = await oaoServer(args, { env: redis.env });
      try {
        const view = await untilSuccess(second.url, executionId, stoppedAt + 45_000);
        assert.equal(view.status, "SUCCESS");
        // Renewed every 5 s, the 15 s claim lapsed 10 to 15 s after the stop, not before.
        assert.ok(
          Date.now() - stoppedAt >= 10_000,
          `taken over after ${Date.now() - stoppedAt} ms`,
        );
        const events = await (await fetch(`${second.url}/executions/${executionId}/events`)).json();
        const types = (events.events as { type: string }[]).map((e) => e.type);
        assert.equal(types.filter((t) => t === "EXECUTION_RESUMED").length, 1, types.join(" "));
        assert.equal(types.filter((t) => t === "EXECUTION_COMPLETED").length, 1, types.join(" "));
      } finally {
        await second.stop();
      }
    } finally {
      holder.child.kill("SIGCONT");
      await holder.stop("SIGKILL");
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a durable sleep survives a SIGKILL of `start`: the next `start` wakes the execution when it was due", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const waiter = new URL("../fixtures/wait_agent.ts", import.meta.url).pathname;
    const config = `${dir}/oao.json`;
    await Deno.writeTextFile(
      config,
      JSON.stringify({ agents: [{ name: "waiter", module: waiter }] }),
    );
    const args = ["start", "--port", "0", "--config", config];
    const env = { OAO_STORE: "kv" };
    const first = await oaoServer(args, { env, cwd: dir });
    const answer = await fetch(`${first.url}/executions`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ agent: "waiter", task: { sleepMs: 4_000 } }),
    });
    const { executionId } = await answer.json() as { executionId: string };
    const submitted = Date.now();
    let waiting: { waitingFor?: { kind?: string } } = {};
    while (waiting.waitingFor?.kind !== "timer" && Date.now() - submitted < 10_000) {
      waiting = await (await fetch(`${first.url}/executions/${executionId}`)).json();
      await new Promise((r) => setTimeout(r, 50));
    }
    assert.equal(waiting.waitingFor?.kind, "timer", JSON.stringify(waiting));
    await first.stop("SIGKILL");

    const second = await oaoServer(args, { env, cwd: dir });
    const up = Date.now();
    try {
      const view = await untilSuccess(second.url, executionId, submitted + 30_000);
      assert.equal(view.status, "SUCCESS", JSON.stringify(view));
      const sleptAt = view.report!.output!.sleptAt!;
      assert.ok(sleptAt - submitted >= 3_900, `woken ${sleptAt - submitted} ms after, due at 4000`);
      // When due, or as soon as the node is back if it was due before: not a whole sleep later.
      const due = Math.max(submitted + 4_000, up);
      assert.ok(sleptAt - due < 3_000, `woken ${sleptAt - due} ms after it could be`);
    } finally {
      await second.stop();
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
