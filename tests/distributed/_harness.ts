// Real worker processes (`oao worker` through tests/fixtures/distributed_cli.ts)
// and the checks shared by the distributed scenarios.
import { Redis } from "ioredis";
import { QueueBackend } from "../../src/distributed/queue_backend.ts";
import type { StoredEvent } from "../../src/events/event_store.ts";
import { type ExecutionView, projectExecution } from "../../src/orchestrator/execution_view.ts";
import { connectRedis } from "../../src/redis/connection.ts";
import { RedisEventStore } from "../../src/redis/redis_event_store.ts";
import { RedisJobQueue } from "../../src/redis/redis_job_queue.ts";
import { deleteKeys } from "../queue/_redis_queue_harness.ts";
import { testRedisUrl } from "../_support/test_redis.ts";

const CLI = new URL("../fixtures/distributed_cli.ts", import.meta.url).pathname;
const CONFIG = new URL("../fixtures/distributed_config.json", import.meta.url).pathname;
/**
 * The suite's Redis (tests/_support/test_redis.ts): the side-effect counters
 * live there in every scenario. Importing this module gets it first: when
 * none can be had, every test of the importing file fails at once with one
 * line saying why.
 */
export const SHARED_REDIS_URL: string = await testRedisUrl();

/** One line of `oao worker --json`. */
export interface JobLine {
  type: string;
  jobId: string;
  executionId: string;
  attempt: number;
  token: number;
  reason: string;
  consumer: string;
  previousConsumer?: string;
  status?: string;
  outcome?: string;
  error?: string;
}

/** Where the workers of a scenario connect and count their side effects. */
export interface Deployment {
  redisUrl: string;
  keyPrefix: string;
  queue: string;
  effectsKey: string;
  /** Milliseconds each `effect` call takes. */
  effectDelayMs?: number;
}

/** A worker process. */
export class WorkerProcess {
  readonly nodeId: string;
  readonly lines: JobLine[] = [];
  #child: Deno.ChildProcess;
  #stderr = "";
  #pumps: Promise<void>[];
  #status: Promise<Deno.CommandStatus>;

  constructor(deployment: Deployment, nodeId: string, flags: string[] = []) {
    this.nodeId = nodeId;
    this.#child = new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        "--no-check",
        "--unstable-worker-options",
        CLI,
        "worker",
        "--config",
        CONFIG,
        "--json",
        "--node-id",
        nodeId,
        ...flags,
      ],
      env: environment(deployment),
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    this.#status = this.#child.status;
    this.#pumps = [
      pumpLines(this.#child.stdout, (line) => {
        if (line.startsWith("{")) this.lines.push(JSON.parse(line));
      }),
      pumpLines(this.#child.stderr, (line) => this.#stderr += line + "\n"),
    ];
  }

  /** Standard error so far (logs). */
  get stderr(): string {
    return this.#stderr;
  }

  /** Sends a signal (ignored once the process has exited). */
  signal(signal: Deno.Signal): void {
    try {
      this.#child.kill(signal);
    } catch { /* already exited */ }
  }

  /** Jobs reserved and not settled (completed, failed, lost, released) by this process. */
  inFlight(): JobLine[] {
    const settled = new Set(
      this.lines.filter((l) => l.type !== "reserved").map((l) => `${l.jobId}/${l.token}`),
    );
    return this.lines.filter((l) => l.type === "reserved" && !settled.has(`${l.jobId}/${l.token}`));
  }

  /** Waits for the exit and the end of its output. */
  async exited(): Promise<Deno.CommandStatus> {
    const status = await this.#status;
    await Promise.all(this.#pumps);
    return status;
  }
}

/**
 * Runs `oao <args>` (e.g. the `queue` command) to completion.
 *
 * @returns Exit code, stdout and stderr.
 */
export async function cli(
  deployment: Deployment,
  args: string[],
): Promise<{ code: number; stdout: string; stderr: string }> {
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--no-check", "--unstable-worker-options", CLI, ...args],
    env: environment(deployment),
    stdin: "null",
  }).output();
  const decoder = new TextDecoder();
  return {
    code: output.code,
    stdout: decoder.decode(output.stdout),
    stderr: decoder.decode(output.stderr),
  };
}

