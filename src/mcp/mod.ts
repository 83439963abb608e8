/**
 * Tools of Model Context Protocol servers as OAO tools (`@oao/runtime/mcp`):
 * apart from the main entry point, so that agents, which import that one,
 * never load the MCP SDK.
 *
 * @example
 * ```ts
 * import { checkMcpServerConfig } from "./mod.ts";
 * const config = checkMcpServerConfig("files", { command: "npx", args: ["-y", "server"] });
 * console.assert("command" in config);
 * ```
 *
 * @module
 */
export { checkMcpServerConfig, type McpServerConfig } from "./mcp_server_config.ts";
export {
  connectMcpServer,
  type McpConnection,
  type McpConnectOptions,
  McpToolError,
} from "./mcp_tools.ts";
