// The command line as a user meets it: help, bad input, exit codes.
import assert from "node:assert/strict";
import { oao } from "./_cli.ts";
import { COMMANDS, main } from "../../src/cli/main.ts";

/** Runs `main` in this process with captured output (the matrix of cases; subprocesses cover a sample). */
async function inProcess(argv: string[], vars: Record<string, string> = {}) {
  let stdout = "";
  let stderr = "";
  const code = await main(argv, {
    env: (name) => ({ OAO_LOG_LEVEL: "ERROR", ...vars })[name],
    stdout: (text) => stdout += text,
    stderr: (text) => stderr += text,
  });
  return { code, stdout, stderr };
}

Deno.test("`oao --help` lists every command; no command at all is a usage error", async () => {
  const help = await oao(["--help"]);
  assert.equal(help.code, 0);
  for (const command of COMMANDS) assert.match(help.stdout, new RegExp(`\\n  ${command.name} `));
  const none = await oao([]);
  assert.equal(none.code, 2);
  assert.match(none.stderr, /Usage: oao <command>/);
});

Deno.test("every command's --help lists its flags and the environment variables it reads", async () => {
  const sample = await Promise.all(["run", "start", "worker"].map((name) => oao([name, "--help"])));
  for (const [i, name] of ["run", "start", "worker"].entries()) {
    assert.equal(sample[i]!.code, 0);
    assert.equal(
      sample[i]!.stdout,
      (await inProcess([name, "--help"])).stdout,
      "the subprocess agrees",
    );
  }
  const results: { code: number; stdout: string; stderr: string }[] = [];
  for (const command of COMMANDS) results.push(await inProcess([command.name, "--help"]));
  COMMANDS.forEach((command, i) => {
    const { code, stdout } = results[i]!;
    assert.equal(code, 0, command.name);
    assert.match(stdout, new RegExp(`^oao ${command.name} — `), command.name);
    assert.match(stdout, /--help/);
    for (const flag of command.flags) {
      assert.ok(stdout.includes(`--${flag.name}`), `${command.name} --${flag.name}`);
    }
    for (const variable of command.env) {
      assert.ok(stdout.includes(variable.name), `${command.name} ${variable.name}`);
    }
  });
});

Deno.test("an unknown command fails with exit code 2 and names it", async () => {
  const result = await oao(["launch"]);
  assert.equal(result.code, 2);
  assert.match(result.stderr, /Unknown command "launch"/);
});

