/**
 * The command interface of the `oao` command line, shared by every command
 * in `src/cli/commands/`: what a command declares (flags, positional
 * arguments, environment variables, a summary), how its command line is
 * parsed and validated (`parseArgs` from `node:util`, then typed values with
 * environment-variable fallbacks), how its `--help` is rendered, and the
 * {@linkcode UsageError} that turns bad input into a message and exit code 2.
 *
 * ## Writing a command
 * One file per command, `src/cli/commands/<name>.ts`, exporting a
 * {@linkcode Command} object; `src/cli/main.ts` lists it. `run` receives a
 * {@linkcode CommandContext} whose flags are already parsed and validated and
 * returns the exit code. Commands that need stores, agents or tracing build
 * them with `createRuntime` from `_runtime.ts` (and close the runtime in a
 * `finally`). A command never calls `Deno.exit`; it returns, and watches
 * `ctx.signal`, which aborts on SIGINT/SIGTERM.
 *
 * Exit codes: {@linkcode EXIT_OK} (0), {@linkcode EXIT_FAILURE} (1: the work
 * failed, e.g. an execution ended FAILED), {@linkcode EXIT_USAGE} (2: bad
 * flags, arguments or environment values).
 *
 * @example A command
 * ```ts
 * import { type Command, EXIT_OK } from "./_command.ts";
 *
 * export const hello: Command = {
 *   name: "hello",
 *   summary: "Greets someone",
 *   args: [{ name: "who", description: "Whom to greet", optional: true }],
 *   flags: [
 *     { name: "times", type: "integer", min: 1, description: "How often", default: 1, env: "HELLO_TIMES" },
 *     { name: "shout", type: "boolean", description: "Upper case" },
 *   ],
 *   env: [{ name: "HELLO_TIMES", description: "Default of --times" }],
 *   run(ctx) {
 *     const text = `hello ${ctx.args[0] ?? "world"}`;
 *     for (let i = 0; i < ctx.integer("times")!; i++) {
 *       ctx.out(ctx.boolean("shout") ? text.toUpperCase() : text);
 *     }
 *     return EXIT_OK;
 *   },
 * };
 * ```
 *
 * @module
 */
import { parseArgs } from "node:util";

/** Exit code of success. */
export const EXIT_OK = 0;
/** Exit code when the work failed (an execution that did not succeed, an unreachable store). */
export const EXIT_FAILURE = 1;
/** Exit code of bad flags, arguments or environment values. */
export const EXIT_USAGE = 2;

/** The program name used in usage lines. */
export const PROGRAM = "oao";

/** A flag (`--name value`, `--name=value` or `--name` for booleans). */
export interface FlagSpec {
  /** Long name, without `--`: letters, digits and `-`. */
  name: string;
  /**
   * Value type. `integer` and `number` are parsed and range-checked;
   * `boolean` flags take no value.
   */
  type: "string" | "boolean" | "integer" | "number";
  /** One-letter alias, without `-`. */
  short?: string;
  /** Whether the flag may be repeated (values collected into a list; strings only). @default {false} */
  multiple?: boolean;
  /** Whether `--no-<name>` turns it off (booleans; read with `ctx.toggle`). @default {false} */
  negatable?: boolean;
  /** One line of help. */
  description: string;
  /** Environment variable read when the flag is not given (shown as `[env: NAME]`). */
  env?: string;
  /** Value when neither the flag nor its variable is given (shown as `[default: …]`). */
  default?: string | number | boolean;
  /** Placeholder of the value in help, e.g. `port`. @default {the type} */
  valueName?: string;
  /** Smallest accepted value (`integer`, `number`). */
  min?: number;
  /** Largest accepted value (`integer`, `number`). */
  max?: number;
  /** Accepted values (`string`). */
  choices?: readonly string[];
}

/** A positional argument. */
export interface ArgSpec {
  /** Name shown in usage, e.g. `agent`. */
  name: string;
  /** One line of help. */
  description: string;
  /** Whether it may be left out (only the last arguments may be optional). @default {false} */
  optional?: boolean;
}

/** An environment variable a command reads. */
export interface EnvVarSpec {
  /** Variable name. */
  name: string;
  /** One line of help. */
  description: string;
  /** What applies when it is unset. */
  default?: string;
}

