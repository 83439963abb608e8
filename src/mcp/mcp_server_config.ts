/**
 * The config of an MCP server (the config file's `"mcpServers"` entries):
 * a command to start (stdio) or a URL (streamable HTTP), checked without
 * loading the MCP SDK.
 *
 * @example
 * ```ts
 * import { checkMcpServerConfig } from "./mcp_server_config.ts";
 * const config = checkMcpServerConfig("search", { url: "https://mcp.example.com/mcp" });
 * console.assert("url" in config);
 * ```
 *
 * @module
 */
import { httpUrl } from "../http_url.ts";

/** How to reach an MCP server: a command (stdio) or a URL (streamable HTTP). */
export type McpServerConfig =
  | {
    /** The program to start, e.g. `"deno"` or `"npx"`. */
    command: string;
    /** Its arguments. @default {[]} */
    args?: string[];
    /** Variables added to the small default environment the SDK passes on. @default {{}} */
    env?: Record<string, string>;
    /** Its working directory. @default {this process's} */
    cwd?: string;
  }
  | {
    /** The server's MCP endpoint, `http:` or `https:`. */
    url: string;
    /** Headers sent with every request (e.g. `Authorization`). @default {{}} */
    headers?: Record<string, string>;
  };

const NAME = /^[A-Za-z0-9_-]{1,64}$/;

/**
 * Checks an MCP server's config, naming what is wrong.
 *
 * @param name The server's name.
 * @param config Its config, as read from a file.
 * @returns The config, typed.
 * @throws {TypeError} Naming the server and the field.
 */
export function checkMcpServerConfig(name: string, config: unknown): McpServerConfig {
  const bad = (what: string) => new TypeError(`Invalid MCP server "${name}": ${what}`);
  if (!NAME.test(name)) {
    throw new TypeError(
      `Invalid MCP server name ${JSON.stringify(name)}: expected 1–64 letters, digits, "_" or "-"`,
    );
  }
  if (typeof config !== "object" || config === null || Array.isArray(config)) {
    throw bad(`expected an object with "command" or "url"`);
  }
  const c = config as Record<string, unknown>;
  const allowed = "url" in c ? ["url", "headers"] : ["command", "args", "env", "cwd"];
  for (const key of Object.keys(c)) {
    if (!allowed.includes(key)) {
      throw bad(`unknown key "${key}" (expected ${allowed.map((k) => `"${k}"`).join(", ")})`);
    }
  }
  const strings = (value: unknown, field: string) => {
    if (
      value !== undefined &&
      (typeof value !== "object" || value === null || Array.isArray(value) ||
        Object.values(value).some((v) => typeof v !== "string"))
    ) throw bad(`"${field}" must be an object of strings`);
  };
  if ("url" in c) {
    if (!httpUrl(c.url)) {
      throw bad(`"url" must be an http: or https: URL, got ${JSON.stringify(c.url)}`);
    }
    strings(c.headers, "headers");
    return c as McpServerConfig;
  }
  if (typeof c.command !== "string" || !c.command) {
    throw bad(`expected "command" (a program to start) or "url"`);
  }
  if (
    c.args !== undefined && (!Array.isArray(c.args) || c.args.some((a) => typeof a !== "string"))
  ) {
    throw bad(`"args" must be a list of strings`);
  }
  strings(c.env, "env");
  if (c.cwd !== undefined && (typeof c.cwd !== "string" || !c.cwd)) {
    throw bad(`"cwd" must be a path`);
  }
  return c as McpServerConfig;
}
