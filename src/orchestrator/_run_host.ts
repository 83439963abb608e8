// What an execution run needs from its orchestrator, how it starts, and the
// agent it runs, resolved: shared by the run (_execution.ts) and its parts
// (its gates, step loop, activations, recorder and workers). Internal.
import type { WakeBus } from "./_wake_bus.ts";
import type { Logger } from "@logtape/logtape";
import type { PermissionsSpec } from "../actor/permissions.ts";
import type { Clock } from "../clock.ts";
import type { EventStore } from "../events/event_store.ts";
import type { Limits } from "../limits.ts";
import type { EventBus } from "../observability/event_bus.ts";
import type { PersistenceAdapter } from "../persistence/persistence_adapter.ts";
import type { TraceContext } from "../tracing/trace_context.ts";
import type { Tracer } from "../tracing/tracer.ts";
import type { AgentRuntime } from "./agent_runtime.ts";
import type { ExecutionView } from "./execution_view.ts";
import type { ModelHost } from "./_model_host.ts";
import type { StrictPolicy } from "./policy.ts";
import type { RetryPolicy } from "./retry_policy.ts";
import type { ToolDefinition } from "./tool.ts";

/** A registered agent, resolved. */
export interface ResolvedAgent {
  name: string;
  module: string;
  version: string;
  permissions: PermissionsSpec;
  isolation: "pool" | "execution";
  tools: string[] | undefined;
  peers: ResolvedAgent[];
}

/** What a run needs from its orchestrator. */
export interface RunHost {
  readonly system: AgentRuntime;
  readonly eventStore: EventStore;
  readonly persistence: PersistenceAdapter;
  readonly clock: Clock;
  readonly tracer: Tracer;
  readonly bus: EventBus;
  readonly retry: RetryPolicy;
  readonly retentionSeconds: number | undefined;
  readonly log: Logger;
  /** Size limits on what agents send and on recorded events. */
  readonly limits: Limits;
  /** A step that waits this long on the host gives its worker back (Infinity: never). */
  readonly passivateAfterMs: number;
  /** The orchestrator's model providers, prices and rate limits. */
  readonly models: ModelHost;
  /** Wakes the durable waits (signals, approvals) of this process's executions. */
  readonly wakes: WakeBus;
  tool(name: string): ToolDefinition<unknown, unknown> | undefined;
  toolNames(): string[];
}

/** How a run starts. */
export interface RunInit {
  executionId: string;
  agent: ResolvedAgent;
  task: unknown;
  /** Outputs of the workflow tasks it depends on (workflow tasks only). */
  dependencies?: Record<string, unknown>;
  policy: StrictPolicy;
  hash: string;
  view?: ExecutionView;
  fencingToken?: number;
  parentTrace?: TraceContext;
  forkedFrom?: { executionId: string; step: number };
  signal?: AbortSignal;
}
