// The services an orchestrator offers its agents' workers: tool calls, model
// calls and waits. A worker is untrusted, so each request is checked field by
// field (and bounded) before anything, totals included, is touched, and is
// refused unless it comes from an agent of the execution it names; then the
// execution's run takes it. Internal.
import type { Clock } from "../clock.ts";
import { ExecutionNotFoundError } from "../errors.ts";
import type { Limits } from "../limits.ts";
import { MODEL_SERVICE, TOOL_SERVICE, type ToolCallRequest, WAIT_SERVICE } from "./agent.ts";
import type { AgentRuntime } from "./agent_runtime.ts";
import type { ExecutionRun } from "./_execution.ts";
import { validateToolCallRequest } from "./_boundary.ts";
import { validateModelServiceRequest } from "./_model_boundary.ts";
import { validateWaitRequest } from "./_wait_boundary.ts";

/** What the services need from their orchestrator. */
export interface AgentServicesHost {
  /** The size limits of what agents send. */
  readonly limits: Limits;
  /** The time a wait's deadline is checked against. */
  readonly clock: Clock;
  /** The run of an execution running in this process. */
  run(executionId: string): ExecutionRun | undefined;
}

/** Registers the tool, model and wait services on the runtime the agents run in. */
export function serveAgents(runtime: AgentRuntime, host: AgentServicesHost): void {
  runtime.registerService(TOOL_SERVICE, async (payload, caller) => {
    const request: ToolCallRequest = validateToolCallRequest(payload, host.limits);
    return await runOf(host, request.executionId, { caller, what: "Tool call" }).toolCall(request);
  });
  runtime.registerService(MODEL_SERVICE, async (payload, caller) => {
    const call = validateModelServiceRequest(payload, host.limits);
    return await runOf(host, call.executionId, { caller, what: "Model call" }).modelCall(call);
  });
  runtime.registerService(WAIT_SERVICE, async (payload, caller) => {
    const request = validateWaitRequest(payload, host.clock.now());
    return await runOf(host, request.executionId, { caller, what: "Wait" }).wait(request);
  });
}

// The run a request names, once its caller is seen to be an agent of it.
function runOf(
  host: AgentServicesHost,
  executionId: string,
  request: { caller: { path: string; executionId: string | undefined }; what: string },
): ExecutionRun {
  const { caller, what } = request;
  if (executionId !== caller.executionId) {
    throw new TypeError(
      `${what} refused: "${caller.path}" is not an agent of execution "${executionId}"`,
    );
  }
  const run = host.run(executionId);
  if (!run) throw new ExecutionNotFoundError(executionId);
  return run;
}
