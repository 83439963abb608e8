/**
 * Builds what a command runs on from the environment and the agent
 * configuration: the stores (Redis when `REDIS_URL` is set, else the Deno KV
 * file `./.oao/oao.kv`, or the in-memory stores: see `OAO_STORE`; announced
 * in one log line), the job queue, tracing
 * (`createTracingFromEnv`), the agents and tools to register (the example
 * agents and tools of `actors/examples.oao.json` unless `--no-examples`,
 * plus those of `--config`/`OAO_CONFIG` and `--agent` flags), and
 * orchestrators wired to all of it. `close()` shuts it all down in order:
 * orchestrators (cancelling what still runs), queue, stores, the Redis
 * connection, then a final trace flush.
 *
 * Commands declare {@linkcode RUNTIME_FLAGS} and {@linkcode RUNTIME_ENV}
 * (and {@linkcode POLICY_FLAGS} when they start executions), then:
 *
 * ```ts ignore
 * const runtime = await createRuntime(ctx, { requireSharedStore: true });
 * try {
 *   const orchestrator = runtime.createOrchestrator();
 *   // … work until ctx.signal aborts …
 * } finally {
 *   await runtime.close({ graceMs: 5_000 });
 * }
 * ```
 *
 * Logging is configured by `main.ts` before any command runs.
 *
 * @example
 * ```ts
 * import { parseCommandLine, type Command } from "./_command.ts";
 * import { createRuntime, RUNTIME_ENV, RUNTIME_FLAGS } from "./_runtime.ts";
 *
 * const command: Command = { name: "x", summary: "", flags: RUNTIME_FLAGS, env: RUNTIME_ENV, run: () => 0 };
 * const env = (name: string) => name === "OAO_STORE" ? "memory" : undefined;
 * const ctx = parseCommandLine(command, [], { env });
 * if (ctx !== "help") {
 *   const runtime = await createRuntime(ctx);
 *   console.assert(runtime.storage === "memory" && runtime.agents.some((a) => a.name === "researcher"));
 *   await runtime.close();
 * }
 * ```
 *
 * @module
 */
import { type CommandContext, type EnvVarSpec, type FlagSpec, UsageError } from "./_command.ts";
import { httpUrl } from "../http_url.ts";
import { BASE_URL_VARIABLES } from "../orchestrator/_model_host.ts";
import { connectMcpTools, loadAgents } from "./_agents.ts";
import type { McpConnection } from "../mcp/mcp_tools.ts";
import { modelOptions, type ModelsConfig } from "./_models_config.ts";
import type { EventStore } from "../events/event_store.ts";
import { InMemoryEventStore } from "../events/in_memory_event_store.ts";
import { getOaoLogger } from "../logging/logger.ts";
import {
  type AgentRegistration,
  Orchestrator,
  type OrchestratorOptions,
} from "../orchestrator/orchestrator.ts";
import { DEFAULT_POLICY, type PolicyLimits } from "../orchestrator/policy.ts";
import type { ToolDefinition } from "../orchestrator/tool.ts";
import { InMemoryPersistenceAdapter } from "../persistence/in_memory_persistence_adapter.ts";
import type { PersistenceAdapter } from "../persistence/persistence_adapter.ts";
import { InMemoryJobQueue } from "../queue/in_memory_job_queue.ts";
import { InMemoryScheduleStore } from "../schedule/in_memory_schedule_store.ts";
import type { ScheduleStore } from "../schedule/schedule_store.ts";
import type { JobQueue } from "../queue/job_queue.ts";
import { connectRedis, type RedisClient } from "../redis/connection.ts";
import { RedisEventStore } from "../redis/redis_event_store.ts";
import { RedisJobQueue } from "../redis/redis_job_queue.ts";
import { RedisRateLimiter } from "../redis/redis_rate_limiter.ts";
import { RedisScheduleStore } from "../redis/redis_schedule_store.ts";
import { KvEventStore } from "../kv/kv_event_store.ts";
import { KvJobQueue } from "../kv/kv_job_queue.ts";
import { KvScheduleStore } from "../kv/kv_schedule_store.ts";
import { KvPersistenceAdapter } from "../kv/kv_persistence_adapter.ts";
import { DEFAULT_KV_PATH } from "../kv/open_kv.ts";
import { RedisPersistenceAdapter } from "../redis/redis_persistence_adapter.ts";
import { parseRedisUrl, redactRedisUrl } from "../redis/redis_url.ts";
import { createTracingFromEnv, type Tracing } from "../tracing/tracing_from_env.ts";
import { readOtelEnv } from "../tracing/otel_env.ts";
import { canStartSandbox } from "../sandbox/process_agent_system.ts";