/** What a command's `run` gets. */
export interface CommandContext {
  /** The command being run. */
  readonly command: Command;
  /** The positional arguments (count already checked against `command.args`). */
  readonly args: readonly string[];
  /** Aborts on SIGINT or SIGTERM: stop taking work, finish or cancel, clean up, return. */
  readonly signal: AbortSignal;
  /**
   * Reads an environment variable (injected in tests).
   *
   * @param name The variable.
   * @returns Its value, or `undefined` when unset.
   */
  env(name: string): string | undefined;
  /**
   * A `string` flag (or its variable, or its default).
   *
   * @param name The flag's long name.
   * @returns The value, or `undefined`.
   * @throws {TypeError} When the command declares no string flag of that name.
   */
  string(name: string): string | undefined;
  /**
   * A repeatable `string` flag.
   *
   * @param name The flag's long name.
   * @returns Every value given, in order (empty when none).
   * @throws {TypeError} When the command declares no repeatable flag of that name.
   */
  strings(name: string): string[];
  /**
   * An `integer` or `number` flag.
   *
   * @param name The flag's long name.
   * @returns The value, or `undefined`.
   * @throws {TypeError} When the command declares no numeric flag of that name.
   */
  integer(name: string): number | undefined;
  /**
   * A `boolean` flag.
   *
   * @param name The flag's long name.
   * @returns Whether it was given (or its variable is `1`/`true`/`yes`).
   * @throws {TypeError} When the command declares no boolean flag of that name.
   */
  boolean(name: string): boolean;
  /**
   * A negatable `boolean` flag: `--name`, `--no-name` (the last one given
   * wins), or its variable.
   *
   * @param name The flag's long name.
   * @returns `true` or `false` when given or set by its variable, else its
   *   default (`undefined` without one).
   * @throws {TypeError} When the command declares no boolean flag of that name.
   */
  toggle(name: string): boolean | undefined;
  /**
   * Writes one line to standard output (command output: reports, timelines).
   *
   * @param line The text; a newline is added.
   */
  out(line: string): void;
  /**
   * Writes text to standard output as it is, without a newline (streamed
   * model text).
   *
   * @param text The text.
   */
  write(text: string): void;
  /**
   * Writes one line to standard error (messages for the operator, not logs).
   *
   * @param line The text; a newline is added.
   */
  err(line: string): void;
}

/** A command of the `oao` program. */
export interface Command {
  /** Name on the command line, e.g. `run`. */
  name: string;
  /** One line, shown in the command list and at the top of `--help`. */
  summary: string;
  /** Paragraphs shown in `--help` below the usage line. */
  description?: string;
  /** Positional arguments, in order. @default {[]} */
  args?: readonly ArgSpec[];
  /** Flags (`--help` is added to every command). */
  flags: readonly FlagSpec[];
  /** Environment variables the command reads (listed by `--help`). */
  env: readonly EnvVarSpec[];
  /** Example invocations for `--help` (without the program name). @default {[]} */
  examples?: readonly string[];
  /**
   * Log level when `OAO_LOG_LEVEL` is unset; `"OFF"` writes no logs then
   * (the demo, whose progress lines tell the story).
   * @default {"INFO"}
   */
  defaultLogLevel?: "DEBUG" | "INFO" | "WARN" | "ERROR" | "OFF";
  /**
   * Does the work.
   *
   * @param ctx Parsed arguments, flags, environment, output and the shutdown signal.
   * @returns The exit code.
   */
  run(ctx: CommandContext): number | Promise<number>;
}

/** Bad command-line input or configuration: reported as a message, exit code 2. */
export class UsageError extends TypeError {
  /** The command concerned, for the `see "oao <command> --help"` hint. */
  readonly command: string | undefined;

  /**
   * Creates the error.
   *
   * @param message What is wrong, naming the flag, argument or variable.
   * @param command The command concerned.
   */
  constructor(message: string, command?: string) {
    super(message);
    this.name = "UsageError";
    this.command = command;
  }
}

/** Where a command's output goes and what it reads. */
export interface CommandIo {
  /** Reads a variable. @default {Deno.env.get} */
  env?: (name: string) => string | undefined;
  /** Writes to standard output. @default {Deno.stdout} */
  stdout?: (text: string) => void;
  /** Writes to standard error. @default {Deno.stderr} */
  stderr?: (text: string) => void;
  /** Shutdown signal. @default {never aborts} */
  signal?: AbortSignal;
}

