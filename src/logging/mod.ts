/**
 * Structured, redacted logging for OAO on LogTape: `OAO_LOG_LEVEL` /
 * `OAO_LOG_FORMAT` configuration, loggers that carry the execution id, actor
 * and trace id, and secret redaction for every record written to stderr.
 *
 * @example
 * ```ts
 * import {
 *   configureLoggingFromEnv,
 *   getOaoLogger,
 *   registerSecret,
 *   resetLogging,
 * } from "@oao/runtime/logging";
 *
 * await configureLoggingFromEnv({ OAO_LOG_LEVEL: "INFO" });
 * registerSecret("my-api-token-value");
 * getOaoLogger("cli", { executionId: "exec-1" }).info("Connecting to {url}", {
 *   url: "redis://app:hunter22@db:6379", // written as redis://app:[REDACTED]@db:6379
 * });
 * await resetLogging();
 * ```
 *
 * @module
 */
export {
  configureLogging,
  configureLoggingFromEnv,
  createLogFormatter,
  type LoggingOptions,
  resetLogging,
} from "./configure_logging.ts";
export {
  type LogFormat,
  type LoggingSettings,
  loggingSettingsFromEnv,
  OAO_LOG_LEVELS,
  type OaoLogLevel,
  parseLogFormat,
  parseOaoLogLevel,
  toLogtapeLevel,
} from "./logging_env.ts";
export {
  getOaoLogger,
  type LogContext,
  logContextProperties,
  OAO_CATEGORY,
  withLogContext,
} from "./logger.ts";
export {
  isSensitiveKey,
  REDACTED,
  redactingSink,
  redactRecord,
  redactText,
  redactValue,
  registerSecret,
  unregisterSecret,
} from "./redaction.ts";