export { type AgentsConfig, BUNDLED_AGENTS, EXAMPLES_CONFIG, loadAgents } from "./_agents.ts";

/**
 * Flags of commands that load agents: `--config`, `--examples` (and
 * `--no-examples`), `--agent`, `--agent-permissions`.
 */
export const RUNTIME_FLAGS: readonly FlagSpec[] = [
  {
    name: "config",
    short: "c",
    type: "string",
    valueName: "path",
    env: "OAO_CONFIG",
    description: "Agents config file (JSON: agents, tools, bundled)",
  },
  {
    name: "examples",
    type: "boolean",
    negatable: true,
    env: "OAO_EXAMPLES",
    description:
      'Load the example agents and tools (actors/examples.oao.json); default: yes, unless the config says "bundled": false',
  },
  {
    name: "agent",
    type: "string",
    multiple: true,
    valueName: "name=module",
    description: "Register an agent module under a name (path relative to the working directory)",
  },
  {
    name: "agent-permissions",
    type: "string",
    multiple: true,
    valueName: "name=json",
    description: 'Permissions of an agent: "none" or JSON, e.g. {"net":["api.example.com"]}',
  },
];

/** Flags overriding the default policy of executions a command starts. */
export const POLICY_FLAGS: readonly FlagSpec[] = [
  {
    name: "max-steps",
    type: "integer",
    min: 1,
    valueName: "n",
    description: `Policy: steps allowed (default ${DEFAULT_POLICY.maxSteps})`,
  },
  {
    name: "max-tokens",
    type: "integer",
    min: 1,
    valueName: "n",
    description: `Policy: tokens allowed (default ${DEFAULT_POLICY.maxTokens})`,
  },
  {
    name: "max-tool-calls",
    type: "integer",
    min: 1,
    valueName: "n",
    description: `Policy: tool calls allowed (default ${DEFAULT_POLICY.maxToolCalls})`,
  },
  {
    name: "max-cost-usd",
    type: "number",
    min: 0.000001,
    valueName: "usd",
    description: "Policy: cost of model calls allowed, in USD (default: no limit)",
  },
  {
    name: "timeout-ms",
    type: "integer",
    min: 1,
    valueName: "ms",
    description: `Policy: wall-clock time allowed (default ${DEFAULT_POLICY.timeoutMs})`,
  },
];

/** Default of `OAO_REDIS_TIMEOUT_MS`: requests answer 503 within about a second. */
export const DEFAULT_REDIS_TIMEOUT_MS = 1_000;
/** Default of `OAO_REDIS_TIMEOUT_MS` for commands that run executions and serve no requests. */
export const PATIENT_REDIS_TIMEOUT_MS = 30_000;

/**
 * Environment of the stores: `REDIS_URL`, `OAO_KEY_PREFIX`, `OAO_QUEUE`,
 * `OAO_REDIS_TIMEOUT_MS`.
 */
export const STORE_ENV: readonly EnvVarSpec[] = [
  {
    name: "REDIS_URL",
    description:
      "Redis for snapshots, event logs and the job queue (unset: the Deno KV file, see OAO_STORE)",
  },
  {
    name: "OAO_STORE",
    description:
      "Which stores: memory, kv (a Deno KV file, ./.oao/oao.kv), kv:<path>, or redis (REDIS_URL); needs --unstable-kv for kv",
    default: "redis when REDIS_URL is set, else kv (demo: memory)",
  },
  { name: "OAO_KEY_PREFIX", description: "Prefix of every Redis key", default: "oao:" },
  {
    name: "OAO_QUEUE",
    description: "Name of the job queue (in Redis or the Deno KV file)",
    default: "default",
  },
  {
    name: "OAO_REDIS_TIMEOUT_MS",
    description:
      "How long an operation waits for a Redis it cannot reach before failing (HTTP: 503), in ms",
    default: `${DEFAULT_REDIS_TIMEOUT_MS} (run, resume, worker: ${PATIENT_REDIS_TIMEOUT_MS})`,
  },
];

