/**
 * A value as an error message quotes it: JSON where JSON says what it is,
 * and what JSON would turn into `null` or leave out (`NaN`, `Infinity`,
 * `undefined`, a bigint, a function, a symbol) as itself. Internal.
 *
 * @example
 * ```ts
 * import { showValue } from "./_show_value.ts";
 * console.assert(showValue(Infinity) === "Infinity");
 * console.assert(showValue("30s") === '"30s"');
 * ```
 *
 * @module
 */

/**
 * @param value Any value.
 * @returns How an error message names it.
 */
export function showValue(value: unknown): string {
  switch (typeof value) {
    case "number":
      return Object.is(value, -0) ? "-0" : String(value);
    case "bigint":
      return `${value}n`;
    case "undefined":
      return "undefined";
    case "function":
      return "a function";
    case "symbol":
      return String(value);
  }
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return Object.prototype.toString.call(value);
  }
}
