// The agents an orchestrator knows: their registrations, checked field by
// field, and their resolution into what an execution runs — the module, the
// permissions, the peers, and the version: the registered one, else the one
// the module declares (`defineAgent({ version })`, read from its bundle
// before its first execution), else "0.0.0". Internal.
import type { Logger } from "@logtape/logtape";
import { resolveModule } from "../actor/actor_system.ts";
import { normalizePermissions } from "../actor/permissions.ts";
import { UnknownAgentError } from "../errors.ts";
import type { AgentRegistration } from "./orchestrator_options.ts";
import type { ResolvedAgent } from "./_run_host.ts";
import { assertAgentModuleExists, declaredAgentVersion } from "./_agent_module.ts";

const NAME = /^[A-Za-z0-9_.-]+$/;

/** The agents registered with one orchestrator. */
export class AgentRegistry {
  readonly #log: Logger;
  readonly #agents = new Map<string, AgentRegistration>();
  // Versions the agent modules declare (`defineAgent({ version })`), by module
  // and import grant (one bundle each), for agents registered without one.
  readonly #declared = new Map<string, string>();
  readonly #declaring = new Map<string, Promise<void>>();

  /** @param log Where a module whose version cannot be read is logged. */
  constructor(log: Logger) {
    this.#log = log;
  }

  /** The registrations, in the order they were made. */
  get registrations(): AgentRegistration[] {
    return [...this.#agents.values()];
  }

  /**
   * Checks a registration and adds it.
   *
   * @throws {TypeError} Naming the invalid field, when the name is taken, or
   *   when the module is a local file that does not exist (naming the path tried).
   * @throws {RangeError} When `maxRunning` is not an integer >= 1.
   */
  register(registration: AgentRegistration): void {
    if (typeof registration !== "object" || registration === null) {
      throw new TypeError(
        `Invalid agent registration ${JSON.stringify(registration)}: expected an object`,
      );
    }
    if (typeof registration.name !== "string" || !NAME.test(registration.name)) {
      throw new TypeError(
        `Invalid agent name ${
          JSON.stringify(registration.name)
        }: expected letters, digits, "_", "." or "-"`,
      );
    }
    if (this.#agents.has(registration.name)) {
      throw new TypeError(`An agent named "${registration.name}" is already registered`);
    }
    const module = resolveModule(registration.module);
    normalizePermissions(registration.permissions, `permissions of agent "${registration.name}"`);
    const isolation = registration.isolation;
    if (isolation !== undefined && isolation !== "pool" && isolation !== "execution") {
      throw new TypeError(
        `Invalid isolation ${JSON.stringify(isolation)} of agent "${registration.name}": ` +
          `expected "pool" or "execution"`,
      );
    }
    const { maxRunning } = registration;
    if (maxRunning !== undefined && (!Number.isInteger(maxRunning) || maxRunning < 1)) {
      throw new RangeError(
        `Invalid maxRunning ${JSON.stringify(maxRunning)} of agent "${registration.name}": ` +
          `expected an integer >= 1`,
      );
    }
    if (registration.version !== undefined && typeof registration.version !== "string") {
      const version = JSON.stringify(registration.version);
      throw new TypeError(
        `Invalid version ${version} of agent "${registration.name}": expected a string`,
      );
    }
    assertAgentModuleExists(registration.name, registration.module, module);
    this.#agents.set(registration.name, { ...registration });
  }

  /**
   * The agent and its peers, with the versions known so far.
   *
   * @throws {UnknownAgentError} When no agent has that name.
   * @throws {TypeError} When its peers form a cycle.
   */
  resolve(name: string): ResolvedAgent {
    return this.#resolve(name, new Set());
  }

  /**
   * The agent resolved with the versions its modules declare, for the agents
   * (and peers) registered without one. A module that cannot be bundled keeps
   * "0.0.0" here: its spawn fails the execution with the reason.
   *
   * @throws {UnknownAgentError} When no agent has that name.
   * @throws {TypeError} When its peers form a cycle.
   */
  async resolveVersioned(name: string): Promise<ResolvedAgent> {
    const resolved = this.resolve(name);
    const pending: Promise<void>[] = [];
    const visit = (agent: ResolvedAgent) => {
      if (this.#agents.get(agent.name)?.version === undefined) pending.push(this.#declare(agent));
      agent.peers.forEach(visit);
    };
    visit(resolved);
    if (pending.length === 0) return resolved;
    await Promise.all(pending);
    return this.resolve(name);
  }

  #declare(agent: ResolvedAgent): Promise<void> {
    const importHosts = normalizePermissions(agent.permissions, "permissions").import;
    const key = JSON.stringify([agent.module, importHosts]);
    if (this.#declared.has(key)) return Promise.resolve();
    let declaring = this.#declaring.get(key);
    if (!declaring) {
      declaring = declaredAgentVersion(agent.module, importHosts).then((version) => {
        this.#declared.set(key, version ?? "0.0.0");
        this.#declaring.delete(key);
      }, (error) => {
        this.#declaring.delete(key); // tried again by the next execution
        this.#log.debug("Cannot read the version of agent module {module}: {error}", {
          module: agent.module,
          error,
        });
      });
      this.#declaring.set(key, declaring);
    }
    return declaring;
  }

  #resolve(name: string, seen: Set<string>): ResolvedAgent {
    const registration = this.#agents.get(name);
    if (!registration) throw new UnknownAgentError(name, [...this.#agents.keys()]);
    seen.add(name);
    const peers = (registration.peers ?? []).map((peer) => {
      if (seen.has(peer)) {
        throw new TypeError(`Agent "${name}" lists "${peer}" as a peer twice or in a cycle`);
      }
      return this.#resolve(peer, new Set(seen));
    });
    const module = resolveModule(registration.module);
    const declared = registration.version === undefined
      ? this.#declared.get(JSON.stringify([
        module,
        normalizePermissions(registration.permissions, "permissions").import,
      ]))
      : undefined;
    return {
      name,
      module,
      version: registration.version ?? declared ?? "0.0.0",
      permissions: registration.permissions ?? "none",
      isolation: registration.isolation ?? "pool",
      tools: registration.tools,
      peers,
    };
  }
}