/** Environment of tracing and logging: `OTEL_*`, `OAO_LOG_LEVEL`, `OAO_LOG_FORMAT`. */
export const OBSERVABILITY_ENV: readonly EnvVarSpec[] = [
  {
    name: "OTEL_EXPORTER_OTLP_ENDPOINT",
    description: "OTLP/gRPC endpoint for traces, e.g. http://jaeger:4317 (unset: no export)",
  },
  { name: "OTEL_SERVICE_NAME", description: "Service name of the traces", default: "oao-runtime" },
  {
    name: "OTEL_RESOURCE_ATTRIBUTES",
    description: "Resource attributes of the traces, e.g. env=production,version=1.1.0",
  },
  { name: "OAO_LOG_LEVEL", description: "DEBUG, INFO, WARN or ERROR", default: "INFO" },
  { name: "OAO_LOG_FORMAT", description: "Log lines on stderr: text or json", default: "text" },
];

/** Environment of the agents' sandbox: `OAO_SANDBOX`, `OAO_SANDBOX_MEMORY_MB`. */
export const SANDBOX_ENV: readonly EnvVarSpec[] = [
  {
    name: "OAO_SANDBOX",
    description:
      "Where agent workers run: process (sandbox processes), thread (this process), auto (process when --allow-run is granted)",
    default: "auto",
  },
  {
    name: "OAO_SANDBOX_MEMORY_MB",
    description: "Heap limit of each sandbox process, in MB",
    default: "1024",
  },
  {
    name: "OAO_PASSIVATE_AFTER_MS",
    description:
      "A step waiting this long on a tool gives its worker back until the tool answers (off or Infinity: never)",
    default: "1000",
  },
  {
    name: "OAO_BUNDLE_CACHE",
    description:
      "Folder of the verified agent bundles (used where this process may write; unset: $DENO_DIR/oao_bundles or ~/.cache/oao/bundles)",
  },
];

/** Every variable {@linkcode createRuntime} reads (config, stores, sandbox, tracing, logging). */
export const RUNTIME_ENV: readonly EnvVarSpec[] = [
  { name: "OAO_CONFIG", description: "Agents config file, when --config is not given" },
  {
    name: "OAO_EXAMPLES",
    description: "Load the example agents (true/false), when --examples/--no-examples is not given",
  },
  ...STORE_ENV,
  ...SANDBOX_ENV,
  ...OBSERVABILITY_ENV,
];

/** Options of {@linkcode createRuntime}. */
export interface RuntimeOptions {
  /**
   * Fail with a {@linkcode UsageError} when the stores are this process's
   * memory: the command shares them with other processes (API and worker
   * nodes: Redis, or a Deno KV file on one machine). @default {false}
   */
  requireSharedStore?: boolean;
  /** Why shared stores are required, for that message, e.g. `"serve" hands executions to workers`. */
  sharedStoreReason?: string;
  /**
   * Log the storage line (in-memory or Redis) at start. A fallback to memory
   * is warned about either way.
   * @default {true}
   */
  announce?: boolean;
  /** Use the in-memory stores even when `REDIS_URL` is set (the demo). @default {false} */
  memory?: boolean;
  /**
   * Which agents and tools: `true` loads them with {@linkcode loadAgents}
   * (the command declares {@linkcode RUNTIME_FLAGS}); `"examples"` only the
   * example agents and tools (the demo); `false` none (commands that only
   * read event logs).
   * @default {true}
   */
  loadAgents?: boolean | "examples";
  /**
   * The command only reads (status, events, replay, queue statistics): the
   * Redis durability warnings (`appendonly`, `maxmemory-policy`), meant for
   * the processes that write, are logged at debug level.
   * @default {false}
   */
  readOnly?: boolean;
  /**
   * How long a store operation waits for a Redis it cannot reach, when
   * `OAO_REDIS_TIMEOUT_MS` is unset, in ms: short where requests wait on the
   * stores, long where running executions should ride out a Redis restart.
   * @default {DEFAULT_REDIS_TIMEOUT_MS}
   */
  redisTimeoutMs?: number;
}

/**
 * Options of the commands that only query the stores (`status`, `events`,
 * `replay`, `queue` statistics): no agents, no storage line (but a warning
 * when the default Deno KV file cannot be opened and the stores fall back to
 * memory), durability warnings at debug level.
 */
export const QUERY_RUNTIME: Readonly<RuntimeOptions> = {
  loadAgents: false,
  announce: false,
  readOnly: true,
};

