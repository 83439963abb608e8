/**
 * The agents and tools a command registers: the example agents and tools of
 * `actors/`, declared by the config file `actors/examples.oao.json` and
 * loaded like any other config (`--examples`/`--no-examples`,
 * `OAO_EXAMPLES`), an agents config file (`--config`, `OAO_CONFIG`) and
 * `--agent name=module` flags with their `--agent-permissions` — each
 * validated, with errors naming the file, entry and field — and the config
 * file's `"models"` section (providers, prices, rate limits of model calls).
 *
 * The command line does not import the examples: it reads their config file
 * (next to this program, in `actors/`) at run time, so it runs without
 * `actors/` as long as the examples are not asked for.
 *
 * @example
 * ```ts
 * import { EXAMPLES_CONFIG } from "./_agents.ts";
 * console.assert(EXAMPLES_CONFIG.pathname.endsWith("/actors/examples.oao.json"));
 * ```
 *
 * @module
 */
import { type CommandContext, UsageError } from "./_command.ts";
import { showValue } from "../_show_value.ts";
import { getOaoLogger } from "../logging/logger.ts";
import { normalizePermissions, type PermissionsSpec } from "../actor/permissions.ts";
import type { AgentRegistration } from "../orchestrator/orchestrator.ts";
import { defineTool, type ToolDefinition } from "../orchestrator/tool.ts";
import { checkModelsConfig, type ModelsConfig } from "./_models_config.ts";
import { checkMcpServerConfig, type McpServerConfig } from "../mcp/mcp_server_config.ts";
import type { McpConnection } from "../mcp/mcp_tools.ts";

/** The agents config file (`--config`, `OAO_CONFIG`). */
export interface AgentsConfig {
  /** Agents to register (same fields as `AgentRegistration`; modules relative to the file). */
  agents?: AgentRegistration[];
  /** Modules whose exported tools (definitions or arrays of them) are registered. */
  tools?: string[];
  /**
   * Include the example agents and tools ({@linkcode EXAMPLES_CONFIG}) when
   * neither `--examples`/`--no-examples` nor `OAO_EXAMPLES` says.
   * @default {true}
   */
  bundled?: boolean;
  /** Model providers (base URLs, the variables holding their keys), prices and rate limits. */
  models?: ModelsConfig;
  /**
   * MCP servers whose tools are registered as `<server>.<tool>`: a command
   * (`{"command": "npx", "args": [...]}`, needs `--allow-run`) or a URL
   * (`{"url": "https://…/mcp"}`).
   */
  mcpServers?: Record<string, McpServerConfig>;
}

/**
 * The config file of the example agents and tools, shipped in `actors/`
 * beside the command line: read (not imported) when the examples are loaded.
 */
export const EXAMPLES_CONFIG: URL = new URL("../../actors/examples.oao.json", import.meta.url);

/**
 * The config of the example LLM agent (`llmAgent`), which `oao demo` runs
 * against a local model server; apart from {@linkcode EXAMPLES_CONFIG},
 * since it needs a model.
 */
export const EXAMPLE_LLM_CONFIG: URL = new URL(
  "../../actors/llm_examples.oao.json",
  import.meta.url,
);

/**
 * The agents of {@linkcode EXAMPLE_LLM_CONFIG}, their modules resolved.
 *
 * @returns The registrations.
 * @throws {UsageError} When the file is missing or invalid.
 */
export async function readExampleLlmAgents(): Promise<AgentRegistration[]> {
  const config = await _readConfig(decodeURIComponent(EXAMPLE_LLM_CONFIG.pathname));
  return (config.file.agents ?? []).map((agent) => ({
    ...agent,
    module: _resolve(agent.module as string, config.url),
  }));
}

const CONFIG_KEYS = ["agents", "tools", "bundled", "models", "mcpServers"];
const AGENT_KEYS = [
  "name",
  "module",
  "permissions",
  "version",
  "peers",
  "tools",
  "description",
  "isolation",
  "maxRunning",
];

