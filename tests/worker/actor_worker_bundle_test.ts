// Actor workers load the runtime from src/worker/actor_worker.bundle.js, a
// bundle of src/worker/actor_worker.ts and what it imports. This test fails
// when the bundle is out of date: run `deno task bundle` and commit it.
import assert from "node:assert/strict";

Deno.test("the worker runtime bundle is built from the current sources (deno task bundle)", async () => {
  const root = new URL("../../", import.meta.url).pathname;
  const fresh = await Deno.makeTempFile({ suffix: ".js" });
  try {
    const { code, stderr } = await new Deno.Command(Deno.execPath(), {
      args: ["bundle", "--quiet", "--platform=deno", "src/worker/actor_worker.ts", "-o", fresh],
      cwd: root,
      stderr: "piped",
    }).output();
    assert.equal(code, 0, new TextDecoder().decode(stderr));
    const committed = await Deno.readTextFile(`${root}src/worker/actor_worker.bundle.js`);
    assert.ok(
      (await Deno.readTextFile(fresh)) === committed,
      "src/worker/actor_worker.bundle.js is stale: run `deno task bundle`",
    );
  } finally {
    await Deno.remove(fresh);
  }
});

Deno.test("errors made by the bundled runtime are instances of the library's error classes", async () => {
  const bundle = await import("../../src/worker/actor_worker.bundle.js") as Record<string, unknown>;
  assert.equal(typeof bundle.startActorWorker, "function");
  const { AskTimeoutError, OaoError, fromErrorInfo, MailboxFullError } = await import(
    "../../src/errors.ts"
  );
  const copy = Object.create(Error.prototype) as Error & { code: string };
  copy.code = "ASK_TIMEOUT";
  assert.ok(copy instanceof AskTimeoutError);
  assert.ok(copy instanceof OaoError);
  assert.ok(!(copy instanceof MailboxFullError));
  assert.ok(
    fromErrorInfo({ name: "MailboxFullError", message: "x", code: "MAILBOX_FULL" }) instanceof
      MailboxFullError,
  );
  assert.ok(!(new Error("plain") instanceof OaoError));
});