/** What commands run on. */
export interface Runtime {
  /** `"redis"` when `REDIS_URL` is set, `"kv"` for `OAO_STORE=kv`, else `"memory"`. */
  readonly storage: "redis" | "kv" | "memory";
  /** The Deno KV file, when `storage` is `"kv"`. */
  readonly kvPath?: string;
  /** `REDIS_URL` with its password masked, when set. */
  readonly redisUrl: string | undefined;
  /** The audit log. */
  readonly eventStore: EventStore;
  /** Snapshots. */
  readonly persistence: PersistenceAdapter;
  /** The job queue (Redis, or an in-memory queue useful within this process only). */
  readonly queue: JobQueue;
  /** Cron schedules (same place as the other stores). */
  readonly schedules: ScheduleStore;
  /** Tracing (disabled without `OTEL_EXPORTER_OTLP_ENDPOINT`). */
  readonly tracing: Tracing;
  /** Agents to register: the examples', then the config file's, then `--agent` flags. */
  readonly agents: readonly AgentRegistration[];
  /** Tools to register: the examples', then the config file's. */
  readonly tools: readonly ToolDefinition<never, unknown>[];
  /**
   * The config file's `"models"` section; its orchestrators make model calls
   * with it, keys read from the variables it names (and the providers' usual
   * ones: OPENAI_API_KEY, ANTHROPIC_API_KEY, …).
   */
  readonly models: ModelsConfig | undefined;
  /**
   * An orchestrator on this runtime's stores and tracer with its agents and
   * tools; closed by {@linkcode Runtime.close}.
   *
   * @param options Further orchestrator options (policy, retry, bus…).
   * @returns The orchestrator.
   */
  createOrchestrator(
    options?: Omit<
      OrchestratorOptions,
      "persistence" | "eventStore" | "agents" | "tools" | "tracer"
    >,
  ): Orchestrator;
  /**
   * Whether the stores are reachable (always true in memory).
   *
   * @param timeoutMs How long to wait for Redis.
   * @returns `true` when Redis answered `PING` in time.
   */
  ready(timeoutMs?: number): Promise<boolean>;
  /**
   * Shuts down: waits up to `graceMs` for running executions to finish,
   * closes the orchestrators (cancelling what still runs), the queue, the
   * stores and the Redis connection — giving up on them after `timeoutMs`
   * (Redis down) — then flushes traces. Idempotent.
   *
   * @param options `graceMs` (default 0), `timeoutMs` (default 5000).
   * @returns Once everything is closed (or given up on).
   */
  close(options?: { graceMs?: number; timeoutMs?: number }): Promise<void>;
}

/**
 * Builds the runtime of a command from its flags and environment.
 *
 * @param ctx The command's context (flags of {@linkcode RUNTIME_FLAGS}, `env`).
 * @param options Whether Redis is required; whether to log the storage line.
 * @returns The runtime; close it when done.
 * @throws {UsageError} Naming a bad config file, `--agent` value, `REDIS_URL`
 *   or `OTEL_*` variable, or a missing `REDIS_URL` when it is required.
 * @throws {StoreUnavailableError} When Redis cannot be reached at start.
 */
