// Layers point one way (README "Architecture"): cli → api → orchestrator →
// actor (host) / worker (guest); distributed → orchestrator; adapters (redis)
// beside the ports, never under them. Nothing in src/ depends on the examples of actors/: the
// command line reads their config file at run time instead of importing them.
//
// Every import of every src/**/*.ts file is checked: static imports and
// re-exports (types included), dynamic imports with a literal specifier, and
// modules referenced by `new URL("….ts", import.meta.url)` or
// `import.meta.resolve("….ts")` (what a worker or sandbox process loads).
import assert from "node:assert/strict";

const ROOT = new URL("../", import.meta.url);

/** `from` may not depend on any of `to` (paths relative to the repository root). */
const RULES: readonly { from: string; to: readonly string[]; why: string }[] = [
  { from: "src/", to: ["actors/"], why: "the examples are loaded as configuration, not imported" },
  {
    from: "src/api/",
    to: ["src/cli/", "src/distributed/", "src/redis/"],
    why: "the HTTP edge sees executions through the ExecutionBackend port only",
  },
  {
    from: "src/distributed/",
    to: ["src/api/", "src/cli/"],
    why: "the queue backend and worker node sit under the HTTP API and the command line",
  },
  {
    from: "src/orchestrator/",
    to: ["src/api/", "src/cli/", "src/distributed/", "src/redis/"],
    why: "the orchestrator is the core the API, the command line and the workers build on",
  },
  {
    from: "src/actor/",
    to: ["src/orchestrator/", "src/api/", "src/cli/", "src/distributed/", "src/redis/"],
    why: "the actor runtime knows nothing of agents",
  },
  {
    from: "src/sandbox/",
    to: ["src/api/", "src/cli/", "src/distributed/", "src/redis/"],
    why: "sandbox processes host actors, below the orchestrator",
  },
  {
    from: "src/worker/",
    to: ["src/orchestrator/", "src/api/", "src/cli/", "src/distributed/", "src/redis/"],
    why: "the guest carries only the actor runtime's protocol and errors",
  },
  {
    from: "src/events/",
    to: ["src/redis/", "src/api/", "src/cli/"],
    why: "ports never import their adapters",
  },
  { from: "src/persistence/", to: ["src/redis/"], why: "ports never import their adapters" },
  { from: "src/queue/", to: ["src/redis/"], why: "ports never import their adapters" },
  {
    from: "src/redis/",
    to: ["src/orchestrator/", "src/api/", "src/cli/", "src/distributed/", "src/actor/"],
    why: "an adapter depends on its ports only",
  },
];

const STATIC = [
  // import x from "…"; import { a, type b } from "…"; import * as n from "…"; import type …
  /^import\s+(?:type\s+)?(?:[\w$]+\s*,?\s*)?(?:\*\s+as\s+[\w$]+|\{[^}]*\})?\s*from\s*["']([^"']+)["']/gm,
  // import "…"; (side effects)
  /^import\s*["']([^"']+)["']/gm,
  // export * from "…"; export { a } from "…"; export type { b } from "…"
  /^export\s+(?:type\s+)?(?:\*(?:\s+as\s+[\w$]+)?|\{[^}]*\})\s*from\s*["']([^"']+)["']/gm,
];
const IN_CODE = [
  /\bimport\(\s*["']([^"']+)["']\s*\)/g,
  /\bnew URL\(\s*["']([^"']+\.(?:ts|js|mts|tsx))["']\s*,\s*import\.meta\.url\s*\)/g,
  /\bimport\.meta\.resolve\(\s*["']([^"']+\.(?:ts|js|mts|tsx))["']\s*\)/g,
];

/**
 * The module specifiers a TypeScript module depends on. JSDoc and line
 * comments are left out (their examples are documentation, not imports).
 */
function importsOf(source: string): string[] {
  const found: string[] = [];
  for (const pattern of STATIC) {
    for (const match of source.matchAll(pattern)) found.push(match[1]!);
  }
  const code = source.split("\n").filter((line) => !/^\s*(\*|\/\/|\/\*)/.test(line)).join("\n");
  for (const pattern of IN_CODE) {
    for (const match of code.matchAll(pattern)) found.push(match[1]!);
  }
  return found;
}

