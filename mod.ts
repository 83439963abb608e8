/**
 * OAO, the Open Agent Orchestrator: an actor-model runtime for AI agents on
 * Deno. Every agent is an isolated actor in its own Web Worker; failures are
 * supervised with OTP semantics and restarted from durable snapshots; Redis
 * (or the in-memory default) holds snapshots, the event-sourced audit log and
 * the job queue; everything is traced.
 *
 * @example Spawn an actor, talk to it, survive a crash
 * ```ts ignore
 * import { ActorSystem } from "jsr:@oao/runtime";
 *
 * const system = new ActorSystem();
 * const counter = await system.spawn(new URL("./actors/counter.ts", import.meta.url), { name: "counter" });
 * counter.tell({ type: "add", n: 2 });
 * counter.kill("let it crash"); // restarted from its last snapshot
 * console.log(await counter.ask({ type: "get" })); // 2
 * await system.shutdown();
 * ```
 *
 * @module
 */

// Errors and time
export * from "./src/errors.ts";
export { type Clock, sleepOn, systemClock, type TimerId } from "./src/clock.ts";
export { backoffBounds, backoffDelay, type BackoffOptions, resolveBackoff } from "./src/backoff.ts";

// Actors
export { type ActorBehavior, behaviorFromModule, defineBehavior } from "./src/actor/behavior.ts";
export type { ActorContext, ActorLogger, AskOptions } from "./src/actor/actor_context.ts";
export { type Envelope, HOST_SENDER, type MessageMeta } from "./src/actor/envelope.ts";
export { Mailbox, type MailboxOptions, type OverflowPolicy } from "./src/actor/mailbox.ts";
export type {
  ActorPermissions,
  PermissionsSpec,
  PermissionValue,
} from "./src/actor/permissions.ts";
export type { RestartType, SnapshotPolicy, SpawnOptions } from "./src/actor/spawn_options.ts";
export { ActorRef, type HostSendOptions } from "./src/actor/actor_ref.ts";
export {
  ActorSystem,
  type ActorSystemOptions,
  type DeadLetter,
  resolveModule,
  type ServiceHandler,
} from "./src/actor/actor_system.ts";

// Supervision
export {
  type ActorChildSpec,
  type ChildSpec,
  Supervisor,
  type SupervisorChildSpec,
  type SupervisorSpec,
} from "./src/actor/supervisor.ts";
export type { Strategy, SupervisorOptions } from "./src/actor/supervisor_options.ts";

// Observability
export {
  EventBus,
  type EventListener,
  type Journal,
  type PublishOptions,
} from "./src/observability/event_bus.ts";
export type {
  FailureReason,
  OaoEvent,
  RuntimeEvent,
  RuntimeEventData,
  RuntimeEventType,
} from "./src/observability/events.ts";
export { type Span, type StartSpanOptions, Tracer } from "./src/tracing/tracer.ts";
export {
  formatTraceparent,
  newTraceContext,
  parseTraceparent,
  type TraceContext,
} from "./src/tracing/trace_context.ts";
export type { SpanData, SpanSink } from "./src/tracing/span_data.ts";

// Orchestrator: agents, tools, policies, executions, workflows
export {
  type AgentRegistration,
  newExecutionId,
  Orchestrator,
  type OrchestratorOptions,
  type ReplayResult,
  reportFromView,
  type RunOptions,
  type SandboxMode,
  type StartedExecution,
} from "./src/orchestrator/orchestrator.ts";
export type { ProcessSandboxOptions } from "./src/sandbox/process_agent_system.ts";
export { DEFAULT_LIMITS, type Limits } from "./src/limits.ts";
export {
  type AgentContext,
  type AgentDefinition,
  type AgentModule,
  defineAgent,
  type PeerContext,
  type ReviewResult,
} from "./src/orchestrator/agent.ts";
export {
  callHash,
  callKey,
  defineTool,
  type ToolContext,
  type ToolDefinition,
} from "./src/orchestrator/tool.ts";
export {
  DEFAULT_POLICY,
  type PolicyLimits,
  StrictPolicy,
  toPolicy,
  type Violation,
} from "./src/orchestrator/policy.ts";
export { DEFAULT_RETRY_POLICY, type RetryPolicy } from "./src/orchestrator/retry_policy.ts";
export {
  canTransition,
  LIFECYCLE_STATES,
  type LifecycleState,
  nextState,
} from "./src/orchestrator/lifecycle.ts";
export {
  EXECUTION_STATUSES,
  type ExecutionReport,
  type ExecutionStatus,
  isFinal,
  type StateEntry,
} from "./src/orchestrator/execution_report.ts";
export {
  type ExecutionView,
  projectExecution,
  type ToolCallRecord,
} from "./src/orchestrator/execution_view.ts";
export {
  type FailurePolicy,
  type TaskState,
  type TaskStatus,
  validateWorkflow,
  type WorkflowReport,
  type WorkflowSpec,
  type WorkflowTask,
} from "./src/orchestrator/workflow.ts";
export { canonicalJson, sha256Hex } from "./src/orchestrator/canonical_json.ts";

// Persistence, event store, job queue: ports and adapters
export type {
  PersistenceAdapter,
  SaveOptions,
  Snapshot,
} from "./src/persistence/persistence_adapter.ts";
export { InMemoryPersistenceAdapter } from "./src/persistence/in_memory_persistence_adapter.ts";
export {
  type AppendOptions,
  DEFAULT_RETENTION_SECONDS,
  type EventInput,
  type EventStore,
  type RangeOptions,
  type StoredEvent,
  type SubscribeOptions,
  type Totals,
} from "./src/events/event_store.ts";
export { InMemoryEventStore } from "./src/events/in_memory_event_store.ts";
export type {
  DeadJob,
  EnqueueOptions,
  EnqueueResult,
  JobQueue,
  JobSpec,
  Lease,
  QueueStats,
  ReserveOptions,
} from "./src/queue/job_queue.ts";
export { InMemoryJobQueue } from "./src/queue/in_memory_job_queue.ts";
export { RedisPersistenceAdapter } from "./src/redis/redis_persistence_adapter.ts";
export { RedisEventStore } from "./src/redis/redis_event_store.ts";
export { RedisJobQueue } from "./src/redis/redis_job_queue.ts";
export type { RedisStoreOptions } from "./src/redis/redis_store_options.ts";
