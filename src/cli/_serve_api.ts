/**
 * The part `start` and `serve` share: the HTTP flags and variables, and
 * serving the API until SIGINT/SIGTERM, then a graceful shutdown (live
 * streams end, no new requests, requests in flight finish, running
 * executions get a grace period and are then cancelled, traces are
 * flushed).
 *
 * @module
 */
import {
  type CommandContext,
  type EnvVarSpec,
  EXIT_FAILURE,
  EXIT_OK,
  EXIT_USAGE,
  type FlagSpec,
} from "./_command.ts";
import type { Runtime } from "./_runtime.ts";
import type { ExecutionBackend } from "../orchestrator/execution_backend.ts";
import type { OaoMetrics } from "../api/metrics.ts";
import { type ApiServer, startApiServer } from "../api/server.ts";
import { getOaoLogger } from "../logging/logger.ts";
import { parseApiTokens } from "../api/api_tokens.ts";
import { Scheduler } from "../schedule/scheduler.ts";

/**
 * Flags of the HTTP server: `--host`, `--port`, `--shutdown-grace-ms`,
 * `--headers-timeout-ms`, `--max-connections`.
 */
export const SERVER_FLAGS: readonly FlagSpec[] = [
  {
    name: "host",
    type: "string",
    valueName: "address",
    env: "OAO_HOST",
    default: "127.0.0.1",
    description: "Interface to listen on (0.0.0.0 for every interface)",
  },
  {
    name: "port",
    short: "p",
    type: "integer",
    min: 0,
    max: 65_535,
    valueName: "port",
    env: "OAO_PORT",
    default: 8080,
    description: "TCP port (0 picks a free one)",
  },
  {
    name: "shutdown-grace-ms",
    type: "integer",
    min: 0,
    valueName: "ms",
    env: "OAO_SHUTDOWN_GRACE_MS",
    default: 10_000,
    description:
      "On SIGINT/SIGTERM, how long running executions may finish before they are cancelled",
  },
  {
    name: "headers-timeout-ms",
    type: "integer",
    min: 0,
    max: 2 ** 31 - 1,
    valueName: "ms",
    env: "OAO_HEADERS_TIMEOUT_MS",
    default: 10_000,
    description:
      "How long a client may take to send a request's headers before it gets 408 (0: no TCP front, behind a proxy that times them out)",
  },
  {
    name: "max-connections",
    type: "integer",
    min: 1,
    max: 1_000_000,
    valueName: "n",
    env: "OAO_MAX_CONNECTIONS",
    default: 1024,
    description: "Connections open at once; beyond, a connection gets 503 and is closed",
  },
];

/** Variables of the HTTP server. */
export const SERVER_ENV: readonly EnvVarSpec[] = [
  { name: "OAO_HOST", description: "Interface to listen on", default: "127.0.0.1" },
  { name: "OAO_PORT", description: "TCP port", default: "8080" },
  {
    name: "OAO_API_TOKEN",
    description:
      'Bearer token required on every route but /healthz and /readyz, named "default" (unset: open)',
  },
  {
    name: "OAO_API_TOKENS",
    description:
      "Named bearer tokens, name:token,… (beside OAO_API_TOKEN); a token's name is recorded as who decided an approval",
  },
  {
    name: "OAO_CORS_ORIGINS",
    description:
      "Origins (comma-separated, * for any) whose browsers may call the API (unset: none)",
  },
  {
    name: "OAO_ALLOWED_HOSTS",
    description:
      "Host names the API answers for (comma-separated; unset: loopback names on loopback, else any)",
  },
  {
    name: "OAO_TRACE_URL",
    description:
      "URL template of your tracing UI with {traceId} (e.g. http://localhost:16686/trace/{traceId}): the console at /ui links trace ids to it",
  },
  {
    name: "OAO_SHUTDOWN_GRACE_MS",
    description: "Grace period of running executions at shutdown",
    default: "10000",
  },
  {
    name: "OAO_HEADERS_TIMEOUT_MS",
    description: "Time a request's headers may take to arrive (0: no TCP front)",
    default: "10000",
  },
  {
    name: "OAO_MAX_CONNECTIONS",
    description: "Connections open at once",
    default: "1024",
  },
];

