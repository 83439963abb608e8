/**
 * The {@linkcode ExecutionBackend} of an API node: executions are enqueued
 * on the {@linkcode JobQueue} shared with worker nodes, which run them (see
 * `worker_node.ts`). Status, events and the live stream are read from the
 * shared event store, as on a monolithic node.
 *
 * ## What the API node writes
 * `submit` enqueues a job (execution id, agent, task, policy, the caller's
 * trace context) and then appends `EXECUTION_QUEUED` (agent, task, policy,
 * job id) to the execution's log, so that status polling answers `QUEUED`
 * until a worker records `EXECUTION_STARTED`. Everything else in the log is
 * the worker's.
 *
 * `cancel` appends `CANCEL_REQUESTED` (index key `cancel-requested`): a
 * worker running the execution notices it within its cancel-check interval
 * and cancels the execution (which records `EXECUTION_CANCELLED`); a job not
 * started yet is not started — its status is `CANCELLED` at once, and the
 * worker that reserves it records `EXECUTION_CANCELLED` and drops the job.
 *
 * `resolve` records an operator's decision on the call an execution waits
 * for (`NEEDS_DECISION`) as `oao resolve` and a monolithic node do
 * (`DECISION_RECORDED`, under a claim on the execution: of two decisions
 * sent at once one is recorded, the other refused), then enqueues a job that
 * continues the execution on a worker node. `resume` enqueues the same kind
 * of job for a `RUNNING` execution no runner holds. Such a job carries
 * `options.resume: true`: the worker resumes the execution from its log.
 *
 * ## Idempotency
 * A repeated submit with the same `idempotencyKey` returns the first
 * execution (`duplicate: true`) and writes nothing, for as long as the queue
 * remembers the key (a day by default). A resume asked again before a
 * worker wrote anything enqueues no second job.
 *
 * @example An API node on Redis
 * ```ts ignore
 * import { QueueBackend } from "./queue_backend.ts";
 * import { RedisEventStore } from "../redis/redis_event_store.ts";
 * import { RedisJobQueue } from "../redis/redis_job_queue.ts";
 *
 * const redisUrl = Deno.env.get("REDIS_URL");
 * const queue = new RedisJobQueue({ redisUrl });
 * const eventStore = new RedisEventStore({ redisUrl });
 * const backend = new QueueBackend({ queue, eventStore, agents: ["researcher"] });
 * const { executionId } = await backend.submit({ agent: "researcher", task: { topic: "actors" } });
 * console.log(executionId, await backend.stats());
 * await Promise.all([queue.close(), eventStore.close()]);
 * ```
 *
 * @module
 */
import type {
  ExecutionBackend,
  SubmitRequest,
  SubmitResult,
} from "../orchestrator/execution_backend.ts";
import { type Clock, systemClock } from "../clock.ts";
import { ExecutionNotFoundError, toErrorInfo, UnknownAgentError } from "../errors.ts";
import type { AppendOptions, EventStore, StoredEvent } from "../events/event_store.ts";
import { DEFAULT_LIMITS } from "../limits.ts";
import { getOaoLogger } from "../logging/logger.ts";
import { canonicalJson } from "../orchestrator/canonical_json.ts";
import { type Decision, isFinal } from "../orchestrator/execution_report.ts";
import { projectExecution } from "../orchestrator/execution_view.ts";
import { newExecutionId } from "../orchestrator/orchestrator.ts";
import { StrictPolicy } from "../orchestrator/policy.ts";
import type { EnqueueOptions, JobQueue, JobSpec, QueueStats } from "../queue/job_queue.ts";
import { formatTraceparent, parseTraceparent } from "../tracing/trace_context.ts";
import type { Tracer } from "../tracing/tracer.ts";
import { CANCEL_KEY, CANCEL_REQUESTED, EXECUTION_QUEUED } from "../orchestrator/_queue_markers.ts";
import { indexEntry } from "../orchestrator/_index_entries.ts";
import { requestWorkflowCancel } from "../orchestrator/_workflow_run.ts";
import { recordDecision } from "../orchestrator/_decisions.ts";
import { Ownership } from "../orchestrator/_ownership.ts";
import { assertClientIdempotencyKey } from "../queue/_reserved_keys.ts";
import { enqueueContinuation } from "./_continuation.ts";

