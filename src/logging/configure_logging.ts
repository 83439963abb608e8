/**
 * Configures LogTape for an OAO process: records of the `oao` category at
 * or above the chosen level are redacted ({@linkcode redactingSink}),
 * formatted as text or JSON Lines and written to **stderr**, so that stdout
 * stays free for command output. Call once at start-up (again to change it).
 * Messages and properties may carry text from untrusted agents: in the text
 * format their control characters are escaped, so a record cannot forge
 * another one (JSON Lines escapes them by construction).
 *
 * @example
 * ```ts
 * import { configureLogging, resetLogging } from "./configure_logging.ts";
 * import { getOaoLogger } from "./logger.ts";
 *
 * await configureLogging({ level: "WARN", format: "json" });
 * getOaoLogger("runtime").debug("Not written: below WARN");
 * await resetLogging();
 * ```
 *
 * @module
 */
import { AsyncLocalStorage } from "node:async_hooks";
import {
  configure,
  getJsonLinesFormatter,
  getTextFormatter,
  type LogRecord,
  reset,
  type Sink,
  type TextFormatter,
} from "@logtape/logtape";
import {
  type LogFormat,
  type LoggingSettings,
  loggingSettingsFromEnv,
  type OaoLogLevel,
  parseLogFormat,
  parseOaoLogLevel,
  toLogtapeLevel,
} from "./logging_env.ts";
import { redactingSink, redactText } from "./redaction.ts";
import { OAO_CATEGORY } from "./logger.ts";

/** Options of {@linkcode configureLogging}. */
export interface LoggingOptions {
  /** Lowest level written, case-insensitive. @default {"INFO"} */
  level?: OaoLogLevel | Lowercase<OaoLogLevel> | string;
  /** Output format on stderr. @default {"text"} */
  format?: LogFormat;
  /** Where redacted records go instead of stderr (tests, log shippers). @default {stderr} */
  sink?: Sink;
}

function _inspect(value: unknown): string {
  if (typeof value === "string") return JSON.stringify(value);
  if (value instanceof Error) return JSON.stringify(`${value.name}: ${value.message}`);
  if (value === null || typeof value !== "object") return String(value);
  return Deno.inspect(value, { depth: 4, breakLength: Infinity, compact: true, colors: false });
}

