/**
 * Tools of Model Context Protocol servers as OAO tools: each tool an MCP
 * server lists becomes a governed tool named `<server>.<tool>` — policy,
 * approvals, the ledger and idempotency apply to it as to any tool, and an
 * agent calls it with `ctx.tool("files.read", { path })`. A server is a
 * command speaking MCP on its standard input and output (stdio; starting it
 * needs `--allow-run`) or a streamable HTTP endpoint (`--allow-net`).
 *
 * A tool the server marks `readOnlyHint` or `idempotentHint` is idempotent:
 * after a crash its call is made again; any other tool's unknown outcome is
 * left to an operator (`ToolOutcomeUnknownError`), as for OAO's own tools.
 * A result the server marks `isError` fails the call with
 * {@linkcode McpToolError}; otherwise the call's result is the tool's
 * structured content, or its text.
 *
 * @example
 * ```ts ignore
 * import { connectMcpServer } from "./mcp_tools.ts";
 * const files = await connectMcpServer("files", {
 *   command: "deno",
 *   args: ["run", "--allow-read=.", "./mcp_files_server.ts"],
 * });
 * // new Orchestrator({ tools: files.tools, … }); later:
 * await files.close();
 * ```
 *
 * @module
 */
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import {
  getDefaultEnvironment,
  StdioClientTransport,
} from "@modelcontextprotocol/sdk/client/stdio.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { isSensitiveKey, redactText, registerSecret } from "../logging/redaction.ts";
import { OaoError } from "../oao_error.ts";
import { defineTool, type ToolDefinition } from "../orchestrator/tool.ts";
import { checkMcpServerConfig, type McpServerConfig } from "./mcp_server_config.ts";

/** Options of {@linkcode connectMcpServer}. */
export interface McpConnectOptions {
  /** Time limit of one tool call, in ms. @default {60000} */
  timeoutMs?: number;
  /** Time limit of connecting and listing the tools, in ms. @default {30000} */
  connectTimeoutMs?: number;
}

/** A connected MCP server and its tools. */
export interface McpConnection {
  /** The server's name: the prefix of its tools' names. */
  readonly server: string;
  /** Its tools as OAO tools, named `<server>.<tool>`. */
  readonly tools: ToolDefinition<Record<string, unknown>, unknown>[];
  /** Ends the session (and the server process of a command). Idempotent. */
  close(): Promise<void>;
}

/** A tool call the MCP server answered as an error (`isError`). */
export class McpToolError extends OaoError {
  /**
   * @param tool The OAO tool name (`<server>.<tool>`).
   * @param message What the server said.
   */
  constructor(tool: string, message: string) {
    super("MCP_TOOL_ERROR", `MCP tool "${tool}" failed: ${message}`);
  }
}

const TOOL_NAME = /^[A-Za-z0-9_.:-]{1,128}$/;
/** Most tools taken from one server, and the longest description kept (a server is not trusted). */
const MAX_TOOLS = 500;
const MAX_DESCRIPTION = 1_000;

/**
 * Connects to an MCP server and lists its tools.
 *
 * @param name The server's name (1–64 letters, digits, `_`, `-`): its tools are `<name>.<tool>`.
 * @param config A command to start (stdio) or a URL (streamable HTTP).
 * @param options Time limits.
 * @returns The connection and its tools.
 * @throws {TypeError} When the config is invalid.
 * @throws {Error} When the server cannot be started or reached, naming it and what to do
 *   (`--allow-run` for a command, `--allow-net` for a URL).
 */