/**
 * The agents and tools a command registers: the examples' (unless
 * `--no-examples`, `OAO_EXAMPLES=false` or the config's `"bundled": false`),
 * the config file's (`--config`, `OAO_CONFIG`), then `--agent name=module`
 * flags with their `--agent-permissions`. A later definition of a name
 * replaces an earlier one. The `"models"` section comes from the config file.
 *
 * @param ctx The command's context (flags of `RUNTIME_FLAGS`).
 * @param options `examples: "only"` loads the examples alone, whatever the
 *   flags say (the demo).
 * @returns Agents, tools and the config file's `"models"` section.
 * @throws {UsageError} Naming the file, entry, flag and field that is wrong,
 *   or a module that does not exist.
 */
export async function loadAgents(
  ctx: CommandContext,
  options: { examples?: "only" } = {},
): Promise<
  {
    agents: AgentRegistration[];
    tools: ToolDefinition<never, unknown>[];
    models?: ModelsConfig;
    /** The config file's MCP servers (connect them with {@linkcode connectMcpTools}). */
    mcpServers?: Record<string, McpServerConfig>;
  }
> {
  const agents = new Map<string, AgentRegistration>();
  const tools = new Map<string, ToolDefinition<never, unknown>>();
  const only = options.examples === "only";
  const path = only ? undefined : ctx.string("config");
  const config = path ? await _readConfig(path) : undefined;
  const wanted = only ? true : ctx.toggle("examples");
  if (wanted ?? config?.file.bundled ?? true) {
    const examples = await _readExamples(only ? "only" : wanted !== undefined);
    if (examples) await _addConfig(examples, agents, tools);
  }
  if (config) await _addConfig(config, agents, tools);
  if (only) return { agents: [...agents.values()], tools: [...tools.values()] };
  const models = config?.file.models;
  const cwd = new URL(`file://${Deno.cwd().replace(/\/?$/, "/")}`);
  for (const value of ctx.strings("agent")) {
    const eq = value.indexOf("=");
    const name = value.slice(0, eq);
    const module = value.slice(eq + 1);
    if (eq < 1 || !module || !/^[A-Za-z0-9_.-]+$/.test(name)) {
      throw new UsageError(
        `Invalid flag "--agent" value "${value}": expected <name>=<module> (name: letters, digits, "_", "." or "-")`,
        ctx.command.name,
      );
    }
    const resolved = _resolve(module, cwd);
    await _assertModule(
      resolved,
      `Invalid flag "--agent" value "${value}"`,
      "relative to the working directory",
      ctx,
    );
    agents.set(name, { name, module: resolved });
  }
  for (const value of ctx.strings("agent-permissions")) {
    const eq = value.indexOf("=");
    const name = value.slice(0, eq);
    const agent = agents.get(name);
    if (eq < 1 || !agent) {
      throw new UsageError(
        `Invalid flag "--agent-permissions" value "${value}": expected <name>=<json> naming a loaded agent (${
          [...agents.keys()].map((k) => `"${k}"`).join(", ")
        })`,
        ctx.command.name,
      );
    }
    const raw = value.slice(eq + 1);
    let spec: unknown;
    try {
      spec = raw === "none" ? "none" : JSON.parse(raw);
      normalizePermissions(spec as PermissionsSpec, `permissions of agent "${name}"`);
    } catch (error) {
      throw new UsageError(
        `Invalid flag "--agent-permissions" value "${value}": ${(error as Error).message}`,
        ctx.command.name,
      );
    }
    agents.set(name, { ...agent, permissions: spec as PermissionsSpec });
  }
  const mcpServers = config?.file.mcpServers;
  _checkReferences(agents.values(), tools, { ctx, mcpServers });
  return {
    agents: [...agents.values()],
    tools: [...tools.values()],
    ...(models ? { models } : {}),
    ...(mcpServers ? { mcpServers } : {}),
  };
}