export async function createRuntime(
  ctx: CommandContext,
  options: RuntimeOptions = {},
): Promise<Runtime> {
  const log = getOaoLogger("cli");
  const { agents, tools, models, mcpServers } = options.loadAgents === false
    ? { agents: [], tools: [], models: undefined, mcpServers: undefined }
    : await loadAgents(ctx, options.loadAgents === "examples" ? { examples: "only" } : {});
  const store: StoreChoice = options.memory ? { kind: "memory" } : _storeChoice(ctx);
  const rawUrl = store.kind === "redis" ? ctx.env("REDIS_URL") || undefined : undefined;
  if (store.kind === "memory" && options.requireSharedStore) {
    throw new UsageError(
      `${store.fallback ?? "OAO_STORE=memory"}: ${(options.sharedStoreReason ??
        `"${ctx.command.name}" needs stores shared with other processes`)}; set REDIS_URL=redis://host:6379, or OAO_STORE=kv for processes of one machine (or use "start" for one process)`,
      ctx.command.name,
    );
  }
  const keyPrefix = ctx.env("OAO_KEY_PREFIX") || "oao:";
  if (/[{}]/.test(keyPrefix)) {
    throw new UsageError(`Invalid OAO_KEY_PREFIX "${keyPrefix}": it must not contain "{" or "}"`);
  }
  const sandbox = ctx.env("OAO_SANDBOX") || "auto";
  if (sandbox !== "auto" && sandbox !== "process" && sandbox !== "thread") {
    throw new UsageError(
      `Invalid OAO_SANDBOX "${sandbox}": expected "process", "thread" or "auto"`,
      ctx.command.name,
    );
  }
  const memoryText = ctx.env("OAO_SANDBOX_MEMORY_MB") || "1024";
  const memoryMb = Number(memoryText);
  if (!/^[0-9]+$/.test(memoryText) || !(memoryMb >= 16)) {
    throw new UsageError(
      `Invalid OAO_SANDBOX_MEMORY_MB "${memoryText}": expected a whole number of MB, at least 16`,
      ctx.command.name,
    );
  }
  const passivateText = ctx.env("OAO_PASSIVATE_AFTER_MS") || "1000";
  const never = passivateText === "off" || passivateText === "Infinity";
  const passivateAfterMs = never ? Infinity : Number(passivateText);
  if (!never && (!/^[0-9]+$/.test(passivateText) || !(passivateAfterMs >= 0))) {
    throw new UsageError(
      `Invalid OAO_PASSIVATE_AFTER_MS "${passivateText}": expected a whole number of ms, ` +
        `or "off" or "Infinity" to never passivate`,
      ctx.command.name,
    );
  }
  if (sandbox === "process") {
    const possible = canStartSandbox();
    if (possible !== true) {
      throw new UsageError(`OAO_SANDBOX=process is not possible: ${possible}`, ctx.command.name);
    }
  }
  const timeoutText = ctx.env("OAO_REDIS_TIMEOUT_MS") ||
    String(options.redisTimeoutMs ?? DEFAULT_REDIS_TIMEOUT_MS);
  const unavailableAfterMs = Number(timeoutText);
  if (!/^[0-9]+$/.test(timeoutText) || !(unavailableAfterMs >= 1)) {
    throw new UsageError(
      `Invalid OAO_REDIS_TIMEOUT_MS "${timeoutText}": expected a whole number of ms, at least 1`,
      ctx.command.name,
    );
  }
  for (const name of BASE_URL_VARIABLES) {
    const value = ctx.env(name);
    if (value !== undefined && !httpUrl(value)) {
      throw new UsageError(
        `Invalid ${name} ${
          JSON.stringify(value)
        }: expected an http(s) URL (unset it for the provider's default)`,
        ctx.command.name,
      );
    }
  }
  const queueName = ctx.env("OAO_QUEUE") || "default";
  if (/[{}]/.test(queueName)) {
    throw new UsageError(`Invalid OAO_QUEUE "${queueName}": it must not contain "{" or "}"`);
  }
  let tracing: Tracing;
  try {
    tracing = await createTracingFromEnv(_otelEnv(ctx));
  } catch (error) {
    if (error instanceof RangeError || error instanceof TypeError) {
      throw new UsageError(error.message, ctx.command.name);
    }
    throw error;
  }
  let client: RedisClient | undefined;
  let redisUrl: string | undefined;
  let eventStore: EventStore;
  let persistence: PersistenceAdapter;
  let queue: JobQueue;
  let schedules: ScheduleStore;
  let rateLimiter: RedisRateLimiter | undefined;
  if (rawUrl) {
    try {
      parseRedisUrl(rawUrl);
    } catch (error) {
      await tracing.shutdown();
      throw new UsageError((error as Error).message, ctx.command.name);
    }
    redisUrl = redactRedisUrl(rawUrl);
    try {
      client = await connectRedis({
        redisUrl: rawUrl,
        signal: ctx.signal,
        configWarnings: !options.readOnly,
        // A query gives up as soon as a request would; a node waits for Redis at start.
        ...(options.readOnly ? { unavailableAfterMs } : {}),
      });
    } catch (error) {
      await tracing.shutdown();
      throw error;
    }
    eventStore = new RedisEventStore({ client, keyPrefix, unavailableAfterMs });
    // Copies of the shared client for bursts of saves: it selects its
    // database by its options (the URL), never by a later SELECT.
    persistence = new RedisPersistenceAdapter({
      client,
      keyPrefix,
      unavailableAfterMs,
      writeConnections: 4,
    });
    queue = new RedisJobQueue({ client, keyPrefix, name: queueName, unavailableAfterMs });
    schedules = new RedisScheduleStore({ client, keyPrefix, unavailableAfterMs });
    // The config's per-provider model limits hold over every node on this Redis.
    if (models?.limits) {
      rateLimiter = new RedisRateLimiter(models.limits, { client, keyPrefix, unavailableAfterMs });
    }
    if (options.announce !== false) {
      log.info("Using Redis at {redisUrl} (key prefix {keyPrefix}, queue {queue})", {
        redisUrl,
        keyPrefix,
        queue: queueName,
      });
    }
  } else if (store.kind === "kv") {
    const kv = { path: store.path, keyPrefix: keyPrefix.replace(/:$/, "") || "oao" };
    eventStore = new KvEventStore(kv);
    persistence = new KvPersistenceAdapter(kv);
    queue = new KvJobQueue({ ...kv, name: queueName });
    schedules = new KvScheduleStore(kv);
    try {
      await eventStore.count("oao-store-check"); // opens the file: a bad one fails here, named
    } catch (error) {
      await tracing.shutdown();
      throw error;
    }
    if (options.announce !== false) {
      log.info("Using the Deno KV file {path} (durable on this machine)", { path: store.path });
    }
  } else {
    eventStore = new InMemoryEventStore();
    persistence = new InMemoryPersistenceAdapter();
    queue = new InMemoryJobQueue();
    schedules = new InMemoryScheduleStore();
    if (options.announce !== false) {
      const why = (store.kind === "memory" && store.fallback) || "OAO_STORE=memory";
      log.warn(
        `${why}: running on the in-memory stores (state and event logs last as long as this process)`,
      );
    } else if (store.kind === "memory" && store.fallback) {
      // A query on the fallback finds nothing: say so, or "No executions." misleads.
      log.warn(
        `${store.fallback}: reading the in-memory stores of this process instead, which hold nothing any other process recorded`,
      );
    }
  }
  const orchestrators: Orchestrator[] = [];
  let mcp: McpConnection[] = [];
  let closing: Promise<void> | undefined;
  const runtime: Runtime = {
    storage: store.kind,
    ...(store.kind === "kv" ? { kvPath: store.path } : {}),
    redisUrl,
    eventStore,
    persistence,
    queue,
    schedules,
    tracing,
    agents,
    tools,
    models,
    createOrchestrator(extra = {}) {
      const orchestrator = new Orchestrator({
        sandbox: sandbox === "thread" ? "thread" : { mode: sandbox, memoryMb },
        passivateAfterMs,
        models: {
          ...modelOptions(models, (name) => ctx.env(name)),
          ...(rateLimiter ? { rateLimiter } : {}),
        },
        ...extra,
        persistence,
        eventStore,
        tracer: tracing.tracer,
        agents: agents.map((a) => ({ ...a })),
        tools: [...tools],
      });
      if (orchestrators.length === 0 && options.announce !== false) {
        log.debug(
          orchestrator.sandbox === "process"
            ? "Agents run in sandbox processes (heap limit {memoryMb} MB each)"
            : "Agents run in worker threads of this process (OAO_SANDBOX={sandbox})",
          { memoryMb, sandbox },
        );
      }
      orchestrators.push(orchestrator);
      return orchestrator;
    },
    async ready(timeoutMs = 1_000) {
      if (!client) return true;
      let timer: ReturnType<typeof setTimeout> | undefined;
      try {
        return await Promise.race([
          client.ping().then((reply) => reply === "PONG"),
          new Promise<boolean>((resolve) => timer = setTimeout(() => resolve(false), timeoutMs)),
        ]);
      } catch {
        return false;
      } finally {
        clearTimeout(timer);
      }
    },
    close({ graceMs = 0, timeoutMs = 5_000 } = {}) {
      closing ??= (async () => {
        const deadline = Date.now() + graceMs;
        while (Date.now() < deadline && orchestrators.some((o) => o.running.length > 0)) {
          await new Promise((resolve) => setTimeout(resolve, 25));
        }
        const stores = (async () => {
          await Promise.allSettled(orchestrators.map((o) => o.close()));
          await Promise.allSettled(mcp.map((c) => c.close()));
          await rateLimiter?.close();
          await Promise.allSettled([
            queue.close(),
            eventStore.close(),
            persistence.close(),
            schedules.close(),
          ]);
          // QUIT waits for Redis; when it is down, do not wait for it to come back.
          await client?.quit().catch(() => {});
        })();
        let timer: ReturnType<typeof setTimeout> | undefined;
        const closed = await Promise.race([
          stores.then(() => true),
          new Promise<false>((resolve) => timer = setTimeout(() => resolve(false), timeoutMs)),
        ]);
        clearTimeout(timer);
        if (!closed) {
          log.warn(
            "The stores did not close within {timeoutMs} ms (is Redis reachable?): closing anyway",
            { timeoutMs },
          );
        }
        client?.disconnect();
        await tracing.shutdown();
      })();
      return closing;
    },
  };
  if (mcpServers) {
    // Last, once everything else is open: a server that cannot be reached closes it all.
    try {
      mcp = await connectMcpTools(mcpServers, { agents, tools });
    } catch (error) {
      await runtime.close();
      throw error;
    }
  }
  return runtime;
}