function environment(deployment: Deployment): Record<string, string> {
  return {
    REDIS_URL: deployment.redisUrl,
    OAO_KEY_PREFIX: deployment.keyPrefix,
    OAO_QUEUE: deployment.queue,
    OAO_LOG_LEVEL: "WARN",
    OAO_TEST_EFFECTS_URL: SHARED_REDIS_URL,
    OAO_TEST_EFFECTS_KEY: deployment.effectsKey,
    OAO_TEST_EFFECT_DELAY_MS: String(deployment.effectDelayMs ?? 0),
  };
}

async function pumpLines(stream: ReadableStream<Uint8Array>, onLine: (line: string) => void) {
  let buffer = "";
  for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
    buffer += chunk;
    let newline;
    while ((newline = buffer.indexOf("\n")) >= 0) {
      onLine(buffer.slice(0, newline));
      buffer = buffer.slice(newline + 1);
    }
  }
  if (buffer) onLine(buffer);
}

/** Sleeps. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Polls until `condition` holds, or throws naming `what`. */
export async function until(
  condition: () => boolean | Promise<boolean>,
  what: string,
  timeoutMs = 60_000,
  intervalMs = 50,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) {
      throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}`);
    }
    await sleep(intervalMs);
  }
}

/**
 * Every EXECUTION_RESUMED of a log follows a RETRY_ATTEMPTED (since the
 * previous start or resume): no execution was taken over silently.
 *
 * @returns The problems found (empty when none).
 */
export function unrecordedTakeovers(executionId: string, events: StoredEvent[]): string[] {
  const problems: string[] = [];
  let retried = false;
  for (const event of events) {
    if (event.type === "RETRY_ATTEMPTED" && (event.data as { jobId?: string }).jobId) {
      retried = true;
    } else if (event.type === "EXECUTION_STARTED") retried = false;
    else if (event.type === "EXECUTION_RESUMED") {
      if (!retried) {
        problems.push(
          `${executionId}: EXECUTION_RESUMED at seq ${event.seq} without RETRY_ATTEMPTED`,
        );
      }
      retried = false;
    }
  }
  return problems;
}

/** The API node of a scenario (this process): queue, event store and backend, plus cleanup. */
export interface ApiNode extends AsyncDisposable {
  deployment: Deployment;
  queue: RedisJobQueue;
  store: RedisEventStore;
  backend: QueueBackend;
  effects: Redis;
  /** Status of an execution, from its log. */
  status(executionId: string): Promise<string>;
  /** The view of an execution, from its log. */
  view(executionId: string): Promise<ExecutionView>;
}

/**
 * Connects an API node to `redisUrl` under fresh key prefix, queue name and
 * effects key; disposing it deletes them.
 */
export function apiNode(
  redisUrl: string,
  options: { effectDelayMs?: number; maxAttempts?: number; agents?: string[] } = {},
): ApiNode {
  const id = crypto.randomUUID().slice(0, 8);
  const deployment: Deployment = {
    redisUrl,
    keyPrefix: `oao-test-${id}:`,
    queue: `q-${id}`,
    effectsKey: `oao-test-${id}-effects`,
    effectDelayMs: options.effectDelayMs ?? 0,
  };
  const connection = { checkServer: false };
  const queue = new RedisJobQueue({
    redisUrl,
    keyPrefix: deployment.keyPrefix,
    name: deployment.queue,
    connection,
  });
  const store = new RedisEventStore({ redisUrl, keyPrefix: deployment.keyPrefix, connection });
  const backend = new QueueBackend({
    queue,
    eventStore: store,
    agents: options.agents ?? ["tester"],
    ...(options.maxAttempts ? { maxAttempts: options.maxAttempts } : {}),
  });
  const effects = new Redis(SHARED_REDIS_URL);
  return {
    deployment,
    queue,
    store,
    backend,
    effects,
    async status(executionId) {
      return projectExecution(executionId, await store.readRange(executionId)).status;
    },
    async view(executionId) {
      return projectExecution(executionId, await store.readRange(executionId));
    },
    async [Symbol.asyncDispose]() {
      await backend.close();
      await queue.close();
      await store.close();
      const client = await connectRedis({ redisUrl, checkServer: false });
      await deleteKeys(client, `${deployment.keyPrefix}*`);
      await client.quit();
      const key = deployment.effectsKey;
      await effects.del(key, `${key}:attempts`, `${key}:poison`, `${key}:hold`);
      effects.disconnect();
    },
  };
}
