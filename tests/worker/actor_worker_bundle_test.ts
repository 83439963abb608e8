// Workers start from a bundle of src/worker/actor_worker.ts and what it
// imports, built on first use (src/actor/_runtime_bundle.ts) and kept in the
// bundle cache, never committed.
import assert from "node:assert/strict";
import { MessageNotCloneableError } from "../../src/errors.ts";
import { testSystem } from "../actor/_helpers.ts";

const ROOT = new URL("../../", import.meta.url);

async function run(code: string, env: Record<string, string>) {
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["eval", "--config", new URL("deno.json", ROOT).pathname, code],
    cwd: ROOT.pathname,
    env,
    stdout: "piped",
    stderr: "piped",
  }).output();
  return {
    code: output.code,
    stdout: new TextDecoder().decode(output.stdout),
    stderr: new TextDecoder().decode(output.stderr),
  };
}

Deno.test("the worker runtime is bundled on first use, from the current sources, into the cache", async () => {
  const cache = await Deno.makeTempDir({ prefix: "oao-runtime-cache-" });
  try {
    const probe = `
      import { prepareRuntimeBundle, runtimeEntry, runtimeBundleCode } from "./src/actor/_runtime_bundle.ts";
      const before = runtimeEntry();
      await prepareRuntimeBundle();
      const code = runtimeBundleCode() ?? "";
      console.log(JSON.stringify({
        before, after: runtimeEntry(),
        pooled: code.includes("startPooledActorWorker"), size: code.length,
        codes: [...code.matchAll(/registerErrorClass\\("([A-Z_]+)"/g)].map((m) => m[1]).sort(),
      }));`;
    const first = await run(probe, { OAO_BUNDLE_CACHE: cache });
    assert.equal(first.code, 0, first.stderr);
    const built = JSON.parse(first.stdout) as Record<string, unknown>;
    assert.match(String(built.before), /src\/worker\/actor_worker\.ts$/, "the modules before");
    assert.ok(
      String(built.after).startsWith(`file://${cache}/`) && String(built.after).endsWith(".js"),
      `the bundle after, as a module file of the cache: ${built.after}`,
    );
    assert.equal(built.pooled, true, "built from the current sources");
    // A worker carries the actor runtime's errors only: none of the stores' or the orchestrator's.
    assert.deepEqual(built.codes, [
      "ACCESS_DENIED",
      "ACTOR_EXISTS",
      "ACTOR_FAILED",
      "ACTOR_NOT_FOUND",
      "ACTOR_SPAWN_FAILED",
      "ACTOR_STOPPED",
      "ASK_TIMEOUT",
      "MAILBOX_FULL",
      "MESSAGE_NOT_CLONEABLE",
      "MODULE_REFUSED",
      "PROTOCOL_VIOLATION",
      "SUPERVISOR_ESCALATED",
      "VALUE_TOO_LARGE",
    ]);
    const extensions = (await Array.fromAsync(Deno.readDir(cache))).map((e) =>
      e.name.slice(e.name.lastIndexOf("."))
    );
    assert.deepEqual(
      extensions.sort(),
      [".js", ".json", ".map"],
      "one entry, its module file and its source map",
    );
    // A second process reads it (a changed source would make it build again).
    const second = await run(probe, { OAO_BUNDLE_CACHE: cache });
    assert.equal(second.code, 0, second.stderr);
    assert.equal((JSON.parse(second.stdout) as { size: number }).size, built.size);
  } finally {
    await Deno.remove(cache, { recursive: true });
  }
});

Deno.test("a stale cache entry is rebuilt and a tampered module file rewritten, never used", async () => {
  const cache = await Deno.makeTempDir({ prefix: "oao-runtime-cache-" });
  try {
    const probe = `
      import { prepareRuntimeBundle, runtimeBundleCode } from "./src/actor/_runtime_bundle.ts";
      await prepareRuntimeBundle();
      console.log(runtimeBundleCode()?.includes("TAMPERED") ? "tampered" : "fresh");`;
    assert.equal((await run(probe, { OAO_BUNDLE_CACHE: cache })).stdout.trim(), "fresh");
    for await (const entry of Deno.readDir(cache)) {
      if (!entry.name.endsWith(".json")) continue;
      const path = `${cache}/${entry.name}`;
      const json = JSON.parse(await Deno.readTextFile(path));
      json.code = `/* TAMPERED */ ${json.code}`;
      json.inputs[0].sha256 = "0".repeat(64); // as if that source had changed since
      await Deno.writeTextFile(path, JSON.stringify(json));
    }
    assert.equal((await run(probe, { OAO_BUNDLE_CACHE: cache })).stdout.trim(), "fresh");
    // A module file that is not the bundle's code is written again before workers load it.
    const module = (await Array.fromAsync(Deno.readDir(cache))).find((e) =>
      e.name.endsWith(".js")
    )!.name;
    await Deno.writeTextFile(`${cache}/${module}`, "/* TAMPERED */");
    assert.equal((await run(probe, { OAO_BUNDLE_CACHE: cache })).stdout.trim(), "fresh");
    assert.ok(!(await Deno.readTextFile(`${cache}/${module}`)).includes("TAMPERED"));
  } finally {
    await Deno.remove(cache, { recursive: true });
  }
});

Deno.test("errors made by the bundled runtime are instances of the library's error classes", async () => {
  const { prepareRuntimeBundle, runtimeEntry } = await import(
    "../../src/actor/_runtime_bundle.ts"
  );
  await prepareRuntimeBundle();
  const bundle = await import(runtimeEntry()) as Record<string, unknown>;
  assert.equal(typeof bundle.startActorWorker, "function");
  assert.equal(typeof bundle.startPooledActorWorker, "function");
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

Deno.test("an error the runtime raises inside a worker names the runtime's source file, not the minified bundle", async () => {
  await using system = testSystem();
  const actor = await system.spawn(new URL("../fixtures/uncloneable_reply.ts", import.meta.url), {
    name: "uncloneable",
  });
  const error = await actor.ask("hello").then(() => undefined, (e: unknown) => e);
  assert.ok(error instanceof MessageNotCloneableError, String(error));
  assert.match(String(error.stack), /src\/worker\/_inbound_links\.ts:\d+:\d+/);
});
