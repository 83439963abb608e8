// Starts `oao start` of a checkout as a process for a benchmark, waits until
// it answers /healthz, and stops it with SIGTERM. Internal.

/** A running node. */
export interface OaoNode {
  /** `http://127.0.0.1:<port>`. */
  url: string;
  /** Its process id (to read its memory). */
  pid: number;
  /** Stops it (SIGTERM) and waits for its exit. */
  stop(): Promise<void>;
}

/**
 * Starts `src/cli/main.ts start` of the checkout at `root` on a port.
 *
 * @param root The checkout (its `deno.json` applies).
 * @param port The port.
 * @param options Extra variables and Deno flags.
 * @returns The node, once it answers.
 * @throws {Error} When it does not answer within 60 s.
 */
export async function startOaoNode(
  root: string,
  port: number,
  options: { env?: Record<string, string>; flags?: string[] } = {},
): Promise<OaoNode> {
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      ...(options.flags ?? ["--unstable-worker-options", "-A"]),
      "src/cli/main.ts",
      "start",
      "--port",
      String(port),
    ],
    cwd: root,
    env: { OAO_LOG_LEVEL: "error", ...options.env },
    stdout: "null",
    stderr: "inherit",
  }).spawn();
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 60_000;
  while (true) {
    try {
      const response = await fetch(`${url}/healthz`);
      await response.body?.cancel();
      if (response.ok) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      child.kill("SIGKILL");
      throw new Error(`The node in ${root} did not answer on port ${port} within 60 s`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    url,
    pid: child.pid,
    async stop() {
      child.kill("SIGTERM");
      await child.status;
    },
  };
}
