import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { StoreUnavailableError } from "../../src/errors.ts";
import { KvEventStore } from "../../src/kv/kv_event_store.ts";
import { KvJobQueue } from "../../src/kv/kv_job_queue.ts";
import { KvPersistenceAdapter } from "../../src/kv/kv_persistence_adapter.ts";
import { openKv } from "../../src/kv/open_kv.ts";
import { tempKv } from "./_kv_harness.ts";

const CHILD = new URL("./_kv_child.ts", import.meta.url).pathname;

/** The message of a StoreUnavailableError and of its cause. */
function describe(error: unknown): string {
  assert.ok(error instanceof StoreUnavailableError, `${error}`);
  const cause = error.cause instanceof Error ? error.cause.message : "";
  return `${error.message}\n${cause}`;
}

Deno.test("openKv creates the parent directory and shares one Deno.Kv per path until the last release", async () => {
  const temp = await tempKv();
  try {
    const path = `${temp.dir}/nested/deeper/oao.kv`;
    const a = await openKv(path);
    const b = await openKv(`${temp.dir}/nested/../nested/deeper/oao.kv`);
    assert.equal(a.kv, b.kv);
    assert.equal(a.path, path);
    await a.kv.set(["k"], 1);
    a.release();
    a.release(); // idempotent: b's share stays
    assert.equal((await b.kv.get(["k"])).value, 1);
    b.release();
    await assert.rejects(b.kv.get(["k"]), Deno.errors.BadResource, "closed with the last share");
    const c = await openKv(path);
    assert.notEqual(c.kv, a.kv, "a closed database is opened afresh");
    assert.equal((await c.kv.get(["k"])).value, 1);
    c.release();
  } finally {
    await temp.remove();
  }
});

Deno.test("a damaged file gives an error naming the path and what to do", async () => {
  const temp = await tempKv();
  try {
    await Deno.writeTextFile(temp.path, "this is not a SQLite database\n".repeat(200));
    await assert.rejects(openKv(temp.path), (error) => {
      const text = describe(error);
      assert.match(text, new RegExp(temp.path.replaceAll("/", "\\/")));
      assert.match(text, /not a database/);
      assert.match(text, /move it away/);
      return true;
    });
    for (
      const store of [
        new KvEventStore({ path: temp.path }),
        new KvPersistenceAdapter({ path: temp.path }),
      ]
    ) {
      const attempt = store instanceof KvEventStore
        ? store.appendEvent("exec-1", { type: "A" })
        : store.save("exec-1/a", 1);
      await assert.rejects(attempt, (error) => {
        assert.ok(describe(error).includes(temp.path));
        return true;
      });
      await store.close();
    }
    const queue = new KvJobQueue({ path: temp.path });
    await assert.rejects(queue.stats(), (error) => describe(error).includes(temp.path));
    await queue.close();
  } finally {
    await temp.remove();
  }
});

Deno.test("a file another program holds locked gives an error naming the path", async () => {
  const temp = await tempKv();
  (await openKv(temp.path)).release(); // a valid Deno KV file
  const sqlite = new DatabaseSync(temp.path);
  try {
    sqlite.exec("PRAGMA locking_mode = EXCLUSIVE; BEGIN EXCLUSIVE;");
    await assert.rejects(openKv(temp.path), (error) => {
      const text = describe(error);
      assert.ok(text.includes(temp.path), text);
      assert.match(text, /locked/);
      assert.match(text, /another program/);
      return true;
    });
  } finally {
    sqlite.close();
    await temp.remove();
  }
});

Deno.test("a path that cannot be a writable file gives an error naming it", async () => {
  const temp = await tempKv();
  try {
    await Deno.writeTextFile(`${temp.dir}/file`, "");
    const underFile = `${temp.dir}/file/oao.kv`;
    await assert.rejects(openKv(underFile), (error) => {
      const text = describe(error);
      assert.ok(text.includes(underFile), text);
      assert.match(text, /cannot create its directory/);
      return true;
    });
    await Deno.mkdir(`${temp.dir}/dir.kv`);
    await assert.rejects(openKv(`${temp.dir}/dir.kv`), (error) => {
      const text = describe(error);
      assert.ok(text.includes(`${temp.dir}/dir.kv`), text);
      assert.match(text, /choose a writable file path/);
      return true;
    });
  } finally {
    await temp.remove();
  }
});

Deno.test("openKv without --unstable-kv or without write permission says what to run", async () => {
  const temp = await tempKv();
  try {
    const run = async (flags: string[]) => {
      const { stdout } = await new Deno.Command(Deno.execPath(), {
        args: ["run", "--no-check", ...flags, CHILD, "open", temp.path],
        stdin: "null",
        stdout: "piped",
        stderr: "inherit",
      }).output();
      return new TextDecoder().decode(stdout);
    };
    const withoutKv = await run(["-A"]);
    assert.ok(withoutKv.includes(temp.path), withoutKv);
    assert.match(withoutKv, /--unstable-kv/);
    const readOnly = await run(["--unstable-kv", "--allow-read"]);
    assert.ok(readOnly.includes(temp.path), readOnly);
    assert.match(readOnly, /grant read and write access/);
  } finally {
    await temp.remove();
  }
});

Deno.test("openKv refuses an empty path", async () => {
  await assert.rejects(openKv(""), TypeError);
});
