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
 * ## Idempotency
 * A repeated submit with the same `idempotencyKey` returns the first
 * execution (`duplicate: true`) and writes nothing, for as long as the queue
 * remembers the key (a day by default).
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
import { ExecutionNotFoundError, UnknownAgentError } from "../errors.ts";
import type { AppendOptions, EventStore } from "../events/event_store.ts";
import { getOaoLogger } from "../logging/logger.ts";
import { canonicalJson } from "../orchestrator/canonical_json.ts";
import { isFinal } from "../orchestrator/execution_report.ts";
import { projectExecution } from "../orchestrator/execution_view.ts";
import { newExecutionId } from "../orchestrator/orchestrator.ts";
import { StrictPolicy } from "../orchestrator/policy.ts";
import type { EnqueueOptions, JobQueue, JobSpec, QueueStats } from "../queue/job_queue.ts";
import { formatTraceparent, parseTraceparent } from "../tracing/trace_context.ts";
import type { Tracer } from "../tracing/tracer.ts";
import { CANCEL_KEY, CANCEL_REQUESTED, EXECUTION_QUEUED } from "../orchestrator/_queue_markers.ts";
import { indexEntry } from "../orchestrator/_index_entries.ts";
import { requestWorkflowCancel } from "../orchestrator/_workflow_run.ts";

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
   * Records an `oao.enqueue` producer span per submit (a child of the
   * caller's `traceparent`), whose context travels with the job; without it
   * the caller's context travels as is.
   * @default {none}
   */
  tracer?: Tracer;
}

/**
 * Runs executions on worker nodes: `submit` enqueues, `cancel` leaves a
 * request the worker acts on, `inFlight` and `stats` read the queue.
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
  readonly #enqueue: EnqueueOptions;
  readonly #tracer: Tracer | undefined;
  readonly #log = getOaoLogger("api");
  /** The tools the workers' agents may call; absent when this node does not know them. */
  readonly tools?: () => { name: string; description?: string }[];
  #closed = false;

  /**
   * Creates the backend of an API node.
   *
   * @param options Queue, event store, agent names, clock, retention, attempts, tracer.
   * @throws {TypeError} When `queue`, `eventStore` or `agents` is missing or malformed.
   * @throws {RangeError} When `retentionSeconds` or `maxAttempts` is not positive.
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
    for (const field of ["retentionSeconds", "maxAttempts"] as const) {
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
    this.#append = options.retentionSeconds === undefined
      ? {}
      : { expire: options.retentionSeconds };
    this.#enqueue = options.maxAttempts === undefined ? {} : { maxAttempts: options.maxAttempts };
    this.#tracer = options.tracer;
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
   * @throws {TypeError} When the task is not JSON or the policy is not an object.
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

  #assertOpen(operation: string): void {
    if (this.#closed) throw new TypeError(`Cannot ${operation}: the queue backend is closed`);
  }
}