/** Options of {@linkcode QueueBackend}. */
export interface QueueBackendOptions {
  /** The queue shared with the worker nodes. Not closed by the backend. */
  queue: JobQueue;
  /** The event store shared with the worker nodes. Not closed by the backend. */
  eventStore: EventStore;
  /** Names of the agents that may be requested (those the workers run). */
  agents: string[];
  /**
   * The tools the workers' agents may call, when this node knows them (the
   * same config file): policies naming other tools in `requireApproval` are
   * then refused at submit, not by a worker. @default {unknown}
   */
  tools?: { name: string; description?: string }[];
  /** Time of the events the backend writes. @default {systemClock} */
  clock?: Clock;
  /** Retention of the log started at submit, in seconds. @default {the event store's} */
  retentionSeconds?: number;
  /** Attempts of each job before it is dead-lettered. @default {the queue's} */
  maxAttempts?: number;
  /**
   * Largest `succeeded` result of a decision, in bytes of JSON (the workers'
   * `maxValueBytes`). @default {1048576}
   */
  maxValueBytes?: number;
  /**
   * Records an `oao.enqueue` producer span per submit (a child of the
   * caller's `traceparent`), whose context travels with the job; without it
   * the caller's context travels as is.
   * @default {none}
   */
  tracer?: Tracer;
}

/**
 * Runs executions on worker nodes: `submit` enqueues, `cancel` leaves a
 * request the worker acts on, `resolve` and `resume` enqueue the job that
 * continues an execution, `inFlight` and `stats` read the queue.
 *
 * @example
 * ```ts
 * import { QueueBackend } from "./queue_backend.ts";
 * import { InMemoryEventStore } from "../events/in_memory_event_store.ts";
 * import { InMemoryJobQueue } from "../queue/in_memory_job_queue.ts";
 *
 * const queue = new InMemoryJobQueue();
 * const backend = new QueueBackend({ queue, eventStore: new InMemoryEventStore(), agents: ["echo"] });
 * console.assert(backend.mode === "queue" && backend.agents()[0] === "echo");
 * await backend.submit({ agent: "echo", task: "hi" });
 * console.assert((await backend.stats()).waiting === 1 && (await backend.inFlight()) === 0);
 * await backend.close();
 * await queue.close();
 * ```
 */
export class QueueBackend implements ExecutionBackend {
  /** Always `"queue"`: worker nodes run the executions. */
  readonly mode = "queue" as const;
  readonly #queue: JobQueue;
  readonly #store: EventStore;
  readonly #agents: string[];
  readonly #clock: Clock;
  readonly #append: AppendOptions;
  readonly #retentionSeconds: number | undefined;
  readonly #enqueue: EnqueueOptions;
  readonly #maxValueBytes: number;
  readonly #tracer: Tracer | undefined;
  readonly #log = getOaoLogger("api");
  /** The short claims under which decisions are recorded and resumes checked. */
  readonly #ownership: Ownership;
  /** The tools the workers' agents may call; absent when this node does not know them. */
  readonly tools?: () => { name: string; description?: string }[];
  #closed = false;

