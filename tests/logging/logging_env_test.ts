import assert from "node:assert/strict";
import {
  loggingSettingsFromEnv,
  parseLogFormat,
  parseOaoLogLevel,
  toLogtapeLevel,
} from "../../src/logging/logging_env.ts";

Deno.test("OAO_LOG_LEVEL defaults to INFO when unset or blank", () => {
  assert.equal(loggingSettingsFromEnv({}).level, "INFO");
  assert.equal(loggingSettingsFromEnv({ OAO_LOG_LEVEL: "  " }).level, "INFO");
});

Deno.test("OAO_LOG_LEVEL accepts the four levels case-insensitively", () => {
  for (
    const [raw, level] of [["debug", "DEBUG"], ["Info", "INFO"], ["WARN", "WARN"], [
      "error",
      "ERROR",
    ]]
  ) {
    assert.equal(parseOaoLogLevel(raw), level);
  }
  assert.equal(parseOaoLogLevel(" warning "), "WARN");
});

Deno.test("an invalid OAO_LOG_LEVEL is a RangeError naming the variable and value and listing the valid ones", () => {
  assert.throws(
    () => loggingSettingsFromEnv({ OAO_LOG_LEVEL: "verbose" }),
    (e: unknown) =>
      e instanceof RangeError &&
      e.message ===
        'Invalid OAO_LOG_LEVEL "verbose": expected one of "DEBUG", "INFO", "WARN", "ERROR" (case-insensitive)',
  );
});

Deno.test("OAO_LOG_FORMAT is text by default, json on request, anything else an error", () => {
  assert.equal(loggingSettingsFromEnv({}).format, "text");
  assert.equal(parseLogFormat("JSON"), "json");
  assert.throws(
    () => loggingSettingsFromEnv({ OAO_LOG_FORMAT: "xml" }),
    /^RangeError: Invalid OAO_LOG_FORMAT "xml"/,
  );
});

Deno.test("OAO levels map onto LogTape levels", () => {
  assert.deepEqual(
    (["DEBUG", "INFO", "WARN", "ERROR"] as const).map(toLogtapeLevel),
    ["debug", "info", "warning", "error"],
  );
});
