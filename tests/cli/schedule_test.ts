// `oao schedule` as a subprocess, on a Deno KV file shared by its runs.
import assert from "node:assert/strict";
import { oao } from "./_cli.ts";

Deno.test("oao schedule create, list, pause, resume and delete on a Deno KV file; bad input exits 2 naming it", async () => {
  const dir = await Deno.makeTempDir({ prefix: "oao-schedule-cli-" });
  const env = { OAO_STORE: "kv" }; // ./.oao/oao.kv in the working directory
  const run = (args: string[]) => oao(args, { env, cwd: dir });
  try {
    const created = await run([
      "schedule",
      "create",
      "researcher",
      "0 3 * * *",
      "--id",
      "nightly",
      "--tz",
      "Europe/Berlin",
      "--task",
      '{"topic":"actors"}',
      "--overlap",
      "buffer-one",
      "--json",
    ]);
    assert.equal(created.code, 0, created.stderr);
    const schedule = JSON.parse(created.stdout);
    assert.equal(schedule.id, "nightly");
    assert.equal(schedule.timezone, "Europe/Berlin");
    assert.deepEqual(schedule.task, { topic: "actors" });
    assert.equal(schedule.overlap, "buffer-one");

    const list = await run(["schedule", "list"]);
    assert.equal(list.code, 0, list.stderr);
    assert.match(
      list.stdout,
      /^nightly {2}"0 3 \* \* \*" Europe\/Berlin {2}researcher {2}next \d{4}-/m,
    );

    const paused = await run(["schedule", "pause", "nightly", "--json"]);
    assert.equal(JSON.parse(paused.stdout).paused, true);
    assert.match((await run(["schedule", "list"])).stdout, /paused/);
    const resumed = await run(["schedule", "resume", "nightly", "--json"]);
    assert.equal(JSON.parse(resumed.stdout).paused, false);

    const badCron = await run(["schedule", "create", "researcher", "61 * * * *"]);
    assert.equal(badCron.code, 2);
    assert.match(badCron.stderr, /Invalid cron expression "61 \* \* \* \*"/);
    const badTz = await run(["schedule", "create", "researcher", "@daily", "--tz", "Nowhere/X"]);
    assert.equal(badTz.code, 2);
    assert.match(badTz.stderr, /Invalid time zone "Nowhere\/X"/);
    const ghost = await run(["schedule", "create", "ghost", "@daily"]);
    assert.equal(ghost.code, 2);
    assert.match(ghost.stderr, /No agent is registered as "ghost"/);
    const limit = await run([
      "schedule",
      "create",
      "researcher",
      "@daily",
      "--catch-up-limit",
      "-1",
    ]);
    assert.equal(limit.code, 2);

    const deleted = await run(["schedule", "delete", "nightly"]);
    assert.equal(deleted.code, 0, deleted.stderr);
    const again = await run(["schedule", "delete", "nightly"]);
    assert.equal(again.code, 1);
    assert.match(again.stderr, /No schedule "nightly" exists/);
    assert.match((await run(["schedule", "list"])).stdout, /No schedules/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("oao schedule refuses the in-memory stores: the schedule would vanish with the command", async () => {
  const result = await oao(["schedule", "list"], { env: { OAO_STORE: "memory" } });
  assert.equal(result.code, 2);
  assert.match(result.stderr, /schedules must outlive this command/);
});
