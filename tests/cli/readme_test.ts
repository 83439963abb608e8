// The README is true: its embedding example runs, it documents every
// command, flag, variable and endpoint, and everything it documents exists.
// The Dockerfile and the deno.json tasks are what it says.
import assert from "node:assert/strict";
import { COMMANDS } from "../../src/cli/main.ts";
import { API_ROUTES } from "../../src/api/api_routes.ts";
import { TASK_FLAGS } from "./_cli.ts";
import { RedisServer } from "../_support/redis_server.ts";

const ROOT = new URL("../../", import.meta.url);
const README = await Deno.readTextFile(new URL("README.md", ROOT));
const PROSE = README.replace(/```[\s\S]*?```/g, "");
const DENO_JSON = JSON.parse(await Deno.readTextFile(new URL("deno.json", ROOT)));

Deno.test("the README's embedding example runs against Redis and prints a SUCCESS report", async () => {
  const marker = README.indexOf("<!-- embedding-example");
  assert.ok(marker > 0);
  const block = /```ts\n([\s\S]*?)```/.exec(README.slice(marker))![1]!;
  const code = block.replace(
    /from "\.\/([^"]+)"/g,
    (_, path) => `from ${JSON.stringify(new URL(path, ROOT).href)}`,
  );
  const dir = await Deno.makeTempDir();
  await using redis = await RedisServer.start();
  try {
    await Deno.writeTextFile(`${dir}/embed.ts`, code);
    const output = await new Deno.Command(Deno.execPath(), {
      // At the repository root the file would use deno.json; from the temporary directory, say so.
      args: [
        "run",
        "--config",
        new URL("deno.json", ROOT).pathname,
        ...TASK_FLAGS,
        `${dir}/embed.ts`,
      ],
      cwd: ROOT.pathname,
      env: { REDIS_URL: redis.url(), OAO_LOG_LEVEL: "ERROR" },
      stdout: "piped",
      stderr: "piped",
    }).output();
    const stdout = new TextDecoder().decode(output.stdout);
    assert.equal(output.code, 0, new TextDecoder().decode(output.stderr));
    const [status, executionId] = stdout.split(" ");
    assert.equal(status, "SUCCESS");
    // The execution is in Redis, where `oao status` would find it.
    const events = await redis.command("XLEN", `oao:{${executionId}}:events`);
    assert.ok(Number(events.replace(/^:/, "")) > 10, `events of ${executionId}: ${events}`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("the README documents every command, flag and environment variable", () => {
  for (const command of COMMANDS) {
    assert.match(
      README,
      new RegExp(`### \`oao ${command.name}[ \`]`),
      `section of ${command.name}`,
    );
    assert.match(
      README,
      new RegExp(`\\| \`oao ${command.name}[ \`]`),
      `${command.name} in the table`,
    );
    for (const flag of command.flags) {
      assert.ok(README.includes(`\`--${flag.name}`), `${command.name} --${flag.name}`);
    }
    for (const variable of command.env) {
      assert.match(
        README,
        new RegExp(`\\| \`${variable.name}\` +\\|`),
        `${variable.name} in Configuration`,
      );
    }
  }
});

Deno.test("every flag, variable and command the README mentions exists", () => {
  const flags = new Set(
    COMMANDS.flatMap((c) =>
      c.flags.flatMap((f) => f.negatable ? [`--${f.name}`, `--no-${f.name}`] : [`--${f.name}`])
    ),
  );
  // Deno's own flags, which the README mentions for the tasks and for tools that need more.
  for (
    const extra of [
      "--help",
      "--version",
      "--allow-run",
      "--allow-write",
      "--cached-only",
      ...TASK_FLAGS,
    ]
  ) {
    flags.add(extra);
  }
  for (const [flag] of PROSE.matchAll(/--[a-z][a-z-]*/g)) {
    assert.ok(flags.has(flag), `the README mentions ${flag}`);
  }
  const variables = new Set(COMMANDS.flatMap((c) => c.env.map((v) => v.name)));
  const otel =
    /^OTEL_(\*|DENO|EXPORTER_OTLP_(TRACES_)?(ENDPOINT|HEADERS|TIMEOUT|COMPRESSION|PROTOCOL)|BSP_(\*|SCHEDULE_DELAY|MAX_QUEUE_SIZE|MAX_EXPORT_BATCH_SIZE|EXPORT_TIMEOUT)|TRACES_EXPORTER|SDK_DISABLED|SERVICE_NAME|RESOURCE_ATTRIBUTES)$/;
  for (const [name] of README.matchAll(/\b(?:OAO|OTEL)_[A-Z_*]+|\bREDIS_URL\b/g)) {
    // OAO_TEST_REDIS_URL is the test suite's (see Development), not the command line's.
    const known = variables.has(name) || otel.test(name) || name === "OAO_TEST_REDIS_URL";
    assert.ok(known, `the README mentions ${name}`);
  }
  const names = new Set(COMMANDS.map((c) => c.name));
  for (const [, name] of PROSE.matchAll(/`oao ([a-z]+)/g)) {
    assert.ok(names.has(name!), `the README mentions oao ${name}`);
  }
});

Deno.test("the README's endpoint table is exactly the API's routes", () => {
  const documented = [...README.matchAll(/^\| `(GET|POST|DELETE) (\/[^`]*)` +\|/gm)].map((m) =>
    `${m[1]} ${m[2]}`
  );
  // The files of /docs and /ui (the console) are listed as their page.
  const served = API_ROUTES.filter((r) => !/^\/(docs|ui)\//.test(r.spec.path))
    .map((r) => `${r.spec.method.toUpperCase()} ${r.spec.path.replaceAll(/\{(\w+)\}/g, ":$1")}`);
  assert.deepEqual([...documented].sort(), [...served].sort());
});

Deno.test("the deno.json tasks run the CLI with the documented permissions, and the README's commands exist", () => {
  const prefix = `deno run ${TASK_FLAGS.join(" ")} src/cli/main.ts`;
  for (const task of ["demo", "worker"]) {
    assert.equal(DENO_JSON.tasks[task], `${prefix} ${task}`, task);
  }
  // The servers build the console first (a failed build leaves /ui answering 503, not the API down).
  for (const task of ["start", "serve"]) {
    assert.equal(DENO_JSON.tasks[task], `deno task bundle:console; ${prefix} ${task}`, task);
  }
  assert.equal(DENO_JSON.tasks.oao, prefix);
  for (const [, task] of README.matchAll(/deno(?:@2\.9\.6)? task ([a-z]+)/g)) {
    assert.ok(DENO_JSON.tasks[task!], `deno task ${task}`);
  }
  assert.match(README, /npx -y deno@2\.9\.6 task demo/);
  assert.match(README, /npx -y deno@2\.9\.6 task test/);
});

Deno.test("the Dockerfile pins denoland/deno:2.9.6, caches dependencies first, runs as deno, starts `start`", async () => {
  const dockerfile = await Deno.readTextFile(new URL("Dockerfile", ROOT));
  const lines = dockerfile.split("\n").filter((l) => l && !l.startsWith("#"));
  assert.equal(lines[0], "FROM denoland/deno:2.9.6");
  const at = (pattern: RegExp) => lines.findIndex((l) => pattern.test(l));
  assert.ok(at(/^COPY .*deno\.json deno\.lock/) < at(/^RUN deno install/));
  assert.ok(at(/^RUN deno install/) < at(/^COPY (\S+ )*src /));
  assert.ok(at(/^USER deno$/) >= 0 && at(/^USER deno$/) < at(/^RUN deno install/));
  // The sources stay root's: read-only for the deno user.
  assert.ok(!/--chown|\bchown\b|--chmod/.test(lines.join("\n")));
  assert.equal(lines.at(-1), 'CMD ["start"]');
  const entrypoint = JSON.parse(lines.find((l) => l.startsWith("ENTRYPOINT"))!.slice(11));
  for (const flag of TASK_FLAGS) assert.ok(entrypoint.includes(flag), flag);
  assert.ok(entrypoint.includes("--cached-only"));
  assert.ok(!entrypoint.includes("-A") && !entrypoint.includes("--allow-all"));
  assert.equal(entrypoint.at(-1), "src/cli/main.ts");
  assert.match(dockerfile, /^HEALTHCHECK\b[\s\S]*?CMD \["deno", "eval", [^\n]*\/healthz/m);
  for (
    const variable of [
      "OAO_HOST=0.0.0.0",
      "OAO_PORT=8080",
      "OAO_LOG_FORMAT=json",
      "OAO_SHUTDOWN_GRACE_MS=8000",
      "OTEL_SERVICE_NAME=oao-runtime",
    ]
  ) {
    assert.ok(dockerfile.includes(variable), variable);
    assert.ok(README.includes(`\`${variable}\``), `the README says ${variable}`);
  }
  // The demo is quiet: no log level in the image, each command keeps its default.
  assert.ok(!dockerfile.includes("OAO_LOG_LEVEL="));
  assert.match(README, /docker stop -t/);
});
