// Runs the `oao` command line as a subprocess, with the permissions of the
// deno.json tasks and a clean environment (no REDIS_URL unless given, the
// in-memory stores unless OAO_STORE is given).
export const MAIN = new URL("../../src/cli/main.ts", import.meta.url).pathname;

/** The flags of `deno task demo|start|oao`. */
export const TASK_FLAGS = [
  "--unstable-worker-options",
  "--unstable-kv",
  "--allow-read",
  "--allow-write=./.oao",
  "--allow-env",
  "--allow-net",
  "--allow-sys",
  "--allow-run",
];

const KEEP = ["HOME", "PATH", "DENO_DIR", "XDG_CACHE_HOME", "TMPDIR", "DENO_NO_UPDATE_CHECK"];

/**
 * A clean environment for a subprocess (use with `clearEnv: true`): what Deno
 * needs to find its cache, `NO_COLOR`, and `extra` — never the developer's
 * `REDIS_URL` or `OAO_*` settings unless a test passes them on purpose.
 */
export function cleanEnv(extra: Record<string, string> = {}): Record<string, string> {
  // The in-memory stores unless a test asks for others with REDIS_URL or
  // OAO_STORE (OAO_STORE: "" is the default choice: Redis with REDIS_URL,
  // else the Deno KV file ./.oao/oao.kv of the process's cwd).
  const out: Record<string, string> = { NO_COLOR: "1" };
  if (!("REDIS_URL" in extra)) out.OAO_STORE = "memory";
  for (const name of KEEP) {
    const value = Deno.env.get(name);
    if (value !== undefined) out[name] = value;
  }
  return { ...out, ...extra };
}

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** `oao <args>` with the task's flags and a clean environment; stdout piped. */
function oaoCommand(
  args: string[],
  options: { env?: Record<string, string>; cwd?: string },
  stderr: "piped" | "null",
): Deno.Command {
  return new Deno.Command(Deno.execPath(), {
    args: ["run", ...TASK_FLAGS, MAIN, ...args],
    env: cleanEnv(options.env ?? {}),
    clearEnv: true,
    ...(options.cwd ? { cwd: options.cwd } : {}),
    stdout: "piped",
    stderr,
  });
}

/** Runs `oao <args>` to the end. */
export async function oao(
  args: string[],
  options: { env?: Record<string, string>; cwd?: string } = {},
): Promise<CliResult> {
  const output = await oaoCommand(args, options, "piped").output();
  const decoder = new TextDecoder();
  return {
    code: output.code,
    stdout: decoder.decode(output.stdout),
    stderr: decoder.decode(output.stderr),
  };
}

/**
 * Starts `oao <args>` and waits until its stdout (printed live) matches
 * `until`; its output is then read on to the end in the background (closing
 * the pipe would end the process). Kill it, then await its `status`.
 *
 * @throws {Error} When it ends first, with what it printed.
 */
export async function oaoUntil(
  args: string[],
  until: RegExp,
  options: { env?: Record<string, string>; cwd?: string } = {},
): Promise<Deno.ChildProcess> {
  const child = oaoCommand(args, options, "null").spawn();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let seen = "";
  while (!until.test(seen)) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`oao ${args[0]} ended before printing ${until}:\n${seen}`);
    seen += value;
  }
  void (async () => {
    while (!(await reader.read()).done);
  })().catch(() => {});
  return child;
}

/** A server command (`start`, `serve`) running in the background. */
export interface ServerProcess extends AsyncDisposable {
  url: string;
  child: Deno.ChildProcess;
  /** Sends a signal and waits for the exit; returns code and output. */
  stop(signal?: Deno.Signal): Promise<CliResult>;
}

/** Starts `oao <args>` and waits for its "listening on" line. */
export async function oaoServer(
  args: string[],
  options: { env?: Record<string, string>; cwd?: string } = {},
): Promise<ServerProcess> {
  const child = oaoCommand(args, options, "piped").spawn();
  let stdout = "";
  let stderr = "";
  const collect = async (stream: ReadableStream<Uint8Array>, into: (s: string) => void) => {
    for await (const chunk of stream.pipeThrough(new TextDecoderStream())) into(chunk);
  };
  const outDone = collect(child.stdout, (s) => stdout += s);
  const errDone = collect(child.stderr, (s) => stderr += s);
  const deadline = Date.now() + 20_000;
  let url: string | undefined;
  while (!url) {
    url = /listening on (http:\/\/\S+)/.exec(stdout)?.[1];
    if (url) break;
    if (Date.now() > deadline) {
      child.kill("SIGKILL");
      await Promise.all([child.status, outDone, errDone]);
      throw new Error(`The server did not start:\n${stdout}\n${stderr}`);
    }
    await new Promise((r) => setTimeout(r, 25));
  }
  let stopped: Promise<CliResult> | undefined;
  const stop = (signal: Deno.Signal = "SIGTERM") => {
    stopped ??= (async () => {
      try {
        child.kill(signal);
      } catch {
        // already exited
      }
      const status = await child.status;
      await Promise.all([outDone, errDone]);
      return { code: status.code, stdout, stderr };
    })();
    return stopped;
  };
  return {
    url,
    child,
    stop,
    async [Symbol.asyncDispose]() {
      await stop();
    },
  };
}
