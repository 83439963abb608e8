// The container image behaves as the README says, checked without a Docker
// engine: the build context is laid out as .dockerignore leaves it, the
// image's files as the Dockerfile's COPY lines place them (owned by root, so
// the run must write nothing there), its RUN lines fill an empty Deno cache,
// and its ENTRYPOINT and CMD then run with `--cached-only` on that cache,
// behind a proxy that refuses every connection: it serves /healthz, its
// HEALTHCHECK passes (and fails once it stopped), the demo prints no log
// line, and a derived image built as the README shows runs an agent whose tool
// imports a package, stopped by SIGTERM within docker stop's 10 s.
import assert from "node:assert/strict";

const ROOT = new URL("../", import.meta.url).pathname;
const README = await Deno.readTextFile(`${ROOT}README.md`);

/** One instruction, continuation lines joined, comments dropped. */
export interface Instruction {
  name: string;
  args: string;
}

/**
 * Parses a Dockerfile.
 *
 * @param text Its text.
 * @returns Its instructions in order.
 */
export function parseDockerfile(text: string): Instruction[] {
  const instructions: Instruction[] = [];
  let pending = "";
  for (const line of text.split("\n")) {
    if (/^\s*#/.test(line) || (!pending && !line.trim())) continue;
    pending += line.replace(/\\\s*$/, " ");
    if (/\\\s*$/.test(line)) continue;
    const [, name, args] = /^\s*(\S+)\s*([\s\S]*)$/.exec(pending)!;
    instructions.push({ name: name!.toUpperCase(), args: args!.trim().replace(/\s+/g, " ") });
    pending = "";
  }
  return instructions;
}

/**
 * Whether .dockerignore `patterns` leave `path` out of the build context
 * (the last matching pattern decides; a pattern matching a directory matches
 * what it contains).
 */
function ignored(path: string, patterns: string[]): boolean {
  let out = false;
  for (const raw of patterns) {
    const negated = raw.startsWith("!");
    const pattern = (negated ? raw.slice(1) : raw).replace(/^\/+|\/+$/g, "");
    const regex = new RegExp(
      `^${
        pattern.replace(/[.+^${}()|[\]\\]/g, "\\$&").replace(/\*\*\/|\*\*|\*|\?/g, (m) =>
          m === "**/" ? "(?:.*/)?" : m === "**" ? ".*" : m === "*" ? "[^/]*" : "[^/]")
      }$`,
    );
    const parts = path.split("/");
    if (parts.some((_, i) => regex.test(parts.slice(0, i + 1).join("/")))) out = !negated;
  }
  return out;
}

/** Copies the build context (the repository less what .dockerignore leaves out) to `to`. */
async function buildContext(from: string, to: string): Promise<string[]> {
  const patterns = (await Deno.readTextFile(`${from}/.dockerignore`)).split("\n")
    .map((l) => l.trim()).filter((l) => l && !l.startsWith("#"));
  const kept: string[] = [];
  const walk = async (dir: string) => {
    for await (const entry of Deno.readDir(`${from}/${dir}`)) {
      const path = dir ? `${dir}/${entry.name}` : entry.name;
      // An excluded folder is entered only when a later "!" pattern may bring part of it back.
      const back = patterns.some((p) => p.startsWith("!") && p.slice(1).startsWith(`${path}/`));
      if (ignored(path, patterns) && !(entry.isDirectory && back)) continue;
      if (entry.isDirectory) {
        await Deno.mkdir(`${to}/${path}`, { recursive: true });
        await walk(path);
      } else if (entry.isFile) {
        await Deno.copyFile(`${from}/${path}`, `${to}/${path}`);
        kept.push(path);
      }
    }
  };
  await walk("");
  return kept;
}

async function copyTree(from: string, to: string): Promise<void> {
  const info = await Deno.stat(from);
  if (info.isFile) {
    await Deno.copyFile(from, to);
    return;
  }
  await Deno.mkdir(to, { recursive: true });
  for await (const entry of Deno.readDir(from)) {
    await copyTree(`${from}/${entry.name}`, `${to}/${entry.name}`);
  }
}

/** Every file and folder under `dir` with its size and modification time. */
async function snapshot(dir: string, into = new Map<string, string>(), at = dir) {
  for await (const entry of Deno.readDir(at)) {
    const path = `${at}/${entry.name}`;
    const info = await Deno.lstat(path);
    into.set(path.slice(dir.length + 1), `${info.size} ${info.mtime?.getTime()}`);
    if (entry.isDirectory) await snapshot(dir, into, path);
  }
  return into;
}

// What a build step may need from this machine to reach the npm registry.
const NETWORK_ENV = [
  "HTTP_PROXY",
  "HTTPS_PROXY",
  "NO_PROXY",
  "http_proxy",
  "https_proxy",
  "no_proxy",
  "NPM_CONFIG_REGISTRY",
  "DENO_CERT",
  "DENO_TLS_CA_STORE",
  "NODE_EXTRA_CA_CERTS",
  "SSL_CERT_FILE",
  "SSL_CERT_DIR",
];

/** A Docker image laid out in a temporary directory: `/` is `root`. */
class Image {
  readonly root: string;
  readonly instructions: Instruction[] = [];
  env: Record<string, string> = {};
  workdir = "/";
  user = "root";
  entrypoint: string[] = [];
  cmd: string[] = [];
  healthcheck: string[] = [];
  /** Files and folders under the working directory as the COPY lines left them. */
  copied = new Map<string, string>();
  /** The VOLUME paths (absolute in the image). */
  volumes: string[] = [];
  /** Each RUN line with the user it ran as. */
  runs: { user: string; args: string }[] = [];
  #base: Record<string, string>;

  constructor(root: string, base: Record<string, string>) {
    this.root = root;
    this.#base = base;
  }

  get cwd(): string {
    return `${this.root}${this.workdir}`;
  }

  /** The environment of the container: the base image's, then the ENV lines. */
  runEnv(extra: Record<string, string> = {}): Record<string, string> {
    return { ...this.#base, ...this.env, ...extra };
  }

  /** Applies `instructions` with the build context at `context`. */
  async build(instructions: Instruction[], context: string): Promise<void> {
    for (const { name, args } of instructions) {
      this.instructions.push({ name, args });
      if (name === "FROM" || name === "EXPOSE") continue;
      if (name === "VOLUME") {
        this.volumes.push(args.startsWith("/") ? args : `${this.workdir}/${args}`);
        continue;
      }
      if (name === "WORKDIR") {
        this.workdir = args.startsWith("/") ? args : `${this.workdir}/${args}`;
        await Deno.mkdir(this.cwd, { recursive: true });
      } else if (name === "USER") {
        this.user = args;
      } else if (name === "ENV") {
        for (const [, key, value] of args.matchAll(/(\w+)=("[^"]*"|\S*)/g)) {
          this.env[key!] = value!.replace(/^"|"$/g, "");
        }
      } else if (name === "COPY") {
        const words = args.split(" ");
        const flags = words.filter((w) => w.startsWith("--"));
        assert.deepEqual(flags, [], `COPY ${args}: the application stays root's (no --chown)`);
        const dest = words.at(-1)!;
        const target = dest.startsWith("/") ? `${this.root}${dest}` : `${this.cwd}/${dest}`;
        const sources = words.slice(0, -1);
        for (const source of sources) {
          const from = `${context}/${source}`;
          const into = dest.endsWith("/") && (await Deno.stat(from)).isFile
            ? `${target}${source.split("/").at(-1)}`
            : target;
          await copyTree(from, into);
        }
        await snapshot(this.cwd, this.copied);
      } else if (name === "RUN") {
        this.runs.push({ user: this.user, args });
        const network = Object.fromEntries(
          NETWORK_ENV.flatMap((k) => Deno.env.get(k) ? [[k, Deno.env.get(k)!]] : []),
        );
        const output = await new Deno.Command("sh", {
          args: ["-c", args],
          cwd: this.cwd,
          env: this.runEnv(network),
          clearEnv: true,
          stdout: "piped",
          stderr: "piped",
        }).output();
        const decoder = new TextDecoder();
        assert.equal(
          output.code,
          0,
          `RUN ${args}\n${decoder.decode(output.stdout)}${decoder.decode(output.stderr)}`,
        );
      } else if (name === "HEALTHCHECK") {
        this.healthcheck = JSON.parse(/\bCMD (\[.*\])$/.exec(args)![1]!);
      } else if (name === "ENTRYPOINT") {
        this.entrypoint = JSON.parse(args);
      } else if (name === "CMD") {
        this.cmd = JSON.parse(args);
      } else {
        throw new Error(`${name} is not simulated by this test`);
      }
    }
  }

  /** `docker run` of the image: ENTRYPOINT with `args` (default CMD), minus tini. */
  command(args: string[] = this.cmd, env: Record<string, string> = {}): Deno.Command {
    const argv = [...this.entrypoint, ...args];
    assert.deepEqual(argv.slice(0, 2), ["/tini", "--"], "tini is PID 1 and forwards signals");
    return new Deno.Command(argv[2]!, {
      args: argv.slice(3),
      cwd: this.cwd,
      env: this.runEnv(OFFLINE_ENV(env)),
      clearEnv: true,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    });
  }

  /**
   * Files and folders the running container changed or added under the
   * working directory, outside its volumes.
   */
  async writes(): Promise<string[]> {
    const now = await snapshot(this.cwd);
    const inVolume = (path: string) =>
      this.volumes.some((v) =>
        `${this.workdir}/${path}`.startsWith(`${v}/`) || `${this.workdir}/${path}` === v
      );
    return [...now].filter(([path, stamp]) => this.copied.get(path) !== stamp && !inVolume(path))
      .map(([p]) => p);
  }
}

/** The run's environment: downloads go to a proxy that refuses every connection. */
function OFFLINE_ENV(extra: Record<string, string>): Record<string, string> {
  const dead = "http://127.0.0.1:9";
  return {
    HTTP_PROXY: dead,
    HTTPS_PROXY: dead,
    NO_PROXY: "127.0.0.1,localhost",
    DENO_NO_UPDATE_CHECK: "1",
    ...extra,
  };
}

/** Runs `command` until its stdout says where it listens. */
async function listening(command: Deno.Command) {
  const child = command.spawn();
  let stdout = "";
  let stderr = "";
  const pump = async (stream: ReadableStream<Uint8Array>, add: (s: string) => void) => {
    for await (const chunk of stream.pipeThrough(new TextDecoderStream())) add(chunk);
  };
  const pumps = Promise.all([
    pump(child.stdout, (s) => stdout += s),
    pump(child.stderr, (s) => stderr += s),
  ]);
  const deadline = Date.now() + 30_000;
  let port: string | undefined;
  while (!(port = /listening on http:\/\/[^\s:]+:(\d+)/.exec(stdout)?.[1])) {
    if (Date.now() > deadline) {
      child.kill("SIGKILL");
      await child.status;
      await pumps;
      throw new Error(`the container did not start:\n${stdout}\n${stderr}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  return {
    port,
    url: `http://127.0.0.1:${port}`,
    /** Sends `signal` and waits for the exit. */
    async stop(signal: Deno.Signal = "SIGTERM") {
      const start = Date.now();
      child.kill(signal);
      const status = await child.status;
      await pumps;
      return { code: status.code, ms: Date.now() - start, stdout, stderr };
    },
  };
}

async function output(command: Deno.Command) {
  const out = await command.output();
  const decoder = new TextDecoder();
  return { code: out.code, stdout: decoder.decode(out.stdout), stderr: decoder.decode(out.stderr) };
}

Deno.test("the image, laid out as the Dockerfile builds it, runs with --cached-only as the README says", async (t) => {
  const work = await Deno.makeTempDir({ prefix: "oao-image-" });
  try {
    // The base image: deno on the PATH, DENO_DIR=/deno-dir (empty), the deno user's home.
    await Deno.mkdir(`${work}/bin`);
    await Deno.symlink(Deno.execPath(), `${work}/bin/deno`);
    const root = `${work}/fs`;
    await Deno.mkdir(`${root}/deno-dir`, { recursive: true });
    await Deno.mkdir(`${root}/home/deno`, { recursive: true });
    const image = new Image(root, {
      PATH: `${work}/bin:/usr/local/bin:/usr/bin:/bin`,
      DENO_DIR: `${root}/deno-dir`,
      HOME: `${root}/home/deno`,
    });
    const instructions = parseDockerfile(await Deno.readTextFile(`${ROOT}Dockerfile`));

    await t.step(
      ".dockerignore leaves only what the COPY lines take, and the build succeeds",
      async () => {
        const context = `${work}/context`;
        await Deno.mkdir(context);
        const files = await buildContext(ROOT, context);
        for (const left of [".git", "tests", "bench", ".ci", "README.md", "Dockerfile"]) {
          assert.ok(!files.some((f) => f === left || f.startsWith(`${left}/`)), left);
        }
        assert.equal(
          instructions[0]!.args,
          `denoland/deno:${Deno.version.deno}`,
          "this test's Deno",
        );
        await image.build(instructions, context);
        assert.equal(image.user, "deno");
        // Root only creates the deno user's data folder; the cache is filled as deno.
        for (const { user, args } of image.runs) {
          assert.ok(
            user === "deno" || /^install -d -o 1993 -g 1993 \S+$/.test(args),
            `RUN ${args}`,
          );
        }
        assert.ok(image.runs.some((r) => r.user === "deno" && /deno install/.test(r.args)));
        assert.deepEqual(image.volumes, ["/app/.oao"], "the Deno KV file's folder is a volume");
        assert.deepEqual(await image.writes(), [], "the build wrote nothing under the workdir");
      },
    );

    await t.step(
      "`docker run oao` serves /healthz; its HEALTHCHECK passes, then fails once it stopped",
      async () => {
        assert.ok(image.entrypoint.includes("--cached-only"));
        assert.deepEqual(image.cmd, ["start"]);
        assert.equal(image.env.OAO_PORT, "8080");
        // -e OAO_PORT=0: a free port instead of 8080.
        const server = await listening(image.command(image.cmd, { OAO_PORT: "0" }));
        const health = () =>
          output(
            new Deno.Command(image.healthcheck[0]!, {
              args: image.healthcheck.slice(1),
              cwd: image.cwd,
              env: image.runEnv(OFFLINE_ENV({ OAO_PORT: server.port })),
              clearEnv: true,
            }),
          );
        let stopped: Awaited<ReturnType<typeof server.stop>> | undefined;
        try {
          const live = await fetch(`${server.url}/healthz`);
          assert.equal(live.status, 200);
          await live.body?.cancel();
          const check = await health();
          assert.equal(check.code, 0, check.stderr);
        } finally {
          stopped = await server.stop();
        }
        assert.equal(stopped.code, 0, stopped.stderr);
        assert.equal((await health()).code, 1, "the HEALTHCHECK fails when nothing answers");
        assert.deepEqual(await image.writes(), [], "the container wrote nothing under the workdir");
      },
    );

    await t.step("`docker run oao demo` prints the demo and no log line", async () => {
      const demo = await output(image.command(["demo"]));
      assert.equal(demo.code, 0, demo.stderr);
      assert.match(demo.stdout, /Every scene ended as described/);
      assert.equal(demo.stderr, "");
    });

    await t.step(
      "a derived image as the README shows it runs agents whose tools import packages; SIGTERM ends a running execution within docker stop's 10 s",
      async () => {
        const section = README.slice(README.indexOf("### Your agents and tools in the image"));
        const block = /```dockerfile\n([\s\S]*?)```/.exec(section)![1]!;
        const derived = parseDockerfile(block);
        assert.equal(derived[0]!.name, "FROM");
        const context = `${work}/derived`;
        await Deno.mkdir(`${context}/agents`, { recursive: true });
        await Deno.mkdir(`${context}/tools`);
        await Deno.writeTextFile(
          `${context}/oao.json`,
          JSON.stringify({
            agents: [{ name: "slow", module: "./agents/slow.ts", version: "1.0.0" }],
            tools: ["./tools/pause_tools.ts"],
          }),
        );
        await Deno.writeTextFile(
          `${context}/agents/slow.ts`,
          `import { defineAgent } from "@oao/runtime";
         export default defineAgent({
           version: "1.0.0",
           async execute(ctx) { ctx.state.paused = await ctx.tool("pause", { for: "1 min" }); },
           review: (ctx) => ({ done: true, output: ctx.state.paused }),
         });`,
        );
        // A package that deno.lock knows only as a dependency of a dependency: the
        // derived image's cache step records it (a run would otherwise write deno.lock).
        await Deno.writeTextFile(
          `${context}/tools/pause_tools.ts`,
          `import ms from "npm:ms@2.1.3";
         import { defineTool } from "@oao/runtime";
         export const pause = defineTool({
           name: "pause",
           idempotent: true,
           run: (args: { for: string }, ctx) => new Promise((resolve) => {
             const timer = setTimeout(() => resolve(ms(args.for)), ms(args.for));
             ctx.signal.addEventListener("abort", () => { clearTimeout(timer); resolve(null); });
           }),
         });`,
        );
        await image.build(derived.slice(1), context);
        assert.equal(image.user, "deno");
        image.copied = await snapshot(image.cwd);
        assert.match(await Deno.readTextFile(`${image.cwd}/deno.lock`), /"npm:ms@2\.1\.3"/);

        const grace = Number(image.env.OAO_SHUTDOWN_GRACE_MS);
        assert.ok(grace > 0 && grace <= 8_000, `OAO_SHUTDOWN_GRACE_MS=${grace}`);
        const server = await listening(image.command(image.cmd, { OAO_PORT: "0" }));
        let stopped: Awaited<ReturnType<typeof server.stop>> | undefined;
        try {
          const submit = await fetch(`${server.url}/executions`, {
            method: "POST",
            headers: { "content-type": "application/json" },
            body: JSON.stringify({ agent: "slow", task: {} }),
          });
          const { executionId } = await submit.json();
          assert.ok(submit.ok && executionId, `${submit.status} ${executionId}`);
          const deadline = Date.now() + 20_000;
          // Running its tool call (a minute long) when the SIGTERM comes.
          while (true) {
            const page = await fetch(`${server.url}/executions/${executionId}/events`);
            const { events } = await page.json() as { events: { type: string }[] };
            if (events.some((e) => e.type === "TOOL_CALL")) break;
            assert.ok(Date.now() < deadline, `no tool call: ${events.map((e) => e.type)}`);
            await new Promise((resolve) => setTimeout(resolve, 50));
          }
        } finally {
          stopped = await server.stop("SIGTERM");
        }
        assert.equal(stopped.code, 0, stopped.stderr);
        assert.ok(stopped.ms >= grace - 500, `it waited for the grace period (${stopped.ms} ms)`);
        assert.ok(stopped.ms < 10_000, `stopped in ${stopped.ms} ms, before docker's SIGKILL`);
        assert.deepEqual(await image.writes(), [], "the container wrote nothing under the workdir");
      },
    );
  } finally {
    await Deno.remove(work, { recursive: true });
  }
});