// Every peer and tool an agent lists is loaded; the tools of MCP servers
// (`<server>.<tool>`) are checked once their servers are connected.
function _checkReferences(
  agents: Iterable<AgentRegistration>,
  tools: Map<string, ToolDefinition<never, unknown>>,
  options: { ctx?: CommandContext; mcpServers?: Record<string, unknown> | undefined },
): void {
  const { ctx, mcpServers } = options;
  const byName = new Map([...agents].map((a) => [a.name, a]));
  const later = (tool: string) =>
    mcpServers !== undefined && Object.hasOwn(mcpServers, tool.slice(0, tool.indexOf(".")));
  const list = (names: Iterable<string>) => [...names].map((n) => `"${n}"`).join(", ") || "none";
  for (const agent of byName.values()) {
    for (const peer of agent.peers ?? []) {
      if (!byName.has(peer)) {
        throw new UsageError(
          `Agent "${agent.name}" lists the peer "${peer}", which is not loaded (agents: ${
            list(byName.keys())
          })`,
          ctx?.command.name,
        );
      }
    }
    for (const tool of agent.tools ?? []) {
      if (!tools.has(tool) && !later(tool)) {
        throw new UsageError(
          `Agent "${agent.name}" lists the tool "${tool}", which is not loaded (tools: ${
            list(tools.keys())
          })`,
          ctx?.command.name,
        );
      }
    }
  }
}

/**
 * Connects the config file's MCP servers ({@linkcode loadAgents}'s
 * `mcpServers`) and adds their tools, named `<server>.<tool>`, to `tools`;
 * then checks the agents' references to them.
 *
 * @param servers The servers by name.
 * @param loaded The agents and the tools loaded so far (`tools` gains the MCP tools).
 * @returns The connections: close them when done.
 * @throws {UsageError} Naming the server that cannot be reached and what to
 *   do, a tool whose name is taken, or an agent's tool that no server has
 *   (the connections made are closed).
 */
export async function connectMcpTools(
  servers: Record<string, McpServerConfig>,
  loaded: { agents: readonly AgentRegistration[]; tools: ToolDefinition<never, unknown>[] },
): Promise<McpConnection[]> {
  const connected: McpConnection[] = [];
  try {
    // Loaded only when a config lists servers: the MCP SDK is large.
    const { connectMcpServer } = await import("../mcp/mcp_tools.ts");
    const tools = new Map(loaded.tools.map((t) => [t.name, t]));
    for (const [name, server] of Object.entries(servers)) {
      const connection = await connectMcpServer(name, server);
      connected.push(connection);
      for (const tool of connection.tools) {
        if (tools.has(tool.name)) {
          throw new Error(`the MCP tool "${tool.name}" has the name of a tool already loaded`);
        }
        tools.set(tool.name, tool as ToolDefinition<never, unknown>);
      }
    }
    _checkReferences(loaded.agents, tools, {});
    loaded.tools.splice(0, loaded.tools.length, ...tools.values());
    return connected;
  } catch (error) {
    await Promise.all(connected.map((c) => c.close()));
    throw error instanceof UsageError ? error : new UsageError((error as Error).message);
  }
}

interface _Config {
  path: string;
  url: URL;
  file: AgentsConfig;
}

// A config's tools, then its agents (modules resolved against the file, and checked).
async function _addConfig(
  config: _Config,
  agents: Map<string, AgentRegistration>,
  tools: Map<string, ToolDefinition<never, unknown>>,
): Promise<void> {
  const seen = new Set<string>();
  for (const module of config.file.tools ?? []) {
    for (const tool of await _loadTools(config.path, new URL(module, config.url))) {
      if (seen.has(tool.name)) {
        throw new UsageError(`Invalid config "${config.path}": two tools are named "${tool.name}"`);
      }
      seen.add(tool.name);
      tools.set(tool.name, tool);
    }
  }
  for (const [i, agent] of (config.file.agents ?? []).entries()) {
    const module = _resolve(agent.module as string, config.url);
    await _assertModule(
      module,
      `Invalid config "${config.path}": agents[${i}].module "${agent.module}"`,
      "relative to the config file",
    );
    agents.set(agent.name, { ...agent, module });
  }
}

