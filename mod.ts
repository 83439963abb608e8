/**
 * OAO, the Open Agent Orchestrator: an actor-model runtime for AI agents on
 * Deno. Every agent is an isolated actor in its own Web Worker; failures are
 * supervised with OTP semantics and restarted from durable snapshots; Redis
 * (or the in-memory default) holds snapshots, the event-sourced audit log and
 * the job queue; everything is traced.
 *
 * This entry point holds the orchestrator, agents, tools, policies,
 * workflows, the actor system, the ports (`PersistenceAdapter`, `EventStore`,
 * `JobQueue`, `Clock`) with their in-memory adapters, the errors callers
 * catch and the event types. Agents call models with `ctx.generateText`
 * (made by the host, governed and journaled) and `llmAgent` makes an LLM
 * agent of a model and tools. The adapters and helpers that load more have
 * entry points of their own: `@oao/runtime/model` (the model layer on the
 * Vercel AI SDK: providers, prices, rate limits, a local model server),
 * `@oao/runtime/redis` (the Redis adapters),
 * `@oao/runtime/tracing` (tracing, OTLP export), `@oao/runtime/logging`
 * (structured, redacted logs) and `@oao/runtime/testing` (a manual clock
 * and an in-memory orchestrator for tests).
 *
 * @example Run an agent with a tool, on the in-memory stores
 * ```ts
 * import { defineTool, Orchestrator } from "@oao/runtime";
 * import assert from "node:assert/strict";
 *
 * const orchestrator = new Orchestrator({
 *   tools: [defineTool({ name: "process_item", run: (args: { item: number }) => args.item * 2 })],
 * });
 * // An agent module: `export default defineAgent({ plan, execute, review })`.
 * // This one calls "process_item" in its EXECUTE step and returns the result.
 * orchestrator.registerAgent({
 *   name: "bench",
 *   module: new URL("./actors/bench_agent.ts", import.meta.url),
 * });
 * const report = await orchestrator.run("bench", { item: 21 });
 * assert.equal(report.status, "SUCCESS");
 * assert.equal(report.output, 42);
 * await orchestrator.close();
 * ```
 *
 * @module
 */

// Errors callers catch
export {
  AccessDeniedError,
  ActorExistsError,
  ActorFailedError,
  ActorNotFoundError,
  ActorSpawnError,
  ActorStoppedError,
  AskTimeoutError,
  CorruptDataError,
  type ErrorInfo,
  ExecutionBusyError,
  ExecutionCancelledError,
  ExecutionFinishedError,
  ExecutionHashMismatchError,
  ExecutionNotFoundError,
  FencedError,
  LeaseLostError,
  MailboxFullError,
  MessageNotCloneableError,
  ModuleRefusedError,
  OaoError,
  PolicyViolationError,
  StaleVersionError,
  StoreUnavailableError,
  SupervisorEscalationError,
  ToolOutcomeUnknownError,
  TooManySignalsError,
  UnknownAgentError,
  ValueTooLargeError,
} from "./src/errors.ts";

// Time
export { type Clock, systemClock, type TimerId } from "./src/clock.ts";
export type { BackoffOptions } from "./src/backoff.ts";

