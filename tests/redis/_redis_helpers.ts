/**
 * Helpers for Redis tests on any server (the suite's, or one a test starts
 * itself): a unique key prefix per test, removal of a prefix's keys, raw
 * clients for inspection, and log capture. Importing this module needs no
 * Redis; tests/redis/_harness.ts binds them to the suite's Redis.
 *
 * @module
 */
import type { Redis } from "ioredis";
import { configure, type LogRecord, reset } from "@logtape/logtape";

/**
 * A key prefix no other test uses.
 *
 * @returns `oao-test-<uuid>:`.
 */
export function testPrefix(): string {
  return `oao-test-${crypto.randomUUID()}:`;
}

/**
 * A plain ioredis client (no OAO options), for inspecting and corrupting data.
 *
 * @param url The server.
 * @returns A client; call `disconnect()` when done.
 */
export async function rawClient(url: string): Promise<Redis> {
  const { Redis } = await import("ioredis");
  const client = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1 });
  await client.connect();
  return client;
}

/**
 * Deletes every key that starts with `prefix`.
 *
 * @param prefix The prefix (no glob characters).
 * @param url The server.
 * @returns Once deleted.
 */
export async function deleteByPrefix(prefix: string, url: string): Promise<void> {
  const client = await rawClient(url);
  try {
    let cursor = "0";
    do {
      const [next, keys] = await client.scan(cursor, "MATCH", `${prefix}*`, "COUNT", 1000);
      cursor = next;
      // One key per command: a Cluster node refuses multi-key DEL across slots.
      await Promise.all(keys.map((key) => client.del(key)));
    } while (cursor !== "0");
  } finally {
    client.disconnect();
  }
}

/** Log records captured by {@linkcode captureLogs}. */
export interface CapturedLogs extends AsyncDisposable {
  /** Records of category `["oao", "redis"]`, oldest first. */
  records: LogRecord[];
  /** The rendered messages, for `assert.match`. */
  messages(level?: LogRecord["level"]): string[];
}

/**
 * Captures the logs of category `["oao", "redis"]` (debug and above) until disposed.
 *
 * @returns The capture; dispose it to reset logtape.
 */
export async function captureLogs(): Promise<CapturedLogs> {
  const records: LogRecord[] = [];
  await configure({
    reset: true,
    sinks: { memory: (record) => records.push(record) },
    loggers: [
      { category: ["oao", "redis"], lowestLevel: "debug", sinks: ["memory"] },
      { category: ["logtape", "meta"], lowestLevel: "warning", sinks: [] },
    ],
  });
  return {
    records,
    messages: (level) =>
      records.filter((r) => level === undefined || r.level === level).map((r) =>
        r.message.map((part) => typeof part === "string" ? part : JSON.stringify(part)).join("")
      ),
    [Symbol.asyncDispose]: () => reset(),
  };
}