// The examples' config; `undefined` when it is absent and was not asked for
// (`asked`: by a flag or variable; `"only"`: by the demo, which has no flag).
async function _readExamples(asked: boolean | "only"): Promise<_Config | undefined> {
  const path = decodeURIComponent(EXAMPLES_CONFIG.pathname);
  try {
    await Deno.stat(EXAMPLES_CONFIG);
  } catch (error) {
    if (asked || !(error instanceof Deno.errors.NotFound)) {
      const way = asked === "only" ? "" : " (or leave them out: --no-examples, OAO_EXAMPLES=false)";
      throw new UsageError(
        `Cannot load the example agents: "${path}" is missing or unreadable (${
          (error as Error).message
        }); they ship in actors/ beside src/${way}`,
      );
    }
    getOaoLogger("cli").debug("No example agents: {path} is absent", { path });
    return undefined;
  }
  return await _readConfig(path);
}

async function _readExampleAgents(): Promise<AgentRegistration[]> {
  try {
    const config = await _readConfig(decodeURIComponent(EXAMPLES_CONFIG.pathname));
    return (config.file.agents ?? []).map((agent) => ({
      ...agent,
      module: _resolve(agent.module as string, config.url),
    }));
  } catch {
    return [];
  }
}

// A local module that does not exist is a usage error naming where it was given.
async function _assertModule(
  module: string,
  where: string,
  relativeTo: string,
  ctx?: CommandContext,
): Promise<void> {
  if (!module.startsWith("file:")) return;
  const path = decodeURIComponent(new URL(module).pathname);
  try {
    if ((await Deno.stat(new URL(module))).isFile) return;
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) return; // unreadable: the spawn reports it
  }
  throw new UsageError(
    `${where}: no agent module at "${path}" (a module path is ${relativeTo})`,
    ctx?.command.name,
  );
}

async function _readConfig(path: string): Promise<_Config> {
  const url = new URL(path, `file://${Deno.cwd().replace(/\/?$/, "/")}`);
  let text: string;
  try {
    text = await Deno.readTextFile(url);
  } catch (error) {
    throw new UsageError(`Cannot read config "${path}": ${(error as Error).message}`);
  }
  let file: unknown;
  try {
    file = JSON.parse(text);
  } catch (error) {
    throw new UsageError(`Invalid config "${path}": not JSON (${(error as Error).message})`);
  }
  const bad = (what: string) => new UsageError(`Invalid config "${path}": ${what}`);
  if (typeof file !== "object" || file === null || Array.isArray(file)) {
    throw bad('expected an object with "agents"');
  }
  const record = file as Record<string, unknown>;
  for (const key of Object.keys(record)) {
    if (!CONFIG_KEYS.includes(key)) {
      throw bad(`unknown key "${key}" (expected ${CONFIG_KEYS.map((k) => `"${k}"`).join(", ")})`);
    }
  }
  if (record.bundled !== undefined && typeof record.bundled !== "boolean") {
    throw bad(`"bundled" must be true or false`);
  }
  if (
    record.tools !== undefined &&
    (!Array.isArray(record.tools) || record.tools.some((t) => typeof t !== "string" || !t))
  ) {
    throw bad(`"tools" must be a list of module paths`);
  }
  if (record.agents !== undefined && !Array.isArray(record.agents)) {
    throw bad(`"agents" must be a list`);
  }
  if (record.models !== undefined) {
    try {
      checkModelsConfig(record.models);
    } catch (error) {
      throw bad((error as Error).message);
    }
  }
  if (record.mcpServers !== undefined) {
    const servers = record.mcpServers;
    if (typeof servers !== "object" || servers === null || Array.isArray(servers)) {
      throw bad(`"mcpServers" must be an object of servers by name`);
    }
    for (const [name, server] of Object.entries(servers)) {
      try {
        checkMcpServerConfig(name, server);
      } catch (error) {
        throw bad((error as Error).message);
      }
    }
  }
  const names = new Set<string>();
  for (const [i, entry] of ((record.agents ?? []) as unknown[]).entries()) {
    const at = `agents[${i}]`;
    if (typeof entry !== "object" || entry === null || Array.isArray(entry)) {
      throw bad(`${at} must be an object`);
    }
    const agent = entry as Record<string, unknown>;
    for (const key of Object.keys(agent)) {
      if (!AGENT_KEYS.includes(key)) throw bad(`${at} has unknown key "${key}"`);
    }
    if (typeof agent.name !== "string" || !/^[A-Za-z0-9_.-]+$/.test(agent.name)) {
      throw bad(`${at}.name must be letters, digits, "_", "." or "-"`);
    }
    if (names.has(agent.name)) throw bad(`two agents are named "${agent.name}"`);
    names.add(agent.name);
    if (typeof agent.module !== "string" || !agent.module) {
      throw bad(`${at}.module must be a module path`);
    }
    for (const key of ["version", "description"]) {
      if (agent[key] !== undefined && typeof agent[key] !== "string") {
        throw bad(`${at}.${key} must be a string`);
      }
    }
    if (
      agent.isolation !== undefined && agent.isolation !== "pool" &&
      agent.isolation !== "execution"
    ) {
      throw bad(`${at}.isolation must be "pool" or "execution", not ${showValue(agent.isolation)}`);
    }
    const { maxRunning } = agent;
    if (maxRunning !== undefined && (!Number.isInteger(maxRunning) || Number(maxRunning) < 1)) {
      throw bad(`${at}.maxRunning must be an integer >= 1, not ${showValue(maxRunning)}`);
    }
    for (const key of ["peers", "tools"]) {
      const list = agent[key];
      if (list !== undefined && (!Array.isArray(list) || list.some((v) => typeof v !== "string"))) {
        throw bad(`${at}.${key} must be a list of names`);
      }
    }
    try {
      normalizePermissions(agent.permissions as PermissionsSpec, `${at}.permissions`);
    } catch (error) {
      throw bad((error as Error).message);
    }
  }
  return { path, url, file: record as AgentsConfig };
}

