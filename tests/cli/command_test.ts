// The command interface: parsing, validation, environment fallbacks, help.
import assert from "node:assert/strict";
import {
  type Command,
  parseCommandLine,
  renderCommandHelp,
  UsageError,
} from "../../src/cli/_command.ts";

const command: Command = {
  name: "probe",
  summary: "Probes",
  args: [{ name: "target", description: "What to probe" }, {
    name: "extra",
    description: "More",
    optional: true,
  }],
  flags: [
    {
      name: "port",
      short: "p",
      type: "integer",
      min: 1,
      max: 65535,
      env: "PROBE_PORT",
      default: 80,
      description: "Port",
    },
    { name: "ratio", type: "number", min: 0, max: 1, description: "Ratio" },
    { name: "mode", type: "string", choices: ["fast", "slow"], description: "Mode" },
    { name: "tag", type: "string", multiple: true, description: "Tags" },
    { name: "verbose", type: "boolean", env: "PROBE_VERBOSE", description: "Talk more" },
  ],
  env: [{ name: "PROBE_PORT", description: "Default port", default: "80" }],
  run: () => 0,
};

const env = (vars: Record<string, string>) => ({ env: (name: string) => vars[name] });

Deno.test("flags are typed, repeatable flags collect, and defaults apply", () => {
  const ctx = parseCommandLine(command, [
    "host",
    "-p",
    "8080",
    "--tag",
    "a",
    "--tag=b",
    "--ratio",
    "0.5",
    "--verbose",
  ], env({}));
  assert.ok(ctx !== "help");
  assert.deepEqual(ctx.args, ["host"]);
  assert.equal(ctx.integer("port"), 8080);
  assert.equal(ctx.integer("ratio"), 0.5);
  assert.deepEqual(ctx.strings("tag"), ["a", "b"]);
  assert.equal(ctx.boolean("verbose"), true);
  assert.equal(ctx.string("mode"), undefined);
  const defaults = parseCommandLine(command, ["host"], env({}));
  assert.ok(defaults !== "help");
  assert.equal(defaults.integer("port"), 80);
  assert.equal(defaults.boolean("verbose"), false);
  assert.deepEqual(defaults.strings("tag"), []);
});

Deno.test("a flag's variable is read when the flag is not given, and validated naming the variable", () => {
  const fromEnv = parseCommandLine(
    command,
    ["host"],
    env({ PROBE_PORT: "9000", PROBE_VERBOSE: "yes" }),
  );
  assert.ok(fromEnv !== "help");
  assert.equal(fromEnv.integer("port"), 9000);
  assert.equal(fromEnv.boolean("verbose"), true);
  const flagWins = parseCommandLine(command, ["host", "--port", "1"], env({ PROBE_PORT: "9000" }));
  assert.ok(flagWins !== "help" && flagWins.integer("port") === 1);
  assert.throws(() => parseCommandLine(command, ["host"], env({ PROBE_PORT: "x" })), {
    name: "UsageError",
    message: 'Invalid PROBE_PORT value "x": expected an integer',
  });
  assert.throws(
    () => parseCommandLine(command, ["host"], env({ PROBE_VERBOSE: "maybe" })),
    /Invalid PROBE_VERBOSE "maybe"/,
  );
});

Deno.test("bad input is a UsageError naming the flag or argument", () => {
  const cases: [string[], RegExp][] = [
    [["host", "--nope"], /^Unknown flag "--nope" for command "probe"$/],
    [["host", "-x"], /^Unknown flag "-x"/],
    [["host", "-p"], /^Missing value for flag "--port"$/],
    [["host", "--port", "1.5"], /"--port" value "1\.5": expected an integer/],
    [["host", "--port", "0"], /"--port" value "0": expected 1–65535/],
    [["host", "--ratio", "2"], /"--ratio" value "2": expected 0–1/],
    [["host", "--mode", "medium"], /"--mode" value "medium": expected one of "fast", "slow"/],
    [["host", "--verbose=1"], /^Flag "--verbose" takes no value$/],
    [[], /^Missing argument <target>: What to probe$/],
    [["a", "b", "c"], /^Unexpected argument "c": "probe" takes <target> \[extra\]$/],
  ];
  for (const [argv, message] of cases) {
    assert.throws(() => parseCommandLine(command, argv, env({})), (error: unknown) => {
      assert.ok(error instanceof UsageError, argv.join(" "));
      assert.match(error.message, message, argv.join(" "));
      return true;
    });
  }
});

Deno.test("--help wins over everything else, and the help lists flags, variables and defaults", () => {
  assert.equal(parseCommandLine(command, ["--help", "--nope"], env({})), "help");
  assert.equal(parseCommandLine(command, ["-h"], env({})), "help");
  const help = renderCommandHelp(command);
  assert.match(help, /^oao probe — Probes\n\nUsage: oao probe \[flags\] <target> \[extra\]\n/);
  assert.match(help, /-p, --port <integer> +Port \[env: PROBE_PORT\] \[default: 80\]/);
  assert.match(help, /--mode <string> +Mode \(fast, slow\)/);
  assert.match(help, /--tag <string> +Tags \(repeatable\)/);
  assert.match(help, /-h, --help +Show this help/);
  assert.match(help, /Environment:\n {2}PROBE_PORT +Default port \[default: 80\]/);
});

Deno.test("reading a flag the command does not declare is a programming error", () => {
  const ctx = parseCommandLine(command, ["host"], env({}));
  assert.ok(ctx !== "help");
  assert.throws(() => ctx.string("port"), TypeError);
  assert.throws(() => ctx.string("missing"), /declares no string flag "--missing"/);
  assert.throws(() => ctx.strings("mode"), /repeatable/);
});

Deno.test("a negatable flag is on, off (--no-…, last one wins) or unset, and falls back to its variable", () => {
  const toggled: Command = {
    ...command,
    args: [],
    flags: [
      {
        name: "colour",
        type: "boolean",
        negatable: true,
        env: "PROBE_COLOUR",
        description: "Paint",
      },
      { name: "quiet", type: "boolean", description: "Say less" },
    ],
  };
  const read = (argv: string[], vars: Record<string, string> = {}) => {
    const ctx = parseCommandLine(toggled, argv, env(vars));
    assert.ok(ctx !== "help");
    return [ctx.toggle("colour"), ctx.boolean("colour")];
  };
  assert.deepEqual(read([]), [undefined, false]);
  assert.deepEqual(read(["--colour"]), [true, true]);
  assert.deepEqual(read(["--no-colour"]), [false, false]);
  assert.deepEqual(read(["--colour", "--no-colour"]), [false, false]);
  assert.deepEqual(read(["--no-colour", "--colour"]), [true, true]);
  assert.deepEqual(read([], { PROBE_COLOUR: "false" }), [false, false]);
  assert.deepEqual(read(["--colour"], { PROBE_COLOUR: "false" }), [true, true]);
  assert.throws(() => read(["--no-quiet"]), /Unknown flag "--no-quiet" for command "probe"/);
  const help = renderCommandHelp(toggled);
  assert.match(help, /--colour, --no-colour +Paint \[env: PROBE_COLOUR\]/);
});
