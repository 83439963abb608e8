// What an actor's bundle holds of the OAO runtime: only what the actor uses
// of it, so that its worker loads one module instead of the package's
// (src/actor/_runtime_modules.ts, src/actor/_runtime_slim.ts). Real bundles,
// real workers.
import assert from "node:assert/strict";
import { parse } from "acorn";
import { ActorSpawnError } from "../../src/errors.ts";
import { buildBundle } from "../../src/actor/_bundle_build.ts";
import { modulePolicy } from "../../src/actor/_module_policy.ts";
import { keepsEffects } from "../../src/actor/_runtime_modules.ts";
import { testSystem } from "../actor/_helpers.ts";

// The bundle cache stays the default one: OAO_BUNDLE_CACHE is the process's,
// and the other test files of a `--parallel` run share it.
const ROOT = await Deno.makeTempDir({ prefix: "oao-runtime-modules-" });
globalThis.addEventListener("unload", () => Deno.removeSync(ROOT, { recursive: true }));

/** Writes an actor module under ROOT and returns its URL. */
async function actorModule(name: string, source: string): Promise<URL> {
  await Deno.writeTextFile(`${ROOT}/${name}.ts`, source);
  return new URL(`file://${ROOT}/${name}.ts`);
}

/** The static and literal dynamic imports of a bundle. */
function importsOf(code: string): string[] {
  const program = parse(code, { ecmaVersion: "latest", sourceType: "module" });
  return program.body.flatMap((node) =>
    node.type === "ImportDeclaration" || node.type === "ExportAllDeclaration" ||
      (node.type === "ExportNamedDeclaration" && node.source)
      ? [String(node.source!.value)]
      : []
  );
}

Deno.test("an actor that imports defineBehavior from @oao/runtime gets a bundle of one module that holds only what it uses", async () => {
  const module = await actorModule(
    "named",
    'import { ActorStoppedError, defineBehavior } from "@oao/runtime";\n' +
      "export default defineBehavior({\n" +
      "  initialState: 0,\n" +
      "  receive(n: number, m: unknown, ctx) {\n" +
      "    ctx.reply({ n, stopped: new ActorStoppedError('x', 'test') instanceof Error });\n" +
      "    return n + 1;\n" +
      "  },\n" +
      "});\n",
  );
  const started = performance.now();
  const bundle = await buildBundle(await modulePolicy(module.href, { importHosts: false }));
  const took = performance.now() - started;
  assert.deepEqual(importsOf(bundle.code), [], "the worker loads no module of the package");
  assert.ok(bundle.code.includes("function defineBehavior"));
  assert.ok(!bundle.code.includes("class ActorSystem"), "nothing the actor does not use");
  // mod.ts is read for its re-exports, not bundled with all 140 modules behind it.
  // (with the error classes' modules, which register their codes as they load)
  const runtimeFiles = bundle.inputs.filter((input) => input.runtime).length;
  assert.ok(runtimeFiles < 25, `${runtimeFiles} runtime files read`);
  assert.ok(took < 10_000, `bundled in ${took.toFixed(0)} ms`);

  await using system = testSystem();
  const ref = await system.spawn(module, { snapshot: "never" });
  assert.deepEqual(await ref.ask("a"), { n: 0, stopped: true });
  assert.deepEqual(await ref.ask("b"), { n: 1, stopped: true });
});

Deno.test("a namespace import of a runtime index keeps all of it, and the packages the runtime imports load in a worker without permissions", async () => {
  const module = await actorModule(
    "namespace",
    'import * as logging from "@oao/runtime/logging";\n' +
      "export default {\n" +
      "  initialState: null,\n" +
      "  receive(s: null, _m: unknown, ctx: { reply(v: unknown): void }) {\n" +
      "    ctx.reply([typeof logging.redactText, typeof logging.configureLogging]);\n" +
      "    return s;\n" +
      "  },\n" +
      "};\n",
  );
  const bundle = await buildBundle(await modulePolicy(module.href, { importHosts: false }));
  const packages = importsOf(bundle.code).filter((specifier) => specifier.startsWith("npm:"));
  assert.ok(
    packages.some((specifier) => specifier.startsWith("npm:@logtape/logtape@")),
    packages.join(),
  );
  assert.deepEqual(bundle.runtimeExternals.filter((s) => packages.includes(s)), packages);

  await using system = testSystem();
  const ref = await system.spawn(module, { snapshot: "never" });
  assert.deepEqual(await ref.ask(null), ["function", "function"]);
});

Deno.test("an actor that imports only OaoError knows every runtime error by its code, as with the whole package", async () => {
  const module = await actorModule(
    "base_error",
    'import { OaoError } from "@oao/runtime";\n' +
      "export default {\n" +
      "  initialState: null,\n" +
      "  receive(s: null, code: string, ctx: { reply(v: unknown): void }) {\n" +
      "    ctx.reply(Object.assign(new Error('x'), { code }) instanceof OaoError);\n" +
      "    return s;\n" +
      "  },\n" +
      "};\n",
  );
  await using system = testSystem();
  const ref = await system.spawn(module, { snapshot: "never" });
  for (
    const code of ["ACTOR_STOPPED", "STORE_UNAVAILABLE", "EXECUTION_NOT_FOUND", "MODEL_CALL_FAILED"]
  ) {
    assert.equal(await ref.ask(code), true, code);
  }
  assert.equal(await ref.ask("ENOENT"), false);
});

Deno.test("a runtime module imported for its effects keeps them: the model layer's sys check runs in the actor's worker", async () => {
  const module = await actorModule(
    "effects",
    'import { parseModelId } from "@oao/runtime/model";\n' +
      "export default {\n" +
      "  initialState: null,\n" +
      "  receive(s: null, m: string, ctx: { reply(v: unknown): void }) {\n" +
      "    ctx.reply(parseModelId(m).provider);\n" +
      "    return s;\n" +
      "  },\n" +
      "};\n",
  );
  await using system = testSystem();
  const refused = await system.spawn(module, { name: "no-sys", snapshot: "never" }).then(
    () => undefined,
    (error: unknown) => error,
  );
  assert.ok(refused instanceof ActorSpawnError, String(refused));
  assert.match(refused.message, /--allow-sys/);
  const ref = await system.spawn(module, {
    name: "sys",
    snapshot: "never",
    permissions: { sys: ["hostname"] },
  });
  assert.equal(await ref.ask("openai:gpt-4o-mini"), "openai");
  // However the import is written.
  const bare = await actorModule(
    "effects_only",
    '/* the model layer */import "@oao/runtime/model";\n' +
      "export default { initialState: null, receive: (s: null) => s };\n",
  );
  const failed = await system.spawn(bare, { name: "bare", snapshot: "never" }).then(
    () => undefined,
    (error: unknown) => error,
  );
  assert.match(String(failed), /--allow-sys/);
});

Deno.test("every runtime module that registers error classes is kept for its effects", async () => {
  const registering: string[] = [];
  const walk = async (dir: URL): Promise<void> => {
    for await (const entry of Deno.readDir(dir)) {
      const url = new URL(entry.name + (entry.isDirectory ? "/" : ""), dir);
      if (entry.isDirectory) await walk(url);
      else if (entry.name.endsWith(".ts")) {
        const source = await Deno.readTextFile(url);
        // Calls, not the definition or its doc.
        if (/^\s*registerErrorClass\(/m.test(source) && !url.href.endsWith("/oao_error.ts")) {
          registering.push(url.href);
          assert.ok(keepsEffects(source), url.href);
        }
      }
    }
  };
  await walk(new URL("../../src/", import.meta.url));
  assert.ok(registering.length >= 5, registering.join());
});