async function _loadTools(
  configPath: string,
  url: URL,
): Promise<ToolDefinition<never, unknown>[]> {
  let module: Record<string, unknown>;
  try {
    module = await import(url.href);
  } catch (error) {
    throw new UsageError(
      `Invalid config "${configPath}": cannot load tool module "${url.href}" (${
        (error as Error).message
      })`,
    );
  }
  const found = new Set<ToolDefinition<never, unknown>>();
  const visit = (value: unknown) => {
    if (Array.isArray(value)) value.forEach(visit);
    else if (
      typeof value === "object" && value !== null && typeof (value as { run?: unknown }).run ===
        "function" &&
      typeof (value as { name?: unknown }).name === "string"
    ) {
      found.add(defineTool(value as ToolDefinition<never, unknown>));
    }
  };
  Object.values(module).forEach(visit);
  if (found.size === 0) {
    throw new UsageError(
      `Invalid config "${configPath}": tool module "${url.href}" exports no tool definitions`,
    );
  }
  const byName = new Map<string, ToolDefinition<never, unknown>>();
  for (const tool of found) {
    if (byName.has(tool.name) && byName.get(tool.name) !== tool) {
      throw new UsageError(
        `Invalid config "${configPath}": module "${url.href}" exports two tools named "${tool.name}"`,
      );
    }
    byName.set(tool.name, tool);
  }
  return [...byName.values()];
}

function _resolve(module: string, base: URL): string {
  if (/^[a-z][a-z0-9+.-]*:/i.test(module) && !/^[a-z]:[\\/]/i.test(module)) return module;
  return new URL(module, base).href;
}

/**
 * The example agents of {@linkcode EXAMPLES_CONFIG}, read when this module
 * is loaded (empty when the file is absent or unreadable). Declared last: the
 * validation tables above must exist when it is read.
 *
 * @deprecated For code written before the examples config (the API tests'
 * server): use {@linkcode loadAgents}, or a config file.
 */
export const BUNDLED_AGENTS: readonly AgentRegistration[] = await _readExampleAgents();