Deno.test("bad flags and values fail fast with exit code 2 and a message naming them", async () => {
  const cases: [string[], RegExp][] = [
    [["run", "researcher", "{}", "--frobnicate"], /Unknown flag "--frobnicate" for command "run"/],
    [
      ["run", "researcher", "{}", "--max-steps", "many"],
      /Invalid flag "--max-steps" value "many": expected an integer/,
    ],
    [
      ["run", "researcher", "{}", "--max-steps", "0"],
      /Invalid flag "--max-steps" value "0": expected >= 1/,
    ],
    [["run", "researcher", "{}", "--max-steps"], /Missing value for flag "--max-steps"/],
    [["run", "researcher", "{}", "--json=yes"], /Flag "--json" takes no value/],
    [["run", "researcher"], /Missing argument <task>/],
    [["run", "researcher", "{}", "extra"], /Unexpected argument "extra"/],
    [["run", "researcher", "{topic"], /Invalid argument <task> "\{topic": not JSON/],
    [["run", "nobody", "{}"], /No agent is registered as "nobody"/],
    [["run", "x", "{}", "--agent", "noequals"], /Invalid flag "--agent" value "noequals"/],
    [["start", "--port", "70000"], /Invalid flag "--port" value "70000": expected 0–65535/],
    [["status"], /Missing argument <id>/],
    [["events", "e", "--after", "-3"], /Missing value for flag "--after" \(a value starting/],
    [["events", "e", "--after=-3"], /Invalid flag "--after" value "-3": expected >= 0/],
    [["approve", "e", "short"], /Invalid callId "short": expected the call's id or its first 8\+/],
    [["deny", "e", "3f9a1c2e7b4d", "--by="], /Invalid --by "": expected who decides/],
  ];
  const sampled = [0, 1, 5, 7, 8];
  const subprocesses = await Promise.all(sampled.map((i) => oao(cases[i]![0])));
  const results: { code: number; stdout: string; stderr: string }[] = [];
  for (const [args] of cases) results.push(await inProcess(args));
  sampled.forEach((i, j) => results[i] = subprocesses[j]!);
  cases.forEach(([args, message], i) => {
    const { code, stderr } = results[i]!;
    assert.equal(code, 2, `${args.join(" ")}: ${stderr}`);
    assert.match(stderr, message, args.join(" "));
    assert.match(stderr, /--help" for usage/);
  });
});

Deno.test("bad environment values fail fast naming the variable", async () => {
  const [port, level] = await Promise.all([
    oao(["start"], { env: { OAO_PORT: "eighty" } }),
    oao(["status", "x"], { env: { OAO_LOG_LEVEL: "LOUD" } }),
  ]);
  const redis = await inProcess(["status", "x"], { REDIS_URL: "http://nope" });
  const otel = await inProcess(["status", "x"], { OTEL_EXPORTER_OTLP_ENDPOINT: "not a url" });
  const passivate = await inProcess(["status", "x"], { OAO_PASSIVATE_AFTER_MS: "soon" });
  const token = await inProcess(["status", "x"], { OAO_API_TOKEN: "t" });
  const cors = await oao(["start", "--port", "0"], {
    env: { OAO_CORS_ORIGINS: "ops.example.com/x" },
  });
  assert.equal(port.code, 2);
  assert.match(port.stderr, /Invalid OAO_PORT value "eighty"/);
  assert.equal(level.code, 2);
  assert.match(level.stderr, /Invalid OAO_LOG_LEVEL "LOUD"/);
  assert.equal(redis.code, 2);
  assert.match(redis.stderr, /REDIS_URL/);
  assert.equal(otel.code, 2);
  assert.match(otel.stderr, /OTEL_EXPORTER_OTLP_ENDPOINT/);
  assert.equal(token.code, 2);
  assert.match(token.stderr, /Invalid OAO_API_TOKEN: expected at least 16 characters \(got 1\)/);
  assert.equal(cors.code, 2, cors.stderr);
  assert.match(cors.stderr, /Invalid OAO_CORS_ORIGINS/);
  assert.equal(passivate.code, 2);
  assert.match(
    passivate.stderr,
    /Invalid OAO_PASSIVATE_AFTER_MS "soon": expected a whole number of ms, or "off"/,
  );
});

Deno.test("`serve` on the in-memory stores fails fast with a clear message", async () => {
  const result = await oao(["serve"], { env: { OAO_STORE: "memory" } });
  assert.equal(result.code, 2);
  assert.match(result.stderr, /OAO_STORE=memory: "serve" hands executions to worker nodes/);
});

Deno.test("`status` of an unknown execution exits 1 and explains the in-memory stores", async () => {
  const result = await oao(["status", "exec-nope"]);
  assert.equal(result.code, 1);
  assert.match(result.stderr, /No execution "exec-nope" is recorded: this command runs on its own/);
});

Deno.test("`--version` prints the package version", async () => {
  const { version } = JSON.parse(
    await Deno.readTextFile(new URL("../../deno.json", import.meta.url)),
  );
  const result = await oao(["--version"]);
  assert.equal(result.code, 0);
  assert.match(result.stdout, new RegExp(`^oao ${version.replaceAll(".", "\\.")} `));
});

Deno.test("a command whose stdout is closed by its reader (`| head`) exits 0 without an error", async () => {
  let stderr = "";
  const code = await main(["list"], {
    env: (name) => ({ OAO_LOG_LEVEL: "ERROR", OAO_STORE: "memory" })[name],
    stdout: () => {
      throw new Deno.errors.BrokenPipe("Broken pipe (os error 32)");
    },
    stderr: (text) => stderr += text,
  });
  assert.equal(stderr, "");
  assert.equal(code, 0);
});
