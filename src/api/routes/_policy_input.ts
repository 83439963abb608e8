// A policy submitted with an execution, a workflow task or a schedule,
// checked before anything is written. Internal to the routes.
import type { ExecutionBackend } from "../../orchestrator/execution_backend.ts";
import { type PolicyLimits, StrictPolicy } from "../../orchestrator/policy.ts";

/**
 * Checks a submitted policy: its limits, and that its `requireApproval` names
 * tools the agents may call, where the backend knows them (a node that runs
 * executions; an API node in front of workers does not, and a worker refuses
 * the execution instead).
 *
 * @param policy The policy as submitted.
 * @param backend The backend that will run it.
 * @throws {TypeError | RangeError} Naming what is invalid.
 */
export function checkPolicy(
  policy: Partial<PolicyLimits>,
  backend: Pick<ExecutionBackend, "tools">,
): void {
  const checked = new StrictPolicy(policy);
  if (backend.tools) checked.checkTools(backend.tools().map((tool) => tool.name));
}