const HELP_FLAG: FlagSpec = {
  name: "help",
  short: "h",
  type: "boolean",
  description: "Show this help",
};

/**
 * Parses a command's arguments (everything after the command name) into a
 * context: unknown flags, missing values, bad numbers, values outside their
 * range or choices, and a wrong number of positional arguments are reported
 * as a {@linkcode UsageError} naming the flag, argument or variable.
 *
 * @param command The command.
 * @param argv Its arguments.
 * @param io Environment, output writers and signal.
 * @returns The context, or `"help"` when `--help` (or `-h`) was given,
 *   whatever else was.
 * @throws {UsageError} Naming what is wrong.
 *
 * @example
 * ```ts
 * import { type Command, parseCommandLine } from "./_command.ts";
 * const cmd: Command = {
 *   name: "serve", summary: "Serves", env: [], run: () => 0,
 *   flags: [{ name: "port", type: "integer", min: 1, max: 65535, description: "Port", default: 8080 }],
 * };
 * const ctx = parseCommandLine(cmd, ["--port", "9000"], { env: () => undefined });
 * console.assert(ctx !== "help" && ctx.integer("port") === 9000);
 * ```
 */
export function parseCommandLine(
  command: Command,
  argv: readonly string[],
  io: CommandIo = {},
): CommandContext | "help" {
  const end = argv.indexOf("--");
  const before = end < 0 ? argv : argv.slice(0, end);
  if (before.includes("--help") || before.includes("-h")) return "help";
  const flags = [...command.flags, HELP_FLAG];
  const options: Record<
    string,
    { type: "string" | "boolean"; short?: string; multiple?: boolean }
  > = {};
  for (const flag of flags) {
    options[flag.name] = {
      type: flag.type === "boolean" ? "boolean" : "string",
      ...(flag.short ? { short: flag.short } : {}),
      ...(flag.multiple ? { multiple: true } : {}),
    };
  }
  const negatable = new Set(flags.filter((f) => f.negatable).map((f) => f.name));
  let parsed: {
    values: Record<string, unknown>;
    positionals: string[];
    tokens?: { kind: string; name?: string; rawName?: string }[];
  };
  try {
    parsed = parseArgs({
      args: [...argv],
      options,
      strict: true,
      allowPositionals: true,
      allowNegative: negatable.size > 0,
      tokens: negatable.size > 0,
    }) as typeof parsed;
  } catch (error) {
    throw new UsageError(_parseArgsMessage(error, command), command.name);
  }
  for (const token of parsed.tokens ?? []) {
    const negated = token.kind === "option" && /^no-/.test(token.name ?? "") &&
      !options[token.name!];
    if (negated && !negatable.has(token.name!.slice(3))) {
      throw new UsageError(
        `Unknown flag "${token.rawName}" for command "${command.name}"`,
        command.name,
      );
    }
  }
  if (parsed.values.help === true) return "help";
  const env = io.env ?? ((name: string) => Deno.env.get(name));
  const values = new Map<string, string | number | boolean | string[] | undefined>();
  for (const flag of command.flags) values.set(flag.name, _flagValue(flag, parsed.values, env));
  _checkPositionals(command, parsed.positionals);
  const encoder = new TextEncoder();
  const stdout = io.stdout ?? ((text: string) => _writeAll(Deno.stdout, encoder.encode(text)));
  const stderr = io.stderr ?? ((text: string) => _writeAll(Deno.stderr, encoder.encode(text)));
  const declared = (name: string, types: FlagSpec["type"][], multiple = false) => {
    const flag = command.flags.find((f) => f.name === name);
    if (!flag || !types.includes(flag.type) || Boolean(flag.multiple) !== multiple) {
      throw new TypeError(
        `Command "${command.name}" declares no ${multiple ? "repeatable " : ""}${
          types.join("/")
        } flag "--${name}"`,
      );
    }
    return values.get(name);
  };
  return {
    command,
    args: parsed.positionals,
    signal: io.signal ?? new AbortController().signal,
    env,
    string: (name) => declared(name, ["string"]) as string | undefined,
    strings: (name) => (declared(name, ["string"], true) as string[] | undefined) ?? [],
    integer: (name) => declared(name, ["integer", "number"]) as number | undefined,
    boolean: (name) => declared(name, ["boolean"]) === true,
    toggle: (name) => declared(name, ["boolean"]) as boolean | undefined,
    out: (line) => stdout(`${line}\n`),
    write: (text) => stdout(text),
    err: (line) => stderr(`${line}\n`),
  };
}

