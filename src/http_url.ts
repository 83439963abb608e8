/**
 * Reading a setting that must be an `http:` or `https:` URL (a model
 * provider's base URL, an OTLP endpoint, an MCP server): each caller says
 * what is wrong in its own words.
 *
 * @example
 * ```ts
 * import { httpUrl } from "./http_url.ts";
 * console.assert(httpUrl("https://api.example.com/v1")?.hostname === "api.example.com");
 * console.assert(httpUrl("ftp://example.com") === undefined);
 * console.assert(httpUrl(42) === undefined);
 * ```
 *
 * @module
 */

/**
 * The URL `value` names, when it is a string that parses as an `http:` or
 * `https:` URL.
 *
 * @param value Anything (read from a file or a variable).
 * @returns The URL, or `undefined`.
 */
export function httpUrl(value: unknown): URL | undefined {
  if (typeof value !== "string") return undefined;
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return undefined;
  }
  return url.protocol === "http:" || url.protocol === "https:" ? url : undefined;
}
