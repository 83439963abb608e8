/**
 * Internal: parses the W3C-baggage-like `key1=value1,key2=value2` lists of
 * `OTEL_RESOURCE_ATTRIBUTES` and `OTEL_EXPORTER_OTLP_HEADERS`.
 *
 * @module
 */

/** Options of {@linkcode parseKeyValueList}. */
export interface KeyValueListOptions {
  /** Whether values may appear in error messages (false for headers, which carry credentials). @default {true} */
  showValues?: boolean;
}

/**
 * Parses `key1=value1,key2=value2`: entries are comma-separated, keys and
 * values are trimmed and percent-decoded, empty entries are skipped, and a
 * later duplicate key wins.
 *
 * @param value The raw variable value.
 * @param variable The variable name, for error messages.
 * @param options Whether values may be quoted in errors.
 * @returns The pairs.
 * @throws {RangeError} Naming the variable when an entry has no `=`, an empty
 *   key, or an invalid percent-encoding.
 */
export function parseKeyValueList(
  value: string,
  variable: string,
  options: KeyValueListOptions = {},
): Record<string, string> {
  const out: Record<string, string> = {};
  const entries = value.split(",");
  for (const [index, raw] of entries.entries()) {
    const entry = raw.trim();
    if (entry === "") continue;
    const where = options.showValues === false
      ? `entry ${index + 1}`
      : `entry ${index + 1} "${entry}"`;
    const eq = entry.indexOf("=");
    if (eq < 0) throw new RangeError(`Invalid ${variable}: ${where} is not of the form key=value`);
    const key = _decode(entry.slice(0, eq).trim(), variable, where);
    if (key === "") throw new RangeError(`Invalid ${variable}: ${where} has an empty key`);
    out[key] = _decode(entry.slice(eq + 1).trim(), variable, where);
  }
  return out;
}

function _decode(text: string, variable: string, where: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    throw new RangeError(`Invalid ${variable}: ${where} has an invalid percent-encoding`);
  }
}