/** Every rule broken by `files` (path relative to the root → source). */
function violations(files: ReadonlyMap<string, string>): string[] {
  const broken: string[] = [];
  for (const [path, source] of files) {
    const url = new URL(path, ROOT);
    for (const specifier of importsOf(source)) {
      if (!specifier.startsWith(".") && !specifier.startsWith("/")) continue; // npm:, node:, bare
      const target = new URL(specifier, url).href.slice(ROOT.href.length);
      for (const rule of RULES) {
        if (!path.startsWith(rule.from)) continue;
        const into = rule.to.find((to) => target.startsWith(to));
        if (into) broken.push(`${path} imports ${target} ("${specifier}"): ${rule.why}`);
      }
    }
  }
  return broken;
}

async function sources(dir: string): Promise<Map<string, string>> {
  const files = new Map<string, string>();
  const visit = async (relative: string) => {
    for await (const entry of Deno.readDir(new URL(relative, ROOT))) {
      const path = `${relative}${entry.name}`;
      if (entry.isDirectory) await visit(`${path}/`);
      else if (entry.isFile && path.endsWith(".ts")) {
        files.set(path, await Deno.readTextFile(new URL(path, ROOT)));
      }
    }
  };
  await visit(dir);
  return files;
}

Deno.test("the import scanner finds every kind of dependency and skips documentation", () => {
  const source = [
    "/**",
    ' * import { exampleTools } from "../../actors/example_tools.ts";',
    ' * const m = await import("../../actors/doc_only.ts");',
    " */",
    'import { a } from "./a.ts";',
    'import type { B } from "../b/b.ts";',
    "import {",
    "  c,",
    "  type D,",
    '} from "./c.ts";',
    'import * as e from "./e.ts";',
    'import "./side_effect.ts";',
    'export { f } from "./f.ts";',
    'export * from "./g.ts";',
    'export type { H } from "./h.ts";',
    'const i = await import("./i.ts");',
    'const worker = new URL("./j.ts", import.meta.url);',
    'const k = import.meta.resolve("./k.ts");',
    'const data = new URL("./config.json", import.meta.url);',
    '// import { l } from "./l.ts";',
    'const text = "import { m } from \\"./m.ts\\"";',
  ].join("\n");
  assert.deepEqual(importsOf(source).sort(), [
    "../b/b.ts",
    "./a.ts",
    "./c.ts",
    "./e.ts",
    "./f.ts",
    "./g.ts",
    "./h.ts",
    "./i.ts",
    "./j.ts",
    "./k.ts",
    "./side_effect.ts",
  ]);
});

Deno.test("a file importing against a layer's direction is reported, naming both files", () => {
  const broken = violations(
    new Map([
      ["src/actor/x.ts", 'import type { Y } from "../orchestrator/y.ts";'],
      [
        "src/orchestrator/y.ts",
        'import { z } from "../api/z.ts";\nimport { a } from "../actor/a.ts";',
      ],
      ["src/cli/w.ts", 'const tools = await import("../../actors/example_tools.ts");'],
      ["src/distributed/v.ts", 'export * from "../cli/v.ts";'],
      ["src/api/u.ts", 'import { o } from "../orchestrator/o.ts";'],
    ]),
  );
  assert.deepEqual(broken.map((b) => b.split(" (")[0]), [
    "src/actor/x.ts imports src/orchestrator/y.ts",
    "src/orchestrator/y.ts imports src/api/z.ts",
    "src/cli/w.ts imports actors/example_tools.ts",
    "src/distributed/v.ts imports src/cli/v.ts",
  ]);
});

Deno.test("no module of src/ imports against the layers or from actors/", async () => {
  const files = await sources("src/");
  assert.ok(files.size > 50, `src/ has ${files.size} modules`);
  assert.ok(files.has("src/cli/_agents.ts"));
  assert.deepEqual(violations(files), []);
});