export async function connectMcpServer(
  name: string,
  config: McpServerConfig,
  options: McpConnectOptions = {},
): Promise<McpConnection> {
  checkMcpServerConfig(name, config);
  _registerSecrets(config);
  const timeoutMs = options.timeoutMs ?? 60_000;
  const connectTimeoutMs = options.connectTimeoutMs ?? 30_000;
  const what = "url" in config ? `at ${config.url}` : `(command "${config.command}")`;
  const client = new Client({ name: "oao", version: "1" });
  const transport = "url" in config
    ? new StreamableHTTPClientTransport(new URL(config.url), {
      requestInit: { headers: config.headers ?? {} },
    })
    : new StdioClientTransport({
      command: config.command,
      args: config.args ?? [],
      ...(config.env ? { env: { ...getDefaultEnvironment(), ...config.env } } : {}),
      ...(config.cwd ? { cwd: config.cwd } : {}),
      stderr: "inherit",
    });
  let listed;
  try {
    await client.connect(transport, { timeout: connectTimeoutMs });
    listed = await client.listTools(undefined, { timeout: connectTimeoutMs });
  } catch (error) {
    await client.close().catch(() => {});
    throw new Error(`Cannot connect to MCP server "${name}" ${what}: ${hint(error, config)}`, {
      cause: error,
    });
  }
  const tools: ToolDefinition<Record<string, unknown>, unknown>[] = [];
  if (listed.tools.length > MAX_TOOLS) {
    await client.close().catch(() => {});
    throw new Error(
      `MCP server "${name}" ${what} lists ${listed.tools.length} tools (at most ${MAX_TOOLS})`,
    );
  }
  for (const tool of listed.tools) {
    const id = `${name}.${tool.name}`;
    if (!TOOL_NAME.test(id)) continue; // a name OAO cannot carry: the tool is left out
    const annotations = tool.annotations ?? {};
    const description = typeof tool.description === "string"
      ? tool.description.slice(0, MAX_DESCRIPTION)
      : "";
    tools.push(defineTool<Record<string, unknown>, unknown>({
      name: id,
      ...(description ? { description } : {}),
      idempotent: annotations.readOnlyHint === true || annotations.idempotentHint === true,
      timeoutMs,
      run: async (args, ctx) => {
        const result = await client.callTool(
          { name: tool.name, arguments: args ?? {} },
          undefined,
          { signal: ctx.signal, timeout: timeoutMs },
        );
        const content: unknown[] = Array.isArray(result.content) ? result.content : [];
        if (result.isError) {
          throw new McpToolError(id, redactText(textOf(content)) || "no message");
        }
        if (result.structuredContent !== undefined) return result.structuredContent;
        const allText = content.every((part: unknown) =>
          (part as { type?: unknown }).type === "text"
        );
        return allText ? textOf(content) : content;
      },
    }));
  }
  let closed: Promise<void> | undefined;
  return {
    server: name,
    tools,
    close: () => closed ??= client.close().catch(() => {}),
  };
}

function textOf(content: unknown[]): string {
  return content
    .filter((part): part is { type: "text"; text: string } =>
      (part as { type?: unknown }).type === "text" &&
      typeof (part as { text?: unknown }).text === "string"
    )
    .map((part) => part.text)
    .join("\n");
}

// What to do about a failure to connect.
function hint(error: unknown, config: McpServerConfig): string {
  const message = error instanceof Error ? error.message : String(error);
  const denied = error instanceof Deno.errors.NotCapable ||
    error instanceof Deno.errors.PermissionDenied || /--allow-(run|net)/.test(message);
  if (denied && "command" in config) {
    return `${message}. Starting it needs run permission: add --allow-run=${config.command}`;
  }
  if (denied) return `${message}. Reaching it needs net permission: add --allow-net`;
  if (error instanceof Deno.errors.NotFound || /ENOENT|not found/i.test(message)) {
    return `${message} (is "${"command" in config ? config.command : config.url}" right?)`;
  }
  return message;
}

/**
 * Registers the secrets of a server's config (API keys in its env, bearer
 * tokens in its headers) so that logs, and the errors its tools answer with,
 * never show them.
 */
function _registerSecrets(config: McpServerConfig): void {
  const named = "url" in config ? config.headers : config.env;
  for (const [name, value] of Object.entries(named ?? {})) {
    if (!isSensitiveKey(name) || value.length < 4) continue;
    registerSecret(value);
    const credentials = /^\S+\s+(\S{4,})$/.exec(value)?.[1]; // "Bearer <token>"
    if (credentials) registerSecret(credentials);
  }
}