  /**
   * Creates the backend of an API node.
   *
   * @param options Queue, event store, agent names, clock, retention, attempts, value limit, tracer.
   * @throws {TypeError} When `queue`, `eventStore` or `agents` is missing or malformed.
   * @throws {RangeError} When `retentionSeconds`, `maxAttempts` or `maxValueBytes` is not positive.
   *
   * @example
   * ```ts
   * import { QueueBackend } from "./queue_backend.ts";
   * import { InMemoryEventStore } from "../events/in_memory_event_store.ts";
   * import { InMemoryJobQueue } from "../queue/in_memory_job_queue.ts";
   *
   * const queue = new InMemoryJobQueue();
   * const backend = new QueueBackend({ queue, eventStore: new InMemoryEventStore(), agents: ["echo"] });
   * const { executionId } = await backend.submit({ agent: "echo", task: "hi" });
   * console.assert(executionId.startsWith("exec-") && (await backend.stats()).waiting === 1);
   * await queue.close();
   * ```
   */
  constructor(options: QueueBackendOptions) {
    if (typeof options?.queue?.enqueue !== "function") {
      throw new TypeError(`Invalid queue backend option "queue": expected a JobQueue`);
    }
    if (typeof options.eventStore?.appendEvent !== "function") {
      throw new TypeError(`Invalid queue backend option "eventStore": expected an EventStore`);
    }
    if (!Array.isArray(options.agents) || options.agents.some((a) => typeof a !== "string")) {
      throw new TypeError(`Invalid queue backend option "agents": expected a list of names`);
    }
    for (const field of ["retentionSeconds", "maxAttempts", "maxValueBytes"] as const) {
      const value = options[field];
      if (value !== undefined && !(Number.isSafeInteger(value) && value > 0)) {
        throw new RangeError(
          `Invalid queue backend option "${field}": "${value}" is not a positive integer`,
        );
      }
    }
    this.#queue = options.queue;
    this.#store = options.eventStore;
    this.#agents = [...options.agents];
    this.#clock = options.clock ?? systemClock;
    this.#retentionSeconds = options.retentionSeconds;
    this.#append = options.retentionSeconds === undefined
      ? {}
      : { expire: options.retentionSeconds };
    this.#enqueue = options.maxAttempts === undefined ? {} : { maxAttempts: options.maxAttempts };
    this.#maxValueBytes = options.maxValueBytes ?? DEFAULT_LIMITS.maxValueBytes;
    this.#tracer = options.tracer;
    this.#ownership = new Ownership(this.#store, { clock: this.#clock, log: this.#log });
    if (options.tools !== undefined) {
      if (!Array.isArray(options.tools) || options.tools.some((t) => typeof t?.name !== "string")) {
        throw new TypeError(`Invalid queue backend option "tools": expected a list of { name }`);
      }
      const tools = options.tools.map((t) => ({ ...t }));
      this.tools = () => tools.map((t) => ({ ...t }));
    }
  }

