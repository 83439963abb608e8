// An actor's module graph holds only its own files (under its root), the
// OAO runtime, allowed `node:` built-ins and remote modules of granted hosts.
// Every other import is refused before anything is read, and no error an
// actor or its host sees quotes a file. One hostile actor per import form
// (tests/fixtures/hostile/import_*.ts, exit_*.ts), spawned by a real system.
import assert from "node:assert/strict";
import { parse } from "acorn";
import { fileURLToPath as fromFileUrl } from "node:url";
import { loadEsbuild } from "../../src/actor/_esbuild.ts";
import { ActorSpawnError, ModuleRefusedError } from "../../src/errors.ts";
import { modulePolicy } from "../../src/actor/_module_policy.ts";
import { RUNTIME_EXPORTS } from "../../src/actor/_runtime_modules.ts";
import { buildBundle, sha256 } from "../../src/actor/_bundle_build.ts";
import { readCachedBundle, writeCachedBundle } from "../../src/actor/_bundle_cache.ts";
import type { Attempt } from "../fixtures/hostile/import_computed.ts";
import { actor, eventually, fixture, testSystem } from "../actor/_helpers.ts";
import { testOrchestrator } from "../orchestrator/_helpers.ts";

// A bundle cache of this run only: every spawn below builds its bundle.
const CACHE = await Deno.makeTempDir({ prefix: "oao-bundles-" });
Deno.env.set("OAO_BUNDLE_CACHE", CACHE);
const SECRET = `oao-sandbox-secret-${crypto.randomUUID()}`;
Deno.env.set("OAO_TEST_SECRET", SECRET);
// Outside every actor's root: a JSON and a TypeScript file holding the secret.
const OUTSIDE = await Deno.makeTempDir({ prefix: "oao-outside-" });
await Deno.writeTextFile(`${OUTSIDE}/secret.json`, JSON.stringify({ secret: SECRET }));
await Deno.writeTextFile(`${OUTSIDE}/secret.ts`, `export const secret = "${SECRET}";\n`);
// The cache directory is left in place: OAO_BUNDLE_CACHE is the process's,
// so a test file running beside this one (`--parallel`) may have put its
// worker runtime there, and its workers would fail to load it.
globalThis.addEventListener("unload", () => Deno.removeSync(OUTSIDE, { recursive: true }));
const RUNTIME = new URL("../../src/", import.meta.url);
const CLI = new URL("cli/", RUNTIME);
const PATH_VALUE = Deno.env.get("PATH") ?? "PATH=";

function hostile(name: string): URL {
  return fixture(`hostile/${name}`);
}

/** Fails if `text` quotes the secret, the environment or the package's deno.json. */
function assertNoContents(text: string): void {
  for (const leak of [SECRET, PATH_VALUE, "compilerOptions", "npm:esbuild-wasm"]) {
    assert.ok(!text.includes(leak), `leaked ${JSON.stringify(leak)} in: ${text.slice(0, 500)}`);
  }
}

async function refusedSpawn(module: URL, reason: RegExp): Promise<ActorSpawnError> {
  await using system = testSystem();
  const error = await system.spawn(module, { snapshot: "never" }).catch((e) => e);
  assert.ok(error instanceof ActorSpawnError, String(error));
  assert.ok(error.cause instanceof ModuleRefusedError, String(error.cause));
  assert.equal(error.cause.code, "MODULE_REFUSED");
  assert.match(error.message, reason);
  assertNoContents(`${error.message}\n${error.stack}\n${JSON.stringify(system.recorded)}`);
  assert.deepEqual(system.actors, []);
  return error;
}

Deno.test("a static import of a file outside the actor's root fails the spawn before the file is read", async () => {
  await refusedSpawn(
    hostile("import_static_outside"),
    /import "\.\.\/\.\.\/\.\.\/deno\.json" is refused: it is outside the actor's root ".*hostile"/,
  );
});