// Orchestrator: agents, tools, policies, executions, workflows
export {
  type AgentIsolation,
  type AgentRegistration,
  Orchestrator,
  type OrchestratorOptions,
  type ReplayResult,
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
  type GenerateTextRequest,
  type GenerateTextResult,
  type PeerContext,
  type ReviewResult,
  type StepHook,
} from "./src/orchestrator/agent.ts";
export type { TextDelta } from "./src/orchestrator/_text_deltas.ts";
export {
  llmAgent,
  type LlmAgentOptions,
  type LlmAgentState,
  type LlmMessage,
  type LlmTask,
  type LlmTool,
} from "./src/orchestrator/llm_agent.ts";
export { DEFAULT_MODEL_TIMEOUT_MS, type ModelOptions } from "./src/orchestrator/model_options.ts";
export {
  ModelCallError,
  type ModelCallErrorInit,
  type ModelFailureReason,
} from "./src/model/model_errors.ts";
export { defineTool, type ToolContext, type ToolDefinition } from "./src/orchestrator/tool.ts";
export {
  ApprovalAlreadyDecidedError,
  type ApprovalDecision,
  ApprovalDeniedError,
  ApprovalNotFoundError,
  ApprovalTimeoutError,
  type PendingApproval,
  type RecordedApproval,
} from "./src/orchestrator/approvals.ts";
export {
  DEFAULT_POLICY,
  type PolicyLimits,
  StrictPolicy,
  type Violation,
} from "./src/orchestrator/policy.ts";
export { DEFAULT_RETRY_POLICY, type RetryPolicy } from "./src/orchestrator/retry_policy.ts";
export { LIFECYCLE_STATES, type LifecycleState } from "./src/orchestrator/lifecycle.ts";
export {
  type Decision,
  EXECUTION_STATUSES,
  type ExecutionReport,
  type ExecutionStatus,
  isFinal,
  type PendingDecision,
  type StateEntry,
} from "./src/orchestrator/execution_report.ts";
export type {
  CompletedStep,
  ExecutionView,
  ModelCallRecord,
  ToolCallRecord,
} from "./src/orchestrator/execution_view.ts";
export type {
  ExecutionList,
  ExecutionListFilter,
  ExecutionSummary,
  WaitKind,
} from "./src/orchestrator/execution_list.ts";
export type {
  FailurePolicy,
  StartedWorkflow,
  TaskState,
  TaskStatus,
  WorkflowOutcome,
  WorkflowReport,
  WorkflowSpec,
  WorkflowTask,
} from "./src/orchestrator/workflow.ts";

// Actors
export { type ActorBehavior, defineBehavior } from "./src/actor/behavior.ts";
export type { ActorContext, ActorLogger, AskOptions } from "./src/actor/actor_context.ts";
export { HOST_SENDER, type MessageMeta } from "./src/actor/envelope.ts";
export type { MailboxOptions, OverflowPolicy } from "./src/actor/mailbox.ts";
export type {
  ActorPermissions,
  PermissionsSpec,
  PermissionValue,
} from "./src/actor/permissions.ts";
export type {
  Isolation,
  RestartType,
  SnapshotPolicy,
  SpawnOptions,
} from "./src/actor/spawn_options.ts";
export { ActorRef, type HostSendOptions } from "./src/actor/actor_ref.ts";
export {
  ActorSystem,
  type ActorSystemOptions,
  type DeadLetter,
  type ServiceHandler,
} from "./src/actor/actor_system.ts";
export type { WorkerPoolOptions } from "./src/actor/_worker_pool.ts";

// Supervision
export type {
  ActorChildSpec,
  ChildSpec,
  Supervisor,
  SupervisorChildSpec,
  SupervisorSpec,
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

// Persistence, event store, job queue: ports and in-memory adapters
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
export type {
  ExecutionIndexEntry,
  ExecutionPage,
  ExecutionQuery,
  IndexedExecution,
} from "./src/events/execution_index.ts";
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

// Cron schedules: the scheduler, the store port and its in-memory adapter
export {
  CATCH_UP_POLICIES,
  type CatchUpPolicy,
  DEFAULT_CATCH_UP_LIMIT,
  type FiringTick,
  MAX_CATCH_UP_LIMIT,
  MAX_SCHEDULE_TASK_BYTES,
  newSchedule,
  OVERLAP_POLICIES,
  type OverlapPolicy,
  type Schedule,
  SCHEDULE_ID,
  type ScheduleSpec,
  tickIdempotencyKey,
} from "./src/schedule/schedule.ts";
export {
  ScheduleExistsError,
  ScheduleNotFoundError,
  type ScheduleStore,
} from "./src/schedule/schedule_store.ts";
export { InMemoryScheduleStore } from "./src/schedule/in_memory_schedule_store.ts";
export { ScheduleLimitError, Scheduler, type SchedulerOptions } from "./src/schedule/scheduler.ts";
