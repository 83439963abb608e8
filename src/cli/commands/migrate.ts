/**
 * `oao migrate --from <stores> --to <stores>`: copies executions (events,
 * snapshots, index) and queued jobs from one set of stores to another, e.g.
 * from the Deno KV file of one machine to Redis (see `_migrate.ts`).
 *
 * @module
 */
import {
  type Command,
  type CommandContext,
  EXIT_FAILURE,
  EXIT_OK,
  UsageError,
} from "../_command.ts";
import { migrateStores, type MigrationStores } from "../_migrate.ts";
import { DEFAULT_RETENTION_SECONDS } from "../../events/event_store.ts";
import { ExecutionBusyError } from "../../errors.ts";
import { KvEventStore } from "../../kv/kv_event_store.ts";
import { KvJobQueue } from "../../kv/kv_job_queue.ts";
import { KvPersistenceAdapter } from "../../kv/kv_persistence_adapter.ts";
import { DEFAULT_KV_PATH } from "../../kv/open_kv.ts";
import { connectRedis, type RedisClient } from "../../redis/connection.ts";
import { RedisEventStore } from "../../redis/redis_event_store.ts";
import { RedisJobQueue } from "../../redis/redis_job_queue.ts";
import { RedisPersistenceAdapter } from "../../redis/redis_persistence_adapter.ts";
import { parseRedisUrl, redactRedisUrl } from "../../redis/redis_url.ts";

/** The `migrate` command. */
export const migrateCommand: Command = {
  name: "migrate",
  summary: "Copy executions and queued jobs from one store to another (e.g. Deno KV to Redis)",
  description: [
    "Copies every event log (executions and workflows, with their times and what is left",
    "of their retention), the executions index, the snapshots and the ready jobs of the",
    "queue from --from to --to. Stores: kv (./.oao/oao.kv), kv:<path>, or redis://….",
    "Stop every process on the source first: an execution a process still runs makes it",
    "stop before copying anything, naming that process. Running it again skips what was",
    "copied. Delayed jobs not yet due and dead letters stay in the source (counted).",
    "Exit code 0 when everything was copied, 1 on a conflict or a busy execution.",
  ].join("\n"),
  flags: [
    { name: "from", type: "string", description: "Source: kv, kv:<path> or redis://…" },
    { name: "to", type: "string", description: "Target: kv, kv:<path> or redis://…" },
  ],
  env: [
    { name: "OAO_KEY_PREFIX", description: "Prefix of every key, on both sides", default: "oao:" },
    { name: "OAO_QUEUE", description: "Name of the job queue, on both sides", default: "default" },
  ],
  examples: ["migrate --from kv:./.oao/oao.kv --to redis://localhost:6379"],
  async run(ctx) {
    const fromSpec = required(ctx, "from");
    const toSpec = required(ctx, "to");
    const keyPrefix = ctx.env("OAO_KEY_PREFIX") || "oao:";
    const queueName = ctx.env("OAO_QUEUE") || "default";
    if (/[{}]/.test(keyPrefix) || /[{}]/.test(queueName)) {
      throw new UsageError(`OAO_KEY_PREFIX and OAO_QUEUE must not contain "{" or "}"`, "migrate");
    }
    const from = parseSpec(fromSpec, "from");
    const to = parseSpec(toSpec, "to");
    if (from.kind === to.kind && from.where === to.where) {
      throw new UsageError(`--from and --to are the same store (${from.name})`, "migrate");
    }
    const opened: Opened[] = [];
    try {
      opened.push(await open(from, keyPrefix, queueName, ctx.signal));
      opened.push(await open(to, keyPrefix, queueName, ctx.signal));
      const [source, target] = opened as [Opened, Opened];
      ctx.out(`Migrating from ${source.name} to ${target.name}`);
      let lastLine = 0;
      const summary = await migrateStores(source, target, {
        retentionSeconds: DEFAULT_RETENTION_SECONDS,
        onProgress(done, total) {
          if (done === total || Date.now() - lastLine >= 1_000) {
            lastLine = Date.now();
            ctx.out(`  ${done}/${total} logs`);
          }
        },
      });
      ctx.out(
        `Copied ${summary.logs} logs (${summary.events} events, ${summary.snapshots} snapshots) and moved ${summary.jobs} queued jobs; ${summary.skipped} logs were already there`,
      );
      if (summary.delayedLeft || summary.deadLeft) {
        ctx.out(
          `Left in ${source.name}: ${summary.delayedLeft} delayed jobs not yet due (run again once due), ${summary.deadLeft} dead jobs (requeue them there first)`,
        );
      }
      for (const conflict of summary.conflicts) ctx.err(`error: conflict: ${conflict}`);
      if (summary.conflicts.length > 0) return EXIT_FAILURE;
      ctx.out(
        `Done: run the nodes on ${target.name}; "oao resume <id>" continues unfinished executions`,
      );
      return EXIT_OK;
    } catch (error) {
      if (error instanceof ExecutionBusyError) {
        ctx.err(`error: ${error.message}; stop it first (nothing was copied)`);
        return EXIT_FAILURE;
      }
      throw error;
    } finally {
      for (const side of opened.reverse()) await side.close();
    }
  },
};