Deno.test("a literal dynamic import of /proc/self/environ fails the spawn without quoting the environment", async () => {
  await refusedSpawn(
    hostile("import_proc_environ"),
    /import "file:\/\/\/proc\/self\/environ" is refused: only .* modules can be loaded/,
  );
});

Deno.test("a literal dynamic import of a JSON file outside the root fails the spawn", async () => {
  await refusedSpawn(hostile("import_json_outside"), /deno\.json" is refused: it is outside/);
});

Deno.test("a text import fails the spawn", async () => {
  await refusedSpawn(
    hostile("import_text"),
    /README\.md" is refused: import attribute type "text" is not supported/,
  );
});

Deno.test("node:vm, which runs code from strings, fails the spawn", async () => {
  await refusedSpawn(hostile("import_node_vm"), /"node:vm" is refused: the built-in/);
});

Deno.test("a remote import from a host without an import grant fails the spawn before any fetch", async () => {
  await refusedSpawn(
    hostile("import_remote"),
    /the host "example\.com" is not in the actor's "import" permission/,
  );
});

Deno.test("computed dynamic imports reject with MODULE_REFUSED and quote no file", async () => {
  await using system = testSystem();
  const ref = await system.spawn(hostile("import_computed"), { snapshot: "never" });
  const attempts = [
    { url: `file://${OUTSIDE}/secret.json`, json: true },
    { url: `file://${OUTSIDE}/secret.ts` },
    { url: "file:///proc/self/environ" },
    { dir: OUTSIDE, name: "secret.ts" },
    { url: new URL("../fixtures/hostile/import_legit_sibling.ts", import.meta.url).href },
  ];
  for (const message of attempts) {
    const outcome = await ref.ask<Attempt>(message);
    assert.equal(outcome.ok, false, JSON.stringify(outcome));
    if (outcome.ok) continue;
    assert.equal(outcome.code, "MODULE_REFUSED");
    assert.equal(outcome.name, "ModuleRefusedError");
    assert.match(outcome.message, /computed dynamic imports are not allowed inside an actor/);
    assertNoContents(outcome.message);
  }
  assertNoContents(JSON.stringify(system.recorded));
});

Deno.test("a specifier made with import.meta.resolve is refused like any computed one", async () => {
  await using system = testSystem();
  const ref = await system.spawn(hostile("import_meta_resolve"), { snapshot: "never" });
  const outcome = await ref.ask<{ ok: boolean; code: string; message: string; url: string }>({});
  assert.equal(outcome.ok, false);
  assert.equal(outcome.code, "MODULE_REFUSED");
  assertNoContents(outcome.message);
  // import.meta still describes the actor's own file, not its bundle.
  assert.equal(outcome.url, hostile("import_meta_resolve").href);
});

Deno.test("an actor has no Worker to start modules the host never verified", async () => {
  await using system = testSystem();
  const ref = await system.spawn(hostile("import_worker"), { snapshot: "never" });
  const outcome = await ref.ask<{ ok: boolean; hasWorker: string }>({
    url: `file://${OUTSIDE}/secret.ts`,
  });
  assert.equal(outcome.ok, false);
  assert.equal(outcome.hasWorker, "undefined");
});

Deno.test("Atomics.wait throws inside an actor: a thread blocked in it could not be ended; waitAsync still works", async () => {
  await using system = testSystem();
  const ref = await system.spawn(hostile("block_atomics_wait"), { snapshot: "never" });
  const outcome = await ref.ask<Record<string, string>>({}, { timeoutMs: 5_000 });
  assert.match(outcome.wait!, /^TypeError: Atomics.wait is disabled inside an actor/);
  assert.equal(outcome.replaced, "TypeError", "locked");
  assert.equal(outcome.waitAsync, "boolean");
  const shared = await system.spawn(hostile("block_atomics_wait"), {
    snapshot: "never",
    isolation: "shared",
  });
  assert.match(
    (await shared.ask<Record<string, string>>({}, { timeoutMs: 5_000 })).wait!,
    /^TypeError: Atomics.wait is disabled/,
  );
});

Deno.test("eval, Function and the function constructors throw inside an actor; instanceof Function still holds", async () => {
  await using system = testSystem();
  const ref = await system.spawn(hostile("import_eval"), { snapshot: "never" });
  const outcome = await ref.ask<Record<string, string | boolean>>({});
  for (const key of ["eval", "Function", "constructor", "async", "generator", "asyncGenerator"]) {
    assert.match(String(outcome[key]), /^EvalError: .* is disabled inside an actor/, key);
  }
  assert.equal(outcome.internals, "undefined");
  assert.equal(outcome.instanceOfFunction, true);
  assert.equal(outcome.constructorIsFunction, true);
});

for (const [name, call] of [["exit_deno", "Deno.exit()"], ["exit_close", "self.close()"]]) {
  Deno.test(`an actor that calls ${call} fails with reason worker_exited`, async () => {
    await using system = testSystem();
    const ref = await system.spawn(hostile(name!), {
      name: "quitter",
      snapshot: "never",
      restart: "temporary",
    });
    ref.tell("go");
    const failed = await eventually(
      () => system.recorded.find((e) => e.type === "ACTOR_FAILED"),
      "ACTOR_FAILED",
    );
    assert.equal(failed.data.reason, "worker_exited");
    assert.match(
      String((failed.data.error as { message: string }).message),
      /may not end its worker/,
    );
    // The rest of the system goes on.
    const echo = await system.spawn(actor("echo"), { snapshot: "never" });
    assert.equal(await echo.ask("still here"), "still here");
  });
}

Deno.test("a well-behaved actor without permissions imports a sibling module, a JSON file inside its root and node: built-ins that start the node compatibility", async () => {
  await using system = testSystem();
  const ref = await system.spawn(hostile("import_legit"), { snapshot: "never" });
  assert.deepEqual(await ref.ask({ name: "oao" }), {
    greeting: "hello oao",
    answer: 42,
    lazy: true,
    self: "import_legit.ts",
    sibling: "import_legit_sibling.ts",
    hash: "97b5a2d5",
    resolved: true,
  });
});

Deno.test("a symbolic link under the root that leads outside it is refused", async () => {
  const root = await Deno.makeTempDir({ prefix: "oao-root-" });
  try {
    await Deno.symlink(`${OUTSIDE}/secret.json`, `${root}/data.json`);
    await Deno.writeTextFile(
      `${root}/linked.ts`,
      `import { defineBehavior } from ${JSON.stringify(new URL("actor/behavior.ts", RUNTIME).href)};
import data from "./data.json" with { type: "json" };
export default defineBehavior({ initialState: data, receive: (s) => s });
`,
    );
    await refusedSpawn(
      new URL(`file://${root}/linked.ts`),
      /"\.\/data\.json" is refused: a symbolic link leads outside the actor's root/,
    );
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("a remote module of a granted host is fetched by the host and bundled; without the grant it is refused", async () => {
  await using server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    (req) =>
      new URL(req.url).pathname === "/remote.ts"
        ? new Response("export const value: number = 7;\n", {
          headers: { "content-type": "application/typescript" },
        })
        : new Response("not found", { status: 404 }),
  );
  const host = `127.0.0.1:${server.addr.port}`;
  const root = await Deno.makeTempDir({ prefix: "oao-root-" });
  try {
    await Deno.writeTextFile(
      `${root}/remote_user.ts`,
      `import { defineBehavior } from ${JSON.stringify(new URL("actor/behavior.ts", RUNTIME).href)};
import { value } from "http://${host}/remote.ts";
export default defineBehavior({ initialState: null, receive(s, _m, ctx) { ctx.reply(value); return s; } });
`,
    );
    const module = new URL(`file://${root}/remote_user.ts`);
    await using system = testSystem();
    const ref = await system.spawn(module, { snapshot: "never", permissions: { import: [host] } });
    assert.equal(await ref.ask("value?"), 7);
    await refusedSpawn(module, /the host "127\.0\.0\.1:\d+" is not in the actor's "import"/);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("a child spawned by an actor must live under its parent's root", async () => {
  await using system = testSystem();
  const parent = await system.spawn(actor("parent"), { name: "parent", snapshot: "never" });
  const error = await parent.ask({
    type: "spawn",
    names: ["outsider"],
    module: "../tests/fixtures/hostile/import_legit.ts",
  }).catch((e) => e);
  assert.ok(error instanceof Error);
  assert.match(
    error.message,
    /import_legit\.ts" is refused: it is outside the actor's root ".*actors"/,
  );
  const [path] = await parent.ask<string[]>({
    type: "spawn",
    names: ["echo"],
    module: "./echo.ts",
  });
  assert.equal(path, "parent/echo");
});

Deno.test("an execution whose agent module is refused ends FAILED with the refusal", async () => {
  await using orchestrator = testOrchestrator({
    agents: [{
      name: "refused",
      module: "tests/fixtures/hostile/import_agent_refused.ts",
      version: "1.0.0",
    }],
  });
  const report = await orchestrator.run("refused", {});
  assert.equal(report.status, "FAILED");
  assert.match(
    report.error?.message ?? "",
    /deno\.json" is refused: it is outside the actor's root/,
  );
  assertNoContents(JSON.stringify(report));
});

Deno.test("a cached bundle is used only while its files are unchanged and its imports still allowed", async () => {
  const root = await Deno.makeTempDir({ prefix: "oao-root-" });
  try {
    const behavior = JSON.stringify(new URL("actor/behavior.ts", RUNTIME).href);
    await Deno.writeTextFile(`${root}/part.ts`, "export const n = 1;\n");
    await Deno.writeTextFile(
      `${root}/cached.ts`,
      `import { defineBehavior } from ${behavior};\nimport { n } from "./part.ts";\n` +
        "export default defineBehavior({ initialState: n, receive: (s) => s });\n",
    );
    const policy = await modulePolicy(`file://${root}/cached.ts`, { importHosts: false });
    const key = `test-${crypto.randomUUID()}`;
    const built = await buildBundle(policy);
    // The actor's files, and the runtime's files it uses with the package's deno.json.
    assert.deepEqual(
      built.inputs.map((i) => `${i.runtime ? "runtime " : ""}${i.url.split("/").pop()}`).sort(),
      ["cached.ts", "part.ts", "runtime behavior.ts", "runtime deno.json"],
    );
    await writeCachedBundle(key, built);
    assert.equal((await readCachedBundle(key, policy))?.code, built.code);
    // A changed file: the entry is stale.
    await Deno.writeTextFile(`${root}/part.ts`, "export const n = 2;\n");
    assert.equal(await readCachedBundle(key, policy), undefined);
    // A tampered entry cannot add an import the policy refuses.
    await Deno.writeTextFile(`${root}/part.ts`, "export const n = 1;\n");
    await writeCachedBundle(key, { ...built, externals: ["file:///proc/self/environ"] });
    assert.equal(await readCachedBundle(key, policy), undefined);
    const { imports } = JSON.parse(
      await Deno.readTextFile(new URL("../../deno.json", import.meta.url)),
    ) as { imports: Record<string, string> };
    // Nor as an import the runtime's files would have made: only packages
    // the runtime's import map names pass.
    for (
      const specifier of [
        "file:///proc/self/environ",
        "npm:left-pad@1.3.0",
        "node:vm",
        `${imports.zod}/../left-pad`,
        `${imports.zod}/%2e%2e/x`,
      ]
    ) {
      await writeCachedBundle(key, {
        ...built,
        externals: [specifier],
        runtimeExternals: [specifier],
      });
      assert.equal(await readCachedBundle(key, policy), undefined, specifier);
    }
    await writeCachedBundle(key, {
      ...built,
      externals: [imports.zod!],
      runtimeExternals: [imports.zod!],
    });
    assert.ok(await readCachedBundle(key, policy), "a package of the runtime's import map");
    // Nor a file outside the root, as the actor's or as the runtime's (also
    // by a path that goes out of the package through "..").
    const src = fromFileUrl(RUNTIME);
    const outOfPackage = `${src}${"../".repeat(src.split("/").filter(Boolean).length)}${
      OUTSIDE.slice(1)
    }/secret.ts`;
    // (with the file's true hash: only where it is decides)
    const hash = await sha256(await Deno.readTextFile(`${OUTSIDE}/secret.ts`));
    const secret = {
      url: `file://${OUTSIDE}/secret.ts`,
      real: `${OUTSIDE}/secret.ts`,
      sha256: hash,
    };
    for (
      const input of [
        secret,
        { ...secret, runtime: true as const },
        { url: `file://${outOfPackage}`, real: outOfPackage, sha256: hash, runtime: true as const },
      ]
    ) {
      await writeCachedBundle(key, { ...built, inputs: [input] });
      assert.equal(await readCachedBundle(key, policy), undefined, input.real);
    }
    // A runtime file that changed: stale too.
    const behaviorInput = built.inputs.find((i) => i.url.endsWith("/behavior.ts"))!;
    await writeCachedBundle(key, {
      ...built,
      inputs: built.inputs.map((i) => i === behaviorInput ? { ...i, sha256: "0".repeat(64) } : i),
    });
    assert.equal(await readCachedBundle(key, policy), undefined);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("the runtime subpaths an actor may import match deno.json's exports", async () => {
  const config = JSON.parse(
    await Deno.readTextFile(new URL("../../deno.json", import.meta.url)),
  ) as { name: string; exports: Record<string, string> };
  const expected = Object.fromEntries(
    Object.entries(config.exports).map(([sub, path]) => [
      sub === "." ? config.name : `${config.name}/${sub.slice(2)}`,
      path.replace(/^\.\//, ""),
    ]),
  );
  assert.deepEqual(RUNTIME_EXPORTS, expected);
});

Deno.test("no runtime module an actor may import makes a computed dynamic import", async () => {
  // An actor may import any module of src/ but the command line; the worker
  // loads those unchecked, so none may import a computed URL or the command line.
  const files: string[] = [];
  const walk = async (dir: URL): Promise<void> => {
    for await (const entry of Deno.readDir(dir)) {
      const url = new URL(entry.name + (entry.isDirectory ? "/" : ""), dir);
      if (entry.isDirectory && url.href !== CLI.href) await walk(url);
      else if (entry.isFile && entry.name.endsWith(".ts")) files.push(url.href);
    }
  };
  await walk(RUNTIME);
  const lib = await loadEsbuild();
  const result = await lib.build({
    entryPoints: files,
    bundle: false,
    write: false,
    outdir: "out",
    format: "esm",
    logLevel: "silent",
    plugins: [{
      name: "read",
      setup(build) {
        build.onResolve({ filter: /.*/ }, (args) => ({ path: args.path, namespace: "src" }));
        build.onLoad({ filter: /.*/, namespace: "src" }, async (args) => ({
          contents: await Deno.readTextFile(new URL(args.path)),
          loader: "ts",
        }));
      },
    }],
  });
  const offenders: string[] = [];
  result.outputFiles.forEach((output, i) => {
    const file = files[i]!;
    const visit = (node: unknown): void => {
      if (typeof node !== "object" || node === null) return;
      const n = node as { type?: string; source?: { type: string; value?: unknown } };
      if (n.type === "ImportExpression" && n.source?.type !== "Literal") {
        offenders.push(`${file}: computed import()`);
      }
      const specifier = n.source?.type === "Literal" ? n.source.value : undefined;
      if (
        typeof specifier === "string" && specifier.startsWith(".") &&
        new URL(specifier, file).href.startsWith(CLI.href)
      ) {
        offenders.push(`${file}: imports ${specifier}`);
      }
      for (const value of Object.values(node)) {
        if (Array.isArray(value)) value.forEach(visit);
        else visit(value);
      }
    };
    visit(parse(output.text, { ecmaVersion: "latest", sourceType: "module" }));
  });
  assert.equal(result.outputFiles.length, files.length);
  assert.deepEqual(offenders, []);
});
