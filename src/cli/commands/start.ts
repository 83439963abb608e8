/**
 * `oao start`: the monolithic node — the HTTP API and the executions in one
 * process, on Redis when `REDIS_URL` is set, else on the Deno KV file
 * `./.oao/oao.kv` (see `OAO_STORE`).
 *
 * @module
 */
import type { Command, FlagSpec } from "../_command.ts";
import { createRuntime, RUNTIME_ENV, RUNTIME_FLAGS } from "../_runtime.ts";
import { serveApi, SERVER_ENV, SERVER_FLAGS } from "../_serve_api.ts";
import { DEFAULT_MAX_QUEUED, defaultMaxRunning } from "../../orchestrator/local_backend.ts";
import { LocalWorkflowBackend } from "../../orchestrator/local_workflow_backend.ts";
import { OaoMetrics } from "../../api/metrics.ts";
import { bounded } from "../_bounded.ts";
import { getOaoLogger } from "../../logging/logger.ts";

/** Admission: how many executions run at once, how many may wait. */
const ADMISSION_FLAGS: readonly FlagSpec[] = [
  {
    name: "max-running",
    type: "integer",
    min: 1,
    valueName: "n",
    env: "OAO_MAX_RUNNING",
    default: defaultMaxRunning(),
    description:
      "Executions this node runs at once; more wait in line as QUEUED (default: 4 MiB each in half the memory, at most 1000)",
  },
  {
    name: "max-queued",
    type: "integer",
    min: 0,
    valueName: "n",
    env: "OAO_MAX_QUEUED",
    default: DEFAULT_MAX_QUEUED,
    description: "Executions that may wait in line; beyond, submits get 429 with Retry-After",
  },
];

/** The `start` command. */
export const startCommand: Command = {
  name: "start",
  summary: "Serve the HTTP API and run executions in this process (monolithic)",
  description: [
    "Serves the HTTP API (see /openapi.json) and runs the executions it accepts in this",
    "process. Uses Redis for snapshots and event logs when REDIS_URL is set, else the Deno",
    "KV file ./.oao/oao.kv (OAO_STORE=memory: this process's memory); one log line says",
    "which. Executions and workflows a killed run of this node left unfinished go on here.",
    "SIGINT/SIGTERM: stop taking requests, give",
    "running executions the grace period, cancel the rest, flush traces, exit 0.",
  ].join("\n"),
  flags: [...SERVER_FLAGS, ...ADMISSION_FLAGS, ...RUNTIME_FLAGS],
  env: [
    ...SERVER_ENV,
    {
      name: "OAO_MAX_RUNNING",
      description: "Executions this node runs at once",
      default: String(defaultMaxRunning()),
    },
    {
      name: "OAO_MAX_QUEUED",
      description: "Executions that may wait in line (beyond: 429)",
      default: String(DEFAULT_MAX_QUEUED),
    },
    ...RUNTIME_ENV,
  ],
  examples: [
    "start",
    "start --port 9000 --config oao.json",
    "start --host 0.0.0.0   # with OAO_API_TOKEN set",
  ],
  async run(ctx) {
    const runtime = await createRuntime(ctx);
    const orchestrator = runtime.createOrchestrator();
    const backend = new LocalWorkflowBackend(orchestrator, {
      maxRunning: ctx.integer("max-running")!,
      maxQueued: ctx.integer("max-queued")!,
    });
    const recovered = await backend.recover();
    if (recovered > 0) {
      getOaoLogger("cli").warn(
        "{recovered} executions accepted by an earlier run of this node and never started are back in line",
        { recovered },
      );
    }
    // What a dead run of this node (or another on these stores) was running
    // goes on here; what a live process runs is left to it. The index cannot
    // tell them apart: each execution's claim does, and its own line says which.
    const found = await backend.adoptOrphans();
    if (found > 0) {
      getOaoLogger("cli").info(
        "{found} executions are RUNNING on these stores but not in this process: each is resumed here if its process stopped (at once when it ran on this machine, else once its claim lapses), else left to the process that runs it",
        { found },
      );
    }
    // The same for workflows: each one a dead process ran goes on here (its
    // own line says so), one a live process runs is left to it.
    const workflows = await backend.adoptWorkflows();
    if (workflows > 0) {
      getOaoLogger("cli").info(
        "{workflows} workflows are unfinished on these stores and not run by this process: each is taken over here if its process stopped (at once when it ran on this machine, else once its claim lapses), else left to the process that runs it",
        { workflows },
      );
    }
    const metrics = new OaoMetrics({
      inFlight: () => backend.inFlight(),
      queueStats: bounded(() => runtime.queue.stats()), // never waits on Redis
      actors: () => orchestrator.system.actors.length,
      pooledWorkers: () => orchestrator.system.pooledWorkers,
    });
    orchestrator.events.subscribe((event) => metrics.observe(event));
    return await serveApi(ctx, runtime, {
      backend,
      metrics,
      mode: "monolithic: executions run in this process",
    });
  },
};