interface Spec {
  kind: "kv" | "redis";
  /** The path or the URL. */
  where: string;
  name: string;
}

interface Opened extends MigrationStores {
  close(): Promise<void>;
}

function required(ctx: CommandContext, flag: "from" | "to"): string {
  const value = ctx.string(flag);
  if (!value) {
    throw new UsageError(`Missing flag "--${flag}": kv, kv:<path> or redis://…`, "migrate");
  }
  return value;
}

function parseSpec(spec: string, flag: "from" | "to"): Spec {
  if (spec === "kv") return { kind: "kv", where: DEFAULT_KV_PATH, name: `kv:${DEFAULT_KV_PATH}` };
  if (spec.startsWith("kv:") && spec.length > 3) {
    return { kind: "kv", where: spec.slice(3), name: spec };
  }
  if (/^rediss?:\/\//.test(spec)) {
    try {
      parseRedisUrl(spec);
    } catch (error) {
      throw new UsageError(`Invalid flag "--${flag}": ${(error as Error).message}`, "migrate");
    }
    return { kind: "redis", where: spec, name: redactRedisUrl(spec) };
  }
  throw new UsageError(
    `Invalid flag "--${flag}" value "${spec.slice(0, 100)}": expected kv, kv:<path> or redis://…`,
    "migrate",
  );
}

async function open(
  spec: Spec,
  keyPrefix: string,
  queueName: string,
  signal: AbortSignal,
): Promise<Opened> {
  if (spec.kind === "kv") {
    const kv = { path: spec.where, keyPrefix: keyPrefix.replace(/:$/, "") || "oao" };
    const eventStore = new KvEventStore(kv);
    const persistence = new KvPersistenceAdapter(kv);
    const queue = new KvJobQueue({ ...kv, name: queueName });
    const close = async () => {
      await Promise.allSettled([queue.close(), eventStore.close(), persistence.close()]);
    };
    try {
      await eventStore.count("oao-store-check"); // opens the file: a bad one fails here, named
    } catch (error) {
      await close();
      throw error;
    }
    return { name: spec.name, eventStore, persistence, queue, close };
  }
  const client: RedisClient = await connectRedis({ redisUrl: spec.where, signal });
  const eventStore = new RedisEventStore({ client, keyPrefix });
  const persistence = new RedisPersistenceAdapter({ client, keyPrefix });
  const queue = new RedisJobQueue({ client, keyPrefix, name: queueName });
  return {
    name: spec.name,
    eventStore,
    persistence,
    queue,
    async close() {
      await Promise.allSettled([queue.close(), eventStore.close(), persistence.close()]);
      await client.quit().catch(() => {});
      client.disconnect();
    },
  };
}
