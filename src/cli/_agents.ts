/**
 * The agents and tools a command registers: the bundled agents of `actors/`
 * and the example tools, an agents config file (`--config`, `OAO_CONFIG`)
 * and `--agent name=module` flags with their `--agent-permissions` — each
 * validated, with errors naming the file, entry and field.
 *
 * @example
 * ```ts
 * import { BUNDLED_AGENTS } from "./_agents.ts";
 * console.assert(BUNDLED_AGENTS.some((a) => a.name === "researcher"));
 * ```
 *
 * @module
 */
import { type CommandContext, UsageError } from "./_command.ts";
import { exampleTools } from "../../actors/example_tools.ts";
import { normalizePermissions, type PermissionsSpec } from "../actor/permissions.ts";
import type { AgentRegistration } from "../orchestrator/orchestrator.ts";
import { defineTool, type ToolDefinition } from "../orchestrator/tool.ts";

/** The agents config file (`--config`, `OAO_CONFIG`). */
export interface AgentsConfig {
  /** Agents to register (same fields as `AgentRegistration`; modules relative to the file). */
  agents?: AgentRegistration[];
  /** Modules whose exported tools (definitions or arrays of them) are registered. */
  tools?: string[];
  /** Include the bundled agents and example tools. @default {true} */
  bundled?: boolean;
}

/** The bundled example agents (in `actors/`). */
export const BUNDLED_AGENTS: readonly AgentRegistration[] = [
  {
    name: "researcher",
    module: new URL("../../actors/research_agent.ts", import.meta.url),
    version: "1.0.0",
    peers: ["critic"],
    description:
      "Plans, searches and fetches pages, then asks its critic peer; task {topic, sources?}",
  },
  {
    name: "critic",
    module: new URL("../../actors/critic_agent.ts", import.meta.url),
    version: "1.0.0",
    description: "Peer of the researcher: critiques a summary",
  },
  {
    name: "flaky",
    module: new URL("../../actors/flaky_agent.ts", import.meta.url),
    version: "1.0.0",
    description: "Crashes its worker mid-step once, is restarted and finishes; task {items?}",
  },
  {
    name: "runaway",
    module: new URL("../../actors/runaway_agent.ts", import.meta.url),
    version: "1.0.0",
    description: "Never finishes on its own: only its policy stops it; task {}",
  },
];

const CONFIG_KEYS = ["agents", "tools", "bundled"];
const AGENT_KEYS = [
  "name",
  "module",
  "permissions",
  "version",
  "peers",
  "tools",
  "description",
  "isolation",
];

/**
 * The agents and tools a command registers: the bundled ones (unless the
 * config says `"bundled": false`), the config file's (`--config`,
 * `OAO_CONFIG`), then `--agent name=module` flags with their
 * `--agent-permissions`. A later definition of a name replaces an earlier one.
 *
 * @param ctx The command's context.
 * @returns Agents and tools.
 * @throws {UsageError} Naming the file, entry and field that is wrong.
 */
export async function loadAgents(
  ctx: CommandContext,
): Promise<{ agents: AgentRegistration[]; tools: ToolDefinition<never, unknown>[] }> {
  const agents = new Map<string, AgentRegistration>();
  const tools = new Map<string, ToolDefinition<never, unknown>>();
  const path = ctx.string("config");
  const config = path ? await _readConfig(path) : undefined;
  if (config?.file.bundled !== false) {
    for (const agent of BUNDLED_AGENTS) agents.set(agent.name, agent);
    for (const tool of exampleTools) tools.set(tool.name, tool);
  }
  if (config) {
    const seen = new Set<string>();
    for (const module of config.file.tools ?? []) {
      for (const tool of await _loadTools(config.path, new URL(module, config.url))) {
        if (seen.has(tool.name)) {
          throw new UsageError(
            `Invalid config "${config.path}": two tools are named "${tool.name}"`,
          );
        }
        seen.add(tool.name);
        tools.set(tool.name, tool);
      }
    }
    for (const agent of config.file.agents ?? []) {
      agents.set(agent.name, { ...agent, module: _resolve(agent.module as string, config.url) });
    }
  }
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
    agents.set(name, { name, module: _resolve(module, cwd) });
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
  const list = (names: Iterable<string>) => [...names].map((n) => `"${n}"`).join(", ") || "none";
  for (const agent of agents.values()) {
    for (const peer of agent.peers ?? []) {
      if (!agents.has(peer)) {
        throw new UsageError(
          `Agent "${agent.name}" lists the peer "${peer}", which is not loaded (agents: ${
            list(agents.keys())
          })`,
          ctx.command.name,
        );
      }
    }
    for (const tool of agent.tools ?? []) {
      if (!tools.has(tool)) {
        throw new UsageError(
          `Agent "${agent.name}" lists the tool "${tool}", which is not loaded (tools: ${
            list(tools.keys())
          })`,
          ctx.command.name,
        );
      }
    }
  }
  return { agents: [...agents.values()], tools: [...tools.values()] };
}

async function _readConfig(
  path: string,
): Promise<{ path: string; url: URL; file: AgentsConfig }> {
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
      throw bad(`${at}.isolation must be "pool" or "execution"`);
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
