// `oao fork` on the default Deno KV file: a fork of an execution recorded by
// another process runs; a refused fork (taken id, not a completed step)
// prints nothing on stdout but the error.
import assert from "node:assert/strict";
import { oao } from "./_cli.ts";

Deno.test("`oao fork` on the Deno KV file says it forks only once the fork is accepted", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const env = { OAO_STORE: "", OAO_LOG_LEVEL: "ERROR" }; // the default: ./.oao/oao.kv
    const run = await oao(["run", "researcher", '{"topic":"actors","sources":1}', "--json"], {
      env,
      cwd: dir,
    });
    assert.equal(run.code, 0, run.stderr);
    const source = JSON.parse(run.stdout).executionId as string;

    const fork = await oao(["fork", source, "--from-step", "1", "--id", "again"], {
      env,
      cwd: dir,
    });
    assert.equal(fork.code, 0, fork.stderr);
    const lines = fork.stdout.split("\n");
    assert.equal(lines[0], `Forking ${source} from step 1 as again`);
    assert.match(fork.stdout, /SUCCESS/);

    for (
      const [args, message] of [
        [["--from-step", "1", "--id", "again"], /Execution "again" already exists/],
        [["--from-step", "99", "--id", "other"], /step/],
      ] as [string[], RegExp][]
    ) {
      const refused = await oao(["fork", source, ...args], { env, cwd: dir });
      assert.equal(refused.code, 2, refused.stderr);
      assert.match(refused.stderr, message);
      assert.equal(refused.stdout, "", `${args.join(" ")}: nothing was forked`);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
