/**
 * A worker node: pulls execution jobs from the shared {@linkcode JobQueue}
 * and runs them with its {@linkcode Orchestrator}, whose stores are the ones
 * the API nodes and other workers share (Redis).
 *
 * ## Per job
 * - A first delivery starts the execution with the job's id, task, policy
 *   and trace context (the worker's spans continue the submitter's trace),
 *   writing under the lease's fencing token.
 * - A later delivery — a reclaim from a worker whose lease expired (killed,
 *   frozen, partitioned), or a retry after a failed attempt — first fences
 *   the execution's event log with the new token (older writers are
 *   rejected from then on), records `RETRY_ATTEMPTED` (reason, attempt,
 *   previous consumer), then resumes the execution from its log: completed
 *   steps and tool calls are not repeated.
 * - The lease is renewed every `heartbeatMs`. When the queue reports it
 *   lost, the log is fenced with the next token and the run is aborted
 *   without recording anything; a run that finds itself fenced stops the
 *   same way. Only the owner of the current lease reports an execution.
 * - A cancellation requested through the API (`CANCEL_REQUESTED`) is
 *   checked every `cancelCheckMs` and cancels the execution.
 * - The job is completed once the execution's final event is in the log
 *   (SUCCESS, FAILED or CANCELLED: the execution's own outcome). Errors of
 *   the node itself (an agent it cannot run, a store that stays unreachable,
 *   a changed agent version) fail the attempt: the job is retried with
 *   backoff, then dead-lettered.
 * - A dead-lettered job — its last attempt failed here, or its lease expired
 *   after its last attempt (its workers were killed) and this node's
 *   `reserve` buried it — leaves its execution `FAILED` with a retryable
 *   error naming the job and the queue's reason (unless the execution is
 *   final already), so that status polling shows it will not progress.
 *   Re-enqueued (`oao queue requeue <jobId>`), the job continues the
 *   execution past that failure, from its log.
 *
 * ## Stopping
 * {@linkcode WorkerNode.stop} stops taking jobs, lets running executions
 * finish for `graceMs`, then hands the others back to the queue (fenced,
 * aborted without recording, released without counting an attempt); the
 * next worker resumes them. Close the orchestrator and stores afterwards.
 *
 * @example A worker node on Redis
 * ```ts ignore
 * import { WorkerNode } from "./worker_node.ts";
 * import { Orchestrator } from "../orchestrator/orchestrator.ts";
 * import { RedisEventStore } from "../redis/redis_event_store.ts";
 * import { RedisJobQueue } from "../redis/redis_job_queue.ts";
 * import { RedisPersistenceAdapter } from "../redis/redis_persistence_adapter.ts";
 *
 * const redisUrl = Deno.env.get("REDIS_URL");
 * const orchestrator = new Orchestrator({
 *   eventStore: new RedisEventStore({ redisUrl }),
 *   persistence: new RedisPersistenceAdapter({ redisUrl }),
 *   agents: [{ name: "researcher", module: "actors/research_agent.ts" }],
 * });
 * const node = new WorkerNode({ queue: new RedisJobQueue({ redisUrl }), orchestrator, concurrency: 8 });
 * node.start();
 * Deno.addSignalListener("SIGTERM", async () => {
 *   await node.stop({ graceMs: 10_000 });
 *   await orchestrator.close();
 * });
 * ```
 *
 * @module
 */
import { type Clock, systemClock, type TimerId } from "../clock.ts";
import { getOaoLogger } from "../logging/logger.ts";
import type { ExecutionReport } from "../orchestrator/execution_report.ts";
import type { Orchestrator } from "../orchestrator/orchestrator.ts";
import type { JobQueue } from "../queue/job_queue.ts";
import { type ActiveJob, type JobEvent, JobLoop, type StopResult } from "./job_loop.ts";
import { ExecutionJobHandler } from "./_execution_job.ts";

/** Options of {@linkcode WorkerNode}. */
export interface WorkerNodeOptions {
  /** The queue shared with the API nodes. Not closed by the node. */
  queue: JobQueue;
  /** Runs the executions; its stores are the shared ones. Not closed by the node. */
  orchestrator: Orchestrator;
  /** Consumer name in the queue, in logs and in `RETRY_ATTEMPTED`. @default {"<hostname>-<pid>-<random>"} */
  nodeId?: string;
  /** Executions run in parallel. @default {4} */
  concurrency?: number;
  /**
   * Agents this node runs (registered in the orchestrator); a job for any
   * other agent fails its attempt on this node.
   * @default {every registered agent}
   */
  agents?: string[];
  /** Lease of each job, renewed by heartbeats, in ms. @default {30000} */
  leaseMs?: number;
  /** Heartbeat interval, below `leaseMs`, in ms. @default {a third of leaseMs} */
  heartbeatMs?: number;
  /** How often running executions look for a cancellation request, in ms. @default {1000} */
  cancelCheckMs?: number;
  /** Longest wait of one `reserve` call, in ms. @default {5000} */
  reserveBlockMs?: number;
  /** Retention of the events the node writes itself, in seconds. @default {the event store's} */
  retentionSeconds?: number;
  /** Timers. @default {systemClock} */
  clock?: Clock;
  /** Told about every job: reserved, then completed (with the report), failed, lost or released. */
  onEvent?: (event: WorkerNodeEvent) => void;
}