  /**
   * Names of the agents that may be requested.
   *
   * @returns A copy of the list given to the constructor.
   */
  agents(): string[] {
    return [...this.#agents];
  }

  /**
   * Enqueues an execution and records it as `QUEUED`; a repeated
   * idempotency key returns the first execution and writes nothing.
   *
   * @param request Agent, task, policy overrides, idempotency key, trace context.
   * @returns The execution id and whether it was a duplicate.
   * @throws {UnknownAgentError} When the agent is not one of `agents`.
   * @throws {TypeError} When the task is not JSON, the policy is not an
   *   object, or the idempotency key starts with a prefix the runtime's own
   *   jobs use (`oao-continue:`, `migrated:`).
   * @throws {RangeError} When a policy limit is invalid.
   * @throws {StoreUnavailableError} When the queue cannot be reached.
   *
   * @example
   * ```ts
   * import { QueueBackend } from "./queue_backend.ts";
   * import { InMemoryEventStore } from "../events/in_memory_event_store.ts";
   * import { InMemoryJobQueue } from "../queue/in_memory_job_queue.ts";
   *
   * const queue = new InMemoryJobQueue();
   * const backend = new QueueBackend({ queue, eventStore: new InMemoryEventStore(), agents: ["echo"] });
   * const first = await backend.submit({ agent: "echo", task: 1, idempotencyKey: "order-7" });
   * const again = await backend.submit({ agent: "echo", task: 1, idempotencyKey: "order-7" });
   * console.assert(again.duplicate && again.executionId === first.executionId);
   * await queue.close();
   * ```
   */
  async submit(request: SubmitRequest): Promise<SubmitResult> {
    this.#assertOpen("submit");
    if (typeof request !== "object" || request === null) {
      throw new TypeError("Cannot submit: the request must be an object");
    }
    if (!this.#agents.includes(request.agent)) {
      throw new UnknownAgentError(String(request.agent), this.#agents);
    }
    canonicalJson(request.task ?? null);
    if (request.policy !== undefined) {
      if (typeof request.policy !== "object" || request.policy === null) {
        throw new TypeError(
          `Invalid policy ${JSON.stringify(request.policy)}: expected an object of limits`,
        );
      }
      new StrictPolicy(request.policy);
    }
    assertClientIdempotencyKey(request.idempotencyKey);
    const executionId = newExecutionId();
    const spec: JobSpec = { executionId, agent: request.agent, task: request.task ?? null };
    if (request.policy && Object.keys(request.policy).length > 0) {
      spec.options = { policy: request.policy };
    }
    const span = this.#tracer?.startSpan("oao.enqueue", {
      parent: parseTraceparent(request.traceparent, request.tracestate),
      kind: "producer",
      attributes: { "oao.execution.id": executionId, "oao.agent": request.agent },
    });
    const traceparent = span ? formatTraceparent(span.context) : request.traceparent;
    if (traceparent) spec.traceparent = traceparent;
    if (request.tracestate) spec.tracestate = request.tracestate;
    const options: EnqueueOptions = { ...this.#enqueue };
    if (request.idempotencyKey !== undefined) options.idempotencyKey = request.idempotencyKey;
    try {
      const enqueued = await this.#queue.enqueue(spec, options);
      if (enqueued.duplicate) {
        span?.setAttribute("oao.duplicate", true);
        span?.setStatus("ok");
        return { executionId: enqueued.executionId, duplicate: true };
      }
      await this.#recordQueued(spec, enqueued.jobId);
      span?.setStatus("ok");
      return { executionId, duplicate: false };
    } catch (error) {
      span?.recordException(error);
      throw error;
    } finally {
      span?.end();
    }
  }

  /**
   * Requests cancellation: a running execution is cancelled by its worker
   * (within the worker's cancel-check interval), a queued one is not started.
   *
   * @param executionId The execution.
   * @param reason Recorded with the request and the cancellation.
   * @returns `false` when the execution is unknown or already finished.
   * @throws {StoreUnavailableError} When the event store cannot be reached.
   *
   * @example
   * ```ts
   * import { QueueBackend } from "./queue_backend.ts";
   * import { InMemoryEventStore } from "../events/in_memory_event_store.ts";
   * import { InMemoryJobQueue } from "../queue/in_memory_job_queue.ts";
   *
   * const queue = new InMemoryJobQueue();
   * const backend = new QueueBackend({ queue, eventStore: new InMemoryEventStore(), agents: ["echo"] });
   * const { executionId } = await backend.submit({ agent: "echo", task: 1 });
   * console.assert(await backend.cancel(executionId, "not needed"));
   * console.assert(!(await backend.cancel(executionId)));
   * await queue.close();
   * ```
   */
  async cancel(executionId: string, reason = "cancelled on request"): Promise<boolean> {
    this.#assertOpen("cancel");
    if (typeof executionId !== "string" || executionId === "") return false;
    let view;
    try {
      view = projectExecution(executionId, await this.#store.readRange(executionId));
    } catch (error) {
      if (error instanceof ExecutionNotFoundError) return false;
      throw error;
    }
    if (isFinal(view.status)) return false;
    const options: AppendOptions = { ...this.#append };
    if (view.status === "QUEUED") { // not started: the request cancels it (execution_view.ts)
      const execution = { agent: view.agent, createdAt: view.startedAt };
      options.index = indexEntry("EXECUTION_CANCELLED", execution)!;
    }
    await this.#store.appendEvent(executionId, {
      type: CANCEL_REQUESTED,
      data: { reason },
      key: CANCEL_KEY,
      time: this.#clock.now(),
    }, options);
    return true;
  }

  /**
   * Requests the cancellation of a workflow that another process runs on the
   * shared stores (`oao workflow run` with `REDIS_URL`): the request is
   * recorded in the workflow's log, and that process cancels the workflow
   * within a second. (Worker nodes run no workflows; `startWorkflow` and
   * `fork` are not offered.)
   *
   * @param workflowId The workflow.
   * @param reason Recorded with the cancellation.
   * @returns `false` when there is no such workflow or it already finished.
   * @throws {TypeError} When the id is invalid.
   */
  async cancelWorkflow(workflowId: string, reason = "cancelled on request"): Promise<boolean> {
    this.#assertOpen("cancelWorkflow");
    return await requestWorkflowCancel(this.#store, workflowId, {
      reason,
      time: this.#clock.now(),
      append: this.#append,
    });
  }

