/**
 * A throwaway local Redis Cluster for tests: three masters, no replicas, on
 * free loopback ports, each in its own temporary directory, without
 * persistence.
 *
 * @example
 * ```ts ignore
 * import { startRedisCluster } from "./redis_cluster.ts";
 * await using cluster = await startRedisCluster();
 * console.log(cluster.url); // redis://127.0.0.1:<port>
 * ```
 *
 * @module
 */

/** A running test cluster. */
export interface RedisClusterHandle extends AsyncDisposable {
  /** `redis://127.0.0.1:<port>` of the first master. */
  url: string;
  /** Client ports of the masters. */
  ports: number[];
  /** Kills every node and removes their directories. Idempotent. */
  stop(): Promise<void>;
}

/** Options of {@linkcode startRedisCluster}. */
export interface StartRedisClusterOptions {
  /** Number of masters (at least 3). @default {3} */
  masters?: number;
  /** Give up when the cluster is not `cluster_state:ok` after this many ms. @default {15000} */
  timeoutMs?: number;
}

/**
 * Starts a Redis Cluster with `redis-server --cluster-enabled yes` and
 * `redis-cli --cluster create`, and waits until every node reports
 * `cluster_state:ok`.
 *
 * @param options Number of masters and start-up budget.
 * @returns The running cluster; stop it (or `await using` it) when done.
 * @throws {Error} When `redis-server` or `redis-cli` is missing or the cluster does not form in time.
 */
export async function startRedisCluster(
  options: StartRedisClusterOptions = {},
): Promise<RedisClusterHandle> {
  const masters = options.masters ?? 3;
  const timeoutMs = options.timeoutMs ?? 15_000;
  const dir = await Deno.makeTempDir({ prefix: "oao-redis-cluster-" });
  const nodes: Deno.ChildProcess[] = [];
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    for (const node of nodes) {
      try {
        node.kill("SIGKILL");
      } catch { /* already gone */ }
    }
    await Promise.all(nodes.map((node) => node.status));
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  };
  try {
    const ports = freeClusterPorts(masters);
    for (const port of ports) {
      const nodeDir = `${dir}/${port}`;
      await Deno.mkdir(nodeDir);
      nodes.push(
        new Deno.Command("redis-server", {
          args: [
            "--port",
            String(port),
            "--bind",
            "127.0.0.1",
            "--cluster-enabled",
            "yes",
            "--cluster-config-file",
            "nodes.conf",
            "--cluster-node-timeout",
            "2000",
            "--dir",
            nodeDir,
            "--save",
            "",
            "--appendonly",
            "no",
            "--daemonize",
            "no",
          ],
          stdin: "null",
          stdout: "null",
          stderr: "null",
        }).spawn(),
      );
    }
    const deadline = Date.now() + timeoutMs;
    for (const port of ports) await waitFor(() => ping(port), deadline, `node ${port} to start`);
    const create = await new Deno.Command("redis-cli", {
      args: [
        "--cluster",
        "create",
        ...ports.map((port) => `127.0.0.1:${port}`),
        "--cluster-replicas",
        "0",
        "--cluster-yes",
      ],
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).output();
    if (!create.success) {
      const text = new TextDecoder().decode(create.stdout) +
        new TextDecoder().decode(create.stderr);
      throw new Error(`Cannot create the test Redis Cluster: redis-cli failed (${text.trim()})`);
    }
    for (const port of ports) {
      await waitFor(
        async () => (await redisCli(port, "cluster", "info")).includes("cluster_state:ok"),
        deadline,
        `node ${port} to report cluster_state:ok`,
      );
    }
    return {
      url: `redis://127.0.0.1:${ports[0]}`,
      ports,
      stop,
      [Symbol.asyncDispose]: stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}

/** Ports `p` such that `p` and the cluster bus port `p + 10000` are free. */
function freeClusterPorts(count: number): number[] {
  const ports: number[] = [];
  while (ports.length < count) {
    const port = 20_000 + Math.floor(Math.random() * 30_000);
    if (ports.includes(port) || !isFree(port) || !isFree(port + 10_000)) continue;
    ports.push(port);
  }
  return ports;
}

function isFree(port: number): boolean {
  try {
    Deno.listen({ hostname: "127.0.0.1", port }).close();
    return true;
  } catch {
    return false;
  }
}

async function redisCli(port: number, ...args: string[]): Promise<string> {
  const out = await new Deno.Command("redis-cli", {
    args: ["-h", "127.0.0.1", "-p", String(port), ...args],
    stdin: "null",
    stdout: "piped",
    stderr: "null",
  }).output();
  return new TextDecoder().decode(out.stdout);
}

async function ping(port: number): Promise<boolean> {
  return (await redisCli(port, "ping")).trim() === "PONG";
}

async function waitFor(check: () => Promise<boolean>, deadline: number, what: string) {
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`Timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