/** A job event of a worker node; `detail` of `completed` is the execution's report. */
export interface WorkerNodeEvent extends JobEvent {
  /** The report (`completed`; a job cancelled before it started has only id and status). */
  detail?: ExecutionReport | { executionId: string; status: "CANCELLED" } | "retry" | "dead";
}

/**
 * Pulls jobs from the queue and runs them as executions, `concurrency` at a
 * time, under leases renewed by heartbeats.
 */
export class WorkerNode {
  /** The node's consumer name. */
  readonly nodeId: string;
  /** Agents the node runs. */
  readonly agents: readonly string[];
  /** Jobs run in parallel. */
  readonly concurrency: number;
  readonly #loop: JobLoop;
  readonly #handler: ExecutionJobHandler;
  readonly #clock: Clock;
  readonly #cancelCheckMs: number;
  readonly #cancelled = new WeakSet<ActiveJob>();
  readonly #log = getOaoLogger("worker");
  #cancelTimer: TimerId | undefined;
  #started = false;

  /**
   * Creates a worker node; {@linkcode WorkerNode.start} starts it.
   *
   * @param options Queue, orchestrator, node id, concurrency, agents, lease and heartbeat settings.
   * @throws {TypeError} When `queue` or `orchestrator` is missing, or `agents` names an unregistered agent.
   * @throws {RangeError} When a number is out of range or `heartbeatMs >= leaseMs`.
   *
   * @example
   * ```ts
   * import { WorkerNode } from "./worker_node.ts";
   * import { Orchestrator } from "../orchestrator/orchestrator.ts";
   * import { InMemoryJobQueue } from "../queue/in_memory_job_queue.ts";
   *
   * const orchestrator = new Orchestrator();
   * const node = new WorkerNode({ queue: new InMemoryJobQueue(), orchestrator, nodeId: "w1", leaseMs: 3_000 });
   * console.assert(node.nodeId === "w1" && node.concurrency === 4);
   * await orchestrator.close();
   * ```
   */
  constructor(options: WorkerNodeOptions) {
    const orchestrator = options?.orchestrator;
    if (typeof orchestrator?.start !== "function") {
      throw new TypeError(`Invalid worker node option "orchestrator": expected an Orchestrator`);
    }
    const registered = orchestrator.agents.map((a) => a.name);
    const agents = options.agents ?? registered;
    if (!Array.isArray(agents)) {
      throw new TypeError(`Invalid worker node option "agents": expected a list of names`);
    }
    for (const agent of agents) {
      if (!registered.includes(agent)) {
        throw new TypeError(
          `Invalid worker node option "agents": "${agent}" is not registered (registered: ${
            registered.map((a) => `"${a}"`).join(", ") || "none"
          })`,
        );
      }
    }
    const cancelCheckMs = options.cancelCheckMs ?? 1_000;
    if (!Number.isSafeInteger(cancelCheckMs) || cancelCheckMs < 1) {
      throw new RangeError(
        `Invalid worker node option "cancelCheckMs": "${cancelCheckMs}" is not a positive integer`,
      );
    }
    this.nodeId = options.nodeId ?? defaultNodeId();
    if (typeof this.nodeId !== "string" || this.nodeId === "") {
      throw new TypeError(`Invalid worker node option "nodeId": expected a non-empty string`);
    }
    this.agents = [...new Set(agents)];
    this.#clock = options.clock ?? systemClock;
    this.#cancelCheckMs = cancelCheckMs;
    this.#handler = new ExecutionJobHandler({
      orchestrator,
      nodeId: this.nodeId,
      agents: new Set(this.agents),
      retentionSeconds: options.retentionSeconds,
      log: this.#log,
    });
    const onEvent = options.onEvent;
    const loopOptions = {
      queue: options.queue,
      consumer: this.nodeId,
      handler: this.#handler,
      concurrency: options.concurrency ?? 4,
      leaseMs: options.leaseMs ?? 30_000,
      clock: this.#clock,
      onEvent: (event: JobEvent) => {
        this.#logEvent(event);
        onEvent?.(event as WorkerNodeEvent);
      },
      onError: (operation: string, error: unknown) => {
        this.#log.warn("Worker node {nodeId}: {operation} failed, retrying: {message}", {
          nodeId: this.nodeId,
          operation,
          message: error instanceof Error ? error.message : String(error),
        });
      },
    };
    this.#loop = new JobLoop({
      ...loopOptions,
      ...(options.heartbeatMs === undefined ? {} : { heartbeatMs: options.heartbeatMs }),
      ...(options.reserveBlockMs === undefined ? {} : { reserveBlockMs: options.reserveBlockMs }),
    });
    this.concurrency = loopOptions.concurrency;
  }

  /** Jobs running now. */
  get active(): number {
    return this.#loop.active;
  }

  /**
   * Starts taking jobs. Idempotent.
   *
   * @throws {TypeError} When the node was stopped.
   */
  start(): void {
    this.#loop.start();
    if (this.#started) return;
    this.#started = true;
    this.#log.info(
      "Worker node {nodeId} started: concurrency {concurrency}, agents {agents}",
      { nodeId: this.nodeId, concurrency: this.concurrency, agents: this.agents.join(", ") },
    );
    this.#scheduleCancelCheck();
  }

  /**
   * Stops taking jobs, waits up to `graceMs` for running executions, then
   * hands the rest back to the queue. Idempotent.
   *
   * @param options `graceMs`: how long running executions may take to finish (default 0).
   * @returns How many finished and how many were handed back.
   */
  async stop(options: { graceMs?: number } = {}): Promise<StopResult> {
    const result = await this.#loop.stop(options);
    if (this.#cancelTimer !== undefined) this.#clock.clearTimeout(this.#cancelTimer);
    this.#cancelTimer = undefined;
    this.#started = false;
    return result;
  }

  #scheduleCancelCheck(): void {
    this.#cancelTimer = this.#clock.setTimeout(async () => {
      await Promise.all(this.#loop.jobs.map(async (job) => {
        if (this.#cancelled.has(job)) return;
        try {
          if (await this.#handler.checkCancel(job)) this.#cancelled.add(job);
        } catch { /* checked again at the next tick */ }
      }));
      if (this.#cancelTimer !== undefined) this.#scheduleCancelCheck();
    }, this.#cancelCheckMs);
  }

  #logEvent(event: JobEvent): void {
    const { lease } = event;
    const props = {
      nodeId: this.nodeId,
      jobId: lease.jobId,
      executionId: lease.spec.executionId,
      attempt: lease.attempt,
      reason: lease.reason,
      error: event.error ?? "",
    };
    switch (event.type) {
      case "reserved":
        return this.#log.debug("Job {jobId} ({executionId}, {reason}) reserved", props);
      case "completed": {
        const status = (event.detail as { status?: string } | undefined)?.status ?? "done";
        if (status === "NEEDS_DECISION") {
          return this.#log.warn(
            "Execution {executionId} NEEDS_DECISION (job {jobId} done): it waits for an operator's decision (oao resolve {executionId} …, or POST /executions/{executionId}/decisions/<callId> on an API node)",
            props,
          );
        }
        return this.#log.info("Execution {executionId} {status} (job {jobId})", {
          ...props,
          status,
        });
      }
      case "failed":
        return this.#log.warn(
          "Job {jobId} ({executionId}) attempt {attempt} failed ({outcome}): {error}",
          { ...props, outcome: event.detail },
        );
      case "lost":
        return this.#log.warn(
          "Job {jobId} ({executionId}) was taken over by another worker; not reporting it: {error}",
          props,
        );
      case "released":
        return this.#log.info("Job {jobId} ({executionId}) handed back to the queue", props);
      default:
        return this.#log.warn("Job {jobId} ({executionId}) {type}: {error}", {
          ...props,
          type: event.type,
        });
    }
  }
}

/**
 * A node id unique per process: `<hostname>-<pid>-<4 hex>` (the hostname is
 * `worker` without `--allow-sys`).
 *
 * @returns The id.
 *
 * @example
 * ```ts
 * import { defaultNodeId } from "./worker_node.ts";
 * console.assert(/-\d+-[0-9a-f]{4}$/.test(defaultNodeId()));
 * ```
 */
export function defaultNodeId(): string {
  let host = "worker";
  try {
    host = Deno.hostname();
  } catch { /* no --allow-sys */ }
  const suffix = crypto.getRandomValues(new Uint8Array(2));
  return `${host}-${Deno.pid}-${[...suffix].map((b) => b.toString(16).padStart(2, "0")).join("")}`;
}
