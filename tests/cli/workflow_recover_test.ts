// Nothing a killed `oao start` had accepted is left behind, workflows
// included: the next `start` on the same stores takes over the workflow the
// dead process ran, and it ends as it would have, each task's execution
// started once.
import assert from "node:assert/strict";
import { oaoServer, oaoUntil } from "./_cli.ts";
import { redisTestEnv, slowAgentConfig } from "./_redis_env.ts";

type Json = Record<string, unknown>;

async function get(url: string): Promise<Json> {
  return await (await fetch(url)).json();
}

async function untilFinished(url: string, workflowId: string, deadline: number): Promise<Json> {
  let view: Json = {};
  while (Date.now() < deadline) {
    view = await get(`${url}/workflows/${workflowId}`);
    if (view.status !== "RUNNING") break;
    await new Promise((r) => setTimeout(r, 200));
  }
  return view;
}

async function typesOf(url: string, executionId: string): Promise<string[]> {
  const { events } = await get(`${url}/executions/${executionId}/events`) as {
    events: { type: string }[];
  };
  return events.map((e) => e.type);
}

async function workflowTakenOver(env: Record<string, string>, dir: string) {
  const config = await slowAgentConfig(dir, 2_500);
  const args = ["start", "--port", "0", "--config", config];
  const first = await oaoServer(args, { env, cwd: dir });
  const answer = await fetch(`${first.url}/workflows`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({
      id: "wf-kill",
      tasks: [
        { name: "a", agent: "slow", input: {} },
        { name: "b", agent: "slow", input: {}, dependsOn: ["a"] },
      ],
    }),
  });
  assert.equal(answer.status, 202, await answer.text());
  await new Promise((r) => setTimeout(r, 1_000)); // a runs, b waits for it
  await first.stop("SIGKILL");

  const second = await oaoServer(args, { env, cwd: dir });
  try {
    const view = await untilFinished(second.url, "wf-kill", Date.now() + 45_000);
    assert.equal(view.status, "SUCCESS", JSON.stringify(view));
    const a = await typesOf(second.url, "wf-kill.a");
    const b = await typesOf(second.url, "wf-kill.b");
    const count = (types: string[], type: string) => types.filter((t) => t === type).length;
    assert.equal(count(a, "EXECUTION_STARTED"), 1, a.join(" "));
    assert.equal(count(a, "EXECUTION_RESUMED"), 1, `a resumed once, by one runner: ${a}`);
    assert.equal(count(b, "EXECUTION_STARTED"), 1, b.join(" "));
    assert.equal(count(b, "EXECUTION_RESUMED"), 0, b.join(" "));
  } finally {
    const { stderr } = await second.stop();
    assert.match(stderr, /Taking over workflow "?wf-kill"?/, stderr);
    assert.equal(stderr.match(/Taking over workflow/g)?.length, 1, stderr);
  }
}

Deno.test("`start` on its Deno KV file killed with SIGKILL while a workflow runs: the next `start` takes it over and it ends SUCCESS, each task started once", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await workflowTakenOver({ OAO_STORE: "kv" }, dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("with OAO_MAX_RUNNING 1 (one place), the next `start` takes over the dead process's execution and its workflow: it ends SUCCESS, each task started once", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await workflowTakenOver({ OAO_STORE: "kv", OAO_MAX_RUNNING: "1" }, dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("`start` on Redis killed with SIGKILL while a workflow runs: the next `start` takes it over and it ends SUCCESS, each task started once", async () => {
  await using redis = redisTestEnv();
  const dir = await Deno.makeTempDir();
  try {
    await workflowTakenOver(redis.env, dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("`POST /workflows/:id/resume` on `start` takes over a workflow whose `oao workflow run` was killed: 409 while that process lives, 202 once it died, then SUCCESS; 404 unknown, 409 finished", async () => {
  const dir = await Deno.makeTempDir();
  const env = { OAO_STORE: "kv" };
  try {
    const config = await slowAgentConfig(dir, 2_000);
    const spec = `${dir}/wf.json`;
    await Deno.writeTextFile(
      spec,
      JSON.stringify({
        id: "wf-cli",
        tasks: [
          { name: "a", agent: "slow", input: {} },
          { name: "b", agent: "slow", input: {}, dependsOn: ["a"] },
        ],
      }),
    );
    await using server = await oaoServer(["start", "--port", "0", "--config", config], {
      env,
      cwd: dir,
    });
    const resume = (id: string) =>
      fetch(`${server.url}/workflows/${id}/resume`, { method: "POST" });
    const unknown = await resume("wf-none");
    assert.equal(unknown.status, 404, await unknown.text());

    const runner = await oaoUntil(
      ["workflow", "run", spec, "--config", config],
      /Running workflow/,
      {
        env,
        cwd: dir,
      },
    );
    try {
      await new Promise((r) => setTimeout(r, 1_000)); // a runs there
      const held = await resume("wf-cli");
      assert.equal(held.status, 409, "a live process runs it");
      assert.match((await held.json()).error.message, /is being run by process \d+/);
    } finally {
      runner.kill("SIGKILL");
      await runner.status;
    }
    const taken = await resume("wf-cli");
    assert.equal(taken.status, 202, await taken.clone().text());
    assert.deepEqual(await taken.json(), { workflowId: "wf-cli", status: "RUNNING" });
    const view = await untilFinished(server.url, "wf-cli", Date.now() + 30_000);
    assert.equal(view.status, "SUCCESS", JSON.stringify(view));
    const a = await typesOf(server.url, "wf-cli.a");
    assert.equal(a.filter((t) => t === "EXECUTION_STARTED").length, 1, a.join(" "));
    const again = await resume("wf-cli");
    assert.equal(again.status, 409);
    assert.match((await again.json()).error.message, /already finished with status SUCCESS/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