  /**
   * Records an operator's decision on the call an execution waits for
   * (status `NEEDS_DECISION`), as `oao resolve` does, and enqueues the job
   * that continues the execution on a worker node. The decision is recorded
   * under a claim on the execution: of two sent at once, one is recorded and
   * the other refused (`ExecutionBusyError`, or a `TypeError` once
   * the first is in the log).
   *
   * @param executionId The execution.
   * @param callId The call's id (`decision.callId` of its status), or its first 8+ characters.
   * @param decision `{ succeeded: <JSON result> }`, `{ failed: "<reason>" }` or `{ rerun: true }`.
   * @param by Who decided (recorded in `DECISION_RECORDED`).
   * @returns Once the decision is recorded and the job enqueued.
   * @throws {ExecutionNotFoundError} When there is no such execution.
   * @throws {TypeError} When it waits for no decision, for one on another call, or the decision is malformed.
   * @throws {ExecutionBusyError} When a runner (or another decision) holds the execution.
   * @throws {StoreUnavailableError} When the stores cannot be reached; a decision already
   *   recorded is then continued by {@linkcode QueueBackend.resume}.
   *
   * @example An execution that waits for no decision is refused
   * ```ts
   * import { QueueBackend } from "./queue_backend.ts";
   * import { InMemoryEventStore } from "../events/in_memory_event_store.ts";
   * import { InMemoryJobQueue } from "../queue/in_memory_job_queue.ts";
   *
   * const queue = new InMemoryJobQueue();
   * const backend = new QueueBackend({ queue, eventStore: new InMemoryEventStore(), agents: ["echo"] });
   * const { executionId } = await backend.submit({ agent: "echo", task: 1 });
   * const refused = await backend.resolve(executionId, "0123456789ab", { rerun: true }, "alice")
   *   .then(() => undefined, (error: Error) => error);
   * console.assert(refused instanceof TypeError && /waits for no decision/.test(refused.message));
   * await queue.close();
   * ```
   */
  async resolve(
    executionId: string,
    callId: string,
    decision: Decision,
    by: string,
  ): Promise<void> {
    this.#assertOpen("resolve");
    await recordDecision(this.#store, executionId, {
      callId,
      decision,
      by,
      ownership: this.#ownership,
      maxValueBytes: this.#maxValueBytes,
      retentionSeconds: this.#retentionSeconds,
      log: this.#log,
    });
    try {
      const events = await this.#store.readRange(executionId);
      await this.#continue(executionId, events, "a decision");
    } catch (error) {
      this.#log.error(
        "Decision on execution {executionId} recorded, but the job that continues it was not enqueued: {message}; POST /executions/{executionId}/resume enqueues it",
        { executionId, message: toErrorInfo(error).message },
      );
      throw error;
    }
  }

  /**
   * Continues a `RUNNING` execution that no runner holds (its process died
   * outside a job of this queue, or the job that continued it was never
   * enqueued) by enqueueing the job that resumes it on a worker node. An
   * execution that is `QUEUED` (its job waits), `NEEDS_DECISION` (see
   * {@linkcode QueueBackend.resolve}) or finished is left as it is, as a
   * monolithic node leaves it. A resume asked again before a worker wrote
   * anything enqueues no second job. Whether its agent, tools or policy
   * changed is found by the worker (the job then fails, naming the hash).
   *
   * @param executionId The execution.
   * @returns Once the job is enqueued (or nothing was to be continued).
   * @throws {ExecutionNotFoundError} When there is no such execution.
   * @throws {ExecutionBusyError} When a runner holds the execution.
   * @throws {StoreUnavailableError} When the stores cannot be reached.
   *
   * @example A queued execution has its job already
   * ```ts
   * import { QueueBackend } from "./queue_backend.ts";
   * import { InMemoryEventStore } from "../events/in_memory_event_store.ts";
   * import { InMemoryJobQueue } from "../queue/in_memory_job_queue.ts";
   *
   * const queue = new InMemoryJobQueue();
   * const backend = new QueueBackend({ queue, eventStore: new InMemoryEventStore(), agents: ["echo"] });
   * const { executionId } = await backend.submit({ agent: "echo", task: 1 });
   * await backend.resume(executionId);
   * console.assert((await backend.stats()).waiting === 1);
   * await queue.close();
   * ```
   */
  async resume(executionId: string): Promise<void> {
    this.#assertOpen("resume");
    // Held while the log is read: refused when a runner holds the execution.
    const claim = await this.#ownership.acquire(executionId);
    let events;
    try {
      events = await this.#store.readRange(executionId);
    } finally {
      await claim.release();
    }
    await this.#continue(executionId, events, "a resume request");
  }

  /**
   * Jobs under a lease now (running on a worker, or held by one that died
   * and not reclaimed yet).
   *
   * @returns The queue's in-flight count.
   * @throws {StoreUnavailableError} When the queue cannot be reached.
   */
  async inFlight(): Promise<number> {
    return (await this.stats()).inFlight;
  }

  /**
   * The queue's counts, for `/metrics`.
   *
   * @returns Waiting, delayed, in-flight and dead jobs.
   * @throws {StoreUnavailableError} When the queue cannot be reached.
   */
  async stats(): Promise<QueueStats> {
    this.#assertOpen("stats");
    return await this.#queue.stats();
  }

  /**
   * Stops accepting calls. The queue and the event store were passed in and
   * stay open: closing them is the caller's job. Idempotent.
   *
   * @returns A settled promise.
   */
  close(): Promise<void> {
    this.#closed = true;
    this.#ownership.close();
    return Promise.resolve();
  }

  async #recordQueued(spec: JobSpec, jobId: string): Promise<void> {
    const data: Record<string, unknown> = { agent: spec.agent, task: spec.task, jobId };
    const policy = spec.options?.policy;
    if (policy) data.policy = policy;
    if (spec.traceparent) data.traceparent = spec.traceparent;
    try {
      const time = this.#clock.now();
      await this.#store.appendEvent(spec.executionId, {
        type: EXECUTION_QUEUED,
        data,
        time,
      }, {
        ...this.#append,
        // Initial: it may land after a worker started the execution.
        index: {
          ...indexEntry(EXECUTION_QUEUED, { agent: spec.agent, createdAt: time })!,
          initial: true,
        },
      });
    } catch (error) {
      // The job is enqueued and will run; only the QUEUED status is missing until it starts.
      this.#log.warn("Cannot record execution {executionId} as queued: {message}", {
        executionId: spec.executionId,
        message: error instanceof Error ? error.message : String(error),
      });
    }
  }

  // Enqueues the job that continues a RUNNING execution; others are left as they are.
  async #continue(executionId: string, events: StoredEvent[], why: string): Promise<void> {
    const view = projectExecution(executionId, events);
    if (view.status !== "RUNNING") return;
    const { jobId, duplicate } = await enqueueContinuation(this.#queue, { view, events }, {
      ...this.#enqueue,
    });
    this.#log.info(
      "Execution {executionId} continues on a worker node after {why} (job {jobId}{again})",
      {
        executionId,
        why,
        jobId,
        again: duplicate ? ", enqueued before" : "",
      },
    );
  }

  #assertOpen(operation: string): void {
    if (this.#closed) throw new TypeError(`Cannot ${operation}: the queue backend is closed`);
  }
}