type StoreChoice =
  /** `fallback`: why the default Deno KV file could not be used. */
  | { kind: "memory"; fallback?: string }
  | { kind: "redis" }
  | { kind: "kv"; path: string };

// OAO_STORE: memory, kv, kv:<path> or redis. Unset: redis when REDIS_URL is
// set, else the default Deno KV file — or, when this Deno cannot open it
// (no --unstable-kv, no write access to ./.oao), the in-memory stores with
// a warning that says why and how to get the file. An explicit OAO_STORE=kv
// fails instead, naming the path (see openKv).
function _storeChoice(ctx: CommandContext): StoreChoice {
  const raw = ctx.env("OAO_STORE") || "";
  const redisUrl = ctx.env("REDIS_URL") || "";
  if (raw === "" && redisUrl) return { kind: "redis" };
  if (raw === "") {
    const why = _kvUnusable(DEFAULT_KV_PATH);
    return why ? { kind: "memory", fallback: why } : { kind: "kv", path: DEFAULT_KV_PATH };
  }
  if (raw === "memory") return { kind: "memory" };
  if (raw === "redis") {
    if (!redisUrl) {
      throw new UsageError(
        `OAO_STORE=redis needs REDIS_URL (e.g. redis://localhost:6379)`,
        ctx.command.name,
      );
    }
    return { kind: "redis" };
  }
  if (raw === "kv") return { kind: "kv", path: DEFAULT_KV_PATH };
  if (raw.startsWith("kv:") && raw.length > 3) return { kind: "kv", path: raw.slice(3) };
  throw new UsageError(
    `Invalid OAO_STORE "${raw.slice(0, 100)}": expected memory, kv, kv:<path> or redis`,
    ctx.command.name,
  );
}

