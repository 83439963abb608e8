/**
 * Log settings from the environment: `OAO_LOG_LEVEL` (`DEBUG`, `INFO`,
 * `WARN`, `ERROR`; case-insensitive; default `INFO`) and `OAO_LOG_FORMAT`
 * (`text` or `json`; default `text`). Invalid values are start-up errors.
 *
 * @example
 * ```ts
 * import { loggingSettingsFromEnv } from "./logging_env.ts";
 * const settings = loggingSettingsFromEnv({ OAO_LOG_LEVEL: "debug" });
 * console.assert(settings.level === "DEBUG" && settings.format === "text");
 * ```
 *
 * @module
 */
import type { LogLevel } from "@logtape/logtape";

/** The levels `OAO_LOG_LEVEL` accepts, from most to least verbose. */
export const OAO_LOG_LEVELS = ["DEBUG", "INFO", "WARN", "ERROR"] as const;

/** An OAO log level. */
export type OaoLogLevel = typeof OAO_LOG_LEVELS[number];

/** Output formats: human-readable lines or JSON Lines. */
export type LogFormat = "text" | "json";

/** Parsed log settings. */
export interface LoggingSettings {
  /** Lowest level that is written. */
  level: OaoLogLevel;
  /** Output format. */
  format: LogFormat;
}

const LOGTAPE_LEVEL: Record<OaoLogLevel, LogLevel> = {
  DEBUG: "debug",
  INFO: "info",
  WARN: "warning",
  ERROR: "error",
};

/**
 * Parses a log level, case-insensitively; `WARNING` is accepted for `WARN`.
 *
 * @param value The raw value; unset or blank means `INFO`.
 * @param variable Where the value came from, for the error message.
 * @returns The level.
 * @throws {RangeError} Naming `variable` and the value, listing the valid levels.
 *
 * @example
 * ```ts
 * import { parseOaoLogLevel } from "./logging_env.ts";
 * console.assert(parseOaoLogLevel("warn") === "WARN");
 * console.assert(parseOaoLogLevel(undefined) === "INFO");
 * ```
 */
export function parseOaoLogLevel(
  value: string | undefined,
  variable = "OAO_LOG_LEVEL",
): OaoLogLevel {
  const upper = value?.trim().toUpperCase();
  if (!upper) return "INFO";
  if (upper === "WARNING") return "WARN";
  if ((OAO_LOG_LEVELS as readonly string[]).includes(upper)) return upper as OaoLogLevel;
  throw new RangeError(
    `Invalid ${variable} "${value}": expected one of ${
      OAO_LOG_LEVELS.map((l) => `"${l}"`).join(", ")
    } (case-insensitive)`,
  );
}

/**
 * Parses a log format, case-insensitively.
 *
 * @param value The raw value; unset or blank means `text`.
 * @param variable Where the value came from, for the error message.
 * @returns The format.
 * @throws {RangeError} Naming `variable` and the value when it is not `text` or `json`.
 *
 * @example
 * ```ts
 * import { parseLogFormat } from "./logging_env.ts";
 * console.assert(parseLogFormat("JSON") === "json");
 * ```
 */
export function parseLogFormat(value: string | undefined, variable = "OAO_LOG_FORMAT"): LogFormat {
  const lower = value?.trim().toLowerCase();
  if (!lower) return "text";
  if (lower === "text" || lower === "json") return lower;
  throw new RangeError(`Invalid ${variable} "${value}": expected "text" or "json"`);
}

/**
 * Maps an OAO level to the LogTape level.
 *
 * @param level The OAO level.
 * @returns The LogTape level (`WARN` becomes `"warning"`).
 *
 * @example
 * ```ts
 * import { toLogtapeLevel } from "./logging_env.ts";
 * console.assert(toLogtapeLevel("WARN") === "warning");
 * ```
 */
export function toLogtapeLevel(level: OaoLogLevel): LogLevel {
  return LOGTAPE_LEVEL[level];
}

/**
 * Reads `OAO_LOG_LEVEL` and `OAO_LOG_FORMAT`.
 *
 * @param env The environment; read from `Deno.env` when omitted.
 * @returns The settings.
 * @throws {RangeError} When a value is invalid.
 *
 * @example
 * ```ts
 * import { loggingSettingsFromEnv } from "./logging_env.ts";
 * console.assert(loggingSettingsFromEnv({ OAO_LOG_FORMAT: "json" }).format === "json");
 * ```
 */
export function loggingSettingsFromEnv(
  env: Record<string, string | undefined> = {
    OAO_LOG_LEVEL: Deno.env.get("OAO_LOG_LEVEL"),
    OAO_LOG_FORMAT: Deno.env.get("OAO_LOG_FORMAT"),
  },
): LoggingSettings {
  return {
    level: parseOaoLogLevel(env.OAO_LOG_LEVEL),
    format: parseLogFormat(env.OAO_LOG_FORMAT),
  };
}