/**
 * Renders a command's `--help`: summary, usage, description, arguments,
 * flags (with their variables and defaults), environment variables and
 * examples.
 *
 * @param command The command.
 * @returns The help text (ends with a newline).
 *
 * @example
 * ```ts
 * import { renderCommandHelp } from "./_command.ts";
 * const help = renderCommandHelp({
 *   name: "status", summary: "Shows an execution", env: [], run: () => 0,
 *   args: [{ name: "id", description: "Execution id" }],
 *   flags: [{ name: "json", type: "boolean", description: "Print JSON" }],
 * });
 * console.assert(help.includes("Usage: oao status [flags] <id>") && help.includes("--json"));
 * ```
 */
export function renderCommandHelp(command: Command): string {
  const lines = [`${PROGRAM} ${command.name} — ${command.summary}`, ""];
  const args = (command.args ?? []).map((a) => a.optional ? `[${a.name}]` : `<${a.name}>`);
  lines.push(`Usage: ${PROGRAM} ${command.name} [flags]${args.length ? ` ${args.join(" ")}` : ""}`);
  if (command.description) lines.push("", ...command.description.split("\n"));
  if (command.args?.length) {
    lines.push("", "Arguments:");
    lines.push(..._table(command.args.map((a) => [`  <${a.name}>`, a.description])));
  }
  lines.push("", "Flags:");
  lines.push(..._table([...command.flags, HELP_FLAG].map((f) => [_flagLabel(f), _flagHelp(f)])));
  if (command.env.length) {
    lines.push("", "Environment:");
    lines.push(
      ..._table(command.env.map((v) => [
        `  ${v.name}`,
        v.default ? `${v.description} [default: ${v.default}]` : v.description,
      ])),
    );
  }
  if (command.examples?.length) {
    lines.push("", "Examples:", ...command.examples.map((e) => `  ${PROGRAM} ${e}`));
  }
  return `${lines.join("\n")}\n`;
}

/**
 * Renders the program's help: the commands and their summaries.
 *
 * @param commands Every command.
 * @returns The help text (ends with a newline).
 *
 * @example
 * ```ts
 * import { renderProgramHelp } from "./_command.ts";
 * const help = renderProgramHelp([{ name: "demo", summary: "Runs the demo", flags: [], env: [], run: () => 0 }]);
 * console.assert(help.includes("demo") && help.includes("Runs the demo"));
 * ```
 */
export function renderProgramHelp(commands: readonly Command[]): string {
  return [
    `${PROGRAM} — Open Agent Orchestrator`,
    "",
    `Usage: ${PROGRAM} <command> [flags] [arguments]`,
    `       (deno task ${PROGRAM} <command> …, or deno run … src/cli/main.ts <command> …)`,
    "",
    "Commands:",
    ..._table(commands.map((c) => [`  ${c.name}`, c.summary])),
    "",
    `Run "${PROGRAM} <command> --help" for a command's flags and environment variables.`,
    "",
  ].join("\n");
}

function _flagValue(
  flag: FlagSpec,
  values: Record<string, unknown>,
  env: (name: string) => string | undefined,
): string | number | boolean | string[] | undefined {
  const given = values[flag.name];
  if (flag.multiple) return (given as string[] | undefined) ?? [];
  if (given !== undefined) {
    return _convert(flag, given as string | boolean, `flag "--${flag.name}"`);
  }
  const fromEnv = flag.env ? env(flag.env) : undefined;
  if (fromEnv !== undefined && fromEnv !== "") {
    if (flag.type === "boolean") {
      if (/^(1|true|yes|on)$/i.test(fromEnv)) return true;
      if (/^(0|false|no|off)$/i.test(fromEnv)) return false;
      throw new UsageError(
        `Invalid ${flag.env} "${fromEnv}": expected "true" or "false" (or 1/0, yes/no)`,
      );
    }
    return _convert(flag, fromEnv, flag.env!);
  }
  return flag.default;
}

