/**
 * `oao serve`: an API node — the HTTP API only; executions are enqueued on
 * the shared job queue (Redis with `REDIS_URL`, else the Deno KV file) for
 * worker nodes (`oao worker`). Refuses the in-memory stores.
 *
 * @module
 */
import type { Command } from "../_command.ts";
import { createRuntime, RUNTIME_ENV, RUNTIME_FLAGS } from "../_runtime.ts";
import { serveApi, SERVER_ENV, SERVER_FLAGS } from "../_serve_api.ts";
import { OaoMetrics } from "../../api/metrics.ts";
import { bounded } from "../_bounded.ts";
import { QueueBackend } from "../../distributed/queue_backend.ts";

/** The `serve` command. */
export const serveCommand: Command = {
  name: "serve",
  summary: "Serve the HTTP API only; worker nodes run the executions (shared stores)",
  description: [
    "An API node: POST /executions enqueues a job on the shared job queue (OAO_QUEUE) and",
    "answers QUEUED; worker nodes (oao worker) run it. Status, events and streams are read",
    "from the shared event log. The agents accepted are those of --config/--agent and the",
    "examples (unless --no-examples): load the same configuration on the workers. Needs",
    "stores shared with the workers: REDIS_URL, or the Deno KV file on one machine.",
  ].join("\n"),
  flags: [...SERVER_FLAGS, ...RUNTIME_FLAGS],
  env: [...SERVER_ENV, ...RUNTIME_ENV],
  examples: ["serve --config oao.json", "serve --host 0.0.0.0 --port 8080"],
  async run(ctx) {
    const runtime = await createRuntime(ctx, {
      requireSharedStore: true,
      sharedStoreReason: '"serve" hands executions to worker nodes through a shared job queue',
    });
    const backend = new QueueBackend({
      queue: runtime.queue,
      eventStore: runtime.eventStore,
      agents: runtime.agents.map((a) => a.name),
      // The same config file as the workers': policies are checked against its tools here.
      tools: runtime.tools.map((t) => ({
        name: t.name,
        ...(t.description === undefined ? {} : { description: t.description }),
      })),
      tracer: runtime.tracing.tracer,
    });
    const metrics = new OaoMetrics({
      // Both read Redis: a scrape never waits on it (the last counts are kept).
      inFlight: bounded(() => backend.inFlight()),
      queueStats: bounded(() => runtime.queue.stats()),
    });
    return await serveApi(ctx, runtime, {
      backend,
      metrics,
      mode: "API node: executions are queued for worker nodes",
    });
  },
};