/**
 * Serves the API until the command's signal aborts, then shuts down.
 *
 * @param ctx The command's context (declares {@linkcode SERVER_FLAGS}).
 * @param runtime The runtime (closed here).
 * @param options Backend, metrics and a description of the mode for the start line.
 * @returns The exit code (0 after a graceful shutdown, 1 when the port is taken).
 */
export async function serveApi(
  ctx: CommandContext,
  runtime: Runtime,
  options: { backend: ExecutionBackend; metrics: OaoMetrics; mode: string },
): Promise<number> {
  const log = getOaoLogger("cli");
  const hostname = ctx.string("host")!;
  const port = ctx.integer("port")!;
  // The node's scheduler: cron schedules in the runtime's stores start
  // executions through this backend (exactly one node per tick).
  const scheduler = new Scheduler({
    store: runtime.schedules,
    backend: options.backend,
    eventStore: runtime.eventStore,
    onEvent: (event) => options.metrics.observe(event),
  });
  let server: ApiServer;
  try {
    server = startApiServer({
      backend: options.backend,
      scheduler,
      // The queue page of the console: on a node that hands executions to workers.
      queue: options.backend.mode === "queue" ? runtime.queue : undefined,
      traceUrl: ctx.env("OAO_TRACE_URL") || undefined,
      eventStore: runtime.eventStore,
      metrics: options.metrics,
      ready: () => runtime.ready(),
      tokens: parseApiTokens({
        OAO_API_TOKEN: ctx.env("OAO_API_TOKEN"),
        OAO_API_TOKENS: ctx.env("OAO_API_TOKENS"),
      }),
      corsOrigins: _list(ctx.env("OAO_CORS_ORIGINS")),
      allowedHosts: ctx.env("OAO_ALLOWED_HOSTS") ? _list(ctx.env("OAO_ALLOWED_HOSTS")) : undefined,
      hostname,
      port,
      headersTimeoutMs: ctx.integer("headers-timeout-ms")!,
      maxConnections: ctx.integer("max-connections")!,
    });
  } catch (error) {
    await options.backend.close();
    await runtime.close();
    if (error instanceof Deno.errors.AddrInUse || error instanceof Deno.errors.AddrNotAvailable) {
      ctx.err(`error: Cannot listen on ${hostname}:${port}: ${(error as Error).message}`);
      return EXIT_FAILURE;
    }
    if (error instanceof TypeError && /CORS origin/.test(error.message)) {
      ctx.err(`error: Invalid OAO_CORS_ORIGINS: ${error.message}`);
      return EXIT_USAGE;
    }
    if (error instanceof TypeError && /trace URL/.test(error.message)) {
      ctx.err(`error: Invalid OAO_TRACE_URL: ${error.message}`);
      return EXIT_USAGE;
    }
    throw error;
  }
  ctx.out(
    `OAO API listening on ${server.url} (${options.mode}; ${
      runtime.storage === "redis"
        ? `Redis ${runtime.redisUrl}`
        : runtime.storage === "kv"
        ? `Deno KV ${runtime.kvPath}`
        : "in-memory stores"
    }; agents: ${options.backend.agents().join(", ") || "none"})`,
  );
  ctx.out(`Console: ${server.url}/ui`);
  scheduler.start();
  await new Promise<void>((resolve) => {
    if (ctx.signal.aborted) resolve();
    ctx.signal.addEventListener("abort", () => resolve(), { once: true });
  });
  const graceMs = ctx.integer("shutdown-grace-ms")!;
  log.info("Shutting down: no new requests; running executions have {graceMs} ms to finish", {
    graceMs,
  });
  server.drain(); // the listener stays open, answering 503 shutting_down, through the grace period
  await scheduler.stop(); // no tick starts an execution during the grace period
  await runtime.close({ graceMs });
  await server.shutdown();
  await options.backend.close();
  log.info("Stopped");
  return EXIT_OK;
}

function _list(value: string | undefined): string[] {
  return (value ?? "").split(",").map((v) => v.trim()).filter(Boolean);
}