function _convert(
  flag: FlagSpec,
  raw: string | boolean,
  source: string,
): string | number | boolean {
  if (flag.type === "boolean" || typeof raw === "boolean") return raw;
  if (flag.type === "string") {
    if (flag.choices && !flag.choices.includes(raw)) {
      throw new UsageError(
        `Invalid ${source} value "${raw}": expected one of ${
          flag.choices.map((c) => `"${c}"`).join(", ")
        }`,
      );
    }
    return raw;
  }
  const value = Number(raw);
  const integer = flag.type === "integer";
  if (raw.trim() === "" || !Number.isFinite(value) || (integer && !Number.isInteger(value))) {
    throw new UsageError(
      `Invalid ${source} value "${raw}": expected ${integer ? "an integer" : "a number"}`,
    );
  }
  if (
    (flag.min !== undefined && value < flag.min) || (flag.max !== undefined && value > flag.max)
  ) {
    const range = flag.max === undefined
      ? `>= ${flag.min}`
      : flag.min === undefined
      ? `<= ${flag.max}`
      : `${flag.min}–${flag.max}`;
    throw new UsageError(`Invalid ${source} value "${raw}": expected ${range}`);
  }
  return value;
}

function _checkPositionals(command: Command, positionals: readonly string[]): void {
  const specs = command.args ?? [];
  const required = specs.filter((a) => !a.optional).length;
  if (positionals.length < required) {
    const missing = specs[positionals.length]!;
    throw new UsageError(
      `Missing argument <${missing.name}>: ${missing.description}`,
      command.name,
    );
  }
  if (positionals.length > specs.length) {
    const extra = positionals[specs.length]!;
    throw new UsageError(
      `Unexpected argument "${extra}": "${command.name}" takes ${
        specs.length === 0
          ? "no arguments"
          : specs.map((a) => a.optional ? `[${a.name}]` : `<${a.name}>`).join(" ")
      }`,
      command.name,
    );
  }
}

function _parseArgsMessage(error: unknown, command: Command): string {
  const code = (error as { code?: unknown }).code;
  const message = error instanceof Error ? error.message : String(error);
  const quoted = /'(-[^']*)'/.exec(message)?.[1];
  const name = quoted?.split(/[ ,]/)[0] ?? "";
  switch (code) {
    case "ERR_PARSE_ARGS_UNKNOWN_OPTION":
      return `Unknown flag "${name}" for command "${command.name}"`;
    case "ERR_PARSE_ARGS_INVALID_OPTION_VALUE":
      if (/argument missing/.test(message)) {
        return `Missing value for flag "${_longName(name, command)}"`;
      }
      if (/ambiguous/.test(message)) {
        const flag = _longName(name, command);
        return `Missing value for flag "${flag}" (a value starting with "-" is written ${flag}=-…)`;
      }
      if (/does not take an argument/.test(message)) {
        return `Flag "${_longName(name, command)}" takes no value`;
      }
      return `Invalid use of flag "${_longName(name, command)}": ${message}`;
    default:
      return `Invalid arguments for command "${command.name}": ${message}`;
  }
}

function _longName(name: string, command: Command): string {
  const short = /^-([A-Za-z])$/.exec(name)?.[1];
  const flag = short ? command.flags.find((f) => f.short === short) : undefined;
  return flag ? `--${flag.name}` : name;
}

function _flagLabel(flag: FlagSpec): string {
  const value = flag.type === "boolean" ? "" : ` <${flag.valueName ?? flag.type}>`;
  const name = flag.negatable ? `--${flag.name}, --no-${flag.name}` : `--${flag.name}`;
  return `  ${flag.short ? `-${flag.short}, ` : "    "}${name}${value}`;
}

function _flagHelp(flag: FlagSpec): string {
  let text = flag.description;
  if (flag.choices) text += ` (${flag.choices.join(", ")})`;
  if (flag.multiple) text += " (repeatable)";
  if (flag.env) text += ` [env: ${flag.env}]`;
  if (flag.default !== undefined && flag.default !== false) text += ` [default: ${flag.default}]`;
  return text;
}

function _table(rows: readonly (readonly [string, string])[]): string[] {
  const width = Math.min(34, Math.max(...rows.map(([left]) => left.length)) + 2);
  return rows.map(([left, right]) =>
    left.length + 2 > width ? `${left}\n${" ".repeat(width)}${right}` : left.padEnd(width) + right
  );
}

function _writeAll(stream: { writeSync(p: Uint8Array): number }, bytes: Uint8Array): void {
  let written = 0;
  while (written < bytes.length) written += stream.writeSync(bytes.subarray(written));
}
