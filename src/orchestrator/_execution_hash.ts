// The execution hash: SHA-256 of an execution's canonical specification,
// which a resume or a fork must match (else the agent, its version, the
// tools or the policy changed); and the policy limits as they enter the hash
// and as EXECUTION_STARTED records them. Internal.
import { canonicalJson, sha256Hex } from "./canonical_json.ts";
import { DEFAULT_POLICY, type PolicyLimits, StrictPolicy } from "./policy.ts";
import type { ResolvedAgent } from "./_run_host.ts";

/** What the hash of an execution of an agent covers besides the agent. */
export interface HashedSpec {
  /** The task. */
  task: unknown;
  /** The execution's policy. */
  policy: StrictPolicy;
  /**
   * The outputs of a workflow task's dependencies: part of the hash, left
   * out when there are none (so other executions keep their hash).
   */
  dependencies: Record<string, unknown> | undefined;
  /** The registered tools: those the agent may use when it names none. */
  registeredTools: readonly string[];
}

/**
 * The execution hash: SHA-256 of the canonical specification (task, agent
 * name and version, its peers' names and versions, policy limits, the tools
 * the agent may use, the dependencies' outputs).
 *
 * @returns 64 hex characters.
 */
export async function hashExecution(agent: ResolvedAgent, spec: HashedSpec): Promise<string> {
  const { task, policy, dependencies } = spec;
  const tools = (agent.tools ?? spec.registeredTools).slice().sort();
  return await sha256Hex(canonicalJson({
    ...(dependencies ? { dependencies } : {}),
    task: task ?? null,
    agent: {
      name: agent.name,
      version: agent.version,
      peers: agent.peers.map((p) => `${p.name}@${p.version}`),
    },
    policy: hashedLimits(policy.limits),
    tools,
  }));
}

/**
 * The policy an execution was started with, from the limits its
 * EXECUTION_STARTED records, with overrides (a resume's or a fork's).
 *
 * @throws {RangeError | TypeError} Naming a limit that is invalid.
 */
export function recordedPolicy(
  recorded: Partial<PolicyLimits>,
  overrides: Partial<PolicyLimits> | undefined,
): StrictPolicy {
  return new StrictPolicy({ ...recordedLimits(recorded), ...overrides });
}

// The policy limits as they enter the execution hash. `stepTimeoutMs` and
// `maxCostUsd` at their defaults are left out, so that executions started
// before they existed keep their hash (and can be resumed); `Infinity` is
// written as a string (JSON has no such number).
function hashedLimits(limits: Readonly<PolicyLimits>): Record<string, unknown> {
  const hashed: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(limits)) {
    if (key === "stepTimeoutMs" && value === DEFAULT_POLICY.stepTimeoutMs) continue;
    if (key === "maxCostUsd" && value === DEFAULT_POLICY.maxCostUsd) continue;
    // Approvals (newer than the rest) at their defaults are left out too.
    if (key === "requireApproval") {
      if ((value as readonly string[]).length > 0) hashed[key] = value;
      continue;
    }
    if (key === "approvalTimeoutMs" && value === DEFAULT_POLICY.approvalTimeoutMs) continue;
    hashed[key] = Number.isFinite(value) ? value : String(value);
  }
  return hashed;
}

// Policy limits as recorded in EXECUTION_STARTED: JSON wrote `Infinity` as null.
function recordedLimits(recorded: Partial<PolicyLimits>): Partial<PolicyLimits> {
  const limits: Partial<PolicyLimits> = {};
  for (const [key, value] of Object.entries(recorded ?? {})) {
    (limits as Record<string, unknown>)[key] = value === null ? Infinity : value;
  }
  return limits;
}