// Why the default Deno KV file cannot be used here, or undefined.
function _kvUnusable(path: string): string | undefined {
  if (typeof Deno.openKv !== "function") {
    return "REDIS_URL is not set and Deno KV is not enabled (run with --unstable-kv for the durable ./.oao/oao.kv)";
  }
  const dir = path.slice(0, path.lastIndexOf("/")) || ".";
  const granted = (name: "read" | "write") =>
    Deno.permissions.querySync({ name, path: dir }).state === "granted";
  if (!granted("read") || !granted("write")) {
    return `REDIS_URL is not set and this process may not write "${dir}" (grant --allow-write=${dir} for the durable ${path})`;
  }
  return undefined;
}

/**
 * Policy overrides from {@linkcode POLICY_FLAGS}.
 *
 * @param ctx A context whose command declares the policy flags.
 * @returns The limits given (empty when none).
 */
export function policyFromFlags(ctx: CommandContext): Partial<PolicyLimits> {
  const policy: Partial<PolicyLimits> = {};
  const pairs = [
    ["max-steps", "maxSteps"],
    ["max-tokens", "maxTokens"],
    ["max-tool-calls", "maxToolCalls"],
    ["max-cost-usd", "maxCostUsd"],
    ["timeout-ms", "timeoutMs"],
  ] as const;
  for (const [flag, field] of pairs) {
    const value = ctx.integer(flag);
    if (value !== undefined) policy[field] = value;
  }
  return policy;
}

function _otelEnv(ctx: CommandContext): Record<string, string> {
  return readOtelEnv((name) => ctx.env(name)) as Record<string, string>;
}
