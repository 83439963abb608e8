/**
 * `oao worker`: a worker node. Pulls execution jobs from the job queue
 * (Redis, or the Deno KV file on one machine) shared with the API nodes (`oao serve`) and runs them — `--concurrency`
 * at a time, under leases renewed by heartbeats — until SIGTERM or SIGINT,
 * then stops taking jobs, lets running executions finish for `--grace-ms`,
 * hands the others back to the queue, flushes traces and exits 0.
 *
 * @module
 */
import { type Command, EXIT_OK, UsageError } from "../_command.ts";
import {
  createRuntime,
  PATIENT_REDIS_TIMEOUT_MS,
  RUNTIME_ENV,
  RUNTIME_FLAGS,
} from "../_runtime.ts";
import { getOaoLogger } from "../../logging/logger.ts";
import { WorkerNode, type WorkerNodeEvent } from "../../distributed/worker_node.ts";

/**
 * The `worker` command.
 *
 * @example
 * ```ts
 * import { workerCommand } from "./worker.ts";
 * import { renderCommandHelp } from "../_command.ts";
 * console.assert(renderCommandHelp(workerCommand).includes("Usage: oao worker"));
 * ```
 */
export const workerCommand: Command = {
  name: "worker",
  summary: "Run a worker node: take executions from the shared job queue and run them",
  description: [
    "Takes jobs from the queue OAO_QUEUE (in REDIS_URL, or the Deno KV file) and runs",
    "each as an execution of one of its agents. A job whose worker dies or freezes is taken",
    "over by another worker once its lease expires and resumed from its event log.",
    "SIGTERM/SIGINT: stop taking jobs, finish running ones within --grace-ms, hand the rest",
    "back to the queue, flush traces, exit 0 (a second signal exits at once).",
    'With --json, a "started" line once it takes jobs, then one JSON line per job event',
    "(reserved, completed, failed, lost, released) is printed on stdout.",
  ].join("\n"),
  flags: [
    ...RUNTIME_FLAGS,
    {
      name: "concurrency",
      type: "integer",
      min: 1,
      max: 1_000,
      valueName: "n",
      env: "OAO_WORKER_CONCURRENCY",
      default: 4,
      description: "Executions run in parallel by this node",
    },
    {
      name: "agents",
      type: "string",
      valueName: "names",
      env: "OAO_WORKER_AGENTS",
      description: "Comma-separated agents this node runs (default: every loaded agent)",
    },
    {
      name: "node-id",
      type: "string",
      valueName: "id",
      env: "OAO_NODE_ID",
      description: "Consumer name in the queue and in logs (default: <hostname>-<pid>-<random>)",
    },
    {
      name: "lease-ms",
      type: "integer",
      min: 100,
      valueName: "ms",
      env: "OAO_LEASE_MS",
      default: 30_000,
      description: "Lease of each job: a job whose worker stops renewing it is taken over after it",
    },
    {
      name: "heartbeat-ms",
      type: "integer",
      min: 10,
      valueName: "ms",
      env: "OAO_HEARTBEAT_MS",
      description: "Lease renewal interval, below --lease-ms (default: a third of the lease)",
    },
    {
      name: "cancel-check-ms",
      type: "integer",
      min: 10,
      valueName: "ms",
      env: "OAO_CANCEL_CHECK_MS",
      default: 1_000,
      description: "How often running executions look for a cancellation request",
    },
    {
      name: "grace-ms",
      type: "integer",
      min: 0,
      valueName: "ms",
      env: "OAO_SHUTDOWN_GRACE_MS",
      default: 10_000,
      description: "On SIGTERM/SIGINT, time running executions get before they are handed back",
    },
    { name: "json", type: "boolean", description: "Print job events as JSON lines on stdout" },
  ],
  env: [
    ...RUNTIME_ENV,
    { name: "OAO_WORKER_CONCURRENCY", description: "Default of --concurrency", default: "4" },
    { name: "OAO_WORKER_AGENTS", description: "Default of --agents" },
    { name: "OAO_NODE_ID", description: "Default of --node-id" },
    { name: "OAO_LEASE_MS", description: "Default of --lease-ms", default: "30000" },
    { name: "OAO_HEARTBEAT_MS", description: "Default of --heartbeat-ms" },
    { name: "OAO_CANCEL_CHECK_MS", description: "Default of --cancel-check-ms", default: "1000" },
    { name: "OAO_SHUTDOWN_GRACE_MS", description: "Default of --grace-ms", default: "10000" },
  ],
  examples: [
    "worker --concurrency 8",
    "worker --config agents.json --agents researcher,critic --node-id gpu-1",
    "worker --lease-ms 10000 --heartbeat-ms 2000 --json",
  ],
  async run(ctx) {
    const leaseMs = ctx.integer("lease-ms")!;
    const heartbeatMs = ctx.integer("heartbeat-ms");
    if (heartbeatMs !== undefined && heartbeatMs >= leaseMs) {
      throw new UsageError(
        `Invalid flag "--heartbeat-ms" value "${heartbeatMs}": it must be below --lease-ms (${leaseMs})`,
        "worker",
      );
    }
    const nodeId = ctx.string("node-id");
    if (nodeId !== undefined && !/^[\x21-\x7e]+$/.test(nodeId)) {
      throw new UsageError(
        `Invalid flag "--node-id" value "${nodeId}": expected printable characters without spaces`,
        "worker",
      );
    }
    const runtime = await createRuntime(ctx, {
      requireSharedStore: true,
      sharedStoreReason: `"worker" takes its jobs from the queue shared with the API nodes`,
      redisTimeoutMs: PATIENT_REDIS_TIMEOUT_MS, // running executions ride out a Redis restart
    });
    const log = getOaoLogger("worker");
    try {
      const agentsFlag = ctx.string("agents");
      const agents = agentsFlag?.split(",").map((a) => a.trim()).filter((a) => a !== "");
      const orchestrator = runtime.createOrchestrator();
      let node: WorkerNode;
      try {
        node = new WorkerNode({
          queue: runtime.queue,
          orchestrator,
          concurrency: ctx.integer("concurrency")!,
          leaseMs,
          cancelCheckMs: ctx.integer("cancel-check-ms")!,
          ...(nodeId === undefined ? {} : { nodeId }),
          ...(agents === undefined ? {} : { agents }),
          ...(heartbeatMs === undefined ? {} : { heartbeatMs }),
          ...(ctx.boolean("json")
            ? { onEvent: (e: WorkerNodeEvent) => ctx.out(_jsonLine(e)) }
            : {}),
        });
      } catch (error) {
        if (error instanceof TypeError) throw new UsageError(error.message, "worker");
        throw error;
      }
      node.start();
      if (ctx.boolean("json")) {
        ctx.out(JSON.stringify({ type: "started", nodeId: node.nodeId, time: Date.now() }));
      }
      await new Promise<void>((resolve) => {
        if (ctx.signal.aborted) return resolve();
        ctx.signal.addEventListener("abort", () => resolve(), { once: true });
      });
      const graceMs = ctx.integer("grace-ms")!;
      log.info("Worker node {nodeId} stopping: {active} running, grace {graceMs} ms", {
        nodeId: node.nodeId,
        active: node.active,
        graceMs,
      });
      const { finished, handedBack } = await node.stop({ graceMs });
      log.info("Worker node {nodeId} stopped: {finished} finished, {handedBack} handed back", {
        nodeId: node.nodeId,
        finished,
        handedBack,
      });
      return EXIT_OK;
    } finally {
      await runtime.close();
    }
  },
};

function _jsonLine(event: WorkerNodeEvent): string {
  const { lease } = event;
  const line: Record<string, unknown> = {
    type: event.type,
    jobId: lease.jobId,
    executionId: lease.spec.executionId,
    agent: lease.spec.agent,
    attempt: lease.attempt,
    token: lease.token,
    reason: lease.reason,
    consumer: lease.consumer,
    time: Date.now(),
  };
  if (lease.previousConsumer !== undefined) line.previousConsumer = lease.previousConsumer;
  const detail = event.detail;
  if (typeof detail === "string") line.outcome = detail;
  else if (detail) line.status = detail.status;
  if (event.error !== undefined) line.error = event.error;
  return JSON.stringify(line);
}