/** Root names of the placeholders in a message template (`{user.name}` → `user`). */
function _placeholderRoots(record: LogRecord): Set<string> {
  const roots = new Set<string>();
  if (typeof record.rawMessage !== "string") return roots;
  for (const m of record.rawMessage.matchAll(/\{([^{}]+)\}/g)) {
    roots.add(m[1]!.trim().split(/[.[]/)[0]!);
  }
  return roots;
}

// C0 controls (tab, line feed and carriage return included), DEL and C1
// controls; ESC is one of them, so ANSI escape sequences are defused too.
// deno-lint-ignore no-control-regex
const CONTROL = /[\x00-\x1f\x7f-\x9f]/g;
const NAMED_ESCAPES: Record<string, string> = { "\n": "\\n", "\r": "\\r", "\t": "\\t" };

/** Escapes control characters as `\n`, `\r`, `\t` or `\xNN`: the text stays on one line. */
function _escapeControls(text: string): string {
  return text.replace(
    CONTROL,
    (c) => NAMED_ESCAPES[c] ?? `\\x${c.charCodeAt(0).toString(16).padStart(2, "0")}`,
  );
}

function _textProperties(record: LogRecord): string {
  const shown = _placeholderRoots(record);
  let pairs = "";
  for (const [key, value] of Object.entries(record.properties)) {
    if (!shown.has(key)) pairs += ` ${key}=${_inspect(value)}`;
  }
  return pairs;
}

// Stack traces of error properties below the record: the error's name and
// message on one line, then one line per frame; each line indented (so none
// can pass for a record) and escaped.
function _textStacks(record: LogRecord): string {
  let stacks = "";
  for (const value of Object.values(record.properties)) {
    if (value instanceof Error && value.stack) {
      stacks += _stackLines(value).map((line) => `\n    ${_escapeControls(line)}`).join("");
    }
  }
  return stacks;
}

function _stackLines(error: Error): string[] {
  const stack = error.stack ?? "";
  const head = `${error.name}: ${error.message}`;
  if (!stack.startsWith(head)) return stack.split("\n");
  const frames = stack.slice(head.length).split("\n");
  if (frames[0] === "") frames.shift();
  return [head, ...frames];
}

/**
 * Creates the formatter used for stderr: `text` lines
 * (`<time> [INF] oao.runtime: message key=value…`, error stacks indented below)
 * or JSON Lines; every line goes through {@linkcode redactText} last. In a
 * text line, control characters of the message and of property values
 * (line feed, carriage return, tab, other C0 and C1 controls, the ESC of
 * ANSI sequences) are written escaped (`\n`, `\r`, `\t`, `\x1b`…), so a
 * record starts exactly one line; only its error stacks follow, indented.
 *
 * @param format `"text"` or `"json"`.
 * @returns A LogTape text formatter.
 *
 * @example
 * ```ts
 * import { createLogFormatter } from "./configure_logging.ts";
 * const line = createLogFormatter("json")({
 *   category: ["oao"], level: "info", timestamp: 0, rawMessage: "hi", message: ["hi"], properties: {},
 * });
 * console.assert(JSON.parse(line).message === "hi");
 * ```
 */
export function createLogFormatter(format: LogFormat): TextFormatter {
  const base = format === "json" ? getJsonLinesFormatter() : getTextFormatter({
    timestamp: "rfc3339",
    level: "ABBR",
    category: ".",
    // Escaped here, whatever rendered the message and the values.
    sanitize: false,
    format: ({ timestamp, level, category, message, record }) =>
      _escapeControls(`${timestamp} [${level}] ${category}: ${message}${_textProperties(record)}`) +
      _textStacks(record),
  });
  return (record) => redactText(base(record));
}

function _stderrSink(formatter: TextFormatter): Sink {
  const encoder = new TextEncoder();
  return (record) => {
    const bytes = encoder.encode(formatter(record));
    let written = 0;
    while (written < bytes.length) written += Deno.stderr.writeSync(bytes.subarray(written));
  };
}

/**
 * Configures (or re-configures) logging.
 *
 * @param options Level, format and an optional replacement sink.
 * @returns Resolves when LogTape is configured.
 * @throws {RangeError} When `level` or `format` is invalid (naming the option and the valid values).
 *
 * @example
 * ```ts
 * import { configureLogging, resetLogging } from "./configure_logging.ts";
 * await configureLogging({ level: "debug" });
 * await resetLogging();
 * ```
 */
export async function configureLogging(options: LoggingOptions = {}): Promise<void> {
  const level = parseOaoLogLevel(options.level, "log level");
  const format = parseLogFormat(options.format, "log format");
  const sink = redactingSink(options.sink ?? _stderrSink(createLogFormatter(format)));
  await configure({
    reset: true,
    sinks: { oao: sink },
    loggers: [
      { category: [OAO_CATEGORY], lowestLevel: toLogtapeLevel(level), sinks: ["oao"] },
      { category: ["logtape", "meta"], lowestLevel: "warning", sinks: ["oao"] },
    ],
    contextLocalStorage: new AsyncLocalStorage<Record<string, unknown>>(),
  });
}

/**
 * Configures logging from `OAO_LOG_LEVEL` and `OAO_LOG_FORMAT`.
 *
 * @param env The environment; read from `Deno.env` when omitted.
 * @param options A replacement sink, as in {@linkcode configureLogging}.
 * @returns The settings in force.
 * @throws {RangeError} Naming `OAO_LOG_LEVEL` (or `OAO_LOG_FORMAT`) and the
 *   value when it is invalid, listing the valid ones.
 *
 * @example
 * ```ts
 * import { configureLoggingFromEnv, resetLogging } from "./configure_logging.ts";
 * const settings = await configureLoggingFromEnv({ OAO_LOG_LEVEL: "ERROR" });
 * console.assert(settings.level === "ERROR");
 * await resetLogging();
 * ```
 */
export async function configureLoggingFromEnv(
  env?: Record<string, string | undefined>,
  options: Pick<LoggingOptions, "sink"> = {},
): Promise<LoggingSettings> {
  const settings = loggingSettingsFromEnv(env);
  await configureLogging({ ...settings, ...options });
  return settings;
}

/**
 * Removes the logging configuration (tests, shutdown).
 *
 * @returns Resolves when sinks are released.
 *
 * @example
 * ```ts
 * import { resetLogging } from "./configure_logging.ts";
 * await resetLogging();
 * ```
 */
export async function resetLogging(): Promise<void> {
  await reset();
}
