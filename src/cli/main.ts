/**
 * The `oao` command line: one entry point for every command.
 *
 * ```sh
 * deno task oao <command> [flags] [arguments]
 * deno run --unstable-worker-options --allow-read --allow-env --allow-net --allow-sys \
 *   src/cli/main.ts <command> …
 * ```
 *
 * `main` picks the command, parses its flags (`--help` shows them with the
 * environment variables they read), configures logging from `OAO_LOG_LEVEL`
 * and `OAO_LOG_FORMAT`, checks and registers `OAO_API_TOKEN` and
 * `OAO_API_TOKENS` (named tokens) for log redaction, turns
 * SIGINT/SIGTERM into the command's shutdown signal (a second signal exits
 * at once with 130), runs the command and returns its exit code. Bad flags,
 * arguments or environment values print one message naming them and exit 2.
 *
 * @example
 * ```ts ignore
 * import { main } from "./main.ts";
 * const code = await main(["status", "--help"]);
 * console.assert(code === 0);
 * ```
 *
 * @module
 */
import {
  type Command,
  type CommandIo,
  EXIT_FAILURE,
  EXIT_OK,
  EXIT_USAGE,
  parseCommandLine,
  PROGRAM,
  renderCommandHelp,
  renderProgramHelp,
  UsageError,
} from "./_command.ts";
import { demoCommand } from "./commands/demo.ts";
import { eventsCommand } from "./commands/events.ts";
import { forkCommand } from "./commands/fork.ts";
import { replayCommand } from "./commands/replay.ts";
import { resolveCommand } from "./commands/resolve.ts";
import { signalCommand } from "./commands/signal.ts";
import { approvalsCommand, approveCommand, denyCommand } from "./commands/approvals.ts";
import { resumeCommand } from "./commands/resume.ts";
import { runCommand } from "./commands/run.ts";
import { queueCommand } from "./commands/queue.ts";
import { serveCommand } from "./commands/serve.ts";
import { startCommand } from "./commands/start.ts";
import { statusCommand } from "./commands/status.ts";
import { listCommand } from "./commands/list.ts";
import { workerCommand } from "./commands/worker.ts";
import { migrateCommand } from "./commands/migrate.ts";
import { workflowCommand } from "./commands/workflow.ts";
import { scheduleCommand } from "./commands/schedule.ts";
import { configureLoggingFromEnv } from "../logging/configure_logging.ts";
import { loggingSettingsFromEnv } from "../logging/logging_env.ts";
import { getOaoLogger } from "../logging/logger.ts";
import { registerSecret } from "../logging/redaction.ts";
import { parseApiTokens } from "../api/api_tokens.ts";
import { StoreUnavailableError } from "../errors.ts";
import denoJson from "../../deno.json" with { type: "json" };

/** Every command, in the order `--help` lists them. */
export const COMMANDS: readonly Command[] = [
  startCommand,
  serveCommand,
  workerCommand,
  queueCommand,
  runCommand,
  statusCommand,
  listCommand,
  eventsCommand,
  resumeCommand,
  resolveCommand,
  signalCommand,
  approvalsCommand,
  approveCommand,
  denyCommand,
  replayCommand,
  forkCommand,
  workflowCommand,
  scheduleCommand,
  migrateCommand,
  demoCommand,
];

/**
 * Runs the command line.
 *
 * @param argv The arguments (without the program).
 * @param io Environment, output writers (defaults: `Deno.env`, stdout, stderr).
 * @returns The exit code: 0 success, 1 failure, 2 bad usage, 130 interrupted twice.
 */
export async function main(argv: readonly string[], io: CommandIo = {}): Promise<number> {
  const stdout = io.stdout ?? ((text: string) => _writeAll(Deno.stdout, text));
  const stderr = io.stderr ?? ((text: string) => _writeAll(Deno.stderr, text));
  const env = io.env ?? ((name: string) => Deno.env.get(name));
  const [name, ...rest] = argv;
  if (name === undefined || name === "help" || name === "--help" || name === "-h") {
    (name === undefined ? stderr : stdout)(renderProgramHelp(COMMANDS));
    return name === undefined ? EXIT_USAGE : EXIT_OK;
  }
  if (name === "--version" || name === "-V") {
    stdout(`${PROGRAM} ${denoJson.version} (deno ${Deno.version.deno})\n`);
    return EXIT_OK;
  }
  const command = COMMANDS.find((c) => c.name === name);
  if (!command) {
    stderr(
      `error: Unknown command "${name}" (commands: ${
        COMMANDS.map((c) => c.name).join(", ")
      })\nRun "${PROGRAM} --help" for usage.\n`,
    );
    return EXIT_USAGE;
  }
  const shutdown = new AbortController();
  let signals = 0;
  const onSignal = () => {
    signals++;
    if (signals > 1) Deno.exit(130);
    shutdown.abort(new Error("Interrupted by a signal"));
  };
  try {
    const ctx = parseCommandLine(command, rest, {
      env,
      stdout,
      stderr,
      signal: io.signal ? AbortSignal.any([io.signal, shutdown.signal]) : shutdown.signal,
    });
    if (ctx === "help") {
      stdout(renderCommandHelp(command));
      return EXIT_OK;
    }
    const level = env("OAO_LOG_LEVEL") || command.defaultLogLevel || "INFO";
    try {
      const format = env("OAO_LOG_FORMAT");
      if (level === "OFF") loggingSettingsFromEnv({ OAO_LOG_FORMAT: format });
      else await configureLoggingFromEnv({ OAO_LOG_LEVEL: level, OAO_LOG_FORMAT: format });
    } catch (error) {
      throw new UsageError((error as Error).message);
    }
    let tokens;
    try {
      tokens = parseApiTokens({
        OAO_API_TOKEN: env("OAO_API_TOKEN"),
        OAO_API_TOKENS: env("OAO_API_TOKENS"),
      });
    } catch (error) {
      throw new UsageError((error as Error).message);
    }
    const token = env("OAO_API_TOKEN");
    if (token) registerSecret(token);
    for (const named of tokens) registerSecret(named.token);
    _listen(onSignal, true);
    return await command.run(ctx);
  } catch (error) {
    // The reader of stdout went away (`oao events … | head`): nothing is wrong.
    if (error instanceof Deno.errors.BrokenPipe) return EXIT_OK;
    if (error instanceof UsageError) {
      stderr(
        `error: ${error.message}\nRun "${PROGRAM} ${
          error.command ?? command.name
        } --help" for usage.\n`,
      );
      return EXIT_USAGE;
    }
    if (error instanceof StoreUnavailableError) {
      stderr(`error: ${error.message}\n`);
      return EXIT_FAILURE;
    }
    getOaoLogger("cli").debug("Command {command} failed: {error}", { command: name, error });
    stderr(`error: ${error instanceof Error ? error.message : String(error)}\n`);
    return EXIT_FAILURE;
  } finally {
    _listen(onSignal, false);
  }
}

function _writeAll(stream: { writeSync(p: Uint8Array): number }, text: string): void {
  const bytes = new TextEncoder().encode(text);
  let written = 0;
  while (written < bytes.length) written += stream.writeSync(bytes.subarray(written));
}

function _listen(handler: () => void, on: boolean): void {
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    if (Deno.build.os === "windows" && signal === "SIGTERM") continue;
    try {
      if (on) Deno.addSignalListener(signal, handler);
      else Deno.removeSignalListener(signal, handler);
    } catch {
      // Not supported here: the process then ends the default way.
    }
  }
}

if (import.meta.main) {
  Deno.exit(await main(Deno.args));
}
